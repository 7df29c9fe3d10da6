//go:build linux && !shmring_nofutex && !shmring_portable

// The Linux futex mechanism, the default on Linux.
//
// Contract (see doc.go): Wait may return spuriously, never sleeps longer than its timeout plus
// scheduling slack, and never returns a timeout early; Wake wakes up to n sleepers. Only the
// shared operations FUTEX_WAIT and FUTEX_WAKE are used, never FUTEX_PRIVATE_FLAG: a shared
// futex on a MAP_SHARED file mapping is keyed by the file's inode and the word's offset in it, so
// processes that map the segment at different addresses meet on the same futex.
//
// No lost wake-up: FUTEX_WAIT compares the word with val and queues the caller under the futex
// hash bucket lock, and FUTEX_WAKE takes the same lock. A waker that stores a new value and then
// wakes either runs before the comparison (the comparison fails: EAGAIN, Wait returns) or after
// the caller is queued (the caller is woken).
//
// Timeouts are relative: after EINTR or the end of a maxSleep slice, Wait recomputes what is
// left from its monotonic start, as the runtime's notetsleep does, so a signal storm neither
// stretches nor shortens the wait. FUTEX_WAIT goes through unix.Syscall6, not RawSyscall, so the
// Go scheduler hands the P to another thread while this one sleeps in the kernel; FUTEX_WAKE,
// which never blocks, goes through unix.RawSyscall6.
//
// Nothing lives outside the segment: the cookie only records that futexes are in use. Remove,
// Release, Detach and Hold have nothing to do, and Adopt is Open.

package futex

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Mechanism names the implementation compiled in: "futex", "sysv-semaphore" or "poll".
const Mechanism = "futex"

// WakeInterrupts reports whether Wake ends a Wait on its word even while the word still holds the
// value the sleeper waits on, so that a caller may sleep without a timeout and count on a Wake to
// cut the sleep short: true, FUTEX_WAKE dequeues the sleepers whatever the word holds.
const WakeInterrupts = true

// Futex operations, from <linux/futex.h>; x/sys/unix does not define them. Both are the
// shared variants: FUTEX_PRIVATE_FLAG (128) is deliberately absent.
const (
	futexWaitOp = 0 // FUTEX_WAIT
	futexWakeOp = 1 // FUTEX_WAKE
)

// Set is the wake-up mechanism for the wait words of one shared segment.
type Set struct {
	nwords int // number of wait words, fixed at Open
}

// Open attaches to the wake-up mechanism of a segment. cookie is a word inside the shared segment
// that is zero in a freshly created segment; the futex build records a fixed marker there. A
// cookie holding another mechanism's value gives an error wrapping ErrMismatch. nwords
// (1..MaxWords) is the number of distinct wait words; index i in Wait and Wake names which one.
// Nothing is counted: Release, Detach and Hold do nothing.
func Open(cookie *atomic.Uint32, nwords int) (*Set, error) {
	if err := claimMarker(cookie, nwords, futexMarker); err != nil {
		return nil, err
	}
	return &Set{nwords: nwords}, nil
}

// Adopt is Open: futexes keep nothing outside the segment, so there is no hold to take over.
func Adopt(cookie *atomic.Uint32, nwords int) (*Set, error) {
	return Open(cookie, nwords)
}

// Wait sleeps while word holds val, for at most timeout (timeout < 0: no limit). It returns nil
// when woken, when the word no longer holds val, on a spurious wake-up, or when the timeout
// expires (callers re-check their condition and their own deadline). An error means the
// mechanism itself failed. Wait panics if i is outside [0, nwords).
func (s *Set) Wait(i int, word *atomic.Uint32, val uint32, timeout time.Duration) error {
	checkIndex(i, s.nwords)
	if word.Load() != val {
		return nil
	}
	// The clock is read only for a timed wait: an untimed one (the
	// eventcount's usual sleep) costs the system call alone.
	var start time.Time
	if timeout >= 0 {
		start = time.Now()
	}
	for {
		var ts *unix.Timespec
		left := remaining(start, timeout)
		switch {
		case left == 0:
			return nil
		case left > 0:
			t := unix.NsecToTimespec(within(maxSleep, left).Nanoseconds())
			ts = &t
		}
		switch errno := futexWait(word, val, ts); errno {
		case 0, unix.EAGAIN:
			// Woken (or spuriously), or the word no longer held val when the kernel looked.
			return nil
		case unix.EINTR, unix.ETIMEDOUT:
			// Interrupted, or a slice ended: recompute what is left and sleep again.
		default:
			return fmt.Errorf("futex: wait on word %d: %w", i, notSupported(errno))
		}
	}
}

// Wake wakes up to n sleepers (n <= 0 or math.MaxInt32: all) waiting on word i. Wake panics if i
// is outside [0, nwords).
func (s *Set) Wake(i int, word *atomic.Uint32, n int) error {
	checkIndex(i, s.nwords)
	if n <= 0 || n > math.MaxInt32 {
		n = math.MaxInt32
	}
	if errno := futexWake(word, int32(n)); errno != 0 {
		return fmt.Errorf("futex: wake word %d: %w", i, notSupported(errno))
	}
	return nil
}

// Remove destroys what the mechanism keeps outside the segment. With futexes there is nothing,
// so it does nothing and returns nil, however often it is called.
func (s *Set) Remove() error {
	return nil
}

// Hold does nothing and returns nil: nothing outside the segment needs keeping alive for a child.
func (s *Set) Hold() error {
	return nil
}

// Release does nothing and returns nil, however often it is called: there is nothing to remove.
// The Set stays usable.
func (s *Set) Release() error {
	return nil
}

// Detach does nothing and returns nil, however often it is called. The Set stays usable.
func (s *Set) Detach() error {
	return nil
}

// Discard removes what the mechanism keeps outside a segment whose cookie word holds cookie, for a
// segment that can no longer be opened but is being removed: with futexes, nothing (nwords is
// checked). A System V semaphore set named by a cookie of the shmring_nofutex build stays.
func Discard(cookie uint32, nwords int) error {
	return checkWords(nwords)
}
