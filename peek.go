package shmring

import (
	"bytes"
	"fmt"
	"runtime"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// Peeking: a read-only copy of the messages a ring holds, for tools (the
// shmring command's peek). It follows the contracts of inspection
// (inspect.go): nothing is written, the segment is hostile input, and a
// copy is trusted only if no consumer moved during it.
//
//   - SPSC: the records are walked with ring.Control.Walk from head to
//     tail, each payload copied as it is passed; the producer overwrites
//     only records the consumer released, so the copies are intact if head
//     did not move during the walk.
//   - MPMC: the slots of the positions [deq, enq) are read in order. A slot
//     whose seq is p+1 is committed; its header is loaded after that seq,
//     and its payload copied. A consumer claims a slot (moving deq) before
//     it frees it for the next lap, so the copies are intact if deq did not
//     move during the scan. Slots still being written (seq p) and skip
//     records are passed over, as a consumer passes over skips.
//   - A copy during which a consumer moved is thrown away and made again,
//     walkAttempts times at most.

// Peek returns copies of the first max messages that the ring name holds
// (all of them when max is 0), the next a consumer would receive first,
// without consuming them. It only reads: the file is opened read-only and no
// lock is taken, so it never attaches as an endpoint and works on rings in
// use. What it returns is a snapshot that a live consumer may have moved past
// by the time Peek returns; on an MPMC ring it leaves out messages still
// being written and the messages of dead consumers awaiting adoption, and
// gives the messages of a ring of lanes lane by lane. Every
// length read from the segment is checked: contents that break the layout
// give an error wrapping ErrCorrupt (with the messages before the bad one).
// When a consumer moved during every attempt to copy, Peek fails with an
// error saying so; stop the consumer or try again. Other errors wrap
// os.ErrNotExist, ErrNotRing or ErrVersion, or are the system's. A negative
// max panics.
func Peek(name string, max int) (_ [][]byte, err error) {
	if max < 0 {
		panic(fmt.Sprintf("shmring: Peek of %d messages", max))
	}
	seg, err := shm.OpenReadOnly(name)
	if err != nil {
		return nil, classify(err)
	}
	defer closeSegment(seg, &err)
	var msgs [][]byte
	switch seg.Kind() {
	case ring.KindSPSC:
		ctl, err := spscControl(seg)
		if err != nil {
			return nil, err
		}
		msgs, err = peekSPSC(ctl, max)
		if err != nil {
			return msgs, fmt.Errorf("shmring: peek %s: %w", seg.Name(), err)
		}
	case ring.KindMPMC:
		m, err := mpmcRing(seg)
		if err != nil {
			return nil, err
		}
		msgs, err = peekMPMC(m, seg.Region(), max)
		if err != nil {
			return msgs, fmt.Errorf("shmring: peek %s: %w", seg.Name(), err)
		}
	default:
		return nil, unknownKind(seg)
	}
	return msgs, nil
}

// peekSPSC copies up to max messages (0: all) of ctl's ring.
func peekSPSC(ctl *ring.Control, max int) ([][]byte, error) {
	for range walkAttempts {
		head := ctl.Head.Load()
		tail := ctl.Tail.Load()
		var msgs [][]byte
		err := ctl.Walk(head, tail, func(_ uint64, payload []byte) bool {
			msgs = append(msgs, bytes.Clone(payload))
			return max == 0 || len(msgs) < max
		})
		if ctl.Head.Load() == head {
			return msgs, err
		}
		runtime.Gosched()
	}
	return nil, fmt.Errorf("the consumer moved during each of %d copies", walkAttempts)
}

// peekMPMC copies up to max messages (0: all) of m's ring, whose region is
// region: lane by lane, each lane's in order.
func peekMPMC(m *ring.MPMC, region []byte, max int) ([][]byte, error) {
	var all [][]byte
	for _, lane := range m.Lanes() {
		left := 0
		if max != 0 {
			left = max - len(all)
		}
		msgs, err := peekLane(m, lane, region, left)
		all = append(all, msgs...)
		if err != nil || max != 0 && len(all) >= max {
			return all, err
		}
	}
	return all, nil
}

// peekLane copies up to max messages (0: all) of one lane of m.
func peekLane(m *ring.MPMC, lane ring.Lane, region []byte, max int) ([][]byte, error) {
	slots := m.LaneSlots()
	slotSize := m.Geometry().SlotSize
	for range walkAttempts {
		deq := lane.Deq.Load()
		enq := lane.Enq.Load()
		msgs, err := peekSlots(m, region, deq, enq, slots, slotSize, max)
		if lane.Deq.Load() == deq {
			return msgs, err
		}
		runtime.Gosched()
	}
	return nil, fmt.Errorf("the consumers moved during each of %d copies", walkAttempts)
}

// peekSlots copies up to max messages (0: all) of the positions [deq, enq)
// of a lane of m, whose region is region. Its result holds only if deq did
// not move meanwhile.
func peekSlots(m *ring.MPMC, region []byte, deq, enq, slots, slotSize uint64, max int) ([][]byte, error) {
	if enq-deq > slots {
		return nil, fmt.Errorf("%w: enq %d is %d positions past deq %d, more than the %d slots", ErrCorrupt, enq, enq-deq, deq, slots)
	}
	var msgs [][]byte
	for p := deq; p != enq && (max == 0 || len(msgs) < max); p++ {
		switch seq := m.Slot(p).Seq; seq {
		case p:
			continue // a producer is writing it
		case p + 1:
		default:
			return msgs, fmt.Errorf("%w: slot of position %d (claimed, enq %d) has seq %d, want %d or %d", ErrCorrupt, p, enq, seq, p, p+1)
		}
		// Loaded after the seq that says it is committed.
		v := m.Slot(p)
		switch {
		case v.Flags == ring.FlagSkip:
			continue
		case v.Flags != 0 || v.Len > slotSize:
			return msgs, fmt.Errorf("%w: %s", ErrCorrupt, badSlotHeader(p, v, slotSize))
		}
		off := v.PayloadOff
		if off > uint64(len(region)) || v.Len > uint64(len(region))-off {
			return msgs, fmt.Errorf("%w: slot of position %d: payload of %d bytes at offset %d is outside the region of %d bytes",
				ErrCorrupt, p, v.Len, off, len(region))
		}
		msgs = append(msgs, bytes.Clone(region[off:off+v.Len:off+v.Len]))
	}
	return msgs, nil
}
