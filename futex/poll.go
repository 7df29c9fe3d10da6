//go:build !linux || shmring_portable

// The poll mechanism, on every OS but Linux, and on Linux with the build tag shmring_portable
// (which runs here what those systems run): no primitive there sleeps on a word in shared memory
// with a timeout and is woken from another process through x/sys/unix, so Wait re-reads the word
// with a bounded back-off sleep.
//
// Why not the System V semaphores of sem_linux.go: Wait needs a timed sleep, semtimedop, which
// neither FreeBSD nor macOS has (x/sys/unix offers their semget and semop system call numbers,
// and no timed variant); a blocking semop with no way out would break the contract. macOS's
// os_sync_wait_on_address (macOS 14.4) would do, but it is libSystem API that x/sys/unix does
// not expose, and nothing here could test it.
//
// Contract (see doc.go): Wait may return spuriously, never sleeps longer than its timeout plus
// scheduling slack, and never returns a timeout early. Wake does nothing: a sleeper notices a
// change within pollMaxSleep of it, so no wake-up is lost, only delayed. The back-off starts at
// pollMinSleep, so a short wait costs little latency, and doubles up to pollMaxSleep, so a long
// one costs little CPU. Nothing lives outside the segment: Remove, Release, Detach and Hold do
// nothing, and Adopt is Open.
//
// The cost is latency, paid only by a side that went to sleep (a busy side spins and never gets
// here, and a waker's Wake costs nothing): a sleeper that has slept for t notices a change within
// about min(t, pollMaxSleep) plus the timer's slack (the OS rounds short sleeps up: tens of
// microseconds on Linux, up to about a millisecond on macOS with timer coalescing), where a futex
// wakes it within microseconds. A sleeper polls at most 1/pollMinSleep times a second, falling to
// 1/pollMaxSleep: about a thousand wake-ups a second per idle sleeper.

package futex

import (
	"sync/atomic"
	"time"
)

// Mechanism names the implementation compiled in: "futex", "sysv-semaphore" or "poll".
const Mechanism = "poll"

// WakeInterrupts reports whether Wake ends a Wait on its word even while the word still holds the
// value the sleeper waits on, so that a caller may sleep without a timeout and count on a Wake to
// cut the sleep short: false, Wake does nothing and a sleeper returns only when the word changes
// or its timeout passes.
const WakeInterrupts = false

// Back-off bounds of Wait's polling.
const (
	pollMinSleep = 50 * time.Microsecond
	pollMaxSleep = time.Millisecond
)

// Set is the wake-up mechanism for the wait words of one shared segment.
type Set struct {
	nwords int // number of wait words, fixed at Open
}

// Open attaches to the wake-up mechanism of a segment. cookie is a word inside the shared segment
// that is zero in a freshly created segment; the poll build records a fixed marker there. A
// cookie holding another mechanism's value gives an error wrapping ErrMismatch. nwords
// (1..MaxWords) is the number of distinct wait words; index i in Wait and Wake names which one.
// Nothing is counted: Release, Detach and Hold do nothing.
func Open(cookie *atomic.Uint32, nwords int) (*Set, error) {
	if err := claimMarker(cookie, nwords, pollMarker); err != nil {
		return nil, err
	}
	return &Set{nwords: nwords}, nil
}

// Adopt is Open: the poll mechanism keeps nothing outside the segment, so there is no hold to
// take over.
func Adopt(cookie *atomic.Uint32, nwords int) (*Set, error) {
	return Open(cookie, nwords)
}

// Wait sleeps while word holds val, for at most timeout (timeout < 0: no limit), re-reading the
// word between sleeps of pollMinSleep doubling up to pollMaxSleep. It returns nil when the word no
// longer holds val or when the timeout expires (callers re-check their condition and their own
// deadline); it never fails. Wait panics if i is outside [0, nwords).
func (s *Set) Wait(i int, word *atomic.Uint32, val uint32, timeout time.Duration) error {
	checkIndex(i, s.nwords)
	start := time.Now()
	for slice := pollMinSleep; word.Load() == val; slice = min(2*slice, pollMaxSleep) {
		left := remaining(start, timeout)
		if left == 0 {
			return nil
		}
		time.Sleep(within(slice, left))
	}
	return nil
}

// Wake does nothing and returns nil: sleepers poll the word. It panics if i is outside
// [0, nwords).
func (s *Set) Wake(i int, word *atomic.Uint32, n int) error {
	checkIndex(i, s.nwords)
	return nil
}

// Remove does nothing and returns nil: the poll mechanism keeps nothing outside the segment.
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
// segment that can no longer be opened but is being removed: with polling, nothing (nwords is
// checked). A System V semaphore set named by a cookie of the shmring_nofutex build stays.
func Discard(cookie uint32, nwords int) error {
	return checkWords(nwords)
}
