//go:build linux

package bridge

import (
	"sync"

	"github.com/shmring/shmring/internal/edge"
)

// readiness is an endpoint's readiness descriptor, made by the first call
// of ProducerFD or ConsumerFD.
type readiness struct {
	// mu guards sig against the close that stops it.
	mu  sync.Mutex
	sig *signalFD // nil until made
}

// fd returns the descriptor, made at the first call from the endpoint's
// Ready channel, which ready returns.
func (r *readiness) fd(ready func() <-chan struct{}) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sig == nil {
		s, err := startSignal(watchReady(ready()))
		if err != nil {
			return -1, err
		}
		r.sig = s
	}
	return r.sig.fd, nil
}

// reset makes the descriptor unreadable after a try found the ring empty
// (full), and reports whether there is one: the caller then tries once more.
//
// No wake-up is lost (try, reset, try). The first try's ErrEmpty (ErrFull)
// re-armed the endpoint's Ready poller; from then on, a commit (a release)
// makes the poller signal, and watchReady raise the descriptor. A raise that
// comes before the reset is erased by it, but the poller saw that message
// committed (that room freed) before the raise, hence before the second
// try, which therefore finds it: it receives the message (or, on an MPMC
// ring, finds that another consumer took it), or sends (or finds the room
// too small, and re-arms on the state it saw). A raise after the reset
// stays. So when the second try fails too, the descriptor is readable, or
// becomes readable as soon as the state changes after what the second try
// saw: the second try re-armed the poller too (and if the first re-arming
// has been used up meanwhile, its signal came after the reset and is still
// on the descriptor).
func (r *readiness) reset() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sig == nil {
		return false
	}
	r.sig.reset()
	return true
}

// close stops the descriptor's goroutine and closes it, if there is one.
func (r *readiness) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sig == nil {
		return nil
	}
	err := r.sig.close()
	r.sig = nil
	return err
}

// ConsumerFD returns consumer h's readiness descriptor, made at the first
// call: an eventfd raised each time the consumer's Ready channel delivers
// (a message, the end of the stream, an error, a close), and reset by a
// try-recv that finds the ring empty (readiness.reset). ConsumerClose stops
// its goroutine and closes it.
func (b *Bridge) ConsumerFD(h uint64) (int, error) {
	c, err := b.receiver(h)
	if err != nil {
		return -1, err
	}
	return c.fd(func() <-chan struct{} { return edge.ConsumerReady(c.c) })
}

// ProducerFD returns producer h's readiness descriptor, made at the first
// call: an eventfd raised each time the producer's Ready channel delivers
// (at once, then room freed after a try found the ring full, the end of an
// MPMC stream, an error, a close), and reset by a try-send that finds the
// ring full (readiness.reset). ProducerClose stops its goroutine and closes
// it.
func (b *Bridge) ProducerFD(h uint64) (int, error) {
	p, err := lookup[*producer](&b.handles, h)
	if err != nil {
		return -1, err
	}
	return p.fd(func() <-chan struct{} { return edge.ProducerReady(p.p) })
}
