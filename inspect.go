package shmring

import (
	"errors"
	"fmt"
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
//   - Every kind of segment goes through inspectors, a switch on the kind
//     stored in the header; a kind without a case is reported as corrupt.

// walkAttempts bounds the walks of a ring whose consumer keeps moving.
const walkAttempts = 8

// Info describes a ring segment as Inspect found it. The cursors, flags and
// counters are read one after the other from a ring that may be in use:
// each is a value it held during the call, not a consistent snapshot.
type Info struct {
	Name       string      `json:"name"`        // file path of the segment
	Kind       string      `json:"kind"`        // "spsc"
	FileSize   int64       `json:"file_size"`   // bytes, header page included
	Mode       os.FileMode `json:"mode"`        // permission bits of the file
	Capacity   int         `json:"capacity"`    // bytes of the data area
	MaxMessage int         `json:"max_message"` // bytes of the largest message

	Head     uint64 `json:"head"`     // consumer's position: bytes released since creation
	Tail     uint64 `json:"tail"`     // producer's position: bytes published since creation
	Depth    int    `json:"depth"`    // Tail - Head: bytes committed and not yet released
	Messages int    `json:"messages"` // messages between Head and Tail, counted by walking them
	// Settled reports that Messages was counted while the consumer stood
	// still; false means it kept moving through every attempt, and Messages
	// is only the count of the last, partial walk.
	Settled bool `json:"settled"`
	Closed  bool `json:"closed"` // the stream is closed (end of stream)

	Producer EndpointInfo `json:"producer"`
	Consumer EndpointInfo `json:"consumer"`
	// Waiters counts the waiters announced on each condition: consumers
	// waiting for data, the producer waiting for space.
	Waiters Conditions `json:"waiters"`
	// Wakeups holds the sequence word of each condition, bumped once per
	// wake-up; it wraps at 2^32. Its rate of change is the wake-up rate.
	Wakeups Conditions           `json:"wakeups"`
	Events  [NumEvents]EventInfo `json:"events"`
}

// EndpointInfo tells whether an endpoint role (producer or consumer) is
// attached to a ring.
type EndpointInfo struct {
	Attached bool `json:"attached"` // the role's attached flag in the segment is set
	Alive    bool `json:"alive"`    // some process holds the role's lock
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
	defer func() {
		if cerr := seg.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	switch seg.Kind() {
	case ring.KindSPSC:
		return inspectSPSC(seg)
	default:
		return nil, unknownKind(seg)
	}
}

// Check validates the ring name without changing anything: the header, the
// header parameters against the region, the cursors, and every committed
// record from head to tail, each checked as the consumer checks it. It
// returns the problems found, none for a sound ring. Problems stop the
// check where nothing after them can be trusted; a corrupt header is one
// problem at offset 0. Check fails, with no problems, when it cannot check:
// errors wrap os.ErrNotExist, ErrNotRing (not a segment at all), ErrVersion,
// or report a consumer that kept moving during every walk (stop it to check
// the records), or are the system's.
func Check(name string) (_ []Problem, err error) {
	seg, err := shm.OpenReadOnly(name)
	if errors.Is(err, shm.ErrCorrupt) {
		return []Problem{{Offset: 0, Message: err.Error()}}, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	defer func() {
		if cerr := seg.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	switch seg.Kind() {
	case ring.KindSPSC:
		return checkSPSC(seg)
	default:
		return []Problem{{Offset: 0, Message: unknownKind(seg).Error()}}, nil
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
		Head:       w.head,
		Tail:       w.tail,
		Depth:      int(depth),
		Messages:   w.messages,
		Settled:    w.settled,
		Closed:     ctl.Closed.Load() != 0,
		Waiters:    Conditions{Data: ctl.DataWaiters.Load(), Space: ctl.SpaceWaiters.Load()},
		Wakeups:    Conditions{Data: ctl.DataSeq.Load(), Space: ctl.SpaceSeq.Load()},
	}
	for i, ev := range ctl.Events {
		info.Events[i] = EventInfo{Set: ev.State.Load() != 0, Waiters: ev.Waiters.Load()}
	}
	if info.Producer, err = endpointInfo(seg, lockProducer, ctl.ProducerAttached.Load); err != nil {
		return nil, err
	}
	if info.Consumer, err = endpointInfo(seg, lockConsumer, ctl.ConsumerAttached.Load); err != nil {
		return nil, err
	}
	return info, nil
}

// endpointInfo reads the attachment of the role whose lock byte is role and
// whose attached flag attached loads. An endpoint takes its lock before it
// sets its flag and clears the flag before it drops the lock, so the flag is
// read before and after the lock: only a flag set both times with the lock
// free means a dead endpoint, as in Ring.peerDead.
func endpointInfo(seg *shm.Segment, role int, attached func() uint32) (EndpointInfo, error) {
	before := attached() != 0
	held, err := seg.Locked(role)
	if err != nil {
		return EndpointInfo{}, fmt.Errorf("shmring: inspect %s: %w", seg.Name(), err)
	}
	return EndpointInfo{Attached: before && attached() != 0, Alive: held}, nil
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
