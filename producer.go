package shmring

import (
	"context"

	"github.com/shmring/shmring/ring"
)

// Producer is the writing end of a ring. One Producer at a time may be
// attached to a ring, across all processes. A Producer is not safe for
// concurrent use, except that Close may be called from any goroutine.
type Producer struct {
	ep *endpoint
	r  *Ring
	rp *ring.Producer

	want int    // payload size a waiting reservation asks for
	got  []byte // what the waiting reservation obtained
}

// Producer attaches the producer end. It fails with ErrBusy while another
// producer, in any process, is attached. Attaching reopens the stream if a
// previous producer closed it.
func (r *Ring) Producer() (_ *Producer, err error) {
	ep, err := r.attachEndpoint(lockProducer, r.ctl.ProducerAttached, r.spaceWords())
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ep.abandon()
		}
	}()
	// The lock makes this the only producer: the waiter count of the space
	// condition can only be a dead predecessor's, and is reset.
	r.ctl.SpaceWaiters.Store(0)
	r.ctl.ProducerAttached.Store(1)
	r.ctl.Closed.Store(0)
	rp, err := r.ctl.NewProducer()
	if err != nil {
		r.ctl.ProducerAttached.Store(0)
		return nil, err
	}
	p := &Producer{ep: ep, r: r, rp: rp}
	ep.detach = p.detach
	return p, nil
}

// Send copies msg into the ring as one message, waiting while the ring is
// full. It returns ErrTooLarge for a message over Ring.MaxMessage, ctx.Err()
// when ctx ends first (nothing is sent), ErrClosed after Close, and
// ErrPeerDead if the consumer dies while Send waits.
func (p *Producer) Send(ctx context.Context, msg []byte) error {
	buf, err := p.reserve(ctx, len(msg))
	if err != nil {
		return err
	}
	copy(buf, msg)
	p.rp.Commit(len(msg))
	p.publish()
	return nil
}

// TrySend is Send without waiting: ErrFull when the ring has no room now.
func (p *Producer) TrySend(msg []byte) error {
	buf, err := p.TryReserve(len(msg))
	if err != nil {
		return err
	}
	copy(buf, msg)
	p.rp.Commit(len(msg))
	p.publish()
	return nil
}

// SendBatch sends msgs in order and makes them visible with one publication
// at the end (and before each wait for room), which amortises the shared
// cursor's cache-line transfer over the batch. It returns how many messages
// were sent, and the error that stopped it.
func (p *Producer) SendBatch(ctx context.Context, msgs [][]byte) (int, error) {
	for i, msg := range msgs {
		buf, err := p.reserve(ctx, len(msg))
		if err != nil {
			p.publish()
			return i, err
		}
		copy(buf, msg)
		p.rp.Commit(len(msg))
	}
	p.publish()
	return len(msgs), nil
}

// Reserve returns n bytes of the ring to write a message into in place,
// waiting while the ring is full; Commit sends it. The bytes belong to the
// caller until Commit; a second Reserve abandons the first reservation.
func (p *Producer) Reserve(ctx context.Context, n int) ([]byte, error) {
	return p.reserve(ctx, n)
}

// TryReserve is Reserve without waiting: ErrFull when the ring has no room
// now.
func (p *Producer) TryReserve(n int) ([]byte, error) {
	if p.ep.gate.closed.Load() {
		return nil, ErrClosed
	}
	buf, err := p.rp.TryReserve(n)
	if err == ErrFull {
		// A padding record may have been written: publish it so that the
		// consumer can free the rest of the lap.
		p.publish()
	}
	return buf, err
}

// Commit sends the first n bytes of the reserved buffer as one message.
// Commit without a reservation, or with n larger than reserved, panics.
func (p *Producer) Commit(n int) {
	p.rp.Commit(n)
	p.publish()
}

// reserve is TryReserve, then the wait for room.
func (p *Producer) reserve(ctx context.Context, n int) ([]byte, error) {
	buf, err := p.TryReserve(n)
	if err != ErrFull {
		return buf, err
	}
	p.want = n
	if err := p.r.wait(ctx, &p.ep.gate, p.r.spaceWords(), p); err != nil {
		return nil, err
	}
	buf, p.got = p.got, nil
	return buf, nil
}

// ready retries the waiting reservation (condition of wait).
func (p *Producer) ready() (bool, error) {
	buf, err := p.rp.TryReserve(p.want)
	if err == ErrFull {
		p.publish()
		return false, nil
	}
	p.got = buf
	return err == nil, err
}

// peerDead checks the consumer (condition of wait).
func (p *Producer) peerDead() error {
	return p.r.peerDead(lockConsumer, p.r.ctl.ConsumerAttached)
}

// publish stores the tail, then wakes the consumer if it sleeps. The Store
// in ring.Producer.Publish and the Load in wakeIfWaiting are sequentially
// consistent: that is the StoreLoad order of step (a)-(b) in wait.go.
func (p *Producer) publish() {
	if p.rp.Publish() {
		p.r.wakeIfWaiting(p.r.dataWords())
	}
}

// detach publishes what was committed and ends the stream.
func (p *Producer) detach() error {
	p.publish()
	p.r.ctl.Closed.Store(1)
	p.r.wakeIfWaiting(p.r.dataWords())
	return nil
}

// Close ends the stream: everything committed stays readable, then the
// consumer gets io.EOF. It ends a blocked call (which returns ErrClosed),
// detaches, and is idempotent.
func (p *Producer) Close() error { return p.ep.close() }
