//go:build linux && shmring_nofutex && !shmring_portable && !(386 || mips || mipsle)

// The semtimedop system call number and timespec on architectures that have SYS_SEMTIMEDOP with
// the native struct timespec: 64-bit time_t everywhere but arm, whose 32-bit time_t holds any
// slice of at most maxSleep.

package futex

import (
	"time"

	"golang.org/x/sys/unix"
)

// sysSemtimedop is the semtimedop system call number.
const sysSemtimedop = unix.SYS_SEMTIMEDOP

// semTimespec is the relative timeout that semtimedop takes.
type semTimespec = unix.Timespec

// toSemTimespec converts a non-negative duration of at most maxSleep.
func toSemTimespec(d time.Duration) semTimespec {
	return unix.NsecToTimespec(d.Nanoseconds())
}
