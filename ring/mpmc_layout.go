package ring

import (
	"fmt"
	"math"
	"math/bits"
	"os"
	"sync/atomic"
)

// Region layout of an MPMC ring. The region is page aligned (the part of the
// mapping after the shm header page); every atomic below is aligned for its
// type, and the layout is the same on every architecture. Words are native
// endian and touched only through sync/atomic; slot headers are little
// endian and touched with plain loads and stores, ordered by the slot's seq.
//
//	offset  size  field              written by                       read by
//	     0     8  enq                producers (CAS: claim)           producers, consumers (Drained)
//	                                 of lane 0
//	   128     8  deq                consumers (CAS: claim)           consumers, producers (Drained)
//	                                 of lane 0
//	   256     4  closed             any process (close the stream)   producers after each claim, consumers
//	   384     4  dataSeq            wakers                           consumers sleep on it (futex word 0)
//	   392     8  dataSleepers       consumers (Or, And), reapers     producers: bit i = entry i sleeps for data
//	   400     4  dataArmed          consumers (Store 1), wakers      wakers (Swap 0) while dataSleepers != 0
//	   512     4  spaceSeq           wakers                           producers sleep on it (futex word 1)
//	   520     8  spaceSleepers      producers (Or, And), reapers     consumers: bit i = entry i sleeps for room
//	   528     4  spaceArmed         producers (Store 1), wakers      wakers (Swap 0) while spaceSleepers != 0
//	   640     4  futexCookie        futex.Open                       futex.Open
//	   768     8  orphans            reapers (Or); adopters, Join     consumers: bit i = entry i may be an orphan
//	                                 and Orphaned (And)
//	   776     4  ready              Init (last)                      NewProducer, NewConsumer
//	   784     8  noBarrier          attaching endpoints (Or, And),   publishers, after each Store(seq):
//	                                 Join, Leave, reapers             bit i = entry i sleeps without the barrier
//	  1024 8*128  events[i]: state, seq (futex word 2+i), waiters, as in the SPSC layout
//	  4096 P*256  participants[P], one entry per attached endpoint:
//	                +0    state       EntryFree, EntryProducer, EntryConsumer, EntryOrphan,
//	                                  EntryAdopted
//	                +4    pid         the owner's process id, stored by Join; liveness is the
//	                                  lock's business, the id only says which process to watch
//	                +8    generation  bumped by every Join
//	               +16    intent      first position+1 of the range the owner claims or holds;
//	                                  0 for none
//	               +24    end         one past the last position of that range: a claim of
//	                                  k positions [p, p+k) shows intent p+1 and end p+k
//	               +32    lane        the owner's home lane, stored by Join: a producer
//	                                  claims in it alone, a consumer starts there
//	               +40    pidNS       the owner's pid namespace (an inode number), stored by
//	                                  Join: pid means that process only in that namespace
//	              +128    stats       NumStats counters, in the order of the Stats fields,
//	                                  each written only by the owner (Store)
//	4096 + P*256  (L-1)*256  lanes[1..L-1], lane l's enq at +0 and deq at +128, as
//	                lane 0's words at 0 and 128 (see Lanes)
//	 align4096(4096 + P*256 + (L-1)*256)  slots[N], N a power of two, each of stride
//	                align64(16+slotSize), n = N/L of them per lane, lane l's from slot l*n:
//	                +0    seq         the bounded MPMC queue's sequence (see mpmc.go)
//	                +8    len         payload length, at most slotSize (uint32)
//	               +12    flags       0 for a message, flagSkip for a record to pass over
//	               +16    payload     slotSize bytes
//
// The slot header (len, flags) has the layout of an SPSC record header,
// flags taking the place of the kind, and is read and written with the same
// helpers.
//
// Each group of words with its own writers sits on a 128-byte line of its
// own, as in the SPSC layout: producers hammer enq, consumers deq, and the
// sleeper bitmaps are read on every commit and release but written rarely
// (their armed words, beside them, only while someone sleeps);
// so is the noBarrier word, which shares the line of orphans and ready,
// written when an endpoint attaches, detaches or is reaped. A participant's
// intent and end are written twice per claim (a message, or a batch of
// them) by its owner alone and read by reapers only; its stats sit on the
// next line, so that a reaper's scan never pulls a line its owner is
// writing at that moment twice over.
//
// Two details differ from the first design. Orphans is a bitmap, not a
// count: a consumer that dies while it frees an adopted orphan would leave a
// count wrong for ever, while setting or clearing a bit is idempotent (only
// the holder of an entry's lock writes its bit); and a consumer learns which
// entries to adopt without scanning the table. The bitmap is a hint: an
// entry's state alone says whether it is an orphan, and the bit is set
// before the state becomes EntryOrphan and cleared after it stops being one
// (mpmc_reap.go), so every orphan has its bit, and a stray bit costs a look
// at one state word. Bits at or above the participant count belong to no
// entry: they are ErrCorrupt where they are used.
//
// Lanes. A ring of L lanes (a power of two, 1 by default) is L rings of
// n = N/L slots side by side, each with its own enq and deq, sharing the
// control words, the participant table and the wake-ups. A position names
// its lane in its top bits: lane l's positions count from l<<laneBit,
// its enq and deq start there, and slot j of lane l starts with seq
// l<<laneBit + j; 2^58 positions per lane is as good as never wrapping.
// Position p lives in slot ((p>>laneBit) & (L-1))*n + (p & (n-1)), in
// range whatever p holds; the paths that know their lane (a producer's
// claims, a consumer's claimed range) index the lane's own slots with p &
// (n-1) alone. Every rule of mpmc.go and mpmc_reap.go holds within each
// lane, with n for N; a range names positions of one lane, and one whose
// ends lie in two lanes, or in a lane the ring does not have, is corrupt.
// A producer claims in its home lane only, so that its messages keep
// their order and producers in lanes of their own never touch the same
// enq; a consumer claims in any lane (see the consumer's claim in
// mpmc.go). A ring of one lane is laid out, and behaves, as before lanes
// existed, but for the entries' lane word, which Join writes.
//
// The ready word is new as well. A fresh region is all zeros, and zero is a
// valid seq for slot 0 only; for a ring of two slots the zeros of slot 1
// look like a full ring, not like corruption, and a producer would wait for
// room for ever. Init stores mpmcReady after the slot seqs, and an endpoint
// refuses a region without it, so an uninitialised region is ErrCorrupt at
// attach whatever its size.
const (
	offMEnq           = 0
	offMDeq           = 128
	offMClosed        = 256
	offMDataSeq       = 384
	offMDataSleepers  = 392
	offMDataArmed     = 400
	offMSpaceSeq      = 512
	offMSpaceSleepers = 520
	offMSpaceArmed    = 528
	offMFutexCookie   = CookieOffset // where the SPSC control area has it
	offMOrphans       = 768
	offMReady         = 776
	offMNoBarrier     = 784
	offMEntries       = ControlSize

	entryStride   = 256
	offEntState   = 0
	offEntPid     = 4
	offEntGen     = 8
	offEntIntent  = 16
	offEntEnd     = 24
	offEntLane    = 32
	offEntPidNS   = 40
	laneStride    = 256
	offLaneDeq    = 128
	offEntStats   = 128
	offSlotSeq    = 0
	offSlotHeader = 8
	slotHeader    = 16
	slotAlign     = 64
	regionAlign   = 4096

	// flagSkip marks a slot that consumers pass over without reading its
	// payload: a reservation given up, or the unfinished slot of a dead
	// producer.
	flagSkip = 1

	// mpmcReady is stored in the ready word by Init ("MPMC").
	mpmcReady = 0x434d504d

	// MPMCMinSlotSize and MPMCMaxSlotSize bound the payload size of a slot,
	// a multiple of 8.
	MPMCMinSlotSize = 8
	MPMCMaxSlotSize = 1 << 24
	// MPMCMinSlots and MPMCMaxSlots bound the number of slots, a power of
	// two.
	MPMCMinSlots = 2
	MPMCMaxSlots = 1 << 24
	// MPMCMaxParticipants bounds the participant table, so that a sleeper
	// bitmap is one 64-bit word.
	MPMCMaxParticipants = 64
	// MPMCMaxBatch bounds the positions one claim takes (one CAS on enq or
	// deq), and so the range a participant entry names: a range longer
	// than this, or than the ring, is corrupt. It also bounds the scans of
	// a range by reapers and Drained.
	MPMCMaxBatch = 64
	// MPMCMaxLanes bounds the number of lanes, a power of two, at most
	// Slots/MPMCMinSlots.
	MPMCMaxLanes = 64

	// laneBit is where a position's lane starts: lane l's positions are
	// l<<laneBit onwards.
	laneBit = 58
)

// Participant entry states.
const (
	// EntryFree is an entry nobody uses; Join takes it.
	EntryFree = 0
	// EntryProducer is the entry of an attached producer.
	EntryProducer = 1
	// EntryConsumer is the entry of an attached consumer.
	EntryConsumer = 2
	// EntryOrphan is the entry of a dead consumer that held a message: its
	// intent names the message's position until a consumer adopts it.
	EntryOrphan = 3
	// EntryAdopted is an orphan whose message a consumer adopted: the
	// adopter holds the entry's lock until it has released the message and
	// freed the entry. Other consumers leave it alone; when its lock is
	// free, the adopter died, and reaping makes it an orphan again.
	EntryAdopted = 4
)

// Segment kinds recorded in the shm header, continued.
const (
	// KindMPMC is a multi-producer multi-consumer ring.
	KindMPMC = 2
)

// MPMCGeometry is the shape of an MPMC ring, fixed at creation and stored in
// the shm header (Params).
type MPMCGeometry struct {
	SlotSize     uint64 // payload bytes per slot: the largest message
	Slots        uint64 // number of slots, a power of two
	Participants uint64 // entries in the participant table
	// Lanes splits the slots into that many lanes (see Lanes above), a
	// power of two; 0 is 1.
	Lanes uint64
}

// lanes returns the number of lanes of g, at least 1.
func (g MPMCGeometry) lanes() uint64 { return max(g.Lanes, 1) }

// Validate reports what is wrong with g, in an error wrapping os.ErrInvalid,
// or nil when g describes a ring this package can run.
func (g MPMCGeometry) Validate() error {
	switch {
	case g.SlotSize < MPMCMinSlotSize || g.SlotSize > MPMCMaxSlotSize || g.SlotSize%8 != 0:
		return fmt.Errorf("ring: mpmc slot size %d is not a multiple of 8 in [%d, %d]: %w",
			g.SlotSize, MPMCMinSlotSize, MPMCMaxSlotSize, os.ErrInvalid)
	case g.Slots < MPMCMinSlots || g.Slots > MPMCMaxSlots || bits.OnesCount64(g.Slots) != 1:
		return fmt.Errorf("ring: mpmc slot count %d is not a power of two in [%d, %d]: %w",
			g.Slots, MPMCMinSlots, MPMCMaxSlots, os.ErrInvalid)
	case g.Participants < 1 || g.Participants > MPMCMaxParticipants:
		return fmt.Errorf("ring: mpmc participant count %d outside [1, %d]: %w",
			g.Participants, MPMCMaxParticipants, os.ErrInvalid)
	case g.Lanes > MPMCMaxLanes || bits.OnesCount64(g.lanes()) != 1 || g.Slots/g.lanes() < MPMCMinSlots:
		return fmt.Errorf("ring: mpmc lane count %d is not a power of two in [1, %d] with %d slots each: %w",
			g.Lanes, min(MPMCMaxLanes, g.Slots/MPMCMinSlots), MPMCMinSlots, os.ErrInvalid)
	}
	return nil
}

// stride returns the bytes one slot occupies. g must be valid.
func (g MPMCGeometry) stride() uint64 { return alignUp(slotHeader+g.SlotSize, slotAlign) }

// slotsOffset returns the offset of the first slot in the region. g must be
// valid.
func (g MPMCGeometry) slotsOffset() uint64 {
	return alignUp(g.lanesOffset()+(g.lanes()-1)*laneStride, regionAlign)
}

// lanesOffset returns the offset of the words of lane 1, after the
// participant table. g must be valid.
func (g MPMCGeometry) lanesOffset() uint64 { return offMEntries + g.Participants*entryStride }

// RegionSize returns the size of the region of a ring of geometry g, which
// must be valid: at most about 2^48 bytes, so it does not overflow.
//
// It is a whole number of pages, as a segment's region is; the slots end
// at most a page before it.
func (g MPMCGeometry) RegionSize() uint64 {
	return alignUp(g.slotsOffset()+g.Slots*g.stride(), regionAlign)
}

// Params returns g as the parameters the shm header stores. A ring of one
// lane stores 0 lanes, as rings did before lanes existed.
func (g MPMCGeometry) Params() [4]uint64 {
	lanes := g.lanes()
	if lanes == 1 {
		lanes = 0
	}
	return [4]uint64{g.SlotSize, g.Slots, g.Participants, lanes}
}

// GeometryFromParams returns the geometry stored in an shm header by Params.
// Invalid parameters are ErrCorrupt: the header is shared memory.
func GeometryFromParams(p [4]uint64) (MPMCGeometry, error) {
	g := MPMCGeometry{SlotSize: p[0], Slots: p[1], Participants: p[2], Lanes: p[3]}
	if p[3] == 1 {
		return MPMCGeometry{}, fmt.Errorf("%w: mpmc params %v: one lane is stored as 0", ErrCorrupt, p)
	}
	if err := g.Validate(); err != nil {
		return MPMCGeometry{}, fmt.Errorf("%w: mpmc params %v: %w", ErrCorrupt, p, err)
	}
	return g, nil
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }

// Participant is the typed view of one participant entry.
type Participant struct {
	State      *atomic.Uint32 // EntryFree, EntryProducer, EntryConsumer, EntryOrphan or EntryAdopted
	Pid        *atomic.Uint32 // process id of the owner, which sleepers watch (root package's deaths.go)
	PidNS      *atomic.Uint64 // pid namespace of Pid, 0 where unknown
	Generation *atomic.Uint64 // bumped by every Join
	Intent     *atomic.Uint64 // first position+1 of the range claimed or held; 0 for none
	End        *atomic.Uint64 // one past the last position of that range
	Lane       *atomic.Uint64 // the home lane, a hint: used modulo the lane count
	Stats      [NumStats]*atomic.Uint64
}

// Lane is the typed view of one lane's words and slots.
type Lane struct {
	Enq  *atomic.Uint64 // producers' claims: the lane's next free position
	Deq  *atomic.Uint64 // consumers' claims: the lane's next committed position
	Base uint64         // the lane's first position: lane<<58

	slots  []byte // the lane's n slots
	first  uint64 // the offset of its first slot in the slot area
	stride uint64
	mask   uint64 // n - 1
}

// MPMC is the typed view of one MPMC ring region. Geometry is given by the
// caller (from the shm header, validated) and kept in private fields; at run
// time only positions, slot seqs and slot headers are read from shared
// memory, and each is checked where it is used.
type MPMC struct {
	// Enq and Deq are the words of lane 0, the only lane of a ring of
	// one lane.
	Enq           *atomic.Uint64
	Deq           *atomic.Uint64
	Closed        *atomic.Uint32
	DataSeq       *atomic.Uint32
	DataSleepers  *atomic.Uint64
	SpaceSeq      *atomic.Uint32
	SpaceSleepers *atomic.Uint64
	// DataArmed and SpaceArmed are 1 while a sleeper of that condition
	// has started a round since the last wake-up (see Armed rounds in the
	// root package's wait.go).
	DataArmed   *atomic.Uint32
	SpaceArmed  *atomic.Uint32
	FutexCookie *atomic.Uint32
	Orphans     *atomic.Uint64
	// NoBarrier has bit i set while entry i's sleeps for data or room do
	// not pay fence.GlobalBarrier, so that publishers must store seq with
	// a full barrier (see Publication in mpmc.go). Its owner sets it at
	// attach; Join, Leave and the reap of a dead entry clear it.
	NoBarrier *atomic.Uint64
	Events    [NumEvents]EventWords

	ready    *atomic.Uint32
	entries  []Participant
	inTable  uint64 // the bits of the entries in a bitmap: Participants of them
	geo      MPMCGeometry
	lanes    []Lane // lanes[0] holds Enq and Deq
	slots    []byte // the slot area
	stride   uint64
	n        uint64 // slots per lane, a power of two
	laneMask uint64 // lanes - 1
	slotSize uint64
	maxRange uint64 // the most positions a claim takes: MPMCMaxBatch, or Slots if fewer
}

// NewMPMC returns the typed view of region for a ring of geometry g. The
// region must be 8-byte aligned (a mapping is page aligned, which also keeps
// every slot on cache lines of its own) and exactly g.RegionSize() bytes
// long; otherwise the error wraps ErrCorrupt. An invalid g gives the error of
// g.Validate.
func NewMPMC(region []byte, g MPMCGeometry) (*MPMC, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if size := g.RegionSize(); uint64(len(region)) != size {
		return nil, fmt.Errorf("%w: mpmc region of %d bytes, geometry %+v needs %d",
			ErrCorrupt, len(region), g, size)
	}
	if !aligned8(region) {
		return nil, fmt.Errorf("%w: region is not 8-byte aligned", ErrCorrupt)
	}
	m := &MPMC{
		Enq:           word64(region, offMEnq),
		Deq:           word64(region, offMDeq),
		Closed:        word32(region, offMClosed),
		DataSeq:       word32(region, offMDataSeq),
		DataSleepers:  word64(region, offMDataSleepers),
		SpaceSeq:      word32(region, offMSpaceSeq),
		SpaceSleepers: word64(region, offMSpaceSleepers),
		DataArmed:     word32(region, offMDataArmed),
		SpaceArmed:    word32(region, offMSpaceArmed),
		FutexCookie:   word32(region, offMFutexCookie),
		Orphans:       word64(region, offMOrphans),
		NoBarrier:     word64(region, offMNoBarrier),
		ready:         word32(region, offMReady),
		entries:       make([]Participant, g.Participants),
		inTable:       math.MaxUint64 >> (MPMCMaxParticipants - g.Participants),
		geo:           g,
		slots:         region[g.slotsOffset():],
		lanes:         make([]Lane, g.lanes()),
		stride:        g.stride(),
		n:             g.Slots / g.lanes(),
		laneMask:      g.lanes() - 1,
		slotSize:      g.SlotSize,
		maxRange:      min(MPMCMaxBatch, g.Slots/g.lanes()),
	}
	for l := range g.lanes() {
		lane := &m.lanes[l]
		if l == 0 {
			lane.Enq, lane.Deq = m.Enq, m.Deq
		} else {
			off := int(g.lanesOffset() + (l-1)*laneStride)
			lane.Enq, lane.Deq = word64(region, off), word64(region, off+offLaneDeq)
		}
		lane.Base = l << laneBit
		lane.first = l * m.n * m.stride
		lane.slots = m.slots[lane.first : lane.first+m.n*m.stride : lane.first+m.n*m.stride]
		lane.stride, lane.mask = m.stride, m.n-1
	}
	for i := range m.Events {
		off := offEvents + i*eventStride
		m.Events[i] = EventWords{
			State:   word32(region, off),
			Seq:     word32(region, off+4),
			Waiters: word32(region, off+8),
		}
	}
	for i := range m.entries {
		off := int(g.EntryOffset(i))
		e := &m.entries[i]
		e.State = word32(region, off+offEntState)
		e.Pid = word32(region, off+offEntPid)
		e.Generation = word64(region, off+offEntGen)
		e.Intent = word64(region, off+offEntIntent)
		e.End = word64(region, off+offEntEnd)
		e.Lane = word64(region, off+offEntLane)
		e.PidNS = word64(region, off+offEntPidNS)
		for k := range e.Stats {
			e.Stats[k] = word64(region, off+offEntStats+8*k)
		}
	}
	return m, nil
}

// Init prepares a fresh (all zero) region: in each lane, slot j starts
// with seq base+j, free for the lane's position base+j of the first lap,
// and enq and deq at base, the lane's first position. The creator calls it
// once, before any other process can see the segment; endpoints refuse a
// region Init did not finish.
func (m *MPMC) Init() {
	for _, l := range m.lanes {
		l.Enq.Store(l.Base)
		l.Deq.Store(l.Base)
		for j := range m.n {
			m.seqWord(l.Base + j).Store(l.Base + j)
		}
	}
	// Last: an endpoint that sees the ready word sees every seq above.
	m.ready.Store(mpmcReady)
}

// checkReady reports a region that Init did not finish.
func (m *MPMC) checkReady() error {
	if r := m.ready.Load(); r != mpmcReady {
		return fmt.Errorf("%w: mpmc region not initialised (ready word %#x)", ErrCorrupt, r)
	}
	return nil
}

// Geometry returns the ring's geometry.
func (m *MPMC) Geometry() MPMCGeometry { return m.geo }

// Lanes returns the words of the ring's lanes, lane 0 first.
func (m *MPMC) Lanes() []Lane { return m.lanes }

// LaneSlots returns the number of slots of each lane.
func (m *MPMC) LaneSlots() uint64 { return m.n }

// laneOf returns the lane of position pos, in range whatever pos holds.
func (m *MPMC) laneOf(pos uint64) *Lane { return &m.lanes[(pos>>laneBit)&m.laneMask] }

// Entry returns the participant entry i. It panics unless 0 <= i <
// Participants: entry indexes come from the local caller.
func (m *MPMC) Entry(i int) *Participant {
	if i < 0 || i >= len(m.entries) {
		panic(fmt.Sprintf("ring: participant %d outside [0, %d)", i, len(m.entries)))
	}
	return &m.entries[i]
}

// SlotView is what a tool that inspects an MPMC ring without taking part
// in it sees of one slot: its sequence word and header, loaded once each,
// and the region offsets where they live (for problem reports).
type SlotView struct {
	Seq        uint64 // the slot's sequence word
	Len        uint64 // payload length in the header
	Flags      uint32 // header flags: 0, or FlagSkip
	SeqOff     uint64 // region offset of the sequence word
	HeaderOff  uint64 // region offset of the header
	PayloadOff uint64 // region offset of the payload (Len bytes, when sound)
}

// FlagSkip is the header flag of a skip record.
const FlagSkip = flagSkip

// Slot loads the slot of position pos. It only loads, so it works on a
// read-only mapping, and it claims nothing: the values are a snapshot that
// the ring's endpoints may change at once.
func (m *MPMC) Slot(pos uint64) SlotView {
	off := m.geo.slotsOffset() + m.slotOffset(pos)
	n, flags := getHeader(m.header(pos))
	return SlotView{
		Seq:        m.seqWord(pos).Load(),
		Len:        n,
		Flags:      flags,
		SeqOff:     off + offSlotSeq,
		HeaderOff:  off + offSlotHeader,
		PayloadOff: off + slotHeader,
	}
}

// EntryOffset returns the region offset of participant entry i.
func (g MPMCGeometry) EntryOffset(i int) uint64 { return offMEntries + uint64(i)*entryStride }

// slotOffset returns the offset in m.slots of the slot of position pos, in
// range whatever pos holds (see Lanes above).
func (m *MPMC) slotOffset(pos uint64) uint64 {
	l := m.laneOf(pos)
	return l.first + l.slotOffset(pos)
}

// seqWord returns the seq word of the slot of position pos.
func (m *MPMC) seqWord(pos uint64) *atomic.Uint64 { return m.laneOf(pos).seqWord(pos) }

// header returns the header bytes (len, flags) of the slot of position pos.
func (m *MPMC) header(pos uint64) []byte { return m.laneOf(pos).header(pos) }

// The slot accessors of a lane take a position of the lane: they use its
// low bits alone, so that the paths that know their lane (a producer's,
// a consumer's claimed range) pay no more than a ring of one lane does.

// slotOffset returns the offset in l.slots of the slot of position pos.
func (l *Lane) slotOffset(pos uint64) uint64 { return (pos & l.mask) * l.stride }

// seqWord returns the seq word of the slot of position pos.
func (l *Lane) seqWord(pos uint64) *atomic.Uint64 {
	return word64(l.slots, int(l.slotOffset(pos)+offSlotSeq))
}

// header returns the header bytes (len, flags) of the slot of position pos.
func (l *Lane) header(pos uint64) []byte {
	off := l.slotOffset(pos) + offSlotHeader
	return l.slots[off : off+8 : off+8]
}

// payload returns the first n payload bytes of the slot of position pos; n
// must be at most the slot size.
func (l *Lane) payload(pos, n uint64) []byte {
	off := l.slotOffset(pos) + slotHeader
	return l.slots[off : off+n : off+n]
}
