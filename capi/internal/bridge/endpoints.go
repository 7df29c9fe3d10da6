//go:build linux

package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmring/shmring"
)

// producer is the object of a producer handle. Its fields other than p
// belong to the one thread that uses the endpoint (shmring.h).
type producer struct {
	p *shmring.Producer
	// pending is the error that ended a batch after some of it was sent:
	// the next send call reports it (shmring_send_batch).
	pending error
	// batch is SendBatch's slice of messages, kept between calls.
	batch [][]byte
	readiness
}

// consumer is the object of a consumer handle.
type consumer struct {
	c *shmring.Consumer
	readiness
}

// ProducerOpen attaches a producer to ring h.
func (b *Bridge) ProducerOpen(h uint64) (uint64, error) {
	r, err := b.ring(h)
	if err != nil {
		return 0, err
	}
	p, err := r.Producer()
	if err != nil {
		return 0, err
	}
	return b.handles.add(&producer{p: p}), nil
}

// ConsumerOpen attaches a consumer to ring h.
func (b *Bridge) ConsumerOpen(h uint64) (uint64, error) {
	r, err := b.ring(h)
	if err != nil {
		return 0, err
	}
	c, err := r.Consumer()
	if err != nil {
		return 0, err
	}
	return b.handles.add(&consumer{c: c}), nil
}

// ProducerClose closes producer h, then its readiness descriptor.
func (b *Bridge) ProducerClose(h uint64) error {
	p, err := remove[*producer](&b.handles, h)
	if err != nil {
		return err
	}
	return errors.Join(p.p.Close(), p.readiness.close())
}

// ConsumerClose closes consumer h, then its readiness descriptor.
func (b *Bridge) ConsumerClose(h uint64) error {
	c, err := remove[*consumer](&b.handles, h)
	if err != nil {
		return err
	}
	return errors.Join(c.c.Close(), c.readiness.close())
}

// ProducerStats is Producer.Stats.
func (b *Bridge) ProducerStats(h uint64) (shmring.Stats, error) {
	p, err := lookup[*producer](&b.handles, h)
	if err != nil {
		return shmring.Stats{}, err
	}
	return p.p.Stats(), nil
}

// ConsumerStats is Consumer.Stats.
func (b *Bridge) ConsumerStats(h uint64) (shmring.Stats, error) {
	c, err := lookup[*consumer](&b.handles, h)
	if err != nil {
		return shmring.Stats{}, err
	}
	return c.c.Stats(), nil
}

// sender returns producer h, or the error a batch left for this call.
func (b *Bridge) sender(h uint64) (*producer, error) {
	p, err := lookup[*producer](&b.handles, h)
	if err != nil {
		return nil, err
	}
	if err := p.pending; err != nil {
		p.pending = nil
		return nil, err
	}
	return p, nil
}

// Send sends msg, waiting at most timeoutNs (timeoutContext).
func (b *Bridge) Send(h uint64, msg []byte, timeoutNs int64) error {
	if timeoutNs == 0 {
		return b.TrySend(h, msg)
	}
	p, err := b.sender(h)
	if err != nil {
		return err
	}
	ctx, cancel := timeoutContext(timeoutNs)
	defer cancel()
	return p.p.Send(ctx, msg)
}

// TrySend is Producer.TrySend, with the readiness descriptor reset when it
// finds the ring full (see readiness.reset).
func (b *Bridge) TrySend(h uint64, msg []byte) error {
	p, err := b.sender(h)
	if err != nil {
		return err
	}
	err = p.p.TrySend(msg)
	if err == shmring.ErrFull && p.reset() {
		err = p.p.TrySend(msg)
	}
	return err
}

// SendBatch sends n messages, message i being msg(i), waiting at most
// timeoutNs for room. It returns how many were sent; when some were and an
// error stopped the rest, it returns the count with a nil error and keeps
// the error for the next send call, unless the error is the timeout (a
// timeout of 0 gives ErrFull for a batch of which nothing fits).
func (b *Bridge) SendBatch(h uint64, n int, msg func(i int) []byte, timeoutNs int64) (int, error) {
	p, err := b.sender(h)
	if err != nil {
		return 0, err
	}
	p.batch = p.batch[:0]
	for i := range n {
		p.batch = append(p.batch, msg(i))
	}
	sent, err := p.sendBatch(timeoutNs)
	if sent == 0 && timeoutNs == 0 && errors.Is(err, context.DeadlineExceeded) && p.reset() {
		sent, err = p.sendBatch(timeoutNs)
	}
	clear(p.batch) // the C caller's memory must not outlive the call here
	if errors.Is(err, context.DeadlineExceeded) {
		if sent > 0 {
			return sent, nil
		}
		if timeoutNs == 0 {
			return 0, fmt.Errorf("shmring: send batch: %w", shmring.ErrFull)
		}
		return 0, err
	}
	if err != nil && sent > 0 {
		p.pending = err
		return sent, nil
	}
	return sent, err
}

// sendBatch sends p.batch, waiting at most timeoutNs for room.
func (p *producer) sendBatch(timeoutNs int64) (int, error) {
	ctx, cancel := timeoutContext(timeoutNs)
	defer cancel()
	return p.p.SendBatch(ctx, p.batch)
}

// receiver returns consumer h.
func (b *Bridge) receiver(h uint64) (*consumer, error) {
	return lookup[*consumer](&b.handles, h)
}

// Recv receives into buf, waiting at most timeoutNs (timeoutContext).
func (b *Bridge) Recv(h uint64, buf []byte, timeoutNs int64) (int, error) {
	if timeoutNs == 0 {
		return b.TryRecv(h, buf)
	}
	c, err := b.receiver(h)
	if err != nil {
		return 0, err
	}
	ctx, cancel := timeoutContext(timeoutNs)
	defer cancel()
	return c.c.Recv(ctx, buf)
}

// TryRecv is Consumer.TryRecv, with the readiness descriptor reset when it
// finds the ring empty (see readiness.reset).
func (b *Bridge) TryRecv(h uint64, buf []byte) (int, error) {
	c, err := b.receiver(h)
	if err != nil {
		return 0, err
	}
	n, err := c.c.TryRecv(buf)
	if err == shmring.ErrEmpty && c.reset() {
		n, err = c.c.TryRecv(buf)
	}
	return n, err
}

// RecvBatch receives up to len(lens) messages, packed back to back into
// buf, their lengths into lens, waiting at most timeoutNs for the first. It
// stops before a message that does not fit, which stays in the ring; when
// the first does not fit, it returns ErrTooLarge.
func (b *Bridge) RecvBatch(h uint64, buf []byte, lens []uintptr, timeoutNs int64) (int, error) {
	c, err := b.receiver(h)
	if err != nil {
		return 0, err
	}
	if len(lens) == 0 {
		return 0, fmt.Errorf("shmring: recv batch of 0 messages: %w", ErrInvalid)
	}
	var msg []byte
	if timeoutNs == 0 {
		msg, err = c.c.TryPeek()
		if err == shmring.ErrEmpty && c.reset() {
			msg, err = c.c.TryPeek()
		}
	} else {
		ctx, cancel := timeoutContext(timeoutNs)
		msg, err = c.c.Peek(ctx)
		cancel()
	}
	n, off := 0, 0
	for err == nil {
		if len(msg) > len(buf)-off {
			if n == 0 {
				return 0, fmt.Errorf("shmring: recv batch: message of %d bytes, buffer of %d: %w",
					len(msg), len(buf), shmring.ErrTooLarge)
			}
			break
		}
		copy(buf[off:], msg)
		// A Release that fails consumed nothing: the message is not
		// counted, and stays in the ring.
		if err = c.c.Release(); err != nil {
			break
		}
		lens[n] = uintptr(len(msg))
		off += len(msg)
		n++
		if n == len(lens) {
			break
		}
		msg, err = c.c.TryPeek()
	}
	if n > 0 {
		// What stopped the batch (ErrEmpty, io.EOF, a closed consumer)
		// comes again at the next call.
		return n, nil
	}
	return 0, err
}
