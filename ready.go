package shmring

import "sync/atomic"

// A producer's Ready: the consumer's Ready (poller.go) turned around. The
// poller waits for room on the ring's space words, as Send does, with a
// condition that reads only shared words:
//
//   - SPSC: the consumer's head has moved since the try that found the ring
//     full (it loaded the head that left no room, and the poller was handed
//     that value when the try re-armed it). A consumer publishes its head
//     (step (a) of wait.go) before it wakes sleepers for room (step (b)), so
//     a release after the failed try is seen by the poller's re-check or
//     wakes it. The head may move by less than the message needs: the next
//     TrySend then finds the ring full again and re-arms with the new head,
//     so each signal follows a release, and a producer that waits on Ready
//     never spins.
//   - MPMC: the slot at the enqueue position is not a full ring's, or the
//     stream has ended (MPMC.Writable).
//
// Until a try has found the ring full, the poller is ready at once: a
// producer that has not been refused yet may try.

// notFull is the head writable holds while no try has found the ring full.
const notFull = ^uint64(0)

// writable is a producer's readiness (condition of the poller's wait).
type writable struct {
	p    *Producer
	head atomic.Uint64 // SPSC: the head that left no room, or notFull
}

// Ready returns a channel that receives a value when the producer may be
// able to send: at once after the first call, and then each time room was
// freed after a TrySend, TryReserve or SendBatch found the ring full, the
// stream ended (MPMC: CloseStream), or the wait failed (for example
// ErrPeerDead, which the next TrySend reports). Go on with TrySend: as for
// Consumer.Ready, a try that finds room leaves a value in the channel again,
// so sending one message per value never stalls with room left, and ErrFull
// re-arms it. The first call starts a
// goroutine that Close stops; Close also closes the channel, and after
// Close, Ready returns a closed channel.
func (p *Producer) Ready() <-chan struct{} { return p.readyChan(false) }

// readyChan is Ready, edge-triggered with edge (package edge) when it starts the
// poller.
func (p *Producer) readyChan(edge bool) <-chan struct{} {
	if !p.ep.begin() {
		return alwaysReady
	}
	if p.poller == nil {
		p.room = &writable{p: p}
		p.room.head.Store(notFull)
		p.poller = startPoller(p.r, p.ep, p.r.spaceWords(), p.room, edge)
	}
	p.ep.end()
	return p.poller.signal
}

// ready reports room freed since the last try that found none.
func (w *writable) ready() (bool, error) {
	if mp := w.p.mp; mp != nil {
		return mp.Writable(), nil
	}
	h := w.head.Load()
	return h == notFull || w.p.r.ctl.Head.Load() != h, nil
}

// peerDead checks the SPSC consumer, or reaps dead MPMC participants
// without counting them.
func (w *writable) peerDead() error {
	if w.p.r.mp != nil {
		return w.p.r.reapDead(nil)
	}
	return w.p.r.peerDead(lockConsumer, w.p.r.ctl.ConsumerAttached)
}

// full is the result of a try that found no room while a poller runs: the
// error the poller's last wait ended with, if any; otherwise ErrFull, with
// the poller re-armed on the head that left no room.
func (p *Producer) full() error {
	if err := p.poller.takeErr(); err != nil {
		return err
	}
	if p.rp != nil {
		p.room.head.Store(p.rp.Head())
	}
	p.poller.lower()
	p.poller.rearm()
	return ErrFull
}
