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
// Reaping a dead producer. Its entry names a range of positions [s, e)
// (intent s+1, end e; one position for a single message, up to
// MPMCMaxBatch for a batch claimed with one CAS). Each position p of the
// range is judged on its own. Its slot needs mending when p was claimed
// (enq > p) and never committed (seq == p): the claimer is then gone for
// good, and the slot becomes a skip record (header len 0, flagSkip, then
// Store(seq, p+1)), which consumers pass over without reading the
// half-written payload. Who is the claimer? An owner shows a range that
// holds p from before its CAS until after its last store to the slot
// (mpmc.go, Intents). Reap loads enq, then the ranges of the live
// producers, then the slots' seqs, in that order. If no live producer's
// range held p and the seq still was p, the owner is dead: a live owner
// stored its range before its CAS, before our load of enq that saw the
// CAS, so when our load of its range did not hold p the owner had already
// committed p, before our load of seq, which would then not be p. (A
// range read across two of the owner's claims is one whose intent belongs
// to a claim that is over: see Reading a range in mpmc.go.) A live
// producer whose range meets the dead one's may be the owner, in the
// middle of its commits, so it blocks the reap: the entry is left as it is
// (Busy) and reaped again later. A live producer that names the positions
// but lost the race for them changes its intent at its next step, and one
// that won clears it after its last commit, so Busy does not last. Dead
// producers that name p without owning it are harmless: whoever of the
// dead named it, the owner is dead, the skip is right, and the others are
// freed at their own reap, finding seq != p.
//
// A producer killed at any instruction of a batch: before its CAS or after
// a lost one, its range holds positions at or past enq (nobody claimed
// them: left alone) or others' (judged as above); after its CAS, it has
// published a prefix of its range (seq p+1: left alone) and not the rest
// (seq p: made skip records), or published it all and not yet cleared its
// intent (nothing to mend). So the messages of a batch that a producer
// killed in the middle has published are delivered, in order, and the rest
// are skipped, never delivered torn.
//
// Reaping a dead consumer. Its entry names [s, e). If deq < e, its claim
// never took place (a won claim moves deq to e at once, and deq only
// grows): it holds nothing. Otherwise each position p of the range that was
// not released (seq == p+1) holds a message that was taken out of the ring
// but never reached a caller that outlived it. The same argument, with the
// ranges of the live consumers loaded between deq and the seqs, shows the
// holder is dead when no live consumer's range meets the dead one's (an
// adopter releases a slot before it changes the orphan's state or clears
// its intent); the entry then becomes an orphan (its bit set in Orphans,
// then state EntryOrphan, range kept), and consumers adopt its messages,
// one at a time: an adopted message's release makes the entry an orphan
// again while its range holds another. A skip record held by the dead
// consumer is freed at once, as the consumer would have.
//
// Positions claimed by one consumer and named by others. A consumer that
// loses the race for its CAS may die before it clears its intent, so dead
// entries may name positions they never owned; whoever of the dead named a
// message, its owner is dead, and handing it on is right, but only once:
// orphan ranges must not overlap on a message. Reaps run one at a time,
// and an orphan's range never changes once it is one; so the reap of a
// dead consumer narrows the range it makes an orphan of to the positions
// that no orphan names yet: from the first message held that no orphan
// names, up to the next position an orphan names (end stored before
// intent: each of the two stores leaves a range that the next reap narrows
// to the same again). Nothing is lost by cutting the range short: a claim
// starts at a value that deq took, and deq moves past a won range in one
// CAS, so a loser's range starts at or before the start of every winner's
// range it meets, and meets a prefix of each; the positions a reap cuts
// off after an orphan's are a winner's, and the winner's own entry names
// them until its reap, which hands them on itself unless an orphan names
// them. A winner's own range is never cut at its end: the orphans that name
// its positions name a prefix of it.
// Whatever else, reaping clears the dead entry's bits in both sleeper
// bitmaps, and in the noBarrier word: nobody needs to wake a process that
// is gone, nor to publish with a full barrier for its sake.
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
//	          dead producer's range [s,e): 2 header = skip          Producer, slot seq p            next Reap: redoes 2, 3
//	          for each p in it, in order,  3 Store(seq, p+1)        Producer, slots up to p         next Reap: skips the rest
//	          unclaimed (p >= enq) or                               skipped, the rest not           of the range (2, 3),
//	          committed (seq > p) left                                                              then frees (4-6)
//	          alone
//	                                       4 Store(intent, 0)       Producer, intent 0              next Reap: frees (5, 6)
//	                                       5 Store(state, Free)     Free, maybe a stray bit         Join clears the bit
//	                                       6 And(Orphans, ^bit)     -                               -
//	Consumer  Reap (owner dead)            1 clear sleeper bits     Consumer, lock free             next Reap: same steps
//	          messages held in [s,e)       2 free the skips before  Consumer, skips freed           next Reap: same steps
//	                                         the first message held
//	                                       3 Store(end, e')         Consumer, range cut short       next Reap: same steps,
//	                                       4 Store(intent, s'+1)    Consumer, range narrowed        narrowing to the same
//	                                       5 Or(Orphans, bit)       Consumer, bit set               next Reap: same steps;
//	                                                                                                consumers ignore the bit
//	                                       6 Store(state, Orphan)   -                               consumers adopt
//	Consumer  Reap, nothing held           as for a producer (4-6)  as for a producer               as for a producer
//	Orphan    Adopt (a consumer)           1 Store(state, Adopted)  Adopted, lock free              Reap (reapers, joiners):
//	                                                                                                Orphan again (bit, state)
//	Adopted   Release (the adopter)        2 Store(seq, p+N)        Adopted, slot released          Reap: Orphan again when
//	                                                                                                the range holds another
//	                                                                                                message, else frees (3-5)
//	                                       3 Store(state, Orphan)   -                               consumers adopt the next
//	                                         when another message
//	                                         is held, else:
//	                                       3 Store(intent, 0)       Adopted, intent 0               Reap: frees (4, 5)
//	                                       4 Store(state, Free)     Free, bit set                   Join clears the bit
//	                                       5 And(Orphans, ^bit)     -                               -
//	Adopted   Disown (the adopter leaves)  1 Store(state, Orphan)   -                               consumers adopt
//	Orphan    Reap, Adopt: every slot of   1 Store(intent, 0)       Orphan, intent 0                Reap or Adopt: frees
//	Adopted   the range released or a      2 Store(state, Free)     Free, bit set                   Join clears the bit
//	          skip (freed first), or       3 And(Orphans, ^bit)     -                               -
//	          corrupt
//	Free      Join                         1 clear the entry's bits Free                            Join again
//	                                       2 intent, pid, stats,    Free                            Join again
//	                                         generation
//	                                       3 Store(state, role)     -                               -
//
// A live endpoint killed in the middle of a batch is a Producer or
// Consumer entry whose range is partly done: the rows above judge each
// position of it by its slot, so every point of the batch (after the CAS,
// after any number of the range's publications or releases, after the
// last but before the intent is cleared) is one of their states.
//
// A free entry's stray bit is harmless meanwhile: consumers and Readable
// look at the state before they act on a bit, and the end of the stream
// looks at the intent (0).
//
// Who looks at which entries: reapers (a wait's look at dead peers) take the
// lock of every entry in state Producer, Consumer or Adopted whose lock is
// free, and of every orphan whose bit is missing; a joiner takes any entry
// whose lock is free and reaps it unless it is free already, so a stale
// orphan (its messages released) is freed and taken; a consumer adopts the
// entries that Orphaned reports (bit set and state EntryOrphan). The end of
// the stream (Drained in mpmc.go) reads the ranges, so a message stays
// counted whichever of these states its entry is in: a reap's narrowing
// drops from a dead entry's range only released positions and positions
// that an orphan or a winner's entry names.

// ErrEntryInUse reports a participant entry that is not free: the owner of
// its lock died without leaving, and the entry must be reaped first, or the
// entry still holds a claim.
var ErrEntryInUse = errors.New("participant entry in use")

// Join makes entry i the entry of a new producer or consumer (role is
// EntryProducer or EntryConsumer) of process pid in pid namespace pidNS (0
// where unknown): it stores both, bumps the generation, zeroes the stats,
// picks the entry's home lane (homeLane) and sets the state last. The
// caller holds the entry's lock. An entry that is not free gives an error
// wrapping ErrEntryInUse: its previous owner died, and the caller must Reap
// it first. Join panics on another role or an i outside [0, Participants).
func (m *MPMC) Join(i int, role uint32, pid uint32, pidNS uint64) error {
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
	e.PidNS.Store(pidNS)
	for _, w := range e.Stats {
		w.Store(0)
	}
	e.Generation.Add(1)
	e.Lane.Store(m.homeLane(i, role))
	e.State.Store(role)
	return nil
}

// homeLane returns the lane that the fewest other entries in state role
// have for home, the lowest of them on a tie. Two endpoints that join at
// once may pick the same lane; they share it, which costs speed only.
func (m *MPMC) homeLane(i int, role uint32) uint64 {
	var count [MPMCMaxLanes]int
	for j := range m.entries {
		if j != i && m.entries[j].State.Load() == role {
			count[m.entries[j].Lane.Load()&m.laneMask]++
		}
	}
	best := uint64(0)
	for l := range uint64(len(m.lanes)) {
		if count[l] < count[best] {
			best = l
		}
	}
	return best
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
// entry i is alive; Reap calls it only for entries that name a position of
// the dead entry's range, never for dead itself. The caller holds entry
// dead's lock and the reapers' common lock.
//
// An orphan, or an adopted orphan whose adopter died, stays or becomes an
// orphan again while a message of its range is still in its slot (Orphan);
// one whose slots were all released, or hold skip records, is freed. An
// entry in an unknown state, an entry whose intent and end are not a range
// (its first position alone is then judged), or an orphan that names a slot
// no consumer claimed or one that was never committed, is reported with an
// error wrapping ErrCorrupt. Reap panics unless 0 <= dead < Participants.
func (m *MPMC) Reap(dead int, alive func(i int) bool) (Reaped, error) {
	e := m.Entry(dead)
	m.clearSleeper(dead)
	// The owner is dead: its words no longer change, and are loaded once.
	state, intent, end := e.State.Load(), e.Intent.Load(), e.End.Load()
	r := Reaped{State: state}
	var err error
	if intent != 0 {
		r.Position = intent - 1
		if !m.isRange(intent, end) {
			err = fmt.Errorf("%w: participant %d names positions from %d to %d",
				ErrCorrupt, dead, intent-1, end)
			end = intent
		}
	}
	switch {
	case state == EntryOrphan || state == EntryAdopted:
		if _, oerr := m.orphanSlot(dead, intent, end); oerr == nil {
			r.Orphan = true
		} else if errors.Is(oerr, ErrCorrupt) {
			err = errors.Join(err, oerr)
		}
	case intent == 0:
	case state == EntryProducer:
		r.Skipped, r.Busy = m.reapProducer(dead, intent-1, end, alive)
	case state == EntryConsumer:
		r.Orphan, r.Busy = m.reapConsumer(dead, intent-1, end, alive)
		if r.Orphan {
			r.Position = e.Intent.Load() - 1 // narrowed to the messages it holds
		}
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
		err = errors.Join(err, fmt.Errorf("%w: participant %d in state %d", ErrCorrupt, dead, state))
	}
	return r, err
}

// reapProducer mends the positions [s, e) named by the dead producer of
// entry dead and reports whether it made one of them a skip record, or
// found the range busy. Each position is judged on its own, so that a
// reap killed halfway, or a range the dead producer had half published,
// is finished alike.
func (m *MPMC) reapProducer(dead int, s, e uint64, alive func(int) bool) (skipped, busy bool) {
	e = min(e, m.laneOf(s).Enq.Load()) // nobody claimed the positions from enq on
	if s >= e {
		return false, false
	}
	if m.namedLive(dead, s, e, EntryProducer, alive) {
		return false, true
	}
	for q := s; q != e; q++ {
		seq := m.seqWord(q)
		if seq.Load() != q {
			continue // committed
		}
		putHeader(m.header(q), 0, flagSkip)
		// Publishes the skip; pairs with the consumer's Load(seq) in
		// claim. The owner is dead and nobody else writes this slot
		// before the Store.
		seq.Store(q + 1)
		skipped = true
	}
	return skipped, false
}

// reapConsumer checks the positions [s, e) named by the dead consumer of
// entry dead and reports whether the entry must become their orphan, or
// found them busy. When it must, the entry's range is first narrowed to the
// messages it is to hand on: from the first held position that no orphan
// names up to the next position an orphan names (see the top of this
// file), end stored before intent, each store leaving a range that the next
// reap narrows to the same.
func (m *MPMC) reapConsumer(dead int, s, e uint64, alive func(int) bool) (orphan, busy bool) {
	if m.laneOf(s).Deq.Load() < e {
		return false, false // its claim never took place: a won claim moves deq to e
	}
	if m.namedLive(dead, s, e, EntryConsumer, alive) {
		return false, true
	}
	covers := m.orphanRanges(dead, s, e)
	covered := func(q uint64) bool {
		for _, r := range covers {
			if q-r[0] < r[1]-r[0] {
				return true
			}
		}
		return false
	}
	from, to, found := uint64(0), e, false
	for q := s; q != e; q++ {
		if covered(q) {
			if found {
				to = q
				break
			}
			continue
		}
		seq := m.seqWord(q)
		if found || seq.Load() != q+1 {
			continue // released, or after the first message held
		}
		if _, flags := getHeader(m.header(q)); flags == flagSkip {
			// Frees the skip as its dead holder would have; pairs with
			// the producer's Load(seq) in claim.
			seq.Store(q + m.n)
			continue
		}
		from, found = q, true
	}
	if !found {
		return false, false
	}
	ent := m.Entry(dead)
	if to != e {
		ent.End.Store(to)
	}
	if from != s {
		ent.Intent.Store(from + 1)
	}
	return true, false
}

// namedLive reports whether a live entry in state role other than dead
// names a position of [s, e): it may own it, and be in the middle of its
// claim. Each entry's range is loaded before its state.
func (m *MPMC) namedLive(dead int, s, e uint64, role uint32, alive func(int) bool) bool {
	for i := range m.entries {
		if i == dead {
			continue
		}
		start, end, ok := m.entryRange(&m.entries[i])
		if ok && start < e && s < end && m.entries[i].State.Load() == role && alive(i) {
			return true
		}
	}
	return false
}

// orphanRanges returns the ranges [start, end) of the orphans, adopted or
// not, other than dead, that meet [s, e): the positions another orphan
// hands on already. Only reapers make orphans, and they reap one at a
// time; an orphan's range never changes after it became one, and it is
// freed only once its messages are released.
func (m *MPMC) orphanRanges(dead int, s, e uint64) [][2]uint64 {
	var out [][2]uint64
	for i := range m.entries {
		if i == dead {
			continue
		}
		start, end, ok := m.entryRange(&m.entries[i])
		if !ok || start >= e || s >= end {
			continue
		}
		if st := m.entries[i].State.Load(); st == EntryOrphan || st == EntryAdopted {
			out = append(out, [2]uint64{start, end})
		}
	}
	return out
}

// clearSleeper clears entry i's bits in both sleeper bitmaps and in the
// noBarrier word: an entry that sleeps no more needs no full barrier of
// the publishers either.
func (m *MPMC) clearSleeper(i int) {
	bit := ^(uint64(1) << i)
	m.DataSleepers.And(bit)
	m.SpaceSleepers.And(bit)
	m.NoBarrier.And(bit)
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

// orphanSlot checks the slots of the range [intent-1, end) that the
// orphan entry i names, and returns the first position that still holds
// one of the orphan's messages: claimed by a consumer (deq > p) and
// committed, not released (seq == p+1), not a skip record. Skip records on
// the way are freed for the next lap, as their dead holder would have.
// When none is left, or none is named, it is ErrEmpty; a range no consumer
// claimed to its end, a slot never committed, or words that are not a
// range, are ErrCorrupt.
func (m *MPMC) orphanSlot(i int, intent, end uint64) (uint64, error) {
	if intent == 0 {
		return 0, fmt.Errorf("ring: orphan participant %d names no position: %w", i, ErrEmpty)
	}
	if !m.isRange(intent, end) {
		return 0, fmt.Errorf("%w: orphan participant %d names positions from %d to %d",
			ErrCorrupt, i, intent-1, end)
	}
	if deq := m.laneOf(intent - 1).Deq.Load(); deq < end {
		return 0, fmt.Errorf("%w: orphan participant %d names positions up to %d, which no consumer claimed",
			ErrCorrupt, i, end-1)
	}
	for p := intent - 1; p != end; p++ {
		seq := m.seqWord(p)
		// Pairs with the producer's Store(seq) in publish, as in claim.
		switch s := seq.Load(); {
		case int64(s-(p+1)) > 0:
			continue // released already
		case s != p+1:
			return 0, fmt.Errorf("%w: orphan participant %d names position %d, whose slot has seq %d",
				ErrCorrupt, i, p, s)
		}
		if _, flags := getHeader(m.header(p)); flags == flagSkip {
			// Frees the skip as its dead holder would have; pairs with
			// the producer's Load(seq) in claim.
			seq.Store(p + m.n)
			continue
		}
		return p, nil
	}
	return 0, fmt.Errorf("ring: orphan participant %d holds nothing anymore: %w", i, ErrEmpty)
}

// releaseOrphan ends the adoption of a message of orphan entry i, whose
// slot the adopter has just released: the entry becomes an orphan again
// when its range still holds a message, and is freed otherwise. It reports
// whether the entry is an orphan again.
func (m *MPMC) releaseOrphan(i int) bool {
	e := m.Entry(i)
	if _, err := m.orphanSlot(i, e.Intent.Load(), e.End.Load()); err == nil {
		// The bit is set (Adopt found an orphan); the state alone
		// changes, as in Disown.
		e.State.Store(EntryOrphan)
		return true
	}
	m.freeEntry(i)
	return false
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
	p, err := m.orphanSlot(orphan, e.Intent.Load(), e.End.Load())
	if err != nil {
		m.freeEntry(orphan)
		return nil, err
	}
	e.State.Store(EntryAdopted)
	l := m.laneOf(p)
	n, flags := getHeader(l.header(p))
	c.hold(l, p, n, flags, orphan)
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
