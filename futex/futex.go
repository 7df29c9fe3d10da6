// Shared by every implementation: the sentinel errors, the bounds on word counts and indexes,
// and the cookie markers.
//
// The cookie is one word of the segment, zero when the segment is created. The first Open
// records its mechanism there:
//
//	0                       fresh segment, no mechanism yet
//	1 .. 0x7FFF_FFFF        sysv-semaphore: the semaphore set id plus one
//	0xF0F0_0001             futex
//	0xF0F0_0003             poll
//	anything else           corrupt: ErrMismatch
//
// Linux semaphore ids are non-negative ints, so id+1 stays below semCookieLimit; the
// semaphore build checks that before it publishes an id.

package futex

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// ErrNotSupported is wrapped when the platform cannot provide the mechanism.
var ErrNotSupported = errors.New("wake-ups not supported on this platform")

// ErrMismatch is wrapped when the segment's cookie says another mechanism (futex vs semaphore
// fallback) set it up, or names a semaphore set that cannot serve this Set.
var ErrMismatch = errors.New("segment uses a different wake-up mechanism")

// MaxWords bounds the nwords argument of Open.
const MaxWords = 256

const (
	// futexMarker is the cookie value of the futex mechanism.
	futexMarker uint32 = 0xF0F0_0001
	// pollMarker is the cookie value of the poll mechanism.
	pollMarker uint32 = 0xF0F0_0003
	// semCookieLimit bounds the cookie values of the semaphore mechanism (id+1) from above.
	semCookieLimit uint32 = 0x8000_0000
)

// maxSleep bounds one kernel sleep, so that its relative timespec fits a 32-bit time_t; Wait
// sleeps again until its own timeout has passed.
const maxSleep = 24 * time.Hour

// checkWords validates the nwords argument of Open.
func checkWords(nwords int) error {
	if nwords < 1 || nwords > MaxWords {
		return fmt.Errorf("futex: nwords %d outside 1..%d: %w", nwords, MaxWords, os.ErrInvalid)
	}
	return nil
}

// checkIndex panics when i does not name one of the set's words: an index is chosen by the
// local caller, never read from shared memory, so a bad one is a programming error.
func checkIndex(i, nwords int) {
	if i < 0 || i >= nwords {
		panic(fmt.Sprintf("futex: word index %d outside [0, %d)", i, nwords))
	}
}

// mechanismOf names the mechanism that a cookie value records.
func mechanismOf(cookie uint32) string {
	switch {
	case cookie == futexMarker:
		return "futex"
	case cookie == pollMarker:
		return "poll"
	case cookie != 0 && cookie < semCookieLimit:
		return "sysv-semaphore"
	default:
		return "unknown"
	}
}

// mismatch reports a cookie that this build's mechanism cannot use.
// claimMarker checks nwords and records marker, the mechanism of a build
// that keeps nothing outside the segment, in cookie: a fresh cookie takes it,
// one that holds it already is fine, anything else is ErrMismatch.
func claimMarker(cookie *atomic.Uint32, nwords int, marker uint32) error {
	if err := checkWords(nwords); err != nil {
		return err
	}
	if !cookie.CompareAndSwap(0, marker) {
		if v := cookie.Load(); v != marker {
			return mismatch(v)
		}
	}
	return nil
}

func mismatch(cookie uint32) error {
	return fmt.Errorf("futex: segment cookie %#08x names mechanism %q, this build uses %q: %w",
		cookie, mechanismOf(cookie), Mechanism, ErrMismatch)
}

// remaining returns how much of timeout is left since start; timeout < 0 means no limit, and
// the result is then negative too.
func remaining(start time.Time, timeout time.Duration) time.Duration {
	if timeout < 0 {
		return -1
	}
	return max(timeout-time.Since(start), 0)
}

// within bounds a sleep slice by left, what remains of a timeout (left < 0: no limit).
func within(slice, left time.Duration) time.Duration {
	if left < 0 {
		return slice
	}
	return min(slice, left)
}
