package shmring

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// Inspection: a read-only look at a ring segment, for tools (the shmring
// command's ls, stat and check) and for anyone debugging a ring.
//
// Contracts:
//   - Nothing is written: the segment is opened with shm.OpenReadOnly (the
//     file O_RDONLY, the mapping PROT_READ), no lock is taken, no futex state
//     is set up. Inspecting a ring in use disturbs no endpoint.
//   - The segment is hostile input, read as the endpoints read it: the
//     header through shm, the region through ring.Control, the records
//     through ring.Control.Walk, which checks them as the consumer does.
//   - A ring in use moves while it is read. A walk is trusted only if the
//     consumer did not move head during it (see ring/walk.go): the producer
//     overwrites only records the consumer released. A walk during which
//     head moved is retried, walkAttempts times at most.
//   - An MPMC ring is read through ring.MPMC: positions, participant
//     entries, counters. Its slots are read with plain loads at offsets this
//     file computes from the geometry (package ring keeps the slot layout
//     private; TestInspectMPMC and TestCheckMPMC pin the two together). A
//     scan of the slots is trusted only if neither position moved during
//     it: then every seq it read was legal when it was read (see scanMPMC).
//   - Every kind of segment goes through inspectors, a switch on the kind
//     stored in the header; a kind without a case is reported as corrupt.

// walkAttempts bounds the walks of a ring whose consumer keeps moving.
const walkAttempts = 8

// Info describes a ring segment as Inspect found it. The cursors, flags and
// counters are read one after the other from a ring that may be in use:
// each is a value it held during the call, not a consistent snapshot.
type Info struct {
	Name       string      `json:"name"`        // file path of the segment
	Kind       string      `json:"kind"`        // "spsc" or "mpmc"
	FileSize   int64       `json:"file_size"`   // bytes, header page included
	Mode       os.FileMode `json:"mode"`        // permission bits of the file
	Capacity   int         `json:"capacity"`    // bytes of the data area (MPMC: slots times slot size)
	MaxMessage int         `json:"max_message"` // bytes of the largest message

	// Depth is, in an SPSC ring, Tail - Head: bytes committed and not yet
	// released; in an MPMC ring, Enq - Deq: slots claimed by producers and
	// not yet by consumers.
	Depth int `json:"depth"`
	// Messages counts the messages in the depth: the records between Head
	// and Tail, walked; in an MPMC ring, the committed slots between Deq and
	// Enq that are not skip records.
	Messages int `json:"messages"`
	// Settled reports that Messages was counted while the consumer (MPMC:
	// every endpoint) stood still; false means it kept moving through every
	// attempt, and Messages is only the count of the last, partial walk.
	Settled bool `json:"settled"`
	Closed  bool `json:"closed"` // the stream is closed (end of stream)
	// Aborted reports that the stream ended with Ring.AbortStream, and
	// AbortCode is the abort's code.
	Aborted   bool   `json:"aborted,omitempty"`
	AbortCode uint32 `json:"abort_code,omitempty"`

	// Waiters counts the waiters announced on each condition: consumers
	// waiting for data, producers waiting for space (in an MPMC ring, the
	// participant entries that sleep on each).
	Waiters Conditions `json:"waiters"`
	// Wakeups holds the sequence word of each condition, bumped once per
	// wake-up; it wraps at 2^32. Its rate of change is the wake-up rate.
	Wakeups Conditions           `json:"wakeups"`
	Events  [NumEvents]EventInfo `json:"events"`

	// SPSC holds what only an SPSC ring has; nil for an MPMC ring.
	SPSC *SPSCInfo `json:"spsc,omitempty"`
	// MPMC holds what only an MPMC ring has; nil for an SPSC ring.
	MPMC *MPMCInfo `json:"mpmc,omitempty"`
}

// SPSCInfo is the part of Info only an SPSC ring has.
type SPSCInfo struct {
	Head     uint64       `json:"head"`     // consumer's position: bytes released since creation
	Tail     uint64       `json:"tail"`     // producer's position: bytes published since creation
	Producer EndpointInfo `json:"producer"` // the producer role
	Consumer EndpointInfo `json:"consumer"` // the consumer role
}

// MPMCInfo is what Info holds of an MPMC ring besides the common fields.
type MPMCInfo struct {
	Slots    int    `json:"slots"`     // number of slots
	SlotSize int    `json:"slot_size"` // payload bytes of a slot: the largest message
	Lanes    int    `json:"lanes"`     // lanes the slots are split into (Options.Lanes)
	Enq      uint64 `json:"enq"`       // positions claimed by producers since creation, in all lanes
	Deq      uint64 `json:"deq"`       // positions claimed by consumers since creation, in all lanes
	Entries  int    `json:"entries"`   // size of the participant table
	// Participants are the entries in use, by index: attached endpoints,
	// dead ones not reaped yet, and orphans.
	Participants []ParticipantInfo `json:"participants"`
	// Orphans are the entries whose bit is set in the orphan bitmap: each
	// holds the message of a dead consumer until a consumer adopts it.
	Orphans []int `json:"orphans"`
}

// ParticipantInfo is one entry in use in an MPMC ring's participant table.
type ParticipantInfo struct {
	Entry int `json:"entry"` // index in the table
	// Role is "producer", "consumer", "orphan" (the message of a dead
	// consumer, waiting for adoption or being adopted: see State), or
	// "state N" for a state this version does not know.
	Role string `json:"role"`
	// Pid is the process id the endpoint recorded when it attached, in its
	// own pid namespace: informational, liveness is the lock's.
	Pid        uint32 `json:"pid"`
	Generation uint64 `json:"generation"` // bumped by every attach to the entry
	// Lane is the entry's home lane: where a producer claims, where a
	// consumer started; 0 in a ring of one lane.
	Lane int `json:"lane"`
	// Alive reports that some process holds the entry's lock: the
	// endpoint's process until it exits (even while stopped); for an
	// orphan, a consumer adopting its message.
	Alive bool `json:"alive"`
	// Intent is the position the entry claims or holds (a producer's slot
	// being written, a consumer's message not yet released, an orphan's
	// message), nil for none; the first of them for a batch. A position
	// of lane l counts from l<<58.
	Intent *uint64 `json:"intent"`
	// IntentEnd is one past the last position of the range the entry
	// claims or holds, Intent+1 for a single message, with Intent; a batch
	// claims up to 64 positions at once.
	IntentEnd *uint64 `json:"intent_end,omitempty"`
	// SleepsForData and SleepsForSpace report the entry's bits in the
	// sleeper bitmaps: the endpoint sleeps, waiting for a message or for
	// room.
	SleepsForData  bool `json:"sleeps_for_data"`
	SleepsForSpace bool `json:"sleeps_for_space"`
	// Stats are the endpoint's counters as it last flushed them (at each
	// wait, at Close, every 1024 messages, and at each call of its Stats).
	Stats Stats `json:"stats"`
}

// State describes the entry: "alive" or "dead" (the process died: the entry
// waits for a reap) for an endpoint, "orphan" or "adopting" for an orphan.
func (p ParticipantInfo) State() string {
	switch {
	case p.Role == "orphan" && p.Alive:
		return "adopting"
	case p.Role == "orphan":
		return "orphan"
	case p.Alive:
		return "alive"
	}
	return "dead"
}

// EndpointInfo tells whether an endpoint role (producer or consumer) is
// attached to a ring.
type EndpointInfo struct {
	Attached bool `json:"attached"` // the role's attached flag in the segment is set
	Alive    bool `json:"alive"`    // some process holds the role's lock
	// Pid is the process id the endpoint recorded when it attached, in its
	// own pid namespace, while Attached; 0 otherwise. Informational:
	// liveness is the lock's (Alive).
	Pid   uint32 `json:"pid"`
	Stats Stats  `json:"stats"` // the role's counters, as last flushed
}

// String names the state: "alive" (attached, and its process holds the
// lock), "dead" (attached, but the lock is free: the process died without
// detaching), "changing" (the lock is held but the flag is not set: the
// endpoint is attaching or detaching), or "none".
func (e EndpointInfo) String() string {
	switch {
	case e.Attached && e.Alive:
		return "alive"
	case e.Attached:
		return "dead"
	case e.Alive:
		return "changing"
	default:
		return "none"
	}
}

// Conditions holds one counter per wait condition of a ring.
type Conditions struct {
	Data  uint32 `json:"data"`  // consumers waiting for messages
	Space uint32 `json:"space"` // the producer waiting for room
}

// EventInfo is the state of one event of a ring (see Ring.Event).
type EventInfo struct {
	Set     bool   `json:"set"`     // the event is set
	Waiters uint32 `json:"waiters"` // waiters announced on the event
}

// Problem is one thing Check found wrong in a segment.
type Problem struct {
	// Offset is the file offset of what is wrong: 0 for the header page,
	// the start of the control area (where the cursors are) for cursors out
	// of range, the record's header for a record.
	Offset  int64  `json:"offset"`
	Message string `json:"message"`
}

// String returns the problem as "offset N (0xN): message".
func (p Problem) String() string {
	return fmt.Sprintf("offset %d (%#x): %s", p.Offset, p.Offset, p.Message)
}

// Inspect reads the state of the ring name without changing anything: it
// opens the file read-only and takes no lock, so it works on rings in use,
// on rings whose endpoints died, and on files the caller may not write.
// Errors wrap os.ErrNotExist, ErrNotRing, ErrVersion or ErrCorrupt (a corrupt
// header, a kind this version does not know, cursors or records that break
// the layout), or are the system's.
func Inspect(name string) (_ *Info, err error) {
	seg, err := shm.OpenReadOnly(name)
	if err != nil {
		return nil, classify(err)
	}
	defer closeSegment(seg, &err)
	switch seg.Kind() {
	case ring.KindSPSC:
		return inspectSPSC(seg)
	case ring.KindMPMC:
		return inspectMPMC(seg)
	default:
		return nil, unknownKind(seg)
	}
}

// Info describes r as Inspect describes a named ring, for every ring r has
// open, anonymous ones included: its positions, depth, endpoints (alive or
// not, with their counters as last flushed), waiters and events. It reads
// the ring as Inspect does, without stopping anyone; after Close it returns
// ErrClosed.
func (r *Ring) Info() (info *Info, err error) {
	oldFault, ok := r.enter()
	if !ok {
		return nil, ErrClosed
	}
	defer r.leave(oldFault, &err)
	if r.mp != nil {
		return inspectMPMC(r.seg)
	}
	return inspectSPSC(r.seg)
}

// abortOf decodes the closed word v (see stream.go): whether it holds an
// abort, and its code.
func abortOf(v uint32) (bool, uint32) {
	if v&streamAborted == 0 {
		return false, 0
	}
	return true, v & MaxAbortCode
}

// Len returns how many messages r holds: in an SPSC ring, the records
// committed and not yet released; in an MPMC ring, the committed slots that
// no consumer has claimed yet. It works on every ring r has open, anonymous
// ones included, and counts as Inspect does: it walks the records (its cost
// grows with the count) on a snapshot that the consumers did not move during,
// trying a few times; when they kept moving, the count is that of the last
// walk, a value near what the ring held. After Close it returns ErrClosed;
// records a walk finds unsound give an error wrapping ErrCorrupt.
func (r *Ring) Len() (n int, err error) {
	oldFault, ok := r.enter()
	if !ok {
		return 0, ErrClosed
	}
	defer r.leave(oldFault, &err)
	if r.mp != nil {
		s := scanMPMC(r.mp, false)
		if s.settled && s.err != nil {
			return 0, fmt.Errorf("shmring: %s: %w", r.Name(), s.err)
		}
		return s.messages, nil
	}
	w := walk(r.ctl)
	if w.settled && w.err != nil {
		return 0, fmt.Errorf("shmring: %s: %w", r.Name(), w.err)
	}
	return w.messages, nil
}

// Check validates the ring name without changing anything: the header, the
// header parameters against the region, the cursors, and every committed
// record from head to tail, each checked as the consumer checks it. In an
// MPMC ring it checks the positions, every slot's seq against the range the
// positions allow, the header of every committed slot, and the state of
// every participant entry. It returns the problems found, none for a sound
// ring. Problems stop the check where nothing after them can be trusted; a
// corrupt header is one problem at offset 0. Check fails, with no problems,
// when it cannot check: errors wrap os.ErrNotExist, ErrNotRing (not a
// segment at all), ErrVersion, or report a ring whose consumer (MPMC: whose
// endpoints) kept moving during every walk (stop them to check the records),
// or are the system's.
func Check(name string) (_ []Problem, err error) {
	seg, err := shm.OpenReadOnly(name)
	if errors.Is(err, shm.ErrCorrupt) {
		return []Problem{{Offset: 0, Message: err.Error()}}, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	defer closeSegment(seg, &err)
	switch seg.Kind() {
	case ring.KindSPSC:
		return checkSPSC(seg)
	case ring.KindMPMC:
		return checkMPMC(seg)
	default:
		return []Problem{{Offset: 0, Message: unknownKind(seg).Error()}}, nil
	}
}

// closeSegment closes seg, opened read-only by Inspect, Check or Peek, and
// joins its error, if any, to *errp.
func closeSegment(seg *shm.Segment, errp *error) {
	if cerr := seg.Close(); cerr != nil {
		*errp = errors.Join(*errp, cerr)
	}
}

// unknownKind is the error of a segment whose kind this version does not
// know.
func unknownKind(seg *shm.Segment) error {
	return fmt.Errorf("shmring: %s: %w: kind %d is not a ring kind this version knows", seg.Name(), ErrCorrupt, seg.Kind())
}

// inspectSPSC reads an SPSC segment.
func inspectSPSC(seg *shm.Segment) (*Info, error) {
	ctl, err := spscControl(seg)
	if err != nil {
		return nil, err
	}
	fi, err := seg.File().Stat()
	if err != nil {
		return nil, fmt.Errorf("shmring: inspect %s: %w", seg.Name(), err)
	}
	w := walk(ctl)
	if w.settled && w.err != nil {
		return nil, fmt.Errorf("shmring: %s: %w", seg.Name(), w.err)
	}
	// Bounded for a walk that never settled, whose cursors went unchecked.
	depth := min(w.tail-w.head, ctl.Capacity())
	info := &Info{
		Name:       seg.Name(),
		Kind:       "spsc",
		FileSize:   fi.Size(),
		Mode:       fi.Mode().Perm(),
		Capacity:   int(ctl.Capacity()),
		MaxMessage: ctl.MaxPayload(),
		Depth:      int(depth),
		Messages:   w.messages,
		Settled:    w.settled,
		Closed:     ctl.Closed.Load() != 0,
		Waiters:    Conditions{Data: ctl.DataWaiters.Load(), Space: ctl.SpaceWaiters.Load()},
		Wakeups:    Conditions{Data: ctl.DataSeq.Load(), Space: ctl.SpaceSeq.Load()},
		SPSC:       &SPSCInfo{Head: w.head, Tail: w.tail},
	}
	info.Aborted, info.AbortCode = abortOf(ctl.Closed.Load())
	for i, ev := range ctl.Events {
		info.Events[i] = EventInfo{Set: ev.State.Load() != 0, Waiters: ev.Waiters.Load()}
	}
	sp := info.SPSC
	if sp.Producer, err = endpointInfo(seg, lockProducer, ctl.ProducerAttached.Load, ctl.ProducerPid.Load); err != nil {
		return nil, err
	}
	if sp.Consumer, err = endpointInfo(seg, lockConsumer, ctl.ConsumerAttached.Load, ctl.ConsumerPid.Load); err != nil {
		return nil, err
	}
	sp.Producer.Stats = Stats(ring.LoadStats(&ctl.ProducerStats))
	sp.Consumer.Stats = Stats(ring.LoadStats(&ctl.ConsumerStats))
	return info, nil
}

// endpointInfo reads the attachment of the role whose lock byte is role and
// whose attached flag and process id attached and pid load. An endpoint
// takes its lock before it sets its flag and clears the flag before it
// drops the lock, so the flag is read before and after the lock: only a
// flag set both times with the lock free means a dead endpoint, as in
// Ring.peerDead.
func endpointInfo(seg *shm.Segment, role int, attached, pid func() uint32) (EndpointInfo, error) {
	before := attached() != 0
	held, err := seg.Locked(role)
	if err != nil {
		return EndpointInfo{}, fmt.Errorf("shmring: inspect %s: %w", seg.Name(), err)
	}
	e := EndpointInfo{Attached: before && attached() != 0, Alive: held}
	if e.Attached {
		e.Pid = pid()
	}
	return e, nil
}

// checkSPSC checks an SPSC segment.
func checkSPSC(seg *shm.Segment) ([]Problem, error) {
	ctl, err := spscControl(seg)
	if err != nil {
		return []Problem{{Offset: 0, Message: err.Error()}}, nil
	}
	w := walk(ctl)
	switch {
	case !w.settled:
		return nil, fmt.Errorf("shmring: check %s: the consumer moved during each of %d walks: stop it to check the records",
			seg.Name(), walkAttempts)
	case w.err == nil:
		return nil, nil
	}
	off := int64(shm.HeaderSize) // cursors out of range: the control area
	var re *ring.RecordError
	if errors.As(w.err, &re) {
		off += int64(ctl.Offset(re.Pos))
	}
	return []Problem{{Offset: off, Message: w.err.Error()}}, nil
}

// walked is the result of walk.
type walked struct {
	head, tail uint64
	messages   int   // messages walked
	settled    bool  // the consumer did not move during the walk
	err        error // the walk's error; meaningful only when settled
}

// walk counts the messages committed in ctl's ring, on a snapshot of head
// and tail that the consumer did not move during the walk, trying
// walkAttempts times at most. Head is loaded before tail, so that tail is at
// least head; only an unchanged head afterwards proves that the records
// walked were intact (see ring/walk.go).
func walk(ctl *ring.Control) walked {
	var w walked
	for range walkAttempts {
		w = walked{head: ctl.Head.Load(), tail: ctl.Tail.Load()}
		w.err = ctl.Walk(w.head, w.tail, func(uint64, []byte) bool {
			w.messages++
			return true
		})
		if w.settled = ctl.Head.Load() == w.head; w.settled {
			return w
		}
		runtime.Gosched()
	}
	return w
}

// mpmcScan is the result of scanMPMC.
type mpmcScan struct {
	deq, enq uint64    // positions claimed in all the lanes, from their bases
	depth    uint64    // enq - deq of each lane, each at most its slots, summed
	messages int       // committed slots between deq and enq that are not skips
	settled  bool      // neither position moved during the scan
	problems []Problem // meaningful only when settled
	err      error     // the first problem, wrapping ErrCorrupt
}

// badSlotHeader describes the header of the committed slot v of position p,
// which is neither a message of at most slotSize bytes nor a skip record.
func badSlotHeader(p uint64, v ring.SlotView, slotSize uint64) string {
	return fmt.Sprintf("slot of position %d has length %d and flags %#x; a slot holds at most %d bytes, flags 0 or %d",
		p, v.Len, v.Flags, slotSize, ring.FlagSkip)
}

// scanMPMC reads, lane by lane, the positions, then the slots (all of them
// when all is set, else those between deq and enq), then the positions
// again, trying walkAttempts times at most for a scan during which no
// position moved.
//
// In a lane of N slots whose positions start at base, positions only
// grow, deq <= enq <= deq+N at every moment, and a slot's seq changes
// without a position moving only by a commit (p to p+1 for p in [deq,
// enq)) or a release (p+1 to p+N for p < deq). So in a settled scan, the
// slot whose position in [deq, deq+N) is p legitimately holds seq p or p+1
// when p < enq (claimed by a producer: being written, or committed), and
// p, or p-N+1 when there was a previous lap, otherwise (free for p, or the
// previous lap's message still held by its consumer); a committed slot's
// header does not change. Anything else is a problem, at the file offset
// of the word.
func scanMPMC(m *ring.MPMC, all bool) mpmcScan {
	var s mpmcScan
	for range walkAttempts {
		s = scanMPMCOnce(m, all)
		if s.settled {
			return s
		}
		runtime.Gosched()
	}
	return s
}

func scanMPMCOnce(m *ring.MPMC, all bool) mpmcScan {
	var s mpmcScan
	s.settled = true
	for l, lane := range m.Lanes() {
		scanLane(m, l, lane, all, &s)
	}
	return s
}

// scanLane is scanMPMCOnce's pass over lane l, adding to s.
func scanLane(m *ring.MPMC, l int, lane ring.Lane, all bool, s *mpmcScan) {
	g := m.Geometry()
	n := m.LaneSlots()
	deq := lane.Deq.Load()
	enq := lane.Enq.Load()
	s.deq += deq - lane.Base
	s.enq += enq - lane.Base
	problem := func(off uint64, format string, args ...any) {
		err := fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
		if s.err == nil {
			s.err = err
		}
		s.problems = append(s.problems, Problem{Offset: int64(shm.HeaderSize + off), Message: err.Error()})
	}
	depth := enq - deq
	if depth > n {
		// Only a problem if the scan settles: the loads may straddle
		// claims.
		problem(0, "%senq %d is %d positions past deq %d, more than the %d slots", lanePrefix(m, l), enq, depth, deq, n)
		depth = n
	}
	s.depth += depth
	count := depth
	if all {
		count = n
	}
	for p := deq; p != deq+count; p++ {
		v := m.Slot(p)
		seq := v.Seq
		first := p-lane.Base < n // no lap before p's
		switch {
		case p-deq >= depth && (seq == p || !first && seq == p-n+1):
		case p-deq < depth && seq == p:
		case p-deq < depth && seq == p+1:
			switch {
			case v.Flags == 0 && v.Len <= g.SlotSize:
				s.messages++
			case v.Flags == ring.FlagSkip:
			default:
				problem(v.HeaderOff, "%s", badSlotHeader(p, v, g.SlotSize))
			}
		case p-deq < depth:
			problem(v.SeqOff, "slot of position %d (claimed, enq %d) has seq %d, want %d or %d", p, enq, seq, p, p+1)
		case first:
			problem(v.SeqOff, "slot of position %d (free, enq %d) has seq %d, want %d", p, enq, seq, p)
		default:
			problem(v.SeqOff, "slot of position %d (free, enq %d) has seq %d, want %d or %d", p, enq, seq, p, p-n+1)
		}
	}
	s.settled = s.settled && lane.Deq.Load() == deq && lane.Enq.Load() == enq
}

// lanePrefix returns what starts a problem of lane l: nothing in a ring of
// one lane.
func lanePrefix(m *ring.MPMC, l int) string {
	if len(m.Lanes()) == 1 {
		return ""
	}
	return fmt.Sprintf("lane %d: ", l)
}

// inspectMPMC reads an MPMC segment.
func inspectMPMC(seg *shm.Segment) (*Info, error) {
	m, err := mpmcRing(seg)
	if err != nil {
		return nil, err
	}
	fi, err := seg.File().Stat()
	if err != nil {
		return nil, fmt.Errorf("shmring: inspect %s: %w", seg.Name(), err)
	}
	g := m.Geometry()
	s := scanMPMC(m, false)
	if s.settled && s.err != nil {
		return nil, fmt.Errorf("shmring: %s: %w", seg.Name(), s.err)
	}
	dataSleepers, spaceSleepers := m.DataSleepers.Load(), m.SpaceSleepers.Load()
	info := &Info{
		Name:       seg.Name(),
		Kind:       "mpmc",
		FileSize:   fi.Size(),
		Mode:       fi.Mode().Perm(),
		Capacity:   int(g.Slots * g.SlotSize),
		MaxMessage: int(g.SlotSize),
		// Bounded for a scan that never settled, whose positions went
		// unchecked.
		Depth:    int(s.depth),
		Messages: s.messages,
		Settled:  s.settled,
		Closed:   m.Closed.Load() != 0,
		Waiters: Conditions{
			Data:  uint32(bits.OnesCount64(dataSleepers)),
			Space: uint32(bits.OnesCount64(spaceSleepers)),
		},
		Wakeups: Conditions{Data: m.DataSeq.Load(), Space: m.SpaceSeq.Load()},
		MPMC: &MPMCInfo{
			Slots:        int(g.Slots),
			SlotSize:     int(g.SlotSize),
			Lanes:        len(m.Lanes()),
			Enq:          s.enq,
			Deq:          s.deq,
			Entries:      int(g.Participants),
			Participants: []ParticipantInfo{},
			Orphans:      []int{},
		},
	}
	info.Aborted, info.AbortCode = abortOf(m.Closed.Load())
	for i, ev := range m.Events {
		info.Events[i] = EventInfo{Set: ev.State.Load() != 0, Waiters: ev.Waiters.Load()}
	}
	for orphans := m.Orphans.Load(); orphans != 0; orphans &= orphans - 1 {
		info.MPMC.Orphans = append(info.MPMC.Orphans, bits.TrailingZeros64(orphans))
	}
	for i := range int(g.Participants) {
		e := m.Entry(i)
		state := e.State.Load()
		if state == ring.EntryFree {
			continue
		}
		held, err := seg.Locked(i)
		if err != nil {
			return nil, fmt.Errorf("shmring: inspect %s: %w", seg.Name(), err)
		}
		if now := e.State.Load(); now != state {
			// Attaching, leaving or being reaped during the probe.
			if state = now; state == ring.EntryFree {
				continue
			}
			held = true
		}
		p := ParticipantInfo{
			Entry:          i,
			Role:           entryRole(state),
			Pid:            e.Pid.Load(),
			Generation:     e.Generation.Load(),
			Lane:           int(e.Lane.Load() & uint64(len(m.Lanes())-1)),
			Alive:          held,
			SleepsForData:  dataSleepers&(1<<i) != 0,
			SleepsForSpace: spaceSleepers&(1<<i) != 0,
			Stats:          Stats(m.Stats(i)),
		}
		if intent, end := e.Intent.Load(), e.End.Load(); intent != 0 {
			pos := intent - 1
			p.Intent, p.IntentEnd = &pos, &end
		}
		info.MPMC.Participants = append(info.MPMC.Participants, p)
	}
	return info, nil
}

// entryRole names a participant entry's state.
func entryRole(state uint32) string {
	switch state {
	case ring.EntryProducer:
		return "producer"
	case ring.EntryConsumer:
		return "consumer"
	case ring.EntryOrphan, ring.EntryAdopted:
		// Adopted: State tells a live adopter from a dead one.
		return "orphan"
	}
	return fmt.Sprintf("state %d", state)
}

// checkMPMC checks an MPMC segment: the geometry in the header against the
// region, the positions and every slot (scanMPMC), and the participant
// entries' states.
func checkMPMC(seg *shm.Segment) ([]Problem, error) {
	m, err := mpmcRing(seg)
	if err != nil {
		return []Problem{{Offset: 0, Message: err.Error()}}, nil
	}
	s := scanMPMC(m, true)
	if !s.settled {
		return nil, fmt.Errorf("shmring: check %s: the endpoints moved during each of %d scans: stop them to check the slots",
			seg.Name(), walkAttempts)
	}
	problems := s.problems
	g := m.Geometry()
	for _, b := range m.StrayBits() {
		problems = append(problems, Problem{
			Offset: int64(shm.HeaderSize + b.Offset),
			Message: fmt.Sprintf("%v: %s bitmap %#x has bits %#x for no participant of %d",
				ErrCorrupt, b.Name, b.Value, b.Stray, g.Participants),
		})
	}
	for i := range int(g.Participants) {
		if state := m.Entry(i).State.Load(); state > ring.EntryAdopted {
			problems = append(problems, Problem{
				Offset:  int64(shm.HeaderSize + g.EntryOffset(i)),
				Message: fmt.Sprintf("%v: participant %d is in state %d", ErrCorrupt, i, state),
			})
		}
	}
	return problems, nil
}
