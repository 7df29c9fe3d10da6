//go:build linux

package bridge

import (
	"context"
	"fmt"

	"github.com/shmring/shmring"
)

// eventFD is a descriptor of shmring_event_fd: ring is the handle it was
// made for, which shmring_event_fd_close must name.
type eventFD struct {
	ring uint64
	sig  *signalFD
}

// event returns event i of ring h.
func (b *Bridge) event(h uint64, i int) (*shmring.Event, error) {
	r, err := b.ring(h)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= shmring.NumEvents {
		return nil, fmt.Errorf("shmring: event %d outside [0, %d): %w", i, shmring.NumEvents, ErrInvalid)
	}
	return r.Event(i), nil
}

// EventSet is Event.Set.
func (b *Bridge) EventSet(h uint64, i int) error {
	e, err := b.event(h, i)
	if err != nil {
		return err
	}
	e.Set()
	return nil
}

// EventClear is Event.Clear.
func (b *Bridge) EventClear(h uint64, i int) error {
	e, err := b.event(h, i)
	if err != nil {
		return err
	}
	e.Clear()
	return nil
}

// EventIsSet is Event.IsSet.
func (b *Bridge) EventIsSet(h uint64, i int) (bool, error) {
	e, err := b.event(h, i)
	if err != nil {
		return false, err
	}
	return e.IsSet(), nil
}

// EventWait waits at most timeoutNs (timeoutContext) for event i of ring h.
func (b *Bridge) EventWait(h uint64, i int, timeoutNs int64) error {
	e, err := b.event(h, i)
	if err != nil {
		return err
	}
	if timeoutNs == 0 {
		if e.IsSet() {
			return nil
		}
		return fmt.Errorf("shmring: event %d is not set: %w", i, context.DeadlineExceeded)
	}
	ctx, cancel := timeoutContext(timeoutNs)
	defer cancel()
	return e.Wait(ctx)
}

// EventFD returns a new descriptor that becomes readable once event i of
// ring h is set or the ring is closed: a goroutine waits for the event
// (Event.Wait), raises the descriptor and ends. EventFDClose releases it.
func (b *Bridge) EventFD(h uint64, i int) (int, error) {
	e, err := b.event(h, i)
	if err != nil {
		return -1, err
	}
	s, err := startSignal(func(ctx context.Context, raise func()) {
		// nil (set) or ErrClosed (the ring closed) raise it; a
		// cancelled ctx is EventFDClose, which needs nothing more.
		if e.Wait(ctx) == nil || ctx.Err() == nil {
			raise()
		}
	})
	if err != nil {
		return -1, err
	}
	b.eventsMu.Lock()
	defer b.eventsMu.Unlock()
	if b.events == nil {
		b.events = make(map[int]*eventFD)
	}
	b.events[s.fd] = &eventFD{ring: h, sig: s}
	return s.fd, nil
}

// EventFDClose stops the goroutine of descriptor fd of ring h, waits for
// it, and closes fd. The ring may have been closed since EventFD.
func (b *Bridge) EventFDClose(h uint64, fd int) error {
	b.eventsMu.Lock()
	e := b.events[fd]
	if e == nil || e.ring != h {
		b.eventsMu.Unlock()
		return fmt.Errorf("shmring: descriptor %d is not an event descriptor of ring %d: %w", fd, h, ErrInvalid)
	}
	delete(b.events, fd)
	b.eventsMu.Unlock()
	return e.sig.close()
}
