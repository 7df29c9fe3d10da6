package shmring

import (
	"context"
	"io"

	"github.com/shmring/shmring/ring"
)

// Consumer is the reading end of a ring. One Consumer at a time may be
// attached to a ring, across all processes. A Consumer is not safe for
// concurrent use, except that Close may be called from any goroutine.
type Consumer struct {
	ep *endpoint
	r  *Ring
	rc *ring.Consumer

	got    []byte // the message a wait found
	poller *poller
}

// Consumer attaches the consumer end. It fails with ErrBusy while another
// consumer, in any process, is attached. It starts at the oldest message
// not yet released, so a message a dead consumer peeked is read again.
func (r *Ring) Consumer() (_ *Consumer, err error) {
	ep, err := r.attachEndpoint(lockConsumer, r.ctl.ConsumerAttached, r.dataWords())
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ep.abandon()
		}
	}()
	// The lock makes this the only consumer: the waiter count of the data
	// condition can only be a dead predecessor's, and is reset.
	r.ctl.DataWaiters.Store(0)
	r.ctl.ConsumerAttached.Store(1)
	rc, err := r.ctl.NewConsumer()
	if err != nil {
		r.ctl.ConsumerAttached.Store(0)
		return nil, err
	}
	c := &Consumer{ep: ep, r: r, rc: rc}
	ep.detach = c.detach
	return c, nil
}

// Recv copies the next message into buf and returns its length, waiting
// while the ring is empty. It returns io.EOF once the producer closed the
// stream and every message was read, io.ErrShortBuffer (leaving the message
// in the ring) when buf is smaller than the message, ctx.Err() when ctx ends
// first, ErrClosed after Close, and ErrPeerDead when the producer died.
func (c *Consumer) Recv(ctx context.Context, buf []byte) (int, error) {
	msg, err := c.Peek(ctx)
	if err != nil {
		return 0, err
	}
	return c.copyOut(buf, msg)
}

// TryRecv is Recv without waiting: ErrEmpty when no message is committed
// now. An ErrEmpty also re-arms the channel returned by Ready.
func (c *Consumer) TryRecv(buf []byte) (int, error) {
	msg, err := c.TryPeek()
	if err != nil {
		return 0, err
	}
	return c.copyOut(buf, msg)
}

func (c *Consumer) copyOut(buf, msg []byte) (int, error) {
	if len(msg) > len(buf) {
		return 0, io.ErrShortBuffer
	}
	n := copy(buf, msg)
	c.Release()
	return n, nil
}

// Peek returns the next message in place, waiting while the ring is empty.
// The bytes stay valid, and the message stays in the ring, until Release;
// the caller must not write them. A consumer that dies before Release leaves
// the message to the next consumer. Errors are those of Recv.
func (c *Consumer) Peek(ctx context.Context) ([]byte, error) {
	if c.ep.gate.closed.Load() {
		return nil, ErrClosed
	}
	msg, err := c.rc.TryPeek()
	if err != ring.ErrEmpty {
		return msg, err
	}
	if err := c.r.wait(ctx, &c.ep.gate, c.r.dataWords(), c); err != nil {
		return nil, err
	}
	msg, c.got = c.got, nil
	return msg, nil
}

// TryPeek is Peek without waiting: ErrEmpty when no message is committed
// now. An ErrEmpty also re-arms the channel returned by Ready.
func (c *Consumer) TryPeek() ([]byte, error) {
	if c.ep.gate.closed.Load() {
		return nil, ErrClosed
	}
	msg, err := c.rc.TryPeek()
	if err != ring.ErrEmpty {
		return msg, err
	}
	if err := c.emptied(); err != nil {
		return nil, err
	}
	if c.poller != nil {
		if err := c.poller.takeErr(); err != nil {
			return nil, err
		}
		c.poller.rearm()
	}
	return nil, ErrEmpty
}

// Release consumes the message returned by the last Peek or TryPeek and
// hands its room back to the producer. Release without one panics.
func (c *Consumer) Release() {
	c.rc.Release()
	c.publish()
}

// ReadBatch waits until at least one message is committed, then calls fn on
// each committed message in turn, at most max of them (all when max <= 0),
// without waiting for more, and releases them with one publication of the
// head. msg is valid only during the call of fn. It returns how many
// messages it passed to fn, and io.EOF (with 0) at the end of the stream.
func (c *Consumer) ReadBatch(ctx context.Context, max int, fn func(msg []byte)) (int, error) {
	msg, err := c.Peek(ctx)
	n := 0
	for err == nil {
		fn(msg)
		c.rc.Release()
		n++
		if n == max {
			break
		}
		msg, err = c.rc.TryPeek()
	}
	c.publish()
	if err == ring.ErrEmpty || n > 0 && err == nil {
		return n, nil
	}
	return n, err
}

// emptied is what an empty ring calls for: hand back skipped padding, and
// report io.EOF when the stream is closed and nothing is left.
func (c *Consumer) emptied() error {
	c.publish()
	// Closed is stored after the producer's last Store(tail): seeing it
	// set, one more look at the tail finds every committed record.
	if c.r.ctl.Closed.Load() == 0 {
		return nil
	}
	if _, err := c.rc.TryPeek(); err != ring.ErrEmpty {
		return err
	}
	c.publish()
	return io.EOF
}

// ready looks for a message (condition of wait).
func (c *Consumer) ready() (bool, error) {
	msg, err := c.rc.TryPeek()
	if err == ring.ErrEmpty {
		return false, c.emptied()
	}
	c.got = msg
	return err == nil, err
}

// peerDead checks the producer (condition of wait).
func (c *Consumer) peerDead() error {
	return c.r.peerDead(lockProducer, c.r.ctl.ProducerAttached)
}

// publish stores the head, then wakes the producer if it sleeps for room
// (steps (a)-(b) in wait.go).
func (c *Consumer) publish() {
	if c.rc.Publish() {
		c.r.wakeIfWaiting(c.r.spaceWords())
	}
}

// detach stops the poller and hands back what was released.
func (c *Consumer) detach() error {
	if c.poller != nil {
		c.poller.stop()
	}
	c.publish()
	return nil
}

// Close detaches the consumer: messages not yet released stay in the ring
// for the next consumer. It ends a blocked call (which returns ErrClosed) and
// the Ready poller, and is idempotent.
func (c *Consumer) Close() error { return c.ep.close() }
