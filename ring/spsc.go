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
// the shared one, and a private cached copy of the other side's shared cursor,
// re-read only when the copy says full (producer) or empty (consumer).
//
// Publication. The producer writes a record's payload and header with plain
// stores, then stores tail past it (Producer.Publish). The consumer's
// Load(tail) pairs with that store: every byte below the loaded tail was
// written before it and is visible after it. The same holds the other way:
// the consumer reads records with plain loads, then stores head past them
// (Consumer.Publish); the producer's Load(head) pairs with it, so the producer
// overwrites a record only after the consumer has finished reading it.
//
// The cursor stores are fence.Store64: a release store (a plain MOV on
// amd64, where a store is never reordered with earlier loads and stores,
// and sync/atomic's Store elsewhere and under the race detector, which sees
// the same pairs). A release store is all the hand-off of bytes needs. The
// wake-up protocol needs more: a StoreLoad barrier between the cursor store
// and the publisher's look at the other side's waiters. A sleeper pays for
// it with fence.GlobalBarrier after it announces itself; a sleeper that does
// not sets its noBarrier word, and then Publish adds the full barrier after
// its store (package fence, "Publication across processes", has the
// argument, and why noBarrier is loaded after the store).
//
// Invariants, checked on every load of the other side's cursor:
//
//	head <= tail <= head + capacity,  head % 8 == 0,  tail % 8 == 0
//
// and both only grow. A record at position p with payload length n and kind
// k satisfies: the record lies within [p, tail) and does not cross the end of
// the data area; a padding record ends exactly at the end of the data area.
// Anything else is ErrCorrupt.

// Producer is the writing side of an SPSC ring. It is not safe for concurrent
// use; the ring admits one Producer at a time (the caller enforces that).
type Producer struct {
	c        *Control
	data     []byte
	mask     uint64
	capacity uint64

	tail        uint64 // end of what this producer has written; >= published
	published   uint64 // last value stored to c.Tail
	head        uint64 // cached c.Head; a lower bound of the real head
	reserved    uint64 // size of the reserved record at tail, 0 if none
	reservedLen int    // payload bytes reserved; Commit may use up to this
	stats       counters
}

// NewProducer attaches a producer at the ring's published tail. Whatever a
// previous producer wrote past it and never published is overwritten.
func (c *Control) NewProducer() (*Producer, error) {
	head, tail := c.Head.Load(), c.Tail.Load()
	if err := c.checkCursors(head, tail); err != nil {
		return nil, err
	}
	return &Producer{
		c:         c,
		data:      c.data,
		mask:      c.capacity - 1,
		capacity:  c.capacity,
		tail:      tail,
		published: tail,
		head:      head,
	}, nil
}

// checkCursors checks a head and tail read from shared memory.
func (c *Control) checkCursors(head, tail uint64) error {
	if head > tail || tail-head > c.capacity || head%recordAlign != 0 || tail%recordAlign != 0 {
		return fmt.Errorf("%w: head %d and tail %d out of range for capacity %d",
			ErrCorrupt, head, tail, c.capacity)
	}
	return nil
}

// hasSpace reports whether size more bytes fit behind the private tail,
// re-reading the shared head only when the cached one says no.
func (p *Producer) hasSpace(size uint64) (bool, error) {
	if p.tail+size-p.head <= p.capacity {
		return true, nil
	}
	// Pairs with the consumer's Store(head) in Consumer.Publish: the bytes
	// below h have been read and may be overwritten.
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
// writes a padding record over the rest of the lap. It stays written (and
// unpublished) even when TryReserve then returns ErrFull; the caller must
// Publish before it waits for room, so that the consumer can free the lap.
func (p *Producer) TryReserve(n int) ([]byte, error) {
	if n < 0 || n > int(p.capacity-recordHeader) {
		return nil, fmt.Errorf("%w: %d bytes, the ring holds at most %d", ErrTooLarge, n, p.capacity-recordHeader)
	}
	p.reserved = 0
	size := recordSize(uint64(n))
	idx := p.tail & p.mask
	if toEnd := p.capacity - idx; size > toEnd {
		ok, err := p.hasSpace(toEnd)
		if !ok || err != nil {
			return nil, fullOr(err)
		}
		putHeader(p.data[idx:], toEnd-recordHeader, kindPadding)
		p.tail += toEnd
		idx = 0
	}
	ok, err := p.hasSpace(size)
	if !ok || err != nil {
		return nil, fullOr(err)
	}
	p.reserved, p.reservedLen = size, n
	return p.data[idx+recordHeader : idx+recordHeader+uint64(n) : idx+recordHeader+uint64(n)], nil
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
	putHeader(p.data[p.tail&p.mask:], uint64(n), kindMessage)
	p.tail += recordSize(uint64(n))
	p.reserved = 0
	p.stats.local.MsgsSent++
	p.stats.local.BytesSent += uint64(n)
}

// Counters returns the producer's private counters. It counts MsgsSent and
// BytesSent itself; the caller adds the waits, sleeps and wakes it does.
// FlushStats makes them visible in the control area.
func (p *Producer) Counters() *Stats { return &p.stats.local }

// FlushStats stores the counters that changed since the last flush into the
// producer's stats line.
func (p *Producer) FlushStats() { p.stats.flush(&p.c.ProducerStats) }

// Publish makes every committed record visible to the consumer with one
// Store(tail) and reports whether there was anything new to publish.
func (p *Producer) Publish() bool {
	if p.tail == p.published {
		return false
	}
	// Publishes the records' bytes written above; pairs with the
	// consumer's Load(tail) in Consumer.TryPeek. A reservation in progress
	// lies at or past p.tail and is not covered.
	publish(p.c.Tail, p.tail, p.c.ConsumerNoBarrier)
	p.published = p.tail
	return true
}

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
	tail      uint64 // cached c.Tail; an upper bound this consumer may read to
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
		tail:      head,
	}, nil
}

// TryPeek returns the payload of the next record in place, without consuming
// it; Release consumes it. It returns ErrEmpty when no record is committed.
// The bytes stay valid until Release; the caller must not write them.
// Padding records are skipped (and consumed) on the way.
func (c *Consumer) TryPeek() ([]byte, error) {
	// A peek that returns no record leaves nothing to Release.
	c.peeked = 0
	for {
		if c.head == c.tail {
			// Pairs with the producer's Store(tail) in Producer.Publish:
			// every record below t is fully written.
			t := c.c.Tail.Load()
			if t < c.tail || t-c.head > c.capacity || t%recordAlign != 0 {
				return nil, fmt.Errorf("%w: tail %d outside [%d, %d]", ErrCorrupt, t, c.tail, c.head+c.capacity)
			}
			c.tail = t
			if t == c.head {
				return nil, ErrEmpty
			}
		}
		idx, avail := c.head&c.mask, c.tail-c.head
		// One read of the header; the checks and the use below see the
		// same value whatever the peer writes meanwhile.
		n, kind := getHeader(c.data[idx:])
		size := checkRecord(n, kind, c.capacity-idx, avail)
		if size == 0 {
			return nil, recordError(c.head, n, kind, c.capacity-idx, avail)
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

// checkRecord checks a record header (payload length n, kind) read at a
// position toEnd bytes before the end of the lap, with avail bytes committed
// from there on: a message must fit in both the rest of the lap and avail; a
// padding record must take exactly the rest of the lap, within avail. It
// returns the size of the record (for padding, the rest of the lap), or 0
// when the record is not sound (recordError describes it). Every reader of
// records (Consumer.TryPeek, Control.Walk) checks them here.
func checkRecord(n uint64, kind uint32, toEnd, avail uint64) uint64 {
	size := recordSize(n)
	if size > min(toEnd, avail) || kind != kindMessage && (kind != kindPadding || n+recordHeader != toEnd) {
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

// putHeader writes a record header at the start of b.
func putHeader(b []byte, n uint64, kind uint32) {
	binary.LittleEndian.PutUint64(b, n|uint64(kind)<<32)
}

// getHeader reads a record header at the start of b.
func getHeader(b []byte) (n uint64, kind uint32) {
	h := binary.LittleEndian.Uint64(b)
	return h & 0xffffffff, uint32(h >> 32)
}
