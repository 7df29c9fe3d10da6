package shmring

import (
	"context"
	"errors"
	"io"
	"math/bits"
	"runtime"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// Consumer is a reading end of a ring. An SPSC ring admits one Consumer at a
// time across all processes; an MPMC ring any number, up to its
// participants, and each message goes to exactly one of them. A Consumer is
// not safe for concurrent use, except that Close (and the Ring's Close) may
// be called from any goroutine at any time: a call it races either completes
// as if Close came after it, or returns ErrClosed having touched nothing
// shared.
type Consumer struct {
	ep *endpoint
	r  *Ring
	rc *ring.Consumer     // SPSC
	mc *ring.MPMCConsumer // MPMC
	st *ring.Stats        // counters of this consumer, kept by the ring layer

	held      int       // length of the message peeked and not released, -1 if none
	adoptLock *shm.Lock // MPMC: lock of the orphan entry whose message is held
	got       []byte    // the message a wait found
	want      int       // MPMC: how many positions a claim takes (ReadBatch), 1 when 0
	poller    *poller

	// SPSC: the ring was empty at attach, its tail at staleTail, and its
	// stream closed and read to its end (streamRead) by a consumer before:
	// that mark is ignored until the next producer clears it or publishes
	// (peekOnce).
	stale     bool
	staleTail uint64
}

// Consumer attaches a consumer end. On an SPSC ring it fails with ErrBusy
// while another consumer, in any process, is attached, and starts at the
// oldest message not yet released, so a message a dead consumer peeked is
// read again. A stream that was closed with messages left, or closed before
// any consumer read its end, is drained, then ends with io.EOF; a stream
// whose end a consumer has already received (io.EOF) is over: a consumer
// attaching after that waits for the next producer's stream instead of
// reporting the old end, so that a consumer started before the producer
// works on a ring that a previous run left closed. On an MPMC ring it fails with ErrBusy when every participant
// entry is taken.
func (r *Ring) Consumer() (_ *Consumer, err error) {
	oldFault, ok := r.enter()
	if !ok {
		return nil, ErrClosed
	}
	defer r.leave(oldFault, &err)
	ep, err := r.attachEndpoint(lockConsumer, r.dataWords())
	if err != nil {
		return nil, err
	}
	c := &Consumer{ep: ep, r: r, held: -1}
	if err := ep.setUp(c.setUp(), c.detach, c.leased); err != nil {
		return nil, err
	}
	runtime.AddCleanup(c, (*leasePin).release, ep.lease)
	return c, nil
}

// setUp joins the consumer's state in the segment.
func (c *Consumer) setUp() (err error) {
	r := c.r
	if r.mp != nil {
		if c.mc, err = r.mp.NewConsumer(c.ep.entry); err != nil {
			return err
		}
		c.st = c.mc.Counters()
		return nil
	}
	// The lock makes this the only consumer: the waiter count of the
	// data condition can only be a dead predecessor's, and is reset.
	r.ctl.DataWaiters.Store(0)
	r.publishAttach(r.ctl.ConsumerAttached, r.ctl.ConsumerPid, r.ctl.ConsumerPidNS, r.spaceWords())
	r.noBarrier(r.ctl.ConsumerNoBarrier)
	if c.rc, err = r.ctl.NewConsumer(); err != nil {
		return err
	}
	c.st = c.rc.Counters()
	if streamWasRead(r.ctl.Closed.Load()) && r.ctl.ProducerAttached.Load() == 0 {
		if tail := r.ctl.Tail.Load(); tail == r.ctl.Head.Load() {
			c.stale, c.staleTail = true, tail
		}
	}
	return nil
}

// Recv copies the next message into buf and returns its length, waiting
// while the ring is empty. It returns io.EOF once the stream was closed and
// every message was read, io.ErrShortBuffer (leaving the message in the
// ring) when buf is smaller than the message, ctx.Err() when ctx ends first,
// ErrClosed after Close, and ErrPeerDead when the producer of an SPSC ring
// died.
func (c *Consumer) Recv(ctx context.Context, buf []byte) (n int, err error) {
	if !c.ep.begin() {
		return 0, ErrClosed
	}
	if c.ep.faults {
		c.ep.panicOnFault()
		defer c.ep.recoverFault(&err)
	}
	var msg []byte
	if msg, err = c.peek(ctx); err == nil {
		n, err = c.copyOut(buf, msg)
	}
	c.ep.end()
	return n, err
}

// TryRecv is Recv without waiting: ErrEmpty when no message is committed
// now. An ErrEmpty also re-arms the channel returned by Ready.
func (c *Consumer) TryRecv(buf []byte) (n int, err error) {
	if !c.ep.begin() {
		return 0, ErrClosed
	}
	if c.ep.faults {
		c.ep.panicOnFault()
		defer c.ep.recoverFault(&err)
	}
	var msg []byte
	if msg, err = c.tryPeek(); err == nil {
		n, err = c.copyOut(buf, msg)
	}
	c.ep.end()
	return n, err
}

func (c *Consumer) copyOut(buf, msg []byte) (int, error) {
	if len(msg) > len(buf) {
		return 0, io.ErrShortBuffer
	}
	n := copy(buf, msg)
	c.releaseLocal()
	c.publish()
	return n, nil
}

// Peek returns the next message in place, waiting while the ring is empty.
// The bytes stay valid, and the message stays the consumer's, until Release
// or Close; the caller must not write them. A consumer that dies, or closes,
// before Release leaves the message to another consumer (SPSC: the next one
// to attach; MPMC: one that adopts it after the entry is reaped). After
// Consumer.Close the bytes may be overwritten by producers at any time: do
// not use them. After Ring.Close, from any goroutine, they stay readable as a
// private copy of the ring's memory until the Release that reports
// ErrClosed (or until the Consumer is garbage collected). Errors are those
// of Recv.
func (c *Consumer) Peek(ctx context.Context) (msg []byte, err error) {
	if !c.ep.begin() {
		return nil, ErrClosed
	}
	if c.ep.faults {
		c.ep.panicOnFault()
		defer c.ep.recoverFault(&err)
	}
	msg, err = c.peek(ctx)
	c.ep.end()
	return msg, err
}

// peek is Peek inside a call.
func (c *Consumer) peek(ctx context.Context) ([]byte, error) {
	msg, err := c.peekOnce(true)
	if err != ErrEmpty {
		return msg, err
	}
	c.st.EmptyWaits++
	if err := c.r.wait(ctx, c.ep, c.st, c.r.dataWords(), c); err != nil {
		return nil, err
	}
	msg, c.got = c.got, nil
	return msg, nil
}

// TryPeek is Peek without waiting: ErrEmpty when no message is committed
// now. An ErrEmpty also re-arms the channel returned by Ready.
func (c *Consumer) TryPeek() (msg []byte, err error) {
	if !c.ep.begin() {
		return nil, ErrClosed
	}
	if c.ep.faults {
		c.ep.panicOnFault()
		defer c.ep.recoverFault(&err)
	}
	msg, err = c.tryPeek()
	c.ep.end()
	return msg, err
}

// tryPeek is TryPeek inside a call.
func (c *Consumer) tryPeek() ([]byte, error) {
	msg, err := c.peekOnce(true)
	if err == ErrEmpty && c.mc != nil {
		// A consumer that only polls must not stall behind a dead
		// participant's slot: look for one as a wait would.
		looked, rerr := c.ep.reapIfDue(c.st)
		if rerr != nil {
			return nil, rerr
		}
		if looked {
			msg, err = c.peekOnce(true)
		}
	}
	if c.poller == nil {
		return msg, err
	}
	switch err {
	case nil:
		// When more waits, Ready fires again, so that a loop that reads
		// one message per signal never stalls with messages waiting. A
		// message committed after this look is the poller's to report:
		// it was never lowered, or the next try's ErrEmpty re-arms it.
		if !c.poller.edge && c.more() {
			c.poller.raise()
		}
		return msg, nil
	case ErrEmpty:
		if err := c.poller.takeErr(); err != nil {
			return nil, err
		}
		c.poller.lower()
		c.poller.rearm()
	}
	return msg, err
}

// more reports whether the consumer may make progress after the message a
// try just returned, and still holds: another message, or an ended stream
// (whose end comes once this message is released). A hint for Ready, read
// from shared memory.
func (c *Consumer) more() bool {
	if m := c.r.mp; m != nil {
		return m.Readable() || m.Closed.Load() != 0
	}
	return c.rc.More() || c.r.ctl.Closed.Load() != 0
}

// peekOnce looks for the next message once: the ring's own TryPeek, then on
// an empty ring the hand-back of skipped padding (SPSC), the adoption of an
// orphan (MPMC), and the end-of-stream check. With reap, a closed MPMC
// stream whose last messages dead consumers hold is reaped at once; a wait's
// condition leaves that to the wait's own look at dead peers, which comes
// after it has judged its wake-up.
func (c *Consumer) peekOnce(reap bool) ([]byte, error) {
	msg, err := c.rawPeek()
	if err != ErrEmpty {
		return msg, err
	}
	if m := c.r.mp; m != nil {
		if msg, err := c.adopt(); msg != nil || err != nil {
			return msg, err
		}
		if reap && m.Closed.Load() != 0 && m.Deq.Load() == m.Enq.Load() && !m.Drained() {
			// Every position is claimed, but a consumer holds a message
			// (ring.MPMC.Drained). A dead one's is reaped into an orphan
			// and adopted now rather than after a sleep slice.
			if err := c.r.reapDead(c.st); err != nil {
				return nil, err
			}
			if msg, err := c.adopt(); msg != nil || err != nil {
				return msg, err
			}
		}
		if m.Drained() {
			return nil, endError(m.Closed.Load())
		}
		return nil, ErrEmpty
	}
	c.publish()
	// Closed is stored after the producer's last Store(tail): seeing it
	// set, one more look at the tail finds every committed record.
	if c.r.ctl.Closed.Load() == 0 {
		// A producer has cleared any old mark: the next one is its own.
		c.stale = false
		return nil, ErrEmpty
	}
	if msg, err := c.rawPeek(); err != ErrEmpty {
		return msg, err
	}
	c.publish()
	if c.stale {
		if streamWasRead(c.r.ctl.Closed.Load()) && c.r.ctl.Tail.Load() == c.staleTail {
			return nil, ErrEmpty // the end of a stream read before this consumer
		}
		// The next producer cleared the mark before it published or
		// closed: the mark seen now is its own, and what it published
		// may have arrived after the empty look above.
		c.stale = false
		return c.peekOnce(reap)
	}
	// Mark the end as read: a consumer that attaches later waits for the
	// next stream. A producer that cleared the mark meanwhile wins.
	v := c.r.ctl.Closed.Load()
	c.r.ctl.Closed.CompareAndSwap(v, streamReadMark(v))
	return nil, endError(v)
}

// rawPeek is the ring's TryPeek, remembering the length of what it found.
func (c *Consumer) rawPeek() ([]byte, error) {
	var msg []byte
	var err error
	if c.mc != nil {
		msg, err = c.mc.TryPeekBatch(max(c.want, 1))
		if c.mc.PassedSkip() {
			c.wakeFreed()
		}
	} else {
		msg, err = c.rc.TryPeek()
	}
	if err == nil {
		c.held = len(msg)
	}
	return msg, err
}

// adopt takes over the message of an orphan entry, a dead consumer's, if
// another consumer has not already. It holds the orphan's lock until
// Release. It opens a lock description only for an orphan that nobody has
// adopted (ring.MPMC.Orphaned), and finds nothing (nil, nil) otherwise.
func (c *Consumer) adopt() ([]byte, error) {
	orphans, err := c.r.mp.Orphaned()
	if err != nil {
		return nil, err
	}
	for ; orphans != 0; orphans &= orphans - 1 {
		i := bits.TrailingZeros64(orphans)
		lock, err := c.r.seg.Lock(i)
		if errors.Is(err, shm.ErrLocked) {
			continue // another consumer is adopting it
		}
		if err != nil {
			return nil, err
		}
		msg, err := c.mc.Adopt(i)
		if errors.Is(err, ErrEmpty) {
			// Nothing left to deliver; Adopt freed the entry, and the
			// slot of a skip record.
			if err := lock.Release(); err != nil {
				return nil, err
			}
			c.wakeFreed()
			continue
		}
		if err != nil && !c.mc.Holding() {
			return nil, errors.Join(err, lock.Release())
		}
		c.adoptLock = lock
		c.held = len(msg)
		return msg, err
	}
	return nil, nil
}

// Release consumes the message returned by the last Peek or TryPeek and
// hands its room back to the producers. It returns ErrClosed, consuming
// nothing, when Close (of the consumer or its ring) came first: the message
// stays in the ring for another consumer. Release without a message panics.
func (c *Consumer) Release() (err error) {
	if !c.ep.begin() {
		c.ep.endLease()
		return ErrClosed
	}
	if c.ep.faults {
		c.ep.panicOnFault()
		defer c.ep.recoverFault(&err)
	}
	if !c.holding() {
		c.ep.end()
		panic("shmring: Release without a message from Peek or TryPeek")
	}
	c.releaseLocal()
	c.publish()
	c.ep.end()
	return nil
}

// releaseLocal consumes the held message; an SPSC ring hands the room back
// at the next publish, an MPMC ring at once.
func (c *Consumer) releaseLocal() {
	if c.mc == nil {
		c.rc.Release()
		c.held = -1
		if c.st.MsgsReceived%statsFlushEvery == 0 {
			c.rc.FlushStats()
		}
		return
	}
	c.mc.Release()
	c.held = -1
	if c.adoptLock != nil {
		// The orphan entry is free now, or an orphan again when it has
		// other messages to hand on (mc.Release): then the consumers
		// are woken to adopt them once its lock is free.
		_ = c.adoptLock.Release()
		c.adoptLock = nil
		if c.mc.OrphanLeft() {
			c.r.wakeIfWaiting(c.r.dataWords())
		}
	}
	c.wakeFreed()
	if c.st.MsgsReceived%statsFlushEvery == 0 {
		c.mc.FlushStats()
	}
}

// wakeFreed is step (b) of wait.go after an MPMC slot was freed (the
// Store(seq) of a release, or of a skip record passed over): producers may
// have room, and once the stream is closed, the consumers waiting for its
// end may see it (ring.MPMC.Drained counts held messages).
func (c *Consumer) wakeFreed() {
	if c.r.wakeIfWaiting(c.r.spaceWords()) {
		c.st.Wakes++
	}
	if c.r.mp.Closed.Load() != 0 && c.r.wakeIfWaiting(c.r.dataWords()) {
		c.st.Wakes++
	}
}

// ReadBatch waits until at least one message is committed, then calls fn on
// each committed message in turn, at most max of them (all when max <= 0),
// without waiting for more, and releases them (on an SPSC ring with one
// publication of the head; on an MPMC ring it claims up to 64 of them at a
// time with one atomic operation on the shared dequeue position, and
// releases each slot after fn returns). msg is valid only during the call of fn. It
// returns how many messages it passed to fn, and io.EOF (with 0) at the end
// of the stream. fn runs inside the call: it must not call Close on c or
// on its ring, which wait for the call to end.
func (c *Consumer) ReadBatch(ctx context.Context, max int, fn func(msg []byte)) (n int, err error) {
	if !c.ep.begin() {
		return 0, ErrClosed
	}
	if c.ep.faults {
		c.ep.panicOnFault()
	}
	// fn may panic: the call ends all the same.
	defer c.ep.recoverFault(&err)
	n, err = c.readBatch(ctx, max, fn)
	c.ep.end()
	return n, err
}

// readBatch is ReadBatch inside a call. On an MPMC ring each claim takes
// at most the messages the batch has left to take, so the positions claimed
// are all passed to fn, or released as skip records, by the time it
// returns, unless fn panics or a slot is corrupt: the consumer then goes on
// with the rest of the claim at its next read.
func (c *Consumer) readBatch(ctx context.Context, max int, fn func(msg []byte)) (int, error) {
	if c.mc != nil {
		defer func() { c.want = 0 }()
	}
	c.want = batchClaim(max, 0)
	msg, err := c.peek(ctx)
	n := 0
	for err == nil {
		fn(msg)
		c.releaseLocal()
		n++
		if n == max {
			break
		}
		c.want = batchClaim(max, n)
		msg, err = c.rawPeek()
	}
	c.publish()
	if err == ErrEmpty || n > 0 && err == nil {
		return n, nil
	}
	return n, err
}

// batchClaim returns how many positions an MPMC claim of a ReadBatch of
// max messages (all when max <= 0) that has taken n of them may take.
func batchClaim(max, n int) int {
	if max <= 0 {
		return ring.MPMCMaxBatch
	}
	return min(max-n, ring.MPMCMaxBatch)
}

// Stats returns this consumer's counters (see Stats), and flushes them to
// the segment.
//
// After Close it returns the counters as they were at Close.
func (c *Consumer) Stats() Stats {
	if !c.ep.begin() {
		return Stats(*c.st)
	}
	if c.ep.faults {
		c.ep.panicOnFault()
		defer c.ep.recoverFault(nil)
	}
	c.flushStats()
	c.ep.end()
	return Stats(*c.st)
}

// flushStats stores the counters in the segment.
func (c *Consumer) flushStats() {
	if c.mc != nil {
		c.mc.FlushStats()
	} else {
		c.rc.FlushStats()
	}
}

// ready looks for a message (condition of wait).
func (c *Consumer) ready() (bool, error) {
	msg, err := c.peekOnce(false)
	if err == ErrEmpty {
		return false, nil
	}
	c.got = msg
	return err == nil, err
}

// peerDead checks the SPSC producer, or reaps dead MPMC participants
// (condition of wait). The wait's look at the peers, once a slice, is also
// where a waiting consumer flushes its counters to the segment.
func (c *Consumer) peerDead() error {
	c.flushStats()
	if c.mc != nil {
		return c.r.reapDead(c.st)
	}
	return c.r.peerDead(lockProducer, c.r.ctl.ProducerAttached)
}

// publish stores the SPSC head, then wakes the producer if it sleeps for
// room (steps (a)-(b) in wait.go). MPMC releases publish themselves.
func (c *Consumer) publish() {
	if c.rc != nil && c.rc.Publish() && c.r.wakeIfWaiting(c.r.spaceWords()) {
		c.st.Wakes++
	}
}

// leased reports whether a message was peeked and not released.
func (c *Consumer) leased() bool { return c.held >= 0 }

// holding reports whether Release has something to release: a message
// peeked, or (MPMC) a slot reported corrupt, which Release discards.
func (c *Consumer) holding() bool {
	if c.mc != nil {
		return c.mc.Holding()
	}
	return c.held >= 0
}

// detach stops the poller and hands back what was released. An MPMC
// consumer that still holds a message, or claimed ones it has not taken
// yet, keeps its entry as it is: once the
// lock is gone, the reap of the entry makes the message an orphan that
// another consumer adopts.
func (c *Consumer) detach() error {
	if c.poller != nil {
		c.poller.stop()
	}
	c.flushStats()
	if c.mc == nil {
		c.publish()
		return nil
	}
	if c.adoptLock != nil {
		// The adopted message goes back to its orphan entry, for another
		// adopter, which is woken once the lock is free to take.
		disowned := c.mc.Disown()
		err := c.adoptLock.Release()
		c.adoptLock = nil
		if disowned {
			c.r.wakeIfWaiting(c.r.dataWords())
		}
		return err
	}
	if c.mc.Claiming() {
		return nil
	}
	return c.r.mp.Leave(c.ep.entry)
}

// Close detaches the consumer: a message peeked and not released stays for
// another consumer. It ends a blocked call (which returns ErrClosed) and the
// Ready poller, and is idempotent.
func (c *Consumer) Close() error { return c.ep.close(false) }
