package shmring

import (
	"context"
	"errors"
	"runtime"

	"github.com/shmring/shmring/ring"
)

// Producer is a writing end of a ring. An SPSC ring admits one Producer at a
// time across all processes; an MPMC ring any number, up to its
// participants. A Producer is not safe for concurrent use, except that Close
// (and the Ring's Close) may be called from any goroutine at any time: a call
// it races either completes as if Close came after it, or returns ErrClosed
// having touched nothing shared.
type Producer struct {
	ep *endpoint
	r  *Ring
	rp *ring.Producer     // SPSC
	mp *ring.MPMCProducer // MPMC
	st *ring.Stats        // counters of this producer, kept by the ring layer

	want int    // payload size a waiting reservation asks for
	got  []byte // what the waiting reservation obtained

	poller *poller   // started by Ready
	room   *writable // the poller's condition
}

// statsFlushEvery is how many messages a producer or consumer sends or
// receives between two flushes of its counters to the segment, besides the
// flushes at each look at the peer while it waits (once a sleep slice) and
// at Close.
const statsFlushEvery = 1024

// Producer attaches a producer end. On an SPSC ring it fails with ErrBusy
// while another producer, in any process, is attached, and attaching
// reopens the stream if a previous producer closed it. On an MPMC ring it
// fails with ErrBusy when every participant entry is taken.
func (r *Ring) Producer() (_ *Producer, err error) {
	oldFault, ok := r.enter()
	if !ok {
		return nil, ErrClosed
	}
	defer r.leave(oldFault, &err)
	ep, err := r.attachEndpoint(lockProducer, r.spaceWords())
	if err != nil {
		return nil, err
	}
	p := &Producer{ep: ep, r: r}
	if err := ep.setUp(p.setUp(), p.detach, p.leased); err != nil {
		return nil, err
	}
	runtime.AddCleanup(p, (*leasePin).release, ep.lease)
	return p, nil
}

// setUp joins the producer's state in the segment.
func (p *Producer) setUp() (err error) {
	r := p.r
	if r.mp != nil {
		if p.mp, err = r.mp.NewProducer(p.ep.entry); err != nil {
			return err
		}
		p.st = p.mp.Counters()
		return nil
	}
	// The lock makes this the only producer: the waiter count of the
	// space condition can only be a dead predecessor's, and is reset.
	r.ctl.SpaceWaiters.Store(0)
	r.publishAttach(r.ctl.ProducerAttached, r.ctl.ProducerPid, r.ctl.ProducerPidNS, r.dataWords())
	r.noBarrier(r.ctl.ProducerNoBarrier)
	r.ctl.Closed.Store(0)
	if p.rp, err = r.ctl.NewProducer(); err != nil {
		return err
	}
	p.st = p.rp.Counters()
	return nil
}

// Send copies msg into the ring as one message, waiting while the ring is
// full. It returns ErrTooLarge for a message over Ring.MaxMessage, ctx.Err()
// when ctx ends first (nothing is sent), ErrClosed after Close or once the
// stream of an MPMC ring is closed, and ErrPeerDead if the consumer of an
// SPSC ring dies while Send waits.
func (p *Producer) Send(ctx context.Context, msg []byte) (err error) {
	if !p.ep.begin() {
		return ErrClosed
	}
	if p.ep.faults {
		p.ep.panicOnFault()
		defer p.ep.recoverFault(&err)
	}
	var buf []byte
	if buf, err = p.reserve(ctx, len(msg)); err == nil {
		copy(buf, msg)
		p.stage(len(msg))
		p.publish()
	}
	p.ep.end()
	return err
}

// TrySend is Send without waiting: ErrFull when the ring has no room now.
func (p *Producer) TrySend(msg []byte) (err error) {
	if !p.ep.begin() {
		return ErrClosed
	}
	if p.ep.faults {
		p.ep.panicOnFault()
		defer p.ep.recoverFault(&err)
	}
	var buf []byte
	if buf, err = p.tryReserve(len(msg)); err == nil {
		copy(buf, msg)
		p.stage(len(msg))
		p.publish()
	}
	p.ep.end()
	return err
}

// SendBatch sends msgs in order. On an SPSC ring it makes them visible with
// one publication at the end (and before each wait for room), which
// amortises the shared cursor's cache-line transfer over the batch; on an
// MPMC ring it claims the slots of up to 64 messages at a time with one
// atomic operation on the shared enqueue position, and publishes each
// message in its own slot. It returns how many messages were sent, and the
// error that stopped it.
func (p *Producer) SendBatch(ctx context.Context, msgs [][]byte) (n int, err error) {
	if !p.ep.begin() {
		return 0, ErrClosed
	}
	if p.ep.faults {
		p.ep.panicOnFault()
		defer p.ep.recoverFault(&err)
	}
	n, err = p.sendBatch(ctx, msgs)
	p.ep.end()
	return n, err
}

// sendBatch is SendBatch inside a call.
func (p *Producer) sendBatch(ctx context.Context, msgs [][]byte) (int, error) {
	if p.mp != nil {
		return p.sendBatchMPMC(ctx, msgs)
	}
	sent := 0
	for sent < len(msgs) {
		if p.poller == nil {
			// Whatever fits now, in one go; Ready's raise and re-arm
			// need the per-message path.
			before := p.st.MsgsSent
			k, _ := p.rp.TryWrite(msgs[sent:])
			sent += k
			p.flushStatsPast(before)
			if sent == len(msgs) {
				break
			}
		}
		// The next message waits for room, or reports why it cannot be
		// sent (what TryWrite stopped on is found again).
		buf, err := p.reserve(ctx, len(msgs[sent]))
		if err != nil {
			p.publish()
			return sent, err
		}
		copy(buf, msgs[sent])
		p.stage(len(msgs[sent]))
		sent++
	}
	p.publish()
	return len(msgs), nil
}

// sendBatchMPMC is sendBatch on an MPMC ring. It claims the slots of the
// next messages, up to ring.MPMCMaxBatch of them, with one CAS
// (ring.MPMCProducer.TryReserveBatch: as many as are free), fills and
// publishes each in turn, and wakes the consumers once for the lot. When no
// slot is free, or the next message is too large, it goes through Send's
// path for that one message (which waits for room, or reports ErrTooLarge),
// then claims batches again.
func (p *Producer) sendBatchMPMC(ctx context.Context, msgs [][]byte) (int, error) {
	slotSize := p.r.mp.Geometry().SlotSize
	sent := 0
	for sent < len(msgs) {
		k := 0
		for k < ring.MPMCMaxBatch && sent+k < len(msgs) && uint64(len(msgs[sent+k])) <= slotSize {
			k++
		}
		if k > 0 {
			got, err := p.mp.TryReserveBatch(k)
			if err == nil {
				before := p.st.MsgsSent
				for _, msg := range msgs[sent : sent+got] {
					p.mp.CommitNext(msg)
				}
				sent += got
				p.wakeConsumers()
				p.flushStatsPast(before)
				continue
			}
			if errors.Is(err, ErrClosed) {
				// The positions claimed after the close are skip
				// records: the consumers may reach the end.
				p.wakeConsumers()
				return sent, err
			}
			if err != ErrFull {
				return sent, err
			}
		}
		buf, err := p.reserve(ctx, len(msgs[sent]))
		if err != nil {
			return sent, err
		}
		copy(buf, msgs[sent])
		p.stage(len(msgs[sent]))
		sent++
	}
	return sent, nil
}

// Reserve returns n bytes of the ring to write a message into in place,
// waiting while the ring is full; Commit sends it. The bytes belong to the
// caller until Commit, a second Reserve (which abandons the reservation: on
// an MPMC ring its slot becomes a skip record that consumers pass over), or
// Close. After Producer.Close the bytes may be reused by another producer:
// do not touch them. After Ring.Close, from any goroutine, they stay
// addressable as a private copy of the ring's memory that no other process
// sees, until the Commit that reports ErrClosed (or until the Producer is
// garbage collected): writing them then is harmless and sends nothing.
func (p *Producer) Reserve(ctx context.Context, n int) (buf []byte, err error) {
	if !p.ep.begin() {
		return nil, ErrClosed
	}
	if p.ep.faults {
		p.ep.panicOnFault()
		defer p.ep.recoverFault(&err)
	}
	buf, err = p.reserve(ctx, n)
	p.ep.end()
	return buf, err
}

// TryReserve is Reserve without waiting: ErrFull when the ring has no room
// now.
func (p *Producer) TryReserve(n int) (buf []byte, err error) {
	if !p.ep.begin() {
		return nil, ErrClosed
	}
	if p.ep.faults {
		p.ep.panicOnFault()
		defer p.ep.recoverFault(&err)
	}
	buf, err = p.tryReserve(n)
	p.ep.end()
	return buf, err
}

// tryReserve is TryReserve inside a call. With a Ready poller, room found
// raises Ready again (so that a loop that sends one message per signal
// never stalls with room left), and ErrFull re-arms it.
func (p *Producer) tryReserve(n int) ([]byte, error) {
	buf, err := p.tryReserveOnce(n)
	if p.poller != nil {
		switch err {
		case nil:
			p.poller.raise()
		case ErrFull:
			return nil, p.full()
		}
	}
	return buf, err
}

// tryReserveOnce is tryReserve without the poller.
func (p *Producer) tryReserveOnce(n int) ([]byte, error) {
	if p.mp != nil {
		buf, err := p.tryReserveMPMC(n)
		if err != ErrFull {
			return buf, err
		}
		// A producer that only polls must not stall behind a dead
		// participant's slot: look for one as a wait would.
		looked, err := p.ep.reapIfDue(p.st)
		if err != nil {
			return nil, err
		}
		if !looked {
			return nil, ErrFull
		}
		return p.tryReserveMPMC(n)
	}
	buf, err := p.rp.TryReserve(n)
	if err == ErrFull {
		// A padding record may have been written: publish it so that the
		// consumer can free the rest of the lap.
		p.publish()
	}
	return buf, err
}

// Commit sends the first n bytes of the reserved buffer as one message. It
// returns ErrClosed, sending nothing, when Close (of the producer or its ring)
// came first: the reservation ended with it. Commit without a reservation,
// or with n larger than reserved, panics.
func (p *Producer) Commit(n int) (err error) {
	if !p.ep.begin() {
		p.ep.endLease()
		return ErrClosed
	}
	if p.ep.faults {
		p.ep.panicOnFault()
		defer p.ep.recoverFault(&err)
	}
	if n < 0 || n > p.reserved() {
		p.ep.end()
		panic("shmring: Commit without a matching Reserve")
	}
	p.stage(n)
	p.publish()
	p.ep.end()
	return nil
}

// Stats returns this producer's counters: messages and bytes sent, waits
// for room, sleeps, wake-ups issued, dead participants reaped. It also
// flushes them to the segment, where the shmring command's stat reads them.
//
// After Close it returns the counters as they were at Close.
func (p *Producer) Stats() Stats {
	if !p.ep.begin() {
		return Stats(*p.st)
	}
	if p.ep.faults {
		p.ep.panicOnFault()
		defer p.ep.recoverFault(nil)
	}
	p.flushStats()
	p.ep.end()
	return Stats(*p.st)
}

// flushStatsPast flushes the counters when the messages sent since the
// count before crossed a multiple of statsFlushEvery: what stage does per
// message, for a run of them.
func (p *Producer) flushStatsPast(before uint64) {
	if p.st.MsgsSent/statsFlushEvery != before/statsFlushEvery {
		p.flushStats()
	}
}

// flushStats stores the counters in the segment.
func (p *Producer) flushStats() {
	if p.mp != nil {
		p.mp.FlushStats()
	} else {
		p.rp.FlushStats()
	}
}

// reserve is TryReserve, then the wait for room.
func (p *Producer) reserve(ctx context.Context, n int) ([]byte, error) {
	buf, err := p.tryReserve(n)
	if err != ErrFull {
		return buf, err
	}
	p.st.FullWaits++
	p.want = n
	if err := p.r.wait(ctx, p.ep, p.st, p.r.spaceWords(), p); err != nil {
		return nil, err
	}
	buf, p.got = p.got, nil
	return buf, nil
}

// ready retries the waiting reservation (condition of wait).
func (p *Producer) ready() (bool, error) {
	var buf []byte
	var err error
	if p.mp != nil {
		buf, err = p.tryReserveMPMC(p.want)
	} else {
		buf, err = p.rp.TryReserve(p.want)
	}
	if err == ErrFull {
		p.publish()
		return false, nil
	}
	p.got = buf
	return err == nil, err
}

// peerDead checks the SPSC consumer, or reaps dead MPMC participants
// (condition of wait). The wait's look at the peers, once a slice, is also
// where a waiting producer flushes its counters to the segment.
func (p *Producer) peerDead() error {
	p.flushStats()
	if p.mp != nil {
		return p.r.reapDead(p.st)
	}
	return p.r.peerDead(lockConsumer, p.r.ctl.ConsumerAttached)
}

// stage finishes the reserved record with an n-byte message. An SPSC
// record waits for publish; an MPMC slot is published here.
func (p *Producer) stage(n int) {
	if p.mp != nil {
		p.mp.Commit(n)
		p.wakeConsumers()
	} else {
		p.rp.Commit(n)
	}
	if p.st.MsgsSent%statsFlushEvery == 0 {
		p.flushStats()
	}
}

// tryReserveMPMC is the MPMC TryReserve. The skip records it may commit,
// for the reservation it abandons or for a position it claims after the
// stream was closed, let consumers pass on (or reach the end of the
// stream): it wakes them as a commit does.
func (p *Producer) tryReserveMPMC(n int) ([]byte, error) {
	abandoned := p.mp.Holding()
	buf, err := p.mp.TryReserve(n)
	if abandoned || errors.Is(err, ErrClosed) {
		p.wakeConsumers()
	}
	return buf, err
}

// wakeConsumers is step (b) of wait.go after an MPMC slot's Store(seq)
// published a message or a skip record (step (a)).
func (p *Producer) wakeConsumers() {
	if p.r.wakeIfWaiting(p.r.dataWords()) {
		p.st.Wakes++
	}
}

// publish stores the SPSC tail, then wakes the consumer if it sleeps. The
// Store in ring.Producer.Publish and the Load in wakeIfWaiting are
// sequentially consistent: that is the StoreLoad order of step (a)-(b) in
// wait.go.
func (p *Producer) publish() {
	if p.rp != nil && p.rp.Publish() && p.r.wakeIfWaiting(p.r.dataWords()) {
		p.st.Wakes++
	}
}

// leased reports whether a reservation awaits Commit.
func (p *Producer) leased() bool { return p.reserved() >= 0 }

// reserved returns the size of the reservation that awaits Commit, or -1.
func (p *Producer) reserved() int {
	if p.mp != nil {
		return p.mp.Reserved()
	}
	return p.rp.Reserved()
}

// detach stops the poller and ends an SPSC stream after publishing what was
// committed. An MPMC producer gives up its reservation, if any, and its
// entry: the stream goes on for the other producers (Ring.CloseStream ends
// it).
func (p *Producer) detach() error {
	if p.poller != nil {
		p.poller.stop()
	}
	p.flushStats()
	if p.mp != nil {
		if p.mp.Holding() {
			p.mp.Cancel()
			p.wakeConsumers()
		}
		return p.r.mp.Leave(p.ep.entry)
	}
	p.publish()
	p.r.endStream(streamEnded)
	return nil
}

// Close detaches the producer. On an SPSC ring it ends the stream:
// everything committed stays readable, then the consumer gets io.EOF. It
// ends a blocked call (which returns ErrClosed) and is idempotent.
func (p *Producer) Close() error { return p.ep.close(false) }
