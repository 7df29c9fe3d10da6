package main

import (
	"fmt"
	"slices"
	"strings"
)

// The checker of one round. Producers report each message they committed
// (the call returned nil); consumers each message they consumed, in the
// order they received them. A message is "maybe" consumed when a consumer
// may have consumed it without saying so: it was on the pending list, or in
// the receive buffer, of a consumer that was killed, or its release failed
// with an error other than ErrClosed. At the end of the round, with the
// stream drained:
//
//   - loss: a committed message that nobody reported and that is not maybe
//     consumed;
//   - duplicate: a message that consumers reported twice;
//   - phantom: a message reported consumed that its producer never sent: not
//     reported committed by a producer that finished, or past what a killed
//     producer can have had in flight;
//   - torn: a message whose length, round or checksum is wrong;
//   - order: a consumer that received a producer's message after a later
//     one. On an MPMC ring a message adopted from a dead consumer arrives
//     late, so there may be as many of these as consumers that died or were
//     closed holding a message; on an SPSC ring there may be none.

// maxDetails bounds the violations of each kind a round describes.
const maxDetails = 5

// producerState is what the checker knows of one producer's messages.
type producerState struct {
	committed []bool  // by sequence number: reported committed
	received  []uint8 // by sequence number: consumers that reported it (saturating)
	firstBy   []int32 // by sequence number: the consumer that reported it first
	maybe     map[uint64]bool
	next      uint64 // one past the highest sequence number reported
	finished  bool   // exited cleanly: every commit was reported
}

// consumerState is what the checker knows of one consumer.
type consumerState struct {
	last   map[uint32]uint64 // by producer: highest sequence number received
	lastID msgID             // the last message it reported
	any    bool              // it reported a message
}

// roundCheck accumulates a round's reports and judges them.
type roundCheck struct {
	mpmc       bool
	producers  map[uint32]*producerState
	consumers  map[int]*consumerState
	late       []string // order exceptions seen
	orphans    int      // consumers that died or were closed, holding or not
	torn       int
	dups       int
	commits    uint64
	hangs      []string
	violations []string
	received   uint64
}

func newRoundCheck(mpmc bool) *roundCheck {
	return &roundCheck{mpmc: mpmc, producers: map[uint32]*producerState{}, consumers: map[int]*consumerState{}}
}

func (rc *roundCheck) producer(id uint32) *producerState {
	p := rc.producers[id]
	if p == nil {
		p = &producerState{maybe: map[uint64]bool{}}
		rc.producers[id] = p
	}
	return p
}

func (rc *roundCheck) consumer(c int) *consumerState {
	s := rc.consumers[c]
	if s == nil {
		s = &consumerState{last: map[uint32]uint64{}}
		rc.consumers[c] = s
	}
	return s
}

// grow makes p's slices cover seq.
func (p *producerState) grow(seq uint64) {
	if seq < uint64(len(p.committed)) {
		return
	}
	n := max(seq+1, uint64(len(p.committed))*2)
	p.committed = slices.Grow(p.committed, int(n)-len(p.committed))[:n]
	p.received = slices.Grow(p.received, int(n)-len(p.received))[:n]
	p.firstBy = slices.Grow(p.firstBy, int(n)-len(p.firstBy))[:n]
}

// commit records that producer id committed message seq.
func (rc *roundCheck) commit(id uint32, seq uint64) {
	p := rc.producer(id)
	p.grow(seq)
	p.committed[seq] = true
	p.next = max(p.next, seq+1)
	rc.commits++
}

// progress counts the reports of commits and receipts: it moves while
// messages do.
func (rc *roundCheck) progress() uint64 { return rc.commits + rc.received }

// receive records that consumer c received m; firm is false when c may not
// have consumed it (recMaybe).
func (rc *roundCheck) receive(c int, m msgID, firm bool) {
	cs := rc.consumer(c)
	if last, ok := cs.last[m.id]; ok && m.seq <= last {
		rc.late = append(rc.late, fmt.Sprintf("consumer %d received %v after message %d", c, m, last))
	} else {
		cs.last[m.id] = m.seq
	}
	p := rc.producer(m.id)
	if !firm {
		p.maybe[m.seq] = true
		return
	}
	cs.lastID, cs.any = m, true
	rc.received++
	p.grow(m.seq)
	if p.received[m.seq] == 0 {
		p.firstBy[m.seq] = int32(c)
	} else if rc.dups++; rc.dups <= maxDetails {
		rc.violations = append(rc.violations, fmt.Sprintf("duplicate: %v received by consumer %d and again by consumer %d",
			m, p.firstBy[m.seq], c))
	}
	if p.received[m.seq] < 255 {
		p.received[m.seq]++
	}
}

// maybeConsumed records that a dead consumer may have consumed m.
func (rc *roundCheck) maybeConsumed(m msgID) {
	rc.producer(m.id).maybe[m.seq] = true
}

// lastReceived returns the last message consumer c reported.
func (rc *roundCheck) lastReceived(c int) (msgID, bool) {
	cs := rc.consumer(c)
	return cs.lastID, cs.any
}

// judge returns the round's violations, each described.
func (rc *roundCheck) judge() []string {
	out := slices.Clone(rc.violations)
	if rc.dups > maxDetails {
		out = append(out, fmt.Sprintf("duplicate: %d in all", rc.dups))
	}
	if rc.torn > 0 {
		out = append(out, fmt.Sprintf("torn: %d damaged messages received (the consumers' lines above say which)", rc.torn))
	}
	out = append(out, rc.hangs...)
	ids := make([]uint32, 0, len(rc.producers))
	for id := range rc.producers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var lost, phantom []string
	nLost, nPhantom := 0, 0
	for _, id := range ids {
		p := rc.producers[id]
		for seq := range uint64(len(p.committed)) {
			m := msgID{id, seq}
			switch {
			case p.committed[seq] && p.received[seq] == 0 && !p.maybe[seq]:
				if nLost++; nLost <= maxDetails {
					lost = append(lost, fmt.Sprintf("loss: %v was committed and never received%s", m, p.around(seq)))
				}
			case !p.committed[seq] && p.received[seq] > 0 && rc.neverSent(p, seq):
				if nPhantom++; nPhantom <= maxDetails {
					phantom = append(phantom, fmt.Sprintf("phantom: %v received by consumer %d, never committed (%d reported)",
						m, p.firstBy[seq], p.next))
				}
			}
		}
	}
	out = append(out, lost...)
	if nLost > maxDetails {
		out = append(out, fmt.Sprintf("loss: %d messages in all", nLost))
	}
	out = append(out, phantom...)
	if nPhantom > maxDetails {
		out = append(out, fmt.Sprintf("phantom: %d messages in all", nPhantom))
	}
	// An MPMC consumer that dies or is closed holding messages leaves them
	// to a consumer that adopts them after newer ones: one message for a
	// Peek, up to a whole ReadBatch (maxBatch messages) for a batch, whose
	// claim is a run of positions.
	allowed := 0
	if rc.mpmc {
		allowed = rc.orphans * maxBatch
	}
	if len(rc.late) > allowed {
		for i, l := range rc.late {
			if i == maxDetails {
				break
			}
			out = append(out, "order: "+l)
		}
		out = append(out, fmt.Sprintf("order: %d messages out of order, %d allowed (a batch for each consumer that died or was closed)",
			len(rc.late), allowed))
	}
	return out
}

// neverSent reports whether message seq of p, received and not reported
// committed, cannot have been committed: its producer reported every
// commit, or it is past what a killed producer can have had in flight.
func (rc *roundCheck) neverSent(p *producerState, seq uint64) bool {
	return p.finished || seq >= p.next+maxBatch
}

// around says who received the messages next to seq, for a loss.
func (p *producerState) around(seq uint64) string {
	var parts []string
	for _, s := range []uint64{seq - 1, seq + 1} {
		if s < uint64(len(p.received)) && p.received[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d by consumer %d", s, p.firstBy[s]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (received: " + strings.Join(parts, ", ") + ")"
}
