package ring

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/shmring/shmring/internal/fence"
)

// The SPSC algorithm.
//
// Ownership. Only the producer writes tail, closed and the data bytes between
// head and the end of the lap ahead of it; only the consumer writes head. Each
// side keeps a private cursor (Producer.tail, Consumer.head) that runs ahead of
// the shared one; the producer keeps a cached copy of head, re-read only when
// the copy says full.
//
// Commit words. Each record's 8-byte header is also its commit word: zero
// until the record is complete, then its length and kind (never zero: every
// kind is). The consumer polls the header at its head, not the shared tail,
// so that a hand-off moves the record's own lines and nothing else. For a
// header that is not zero to mean "committed in this lap", the producer
// keeps one invariant:
//
//	Z: the header word at the end of the last committed record is zero.
//
// Before it commits a record ending at position e, the producer stores 0 in
// the header word at e (which it may: it keeps recordHeader bytes of room
// past every record, so e is free), then the record's header. A consumer
// that loaded a record's header therefore sees the 0 at e or the header of
// the next record, never a header left there by an earlier lap. A fresh data
// area is all zeros, and attaching producers restore Z (NewProducer).
//
// Publication. Commit writes the header of every record but the first one
// not yet published, which it holds back; Publish stores tail, then that
// first header, which commits the whole batch: the consumer reaches the
// later headers only through it. The consumer's Load of a header pairs with
// the store that committed it: the payload, the 0 after the record and the
// headers behind it were written before and are visible after. The same
// holds the other way: the consumer reads records with plain loads, then
// stores head past them (Consumer.Publish); the producer's Load(head) pairs
// with it, so the producer overwrites a record only after the consumer has
// finished reading it. Tail is stored before the commit, so that head <= tail
// holds for every observer; tail is what tools and attaching endpoints read,
// and an upper bound of the committed records (a producer that dies between
// the two stores leaves it ahead, and the next one moves it back).
//
// The stores are fence.Store64: a release store (a plain MOV on amd64, where
// a store is never reordered with earlier loads and stores, and sync/atomic's
// Store elsewhere and under the race detector, which sees the same pairs). A
// release store is all the hand-off of bytes needs. The wake-up protocol
// needs more: a StoreLoad barrier between the commit (or head) store and the
// publisher's look at the other side's waiters. A sleeper pays for it with
// fence.GlobalBarrier after it announces itself; a sleeper that does not sets
// its noBarrier word, and then the publisher adds the full barrier after its
// store (package fence, "Publication across processes", has the argument,
// and why noBarrier is loaded after the store).
//
// Invariants, checked on every load of the other side's cursor:
//
//	head <= tail <= head + capacity - 8,  head % 8 == 0,  tail % 8 == 0
//
// and both only grow, except that an attaching producer moves tail back to
// the end of the committed records. A record at position p with payload
// length n and kind k satisfies: the record does not cross the end of the
// data area, and a padding record ends exactly at the end of the data area;
// tools that walk [head, tail) also check that it lies within it. Anything
// else is ErrCorrupt.

// Producer is the writing side of an SPSC ring. It is not safe for concurrent
// use; the ring admits one Producer at a time (the caller enforces that).
type Producer struct {
	c        *Control
	mask     uint64
	capacity uint64

	tail        uint64 // end of what this producer has committed; >= published
	published   uint64 // end of the records whose commit is stored; = c.Tail
	first       uint64 // header of the record at published, held back for Publish
	head        uint64 // cached c.Head; a lower bound of the real head
	reserved    uint64 // size of the reserved record at tail, 0 if none
	reservedLen int    // payload bytes reserved; Commit may use up to this
	stats       counters
}

// NewProducer attaches a producer at the end of the committed records, which
// it finds by following the headers from head (a predecessor that died
// between its store of tail and its commit left tail past them), and stores
// tail there. Whatever a previous producer wrote past it is overwritten.
// The caller must be the only producer: the headers it follows are stable
// because nobody else writes them.
func (c *Control) NewProducer() (*Producer, error) {
	head, tail := c.Head.Load(), c.Tail.Load()
	if err := c.checkCursors(head, tail); err != nil {
		return nil, err
	}
	end := head
	for end != tail {
		idx := end & (c.capacity - 1)
		h := c.header(idx).Load()
		if h == 0 {
			break
		}
		n, kind := splitHeader(h)
		size := c.checkRecord(n, kind, c.capacity-idx, tail-end)
		if size == 0 {
			return nil, recordError(end, n, kind, c.capacity-idx, tail-end)
		}
		end += size
	}
	// Z holds at end: its header is 0, or end == tail, whose header the
	// predecessor zeroed before it published tail (and whose record it
	// commits only after it stores a tail past it). Records past end (if
	// tail was ahead) are not committed; moving tail back drops them.
	if end == tail {
		if h := c.header(end & (c.capacity - 1)).Load(); h != 0 {
			return nil, fmt.Errorf("%w: a record is committed at the tail %d", ErrCorrupt, tail)
		}
	}
	fence.Store64(c.Tail, end)
	return &Producer{
		c:         c,
		mask:      c.capacity - 1,
		capacity:  c.capacity,
		tail:      end,
		published: end,
		head:      head,
	}, nil
}

// checkCursors checks a head and tail read from shared memory.
func (c *Control) checkCursors(head, tail uint64) error {
	if head > tail || tail-head > c.capacity-recordHeader || head%recordAlign != 0 || tail%recordAlign != 0 {
		return fmt.Errorf("%w: head %d and tail %d out of range for capacity %d",
			ErrCorrupt, head, tail, c.capacity)
	}
	return nil
}

// hasSpace reports whether size more bytes fit behind the private tail,
// re-reading the shared head only when the cached one says no. Callers ask
// for recordHeader bytes past their record: the room for invariant Z.
func (p *Producer) hasSpace(size uint64) (bool, error) {
	if p.tail+size-p.head <= p.capacity {
		return true, nil
	}
	// Pairs with the consumer's store of head in Consumer.Publish: the
	// bytes below h have been read and may be overwritten.
	h := p.c.Head.Load()
	if h < p.head || h > p.published || h%recordAlign != 0 {
		return false, fmt.Errorf("%w: head %d outside [%d, %d]", ErrCorrupt, h, p.head, p.published)
	}
	p.head = h
	return p.tail+size-h <= p.capacity, nil
}

// TryReserve reserves room for an n-byte message and returns the payload
// bytes to fill in place, to be finished by Commit. It returns ErrTooLarge
// when n exceeds MaxPayload and ErrFull when the room is not free now. A
// reservation that is not committed is abandoned by the next TryReserve.
//
// When the record would cross the end of the data area, TryReserve first
// commits a padding record over the rest of the lap. It stays committed (and
// unpublished) even when TryReserve then returns ErrFull; the caller must
// Publish before it waits for room, so that the consumer can free the lap.
func (p *Producer) TryReserve(n int) ([]byte, error) {
	if n < 0 || n > int(p.c.MaxPayload()) {
		return nil, fmt.Errorf("%w: %d bytes, the ring holds at most %d", ErrTooLarge, n, p.c.MaxPayload())
	}
	p.reserved = 0
	size := recordSize(uint64(n))
	idx := p.tail & p.mask
	if toEnd := p.capacity - idx; size > toEnd {
		ok, err := p.hasSpace(toEnd + recordHeader)
		if !ok || err != nil {
			return nil, fullOr(err)
		}
		p.commit(toEnd, makeHeader(toEnd-recordHeader, kindPadding))
		idx = 0
	}
	ok, err := p.hasSpace(size + recordHeader)
	if !ok || err != nil {
		return nil, fullOr(err)
	}
	p.reserved, p.reservedLen = size, n
	return p.c.data[idx+recordHeader : idx+recordHeader+uint64(n) : idx+recordHeader+uint64(n)], nil
}

func fullOr(err error) error {
	if err != nil {
		return err
	}
	return ErrFull
}

// Reserved returns the payload size of the reservation that awaits Commit,
// or -1 when there is none.
func (p *Producer) Reserved() int {
	if p.reserved == 0 {
		return -1
	}
	return p.reservedLen
}

// Commit finishes the reserved record with an n-byte payload (n at most the
// size reserved) and moves the private tail past it. It does not publish.
// Commit without a reservation, or with a larger n, panics.
func (p *Producer) Commit(n int) {
	if p.reserved == 0 || n < 0 || n > p.reservedLen {
		panic("ring: Commit without a matching TryReserve")
	}
	p.commit(recordSize(uint64(n)), makeHeader(uint64(n), kindMessage))
	p.reserved = 0
	p.stats.local.MsgsSent++
	p.stats.local.BytesSent += uint64(n)
}

// TryWrite copies msgs into the ring, a record each, for as many as fit
// now, and commits them; Publish makes them visible. It returns how many it
// wrote and, when it stopped short, the error TryReserve gives for the next
// one (ErrFull, ErrTooLarge). Like TryReserve, it abandons a reservation
// that awaits Commit, and may leave a padding record committed when it
// returns ErrFull.
//
// It is TryReserve, copy and Commit per message, with the common case (the
// record fits before the end of the lap, in the room the cached head
// leaves) taken without a call.
func (p *Producer) TryWrite(msgs [][]byte) (int, error) {
	p.reserved = 0
	for i, m := range msgs {
		n := uint64(len(m))
		size := recordSize(n)
		idx := p.tail & p.mask
		if n > uint64(p.c.MaxPayload()) || size > p.capacity-idx || p.tail+size+recordHeader-p.head > p.capacity {
			buf, err := p.TryReserve(len(m))
			if err != nil {
				return i, err
			}
			copy(buf, m)
			p.Commit(len(m))
			continue
		}
		copy(p.c.data[idx+recordHeader:idx+recordHeader+n], m)
		p.commit(size, makeHeader(n, kindMessage))
		p.stats.local.MsgsSent++
		p.stats.local.BytesSent += n
	}
	return len(msgs), nil
}

// commit ends the record of size bytes at the private tail with header h:
// it zeroes the header word past the record (invariant Z; the caller has
// made sure of the room), then stores h, or holds it for Publish when the
// record is the first unpublished one. The zero is stored before the header
// that makes it reachable, and both before Publish's commit.
func (p *Producer) commit(size, h uint64) {
	fence.Store64(p.c.header((p.tail+size)&p.mask), 0)
	if p.tail == p.published {
		p.first = h
	} else {
		fence.Store64(p.c.header(p.tail&p.mask), h)
	}
	p.tail += size
}

// Counters returns the producer's private counters. It counts MsgsSent and
// BytesSent itself; the caller adds the waits, sleeps and wakes it does.
// FlushStats makes them visible in the control area.
func (p *Producer) Counters() *Stats { return &p.stats.local }

// FlushStats stores the counters that changed since the last flush into the
// producer's stats line.
func (p *Producer) FlushStats() { p.stats.flush(&p.c.ProducerStats) }

// Publish makes every committed record visible to the consumer: it stores
// tail, then the held-back header of the first record, which commits them
// all, and reports whether there was anything new to publish.
func (p *Producer) Publish() bool {
	if p.tail == p.published {
		return false
	}
	// Tail first: head <= tail for every observer. Then the commit, which
	// pairs with the consumer's Load of the header in Consumer.TryPeek:
	// the records' bytes, their later headers and the zero of invariant
	// Z were stored before it. A reservation in progress lies at or past
	// p.tail and is not covered.
	fence.Store64(p.c.Tail, p.tail)
	publish(p.c.header(p.published&p.mask), p.first, p.c.ConsumerNoBarrier)
	p.published = p.tail
	return true
}

// Head returns the consumer's head as this producer last loaded it: after
// a TryReserve that returned ErrFull, the head that left no room.
func (p *Producer) Head() uint64 { return p.head }

// Pending reports whether committed records await Publish.
func (p *Producer) Pending() bool { return p.tail != p.published }

// Consumer is the reading side of an SPSC ring. It is not safe for concurrent
// use; the ring admits one Consumer at a time (the caller enforces that).
type Consumer struct {
	c        *Control
	data     []byte
	mask     uint64
	capacity uint64

	head      uint64 // start of the next record to read; >= published
	published uint64 // last value stored to c.Head
	peeked    uint64 // size of the record returned by TryPeek, 0 if none
	peekedLen uint64 // its payload length
	stats     counters
}

// NewConsumer attaches a consumer at the ring's published head: a record a
// previous consumer peeked but never released is delivered again.
func (c *Control) NewConsumer() (*Consumer, error) {
	head, tail := c.Head.Load(), c.Tail.Load()
	if err := c.checkCursors(head, tail); err != nil {
		return nil, err
	}
	return &Consumer{
		c:         c,
		data:      c.data,
		mask:      c.capacity - 1,
		capacity:  c.capacity,
		head:      head,
		published: head,
	}, nil
}

// TryPeek returns the payload of the next record in place, without consuming
// it; Release consumes it. It returns ErrEmpty when no record is committed.
// The bytes stay valid until Release; the caller must not write them.
// Padding records are skipped (and consumed) on the way: at most one, since
// a padding record never starts a lap (checkRecord).
func (c *Consumer) TryPeek() ([]byte, error) {
	// A peek that returns no record leaves nothing to Release.
	c.peeked = 0
	for {
		idx := c.head & c.mask
		// Pairs with the store that committed the record (package
		// comment): its bytes are visible. One load; the checks and the
		// use below see the same value whatever the peer writes meanwhile.
		h := c.c.header(idx).Load()
		if h == 0 {
			return nil, ErrEmpty
		}
		n, kind := splitHeader(h)
		toEnd := c.capacity - idx
		size := c.c.checkRecord(n, kind, toEnd, toEnd)
		if size == 0 {
			return nil, recordError(c.head, n, kind, toEnd, toEnd)
		}
		if kind == kindPadding {
			c.head += size
			continue
		}
		c.peeked, c.peekedLen = size, n
		idx += recordHeader
		return c.data[idx : idx+n : idx+n], nil
	}
}

// More reports, without reading it, whether a record is committed after the
// one TryPeek returned (with none held, at the consumer's head): a hint for a
// caller that signals readiness, which a TryPeek confirms or not (a padding
// record counts, though the message after it may not be committed yet).
func (c *Consumer) More() bool { return c.c.Committed(c.head + c.peeked) }

// Committed reports whether a record is committed at position pos (a
// consumer's head): its header is not zero. It is the readiness of a
// consumer at pos, for a waiter that is not the consumer itself.
func (c *Control) Committed(pos uint64) bool {
	return c.header(pos&(c.capacity-1)).Load() != 0
}

// checkRecord checks a record header (payload length n, kind) read at a
// position toEnd bytes before the end of the lap, with avail bytes committed
// from there on: a message must fit in both the rest of the lap and avail; a
// padding record must take exactly the rest of the lap, within avail, and
// not start the lap (a producer pads only when a record does not fit the
// rest of the lap, and every record fits a whole one; this also bounds a
// reader's run over padding to one record). It returns the size of the
// record (for padding, the rest of the lap), or 0 when the record is not
// sound (recordError describes it). Every reader of records
// (Consumer.TryPeek, Control.Walk, Control.NewProducer) checks them here.
func (c *Control) checkRecord(n uint64, kind uint32, toEnd, avail uint64) uint64 {
	size := recordSize(n)
	if size > min(toEnd, avail) ||
		kind != kindMessage && (kind != kindPadding || n+recordHeader != toEnd || toEnd == c.capacity) {
		return 0
	}
	return size
}

// recordError returns the *RecordError of the record at pos whose header
// (n, kind) checkRecord found unsound, toEnd bytes before the end of the lap
// with avail bytes committed.
func recordError(pos, n uint64, kind uint32, toEnd, avail uint64) error {
	reason := fmt.Sprintf("record at position %d has kind %d", pos, kind)
	switch kind {
	case kindMessage:
		reason = fmt.Sprintf("record at position %d of length %d, %d bytes to the end of the lap, %d committed",
			pos, n, toEnd, avail)
	case kindPadding:
		reason = fmt.Sprintf("padding record at position %d of length %d, %d bytes to the end of the lap, %d committed",
			pos, n, toEnd, avail)
	}
	return &RecordError{Pos: pos, Reason: reason}
}

// Release consumes the record returned by the last TryPeek. It moves the
// private head only; Publish frees the room for the producer. Release without
// a peeked record panics.
func (c *Consumer) Release() {
	if c.peeked == 0 {
		panic("ring: Release without a record from TryPeek")
	}
	c.head += c.peeked
	c.peeked = 0
	c.stats.local.MsgsReceived++
	c.stats.local.BytesReceived += c.peekedLen
}

// Counters returns the consumer's private counters. It counts MsgsReceived
// and BytesReceived itself; the caller adds the waits, sleeps and wakes it
// does. FlushStats makes them visible in the control area.
func (c *Consumer) Counters() *Stats { return &c.stats.local }

// FlushStats stores the counters that changed since the last flush into the
// consumer's stats line.
func (c *Consumer) FlushStats() { c.stats.flush(&c.c.ConsumerStats) }

// Publish hands every released record (and skipped padding) back to the
// producer with one Store(head) and reports whether there was anything new.
func (c *Consumer) Publish() bool {
	if c.head == c.published {
		return false
	}
	// Pairs with the producer's Load(head) in Producer.hasSpace: the bytes
	// below c.head have been read and may be overwritten.
	publish(c.c.Head, c.head, c.c.ProducerNoBarrier)
	c.published = c.head
	return true
}

// publish stores a side's cursor: a release store, followed by a full
// barrier when the other side's noBarrier word says that its sleeps do not
// pay for one. The caller's next step is the look at the other side's
// waiters (package fence, "Publication across processes").
func publish(cursor *atomic.Uint64, v uint64, peerNoBarrier *atomic.Uint32) {
	fence.Store64(cursor, v)
	if fence.PlainStores && peerNoBarrier.Load() != 0 {
		// sync/atomic's Store is sequentially consistent: on amd64 an
		// XCHG, which drains the plain store above before any later load.
		cursor.Store(v)
	}
}

// makeHeader returns the header word of a record with payload length n and
// kind kind; it is never zero, since no kind is.
func makeHeader(n uint64, kind uint32) uint64 { return n | uint64(kind)<<32 }

// splitHeader returns the payload length and kind in header word h.
func splitHeader(h uint64) (n uint64, kind uint32) { return h & 0xffffffff, uint32(h >> 32) }

// putHeader writes a record header at the start of b, little-endian: the
// slot headers of MPMC rings, whose seq orders them.
func putHeader(b []byte, n uint64, kind uint32) {
	binary.LittleEndian.PutUint64(b, makeHeader(n, kind))
}

// getHeader reads a record header written by putHeader at the start of b.
func getHeader(b []byte) (n uint64, kind uint32) {
	return splitHeader(binary.LittleEndian.Uint64(b))
}
