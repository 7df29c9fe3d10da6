package ring

import (
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Region layout of an SPSC ring. The region is page aligned (it is the part of
// the mapping after the shm header page), so every offset below is aligned for
// its atomic type. The layout is the same on every architecture; the cursors,
// flags and record headers are native-endian atomics.
//
//	offset  size  field             written by               read by
//	     0     8  tail              producer (Store)         attaching endpoints, tools
//	   128     8  head              consumer (Store)         producer (Load)
//	   256     4  dataSeq           producer, local wakers   consumers sleep on it (futex word 0)
//	   260     4  dataWaiters       consumers (Add)          producer (Load)
//	   264     4  dataArmed         consumers (Store 1)      wakers (Swap 0) while dataWaiters != 0
//	   384     4  spaceSeq          consumer, local wakers   producer sleeps on it (futex word 1)
//	   388     4  spaceWaiters      producer (Add)           consumer (Load)
//	   392     4  spaceArmed        producer (Store 1)       wakers (Swap 0) while spaceWaiters != 0
//	   512     4  producerAttached  attaching producer       consumer (dead-peer check)
//	   516     4  consumerAttached  attaching consumer       producer (dead-peer check)
//	   520     4  producerNoBarrier attaching producer       consumer, after each Store(head)
//	   524     4  consumerNoBarrier attaching consumer       producer, after each Store(tail)
//	   528     4  closed            producer, consumer (CAS) consumer, on each look at an empty ring
//	   532     4  producerPid       attaching producer       consumer (watch of its exit)
//	   536     4  consumerPid       attaching consumer       producer (watch of its exit)
//	   544     8  producerPidNS     attaching producer       consumer (watch of its exit)
//	   552     8  consumerPidNS     attaching consumer       producer (watch of its exit)
//	   640     4  futexCookie       futex.Open               futex.Open
//	  1024  8*128 events[i]: state, seq (futex word 2+i), waiters
//	  2048  9*8   producer stats (Stats, in order)  producer  tools
//	  2304  9*8   consumer stats                    consumer  tools
//	  4096   cap  data: records
//
// Each group that one side writes on its hot path sits on a 128-byte line of
// its own (two cache lines, so that the adjacent-line prefetcher does not pull
// the other side's line along): the producer's tail never shares a line with
// the consumer's head, nor either with the waiter counts. The tail's line
// holds the tail alone: the consumer does not read it per message (it polls
// the record headers), and a word there that the consumer polls while the
// ring is empty would pull the line out of the
// producer's cache between two publications, delaying the commit store that
// the tail's store precedes.
//
// The attached, noBarrier and pid words change only when an endpoint
// attaches or detaches, and the closed word once per stream: their line is
// read on every publication and every look at an empty ring, but stays in
// every reader's cache. A side's noBarrier word is 1 while its sleeps do
// not call fence.GlobalBarrier, so that the other side must publish its
// cursor with a full barrier (package fence, "Publication across
// processes"). A side's pid and pidNS words are its process id and the
// inode of the pid namespace that id belongs to (0: unknown), stored before
// its attached word, so that the other side can watch for its exit (the
// root package's deaths.go).
//
// A record is an 8-byte header word followed by its payload, padded to 8
// bytes. The header is also the record's commit word (spsc.go): zero until
// the record is complete, then
//
//	header bits 0-31   payload length in bytes
//	header bits 32-63  kind: kindMessage, or kindPadding for the filler that
//	                   takes the rest of the lap when a record would cross the
//	                   end of the data area (its length then covers the rest)
//
// and the header word past the last committed record is zero, so the ring
// holds records of at most capacity-8 bytes.
//
// Positions (head, tail) are byte counts since creation and never wrap in
// practice (2^64 bytes); the index of a position is position & (cap-1).
const (
	offTail              = 0
	offHead              = 128
	offDataSeq           = 256
	offDataWaiters       = 260
	offDataArmed         = 264
	offSpaceSeq          = 384
	offSpaceWaiters      = 388
	offSpaceArmed        = 392
	offProducerAttached  = 512
	offConsumerAttached  = 516
	offProducerNoBarrier = 520
	offConsumerNoBarrier = 524
	offClosed            = 528
	offProducerPid       = 532
	offConsumerPid       = 536
	offProducerPidNS     = 544
	offConsumerPidNS     = 552
	offFutexCookie       = 640
	offEvents            = 1024
	eventStride          = 128
	offProducerStats     = 2048
	offConsumerStats     = 2304

	// ControlSize is the size of the control area at the start of the region.
	ControlSize = 4096
	// CookieOffset is the offset of the futex cookie word in the region, the
	// same in both kinds' control areas, so that the wake-up state of a
	// segment can be found, and removed, when its header is too damaged to
	// say which kind it is.
	CookieOffset = offFutexCookie
	// NumEvents is the number of cross-process events in a ring's control area.
	NumEvents = 8
	// NumWords is the number of futex words in the control area: dataSeq,
	// spaceSeq and one per event.
	NumWords = 2 + NumEvents
	// WordData, WordSpace and WordEvent0 are the futex word indices.
	WordData   = 0
	WordSpace  = 1
	WordEvent0 = 2

	// MinCapacity and MaxCapacity bound the data area. MaxCapacity keeps
	// every payload length within the 32-bit length field.
	MinCapacity = 4096
	MaxCapacity = 1 << 32

	recordHeader = 8
	recordAlign  = 8
	kindMessage  = 1
	kindPadding  = 2
)

// RegionSize returns the region size for a data area of capacity bytes.
func RegionSize(capacity uint64) uint64 { return ControlSize + capacity }

// EventWords are the shared words of one cross-process event.
type EventWords struct {
	State   *atomic.Uint32 // 1 while set
	Seq     *atomic.Uint32 // bumped by Set; the futex word waiters sleep on
	Waiters *atomic.Uint32 // number of announced waiters
}

// Control is the typed view of one ring region. Geometry (the capacity) is
// derived once from the region's length, which the caller validated against
// the segment file; nothing geometric is read from shared memory afterwards.
type Control struct {
	Tail             *atomic.Uint64
	Closed           *atomic.Uint32
	Head             *atomic.Uint64
	DataSeq          *atomic.Uint32
	DataWaiters      *atomic.Uint32
	SpaceSeq         *atomic.Uint32
	SpaceWaiters     *atomic.Uint32
	ProducerAttached *atomic.Uint32
	ConsumerAttached *atomic.Uint32
	// ProducerNoBarrier and ConsumerNoBarrier are each side's noBarrier word:
	// 1 while that side's sleeps call no fence.GlobalBarrier.
	ProducerNoBarrier *atomic.Uint32
	ConsumerNoBarrier *atomic.Uint32
	// ProducerPid and ConsumerPid are the process ids of the endpoints
	// that attached last, and ProducerPidNS and ConsumerPidNS the inodes
	// of the pid namespaces those ids belong to (0 when unknown). Only an
	// attached word that is set says that the endpoint is still there.
	ProducerPid   *atomic.Uint32
	ConsumerPid   *atomic.Uint32
	ProducerPidNS *atomic.Uint64
	ConsumerPidNS *atomic.Uint64
	// DataArmed and SpaceArmed are 1 while a sleeper of that condition
	// has started a round since the last wake-up (Armed rounds in the
	// root package's wait.go).
	DataArmed     *atomic.Uint32
	SpaceArmed    *atomic.Uint32
	FutexCookie   *atomic.Uint32
	Events        [NumEvents]EventWords
	ProducerStats [NumStats]*atomic.Uint64
	ConsumerStats [NumStats]*atomic.Uint64

	data     []byte
	capacity uint64
}

// NewControl returns the typed view of region. The region must be aligned to
// 8 bytes (a mapping is page aligned) and hold the control area plus a data
// area whose size is a power of two between MinCapacity and MaxCapacity.
func NewControl(region []byte) (*Control, error) {
	if len(region) < ControlSize+MinCapacity {
		return nil, fmt.Errorf("%w: region of %d bytes is smaller than the minimum %d",
			ErrCorrupt, len(region), ControlSize+MinCapacity)
	}
	capacity := uint64(len(region) - ControlSize)
	if bits.OnesCount64(capacity) != 1 || capacity > MaxCapacity {
		return nil, fmt.Errorf("%w: data area of %d bytes is not a power of two up to %d",
			ErrCorrupt, capacity, uint64(MaxCapacity))
	}
	if !aligned8(region) {
		return nil, fmt.Errorf("%w: region is not 8-byte aligned", ErrCorrupt)
	}
	c := &Control{
		Tail:              word64(region, offTail),
		Closed:            word32(region, offClosed),
		Head:              word64(region, offHead),
		DataSeq:           word32(region, offDataSeq),
		DataWaiters:       word32(region, offDataWaiters),
		SpaceSeq:          word32(region, offSpaceSeq),
		SpaceWaiters:      word32(region, offSpaceWaiters),
		DataArmed:         word32(region, offDataArmed),
		SpaceArmed:        word32(region, offSpaceArmed),
		ProducerAttached:  word32(region, offProducerAttached),
		ConsumerAttached:  word32(region, offConsumerAttached),
		ProducerNoBarrier: word32(region, offProducerNoBarrier),
		ConsumerNoBarrier: word32(region, offConsumerNoBarrier),
		ProducerPid:       word32(region, offProducerPid),
		ConsumerPid:       word32(region, offConsumerPid),
		ProducerPidNS:     word64(region, offProducerPidNS),
		ConsumerPidNS:     word64(region, offConsumerPidNS),
		FutexCookie:       word32(region, offFutexCookie),
		data:              region[ControlSize:],
		capacity:          capacity,
	}
	for k := range NumStats {
		c.ProducerStats[k] = word64(region, offProducerStats+8*k)
		c.ConsumerStats[k] = word64(region, offConsumerStats+8*k)
	}
	for i := range c.Events {
		off := offEvents + i*eventStride
		c.Events[i] = EventWords{
			State:   word32(region, off),
			Seq:     word32(region, off+4),
			Waiters: word32(region, off+8),
		}
	}
	return c, nil
}

// Capacity returns the size of the data area in bytes.
func (c *Control) Capacity() uint64 { return c.capacity }

// MaxPayload returns the largest message the ring can hold: a record as large
// as the whole data area but the header word that stays zero past it.
func (c *Control) MaxPayload() int { return int(c.capacity - 2*recordHeader) }

// header returns the header word of the record at index idx of the data
// area; idx is a multiple of 8 below the capacity.
func (c *Control) header(idx uint64) *atomic.Uint64 { return word64(c.data, int(idx)) }

// recordSize returns the bytes a record with an n-byte payload occupies.
func recordSize(n uint64) uint64 {
	return recordHeader + (n+recordAlign-1)&^(recordAlign-1)
}

// Segment kinds recorded in the shm header.
const (
	// KindSPSC is a single-producer single-consumer ring.
	KindSPSC = 1
)
