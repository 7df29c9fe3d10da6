package ring

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Participants: join, leave, reap, adopt.
//
// Each attached endpoint owns one participant entry. Who owns an entry, and
// whether its owner is alive, is the caller's business (the root package
// holds a kernel lock on each entry it owns, which the kernel drops when the
// process dies); this package takes liveness as a callback and never makes a
// system call. The caller's locks give these rules, which every function here
// assumes:
//
//   - Join, Leave, Reap and Adopt on entry i run only while the caller holds
//     entry i's lock: nobody else writes that entry meanwhile, and its
//     previous owner, if any, is dead.
//   - Reap runs under a lock common to all reapers: two reaps never overlap.
//   - An entry that is not free when Join looks at it must be reaped first.
//
// Reaping a dead producer. Its intent names p (intent p+1). Its slot needs
// mending when p was claimed (enq > p) and never committed (seq == p): the
// claimer is then gone for good, and the slot becomes a skip record
// (header len 0, flagSkip, then Store(seq, p+1)), which consumers pass over
// without reading the half-written payload. Who is the claimer? An owner
// shows intent p+1 from before its CAS until after its last store to the
// slot (mpmc.go, Intents). Reap loads enq, then the intents of the live
// producers, then the slot's seq, in that order. If no live producer named p
// and the seq still was p, the owner is dead: a live owner stored its intent
// before its CAS, before our load of enq that saw the CAS, so when our load
// of its intent did not show p+1 the owner had already committed, before our
// load of seq, which would then not be p. A live producer that does name p
// may be the owner, in the middle of its commit, so it blocks the reap: the
// entry is left as it is (Busy) and reaped again later. A live producer that
// names p but lost the race for it changes its intent at its next step, so
// Busy does not last. Dead producers that name p without owning it are
// harmless: whoever of the dead named it, the owner is dead, the skip is
// right, and the others are freed at their own reap, finding seq != p.
//
// Reaping a dead consumer. Its intent names p. When p was claimed (deq > p)
// and not released (seq == p+1), the message at p was taken out of the ring
// but never reached a caller that outlived it. The same argument, with the
// intents of the live consumers and of the orphans loaded between deq and
// seq, shows the holder is dead when none of them names p (an adopter
// releases the slot before it clears the orphan's intent); the entry then
// becomes an orphan (its bit set in Orphans, then state EntryOrphan, intent
// kept), and some consumer adopts the message. An orphan that already names
// p covers the claim: the dead entry is then freed, so a message is adopted
// once. A skip record held by the dead consumer is freed at once, as the
// consumer would have.
//
// Whatever else, reaping clears the dead entry's bits in both sleeper
// bitmaps: nobody needs to wake a process that is gone.
//
// States of an entry, and every death. One word decides an entry's state:
// its state word, with its intent and the slot it names. The Orphans bit is
// a hint derived from it (set before the state becomes EntryOrphan, cleared
// after the entry is free), so whatever prefix of a multi-store step a dead
// process leaves, the state word still says what the entry is, and the next
// holder of the entry's lock (a reaper, a joiner or an adopter) completes it
// from there. "Lock free" below means that nobody holds the entry's kernel
// lock: its owner is dead.
//
//	state     moved by (holding the lock)  steps, in order          a death after step k leaves     finished by
//	Producer  Reap (owner dead)            1 clear sleeper bits     Producer, lock free             next Reap: same steps
//	          dead producer's slot p       2 header = skip          Producer, slot seq p            next Reap: redoes 2, 3
//	                                       3 Store(seq, p+1)        Producer, slot committed        next Reap: frees (4-6)
//	                                       4 Store(intent, 0)       Producer, intent 0              next Reap: frees (5, 6)
//	                                       5 Store(state, Free)     Free, maybe a stray bit         Join clears the bit
//	                                       6 And(Orphans, ^bit)     -                               -
//	Consumer  Reap (owner dead)            1 clear sleeper bits     Consumer, lock free             next Reap: same steps
//	          message held at p            2 Or(Orphans, bit)       Consumer, bit set               next Reap: same steps;
//	                                                                                                consumers ignore the bit
//	                                       3 Store(state, Orphan)   -                               consumers adopt
//	Consumer  Reap, nothing held           4-6 as for a producer    as for a producer               as for a producer
//	Orphan    Adopt (a consumer)           1 Store(state, Adopted)  Adopted, lock free              Reap (reapers, joiners):
//	                                                                                                Orphan again (bit, state)
//	Adopted   Release (the adopter)        2 Store(seq, p+N)        Adopted, slot released          Reap: frees (3-5)
//	                                       3 Store(intent, 0)       Adopted, intent 0               Reap: frees (4, 5)
//	                                       4 Store(state, Free)     Free, bit set                   Join clears the bit
//	                                       5 And(Orphans, ^bit)     -                               -
//	Adopted   Disown (the adopter leaves)  1 Store(state, Orphan)   -                               consumers adopt
//	Orphan    Reap, Adopt: slot released,  1 Store(intent, 0)       Orphan, intent 0                Reap or Adopt: frees
//	Adopted   a skip (freed first), or     2 Store(state, Free)     Free, bit set                   Join clears the bit
//	          corrupt                      3 And(Orphans, ^bit)     -                               -
//	Free      Join                         1 clear the entry's bits Free                            Join again
//	                                       2 intent, pid, stats,    Free                            Join again
//	                                         generation
//	                                       3 Store(state, role)     -                               -
//
// A free entry's stray bit is harmless meanwhile: consumers and Readable
// look at the state before they act on a bit, and the end of the stream
// looks at the intent (0).
//
// Who looks at which entries: reapers (a wait's look at dead peers) take the
// lock of every entry in state Producer, Consumer or Adopted whose lock is
// free, and of every orphan whose bit is missing; a joiner takes any entry
// whose lock is free and reaps it unless it is free already, so a stale
// orphan (its message released) is freed and taken; a consumer adopts the
// entries that Orphaned reports (bit set and state EntryOrphan). The end of
// the stream (Drained in mpmc.go) reads the intents, so a message stays
// counted whichever of these states its entry is in.

// ErrEntryInUse reports a participant entry that is not free: the owner of
// its lock died without leaving, and the entry must be reaped first, or the
// entry still holds a claim.
var ErrEntryInUse = errors.New("ring: participant entry in use")

// Join makes entry i the entry of a new producer or consumer (role is
// EntryProducer or EntryConsumer) of process pid: it bumps the generation,
// zeroes the stats and sets the state last. The caller holds the entry's
// lock. An entry that is not free gives an error wrapping ErrEntryInUse: its
// previous owner died, and the caller must Reap it first. Join panics on
// another role or an i outside [0, Participants).
func (m *MPMC) Join(i int, role uint32, pid uint32) error {
	if role != EntryProducer && role != EntryConsumer {
		panic(fmt.Sprintf("ring: join as %d, want a producer (%d) or a consumer (%d)",
			role, EntryProducer, EntryConsumer))
	}
	e := m.Entry(i)
	if s := e.State.Load(); s != EntryFree {
		return fmt.Errorf("ring: join participant %d in state %d: %w", i, s, ErrEntryInUse)
	}
	// Bits a previous owner or adopter left behind when it died (see the
	// table above); nobody else writes them while we hold the lock.
	m.clearSleeper(i)
	m.Orphans.And(^(uint64(1) << i))
	e.Intent.Store(0)
	e.Pid.Store(pid)
	for _, w := range e.Stats {
		w.Store(0)
	}
	e.Generation.Add(1)
	e.State.Store(role)
	return nil
}

// Leave frees entry i, which the caller holds. It also clears the entry's
// sleeper bits. An entry with a claim (the producer's reservation not
// committed or cancelled, the consumer's slot not released) is not freed: the
// error wraps ErrEntryInUse. A consumer that ends while it holds a message
// and wants it delivered elsewhere does not Leave: once its lock is gone,
// the reap of its entry makes the message an orphan that another consumer
// adopts.
func (m *MPMC) Leave(i int) error {
	e := m.Entry(i)
	if intent := e.Intent.Load(); intent != 0 {
		return fmt.Errorf("ring: leave participant %d holding position %d: %w", i, intent-1, ErrEntryInUse)
	}
	m.clearSleeper(i)
	e.State.Store(EntryFree)
	return nil
}

// Reaped says what Reap found and did.
type Reaped struct {
	// State is the entry's state when Reap found it.
	State uint32
	// Position is the position the entry named; it is meaningful when
	// Skipped, Orphan or Busy.
	Position uint64
	// Skipped: the dead producer's unfinished slot at Position is now a
	// skip record.
	Skipped bool
	// Orphan: the entry holds the unreleased message of a dead consumer at
	// Position, and keeps it until a consumer calls Adopt on it. With State
	// EntryOrphan, it was an orphan already and nothing changed.
	Orphan bool
	// Busy: a live participant names Position and may own it. The entry
	// was left as it was; reap it again later.
	Busy bool
}

// Freed reports whether the entry is free now: Join may take it.
func (r Reaped) Freed() bool { return !r.Orphan && !r.Busy }

// Reap mends what the dead owner of entry dead left behind and frees the
// entry (see the top of this file). alive(i) reports whether the owner of
// entry i is alive; Reap calls it only for entries that name the dead
// entry's position, never for dead itself. The caller holds entry dead's lock
// and the reapers' common lock.
//
// An orphan, or an adopted orphan whose adopter died, stays or becomes an
// orphan again while its message is still in its slot (Orphan); one whose
// slot was released, or holds a skip record, is freed. An entry in an
// unknown state, or an orphan that names a slot no consumer claimed or one
// that was never committed, is freed and reported with an error wrapping
// ErrCorrupt. Reap panics unless 0 <= dead < Participants.
func (m *MPMC) Reap(dead int, alive func(i int) bool) (Reaped, error) {
	e := m.Entry(dead)
	m.clearSleeper(dead)
	state, intent := e.State.Load(), e.Intent.Load()
	r := Reaped{State: state}
	if intent != 0 {
		r.Position = intent - 1
	}
	var err error
	switch {
	case state == EntryOrphan || state == EntryAdopted:
		if _, err = m.orphanSlot(dead, intent); err == nil {
			r.Orphan = true
		} else if !errors.Is(err, ErrCorrupt) {
			err = nil
		}
	case intent == 0:
	case state == EntryProducer:
		r.Skipped, r.Busy = m.reapProducer(dead, intent-1, alive)
	case state == EntryConsumer:
		r.Orphan, r.Busy = m.reapConsumer(dead, intent-1, alive)
	}
	switch {
	case r.Orphan:
		// The bit first: a state EntryOrphan always has its bit (see
		// the table above).
		m.Orphans.Or(uint64(1) << dead)
		e.State.Store(EntryOrphan)
	case !r.Busy:
		m.freeEntry(dead)
	}
	if state > EntryAdopted {
		return r, fmt.Errorf("%w: participant %d in state %d", ErrCorrupt, dead, state)
	}
	return r, err
}

// reapProducer mends position p named by the dead producer of entry dead
// and reports whether it made it a skip record, or found it busy.
func (m *MPMC) reapProducer(dead int, p uint64, alive func(int) bool) (skipped, busy bool) {
	if m.Enq.Load() <= p {
		return false, false // nobody claimed p
	}
	if live, _ := m.named(dead, p, EntryProducer, alive); live {
		return false, true
	}
	seq := m.seqWord(p)
	if seq.Load() != p {
		return false, false // committed
	}
	putHeader(m.header(p), 0, flagSkip)
	// Publishes the skip; pairs with the consumer's Load(seq) in claim.
	// The owner is dead and nobody else writes this slot before the Store.
	seq.Store(p + 1)
	return true, false
}

// reapConsumer checks position p named by the dead consumer of entry dead
// and reports whether the entry must become its orphan, or found it busy.
func (m *MPMC) reapConsumer(dead int, p uint64, alive func(int) bool) (orphan, busy bool) {
	if m.Deq.Load() <= p {
		return false, false // nobody claimed p
	}
	live, covered := m.named(dead, p, EntryConsumer, alive)
	if live {
		return false, true
	}
	seq := m.seqWord(p)
	if covered || seq.Load() != p+1 {
		return false, false // another entry's orphan, or released
	}
	if _, flags := getHeader(m.header(p)); flags == flagSkip {
		// Frees the skip as its dead holder would have; pairs with the
		// producer's Load(seq) in claim.
		seq.Store(p + m.geo.Slots)
		return false, false
	}
	return true, false
}

// named reports whether an entry other than dead names position p: a live
// one in state role, or (for consumers) an orphan, adopted or not.
func (m *MPMC) named(dead int, p uint64, role uint32, alive func(int) bool) (live, orphan bool) {
	for i := range m.entries {
		e := &m.entries[i]
		if i == dead || e.Intent.Load() != p+1 {
			continue
		}
		switch s := e.State.Load(); {
		case (s == EntryOrphan || s == EntryAdopted) && role == EntryConsumer:
			orphan = true
		case s == role && alive(i):
			return true, orphan
		}
	}
	return false, orphan
}

// clearSleeper clears entry i's bits in both sleeper bitmaps.
func (m *MPMC) clearSleeper(i int) {
	bit := ^(uint64(1) << i)
	m.DataSleepers.And(bit)
	m.SpaceSleepers.And(bit)
}

// freeEntry frees entry i, an orphan once its slot is released or a dead
// entry that holds nothing, and clears its Orphans bit. An adopter
// that dies in the middle leaves an adopted orphan whose intent is 0 or
// names a released slot, which Reap frees, or a free entry whose bit is
// still set, which Join clears (see the table above).
func (m *MPMC) freeEntry(i int) {
	e := m.Entry(i)
	e.Intent.Store(0)
	e.State.Store(EntryFree)
	m.Orphans.And(^(uint64(1) << i))
}

// Orphaned returns the entries a consumer may adopt from: bit i is set when
// entry i is an orphan (state EntryOrphan) and its Orphans bit is set. An
// orphan being adopted (EntryAdopted) is not among them. Bits of the Orphans
// word at or above the participant count belong to no entry: they are
// cleared (nobody else may own them) and reported with an error wrapping
// ErrCorrupt, with the orphans found.
func (m *MPMC) Orphaned() (uint64, error) {
	orphans, err := m.orphansLoad()
	if err != nil {
		m.Orphans.And(m.inTable)
	}
	return orphans, err
}

// StrayBits describes a participant bitmap of the region with bits set for
// entries the table does not have (StrayBits).
type StrayBits struct {
	Name   string // "orphans", "data sleepers" or "space sleepers"
	Offset uint64 // region offset of the bitmap word
	Value  uint64 // the word as loaded
	Stray  uint64 // its bits at or above the participant count
}

// StrayBits loads the three participant bitmaps once each and returns those
// with bits that name no entry: what endpoints report as ErrCorrupt and
// clear where they use the word, for tools that only read.
func (m *MPMC) StrayBits() []StrayBits {
	var out []StrayBits
	for _, w := range []struct {
		name string
		off  uint64
		word *atomic.Uint64
	}{
		{"orphans", offMOrphans, m.Orphans},
		{"data sleepers", offMDataSleepers, m.DataSleepers},
		{"space sleepers", offMSpaceSleepers, m.SpaceSleepers},
	} {
		if v := w.word.Load(); v&^m.inTable != 0 {
			out = append(out, StrayBits{Name: w.name, Offset: w.off, Value: v, Stray: v &^ m.inTable})
		}
	}
	return out
}

// orphansLoad is Orphaned without the repair: it only loads.
func (m *MPMC) orphansLoad() (uint64, error) {
	bitmap := m.Orphans.Load()
	var err error
	if bitmap&^m.inTable != 0 {
		err = fmt.Errorf("%w: orphan bitmap %#x names entries outside the table of %d",
			ErrCorrupt, bitmap, len(m.entries))
	}
	var orphans uint64
	for b := bitmap & m.inTable; b != 0; b &= b - 1 {
		i := bits.TrailingZeros64(b)
		if m.entries[i].State.Load() == EntryOrphan {
			orphans |= 1 << i
		}
	}
	return orphans, err
}

// orphanSlot checks the slot that the orphan entry i, whose intent is
// intent, names, and returns its position when it still holds the orphan's
// message: claimed by a consumer (deq > p) and committed, not released (seq
// == p+1), not a skip record. A released slot, or none named, is ErrEmpty;
// a skip record is freed for the next lap, as its dead holder would have,
// and is ErrEmpty too; a position no consumer claimed or a slot never
// committed is ErrCorrupt.
func (m *MPMC) orphanSlot(i int, intent uint64) (uint64, error) {
	if intent == 0 {
		return 0, fmt.Errorf("ring: orphan participant %d names no position: %w", i, ErrEmpty)
	}
	p := intent - 1
	if m.Deq.Load() <= p {
		return 0, fmt.Errorf("%w: orphan participant %d names position %d, which no consumer claimed",
			ErrCorrupt, i, p)
	}
	seq := m.seqWord(p)
	// Pairs with the producer's Store(seq) in publish, as in claim.
	switch s := seq.Load(); {
	case int64(s-(p+1)) > 0:
		return 0, fmt.Errorf("ring: orphan participant %d names position %d, released already: %w",
			i, p, ErrEmpty)
	case s != p+1:
		return 0, fmt.Errorf("%w: orphan participant %d names position %d, whose slot has seq %d",
			ErrCorrupt, i, p, s)
	}
	if _, flags := getHeader(m.header(p)); flags == flagSkip {
		// Frees the skip as its dead holder would have; pairs with the
		// producer's Load(seq) in claim.
		seq.Store(p + m.geo.Slots)
		return 0, fmt.Errorf("ring: orphan participant %d held a skip record: %w", i, ErrEmpty)
	}
	return p, nil
}

// Adopt takes over the message of orphan entry orphan, whose lock the caller
// holds until Release, and returns its payload in place, as TryPeek does;
// Release frees its slot and the orphan entry. The entry becomes
// EntryAdopted first, so that other consumers leave it alone (Orphaned) and
// a reaper makes it an orphan again should this consumer die. The
// consumer's own intent is not used: the orphan entry names the slot until
// it is freed, which is what keeps reapers off it and counts it at the end
// of the stream. Adopting a message delivers it a second time from the
// ring's point of view; its first consumer died before its caller got it,
// or (with the zero-copy API) while the caller held it.
//
// An entry in state EntryAdopted is adopted as well: holding its lock, the
// caller knows that its previous adopter died. When there is nothing to
// adopt, Adopt returns ErrEmpty and leaves the entry free: the entry is not
// an orphan (adopted already), or a previous adopter died after releasing
// the slot, or the slot was a skip record (freed now). An orphan that names
// a position no consumer claimed, or a slot that was never committed, is
// ErrCorrupt, and the entry is freed as well. A message whose header is
// corrupt is held and reported as TryPeek does. Adopt panics while the
// consumer holds a slot, or unless 0 <= orphan < Participants.
func (c *MPMCConsumer) Adopt(orphan int) ([]byte, error) {
	if c.held {
		panic("ring: Adopt while holding a slot")
	}
	m := c.m
	e := m.Entry(orphan)
	if s := e.State.Load(); s != EntryOrphan && s != EntryAdopted {
		if s == EntryFree {
			m.Orphans.And(^(uint64(1) << orphan))
		}
		return nil, fmt.Errorf("ring: participant %d is in state %d, not an orphan: %w", orphan, s, ErrEmpty)
	}
	p, err := m.orphanSlot(orphan, e.Intent.Load())
	if err != nil {
		m.freeEntry(orphan)
		return nil, err
	}
	e.State.Store(EntryAdopted)
	n, flags := getHeader(m.header(p))
	c.hold(p, n, flags, orphan)
	return c.msg, c.heldErr
}

// Disown gives the adopted message the consumer holds back to its orphan
// entry, for another consumer to adopt, and forgets it: the caller is about
// to drop the entry's lock without releasing the message. It reports
// whether there was such a message; the caller then wakes the consumers
// (an orphan is there to adopt). Without an adopted message it does nothing.
func (c *MPMCConsumer) Disown() bool {
	if !c.held || c.adopted < 0 {
		return false
	}
	// The bit is set (Adopt found an orphan); the state alone changes.
	c.m.Entry(c.adopted).State.Store(EntryOrphan)
	c.held, c.msg, c.heldErr, c.adopted = false, nil, nil, -1
	return true
}
