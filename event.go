package shmring

import (
	"context"
	"fmt"

	"github.com/shmring/shmring/ring"
)

// NumEvents is the number of events in a ring's segment.
const NumEvents = ring.NumEvents

// Event is a flag in the ring's segment that processes set, clear and wait
// for: the cross-process counterpart of Python's multiprocessing.Event. Set
// wakes every process waiting; events start cleared when the ring is
// created. The methods are safe for concurrent use. After the ring's Close,
// Set and Clear do nothing, IsSet reports false and Wait returns ErrClosed.
type Event struct {
	r     *Ring
	words ring.EventWords
	index int
}

// Event returns event i (0 <= i < NumEvents) of the ring's segment. Every
// process that has the ring open sees the same events.
func (r *Ring) Event(i int) *Event {
	if i < 0 || i >= NumEvents {
		panic(fmt.Sprintf("shmring: event %d outside [0, %d)", i, NumEvents))
	}
	return &Event{r: r, words: r.w.events[i], index: i}
}

// Set sets the event and wakes every waiter, in every process.
func (e *Event) Set() {
	oldFault, ok := e.r.enter()
	if !ok {
		return
	}
	defer e.r.leave(oldFault, nil)
	// The Swap is step (a) of the protocol in wait.go, the Load inside
	// wakeIfWaiting step (b).
	if e.words.State.Swap(1) == 0 {
		e.r.wakeIfWaiting(e.r.eventWords(e.index))
	}
}

// Clear clears the event.
func (e *Event) Clear() {
	oldFault, ok := e.r.enter()
	if !ok {
		return
	}
	defer e.r.leave(oldFault, nil)
	e.words.State.Store(0)
}

// IsSet reports whether the event is set.
func (e *Event) IsSet() (set bool) {
	oldFault, ok := e.r.enter()
	if !ok {
		return false
	}
	defer e.r.leave(oldFault, nil)
	return e.isSet()
}

// Wait waits until the event is set. It returns ctx.Err() when ctx ends
// first and ErrClosed when the ring is closed.
func (e *Event) Wait(ctx context.Context) (err error) {
	oldFault, ok := e.r.enter()
	if !ok {
		return ErrClosed
	}
	defer e.r.leave(oldFault, &err)
	if e.isSet() {
		return nil
	}
	return e.r.wait(ctx, nil, nil, e.r.eventWords(e.index), e)
}

// C starts a goroutine that waits for the event and returns a channel that
// receives the result of Wait(ctx) (nil once the event is set) and is then
// closed. The goroutine ends with ctx or with the ring's Close.
func (e *Event) C(ctx context.Context) <-chan error {
	ch := make(chan error, 1)
	go func() {
		ch <- e.Wait(ctx)
		close(ch)
	}()
	return ch
}

// isSet loads the event's state; the caller is inside the ring's gate.
func (e *Event) isSet() bool { return e.words.State.Load() != 0 }

// ready reports the event set (condition of wait).
func (e *Event) ready() (bool, error) { return e.isSet(), nil }

// peerDead is nil: an event has no peer; any process may set it.
func (e *Event) peerDead() error { return nil }
