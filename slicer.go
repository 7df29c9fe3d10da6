package shmring

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/ring"
)

// The slicer lets a ring's sleepers sleep without a timeout.
//
// A timed FUTEX_WAIT arms a kernel timer for every sleep, and a hand-off
// under the Block strategy is a sleep: the timer's set-up and cancellation
// are a visible part of its round trip. Yet a sleeper needs its slices of
// peerCheckInterval, to look at its peer, its parent and its endpoint now
// and then. So each Ring has one slicer goroutine that, every
// peerCheckInterval while any of the ring's sleepers in this process sleeps
// untimed, adds one to ticks and then wakes (FUTEX_WAKE, without a change
// of the word) every futex word that such a sleeper announced: a sleep ends
// within one slice as it did when it was timed, and the syscall of a
// hand-off has no timer to arm.
//
// A sleep "ran out" when it returns with its sequence word unchanged and
// ticks moved while it slept: the slicer woke it, not a peer. A return with
// the word unchanged and ticks not moved is spurious (a waker's late wake
// meant for an earlier sleep, or another process's slicer waking the same
// shared word) and proves nothing.
//
// The goroutine starts with the first untimed sleep and ends at a tick that
// finds no untimed sleeper and none that joined since the tick before, so
// that a ring whose waits keep going to sleep (a Block ping-pong) does not
// start it again and again, and an idle ring costs nothing: a wait that has
// slept untimedSlices slices untimed goes on with timed sleeps (wait.go),
// which need no slicer. Ring.Close stops it (halt) before it unmaps the
// segment: the slicer touches no shared memory itself, but its FUTEX_WAKE
// names addresses in the mapping.
//
// join and the goroutine's exit are Dekker's pair, on sequentially
// consistent atomics: join adds to counts (or stores used), then loads
// running; the exit stores running false, then loads counts and used. Either
// the join sees false and starts a goroutine (under mu, which orders it
// after the exit), or the exit sees the join and goes on.
type slicer struct {
	ticks   atomic.Uint32               // slices ended; added to before each round of wake-ups
	counts  [ring.NumWords]atomic.Int32 // untimed sleepers of this process, per futex word
	used    atomic.Bool                 // an untimed sleep began since the last tick
	running atomic.Bool                 // a goroutine runs, or is about to
	mu      sync.Mutex                  // guards done, stop and halted; orders a start after an exit
	done    chan struct{}               // closed when the last goroutine started has ended
	stop    chan struct{}               // closed by halt
	halted  bool                        // set by halt: no goroutine starts any more
	wake    func(i int)                 // FUTEX_WAKE of futex word i, without changing it
}

// untimedSlices is how many slices a wait sleeps without a timeout before it
// goes on with timed sleeps, so that a long idle wait lets the slicer stop.
const untimedSlices = 2

// newSlicer returns the slicer of r.
func newSlicer(r *Ring) *slicer {
	return &slicer{
		wake: func(i int) {
			// A failed wake is not reported: the sleeper is woken by a
			// later tick, or by its own timed sleep.
			_ = r.fx.Wake(i, r.seqWord(i), math.MaxInt32)
		},
	}
}

// join records an untimed sleeper on futex word i, starting the goroutine if
// none runs. It returns false, recording nothing, when the ring is closing
// or the mechanism cannot cut an untimed sleep short (futex.WakeInterrupts):
// the caller then sleeps with a timeout.
func (s *slicer) join(i int) bool {
	if !futex.WakeInterrupts {
		return false
	}
	s.counts[i].Add(1)
	if !s.used.Load() {
		// Once a slice: the line stays this core's between ticks.
		s.used.Store(true)
	}
	if !s.running.Load() && !s.start() {
		s.counts[i].Add(-1)
		return false
	}
	return true
}

// leave removes an untimed sleeper on futex word i that join recorded.
func (s *slicer) leave(i int) { s.counts[i].Add(-1) }

// start starts the goroutine unless one runs or the slicer is halted; it
// reports whether one runs.
func (s *slicer) start() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.halted {
		return false
	}
	if s.running.Load() {
		return true
	}
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	s.done = make(chan struct{})
	s.running.Store(true)
	go s.run(s.stop, s.done)
	return true
}

// run ends a slice every peerCheckInterval until halt, or until a tick
// finds nobody to wake.
func (s *slicer) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(peerCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !s.tick() {
			return
		}
	}
}

// tick ends a slice: it adds to ticks, then wakes every word with an
// untimed sleeper. It reports whether the goroutine goes on: false once a
// tick finds no untimed sleeper and none that joined since the last one.
func (s *slicer) tick() bool {
	// The sleeper loads ticks before it sleeps and after it returns: a
	// wake-up below comes after the Add, so a sleeper it ends sees ticks
	// moved.
	s.ticks.Add(1)
	busy := s.used.Swap(false)
	for i := range s.counts {
		if s.counts[i].Load() > 0 {
			busy = true
			s.wake(i)
		}
	}
	if busy {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running.Store(false)
	if s.idle() {
		return false
	}
	// A sleeper joined after the looks above and saw running still set.
	s.running.Store(true)
	return true
}

// idle reports whether no untimed sleeper is recorded and none joined since
// the last tick.
func (s *slicer) idle() bool {
	if s.used.Load() {
		return false
	}
	for i := range s.counts {
		if s.counts[i].Load() > 0 {
			return false
		}
	}
	return true
}

// halt stops the goroutine for good and waits until it has ended; a later
// join fails. Ring.Close calls it once no wait is inside the ring.
func (s *slicer) halt() {
	s.mu.Lock()
	s.halted = true
	if s.stop != nil {
		close(s.stop)
	}
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	// A join from now on takes the slow path, and start refuses it.
	s.running.Store(false)
}
