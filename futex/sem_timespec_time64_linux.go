//go:build linux && shmring_nofutex && !shmring_portable && (386 || mips || mipsle)

// The semtimedop system call number and timespec on 32-bit architectures that have no
// SYS_SEMTIMEDOP (only the multiplexed ipc(2)), but have semtimedop_time64 (Linux 5.1 and
// later).

package futex

import (
	"time"

	"golang.org/x/sys/unix"
)

// sysSemtimedop is the semtimedop_time64 system call number.
const sysSemtimedop = unix.SYS_SEMTIMEDOP_TIME64

// semTimespec is struct __kernel_timespec from <linux/time_types.h>, which semtimedop_time64
// takes: two 64-bit fields whatever the word size.
type semTimespec struct {
	sec  int64 // tv_sec
	nsec int64 // tv_nsec
}

// toSemTimespec converts a non-negative duration of at most maxSleep.
func toSemTimespec(d time.Duration) semTimespec {
	return semTimespec{sec: int64(d / time.Second), nsec: int64(d % time.Second)}
}
