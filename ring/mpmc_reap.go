package ring

import (
	"errors"
	"fmt"
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
// becomes an orphan (state EntryOrphan, intent kept, its bit set in
// Orphans), and some consumer adopts the message. An orphan that already
// names p covers the claim: the dead entry is then freed, so a message is
// adopted once. A skip record held by the dead consumer is freed at once, as
// the consumer would have.
//
// Whatever else, reaping clears the dead entry's bits in both sleeper
// bitmaps: nobody needs to wake a process that is gone.

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
	// Position, and keeps it until a consumer calls Adopt on it.
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
// An orphan entry stays an orphan (Orphan reports it again). An entry in an
// unknown state is freed and reported with an error wrapping ErrCorrupt.
// Reap panics unless 0 <= dead < Participants.
func (m *MPMC) Reap(dead int, alive func(i int) bool) (Reaped, error) {
	e := m.Entry(dead)
	m.clearSleeper(dead)
	state, intent := e.State.Load(), e.Intent.Load()
	r := Reaped{State: state}
	if intent != 0 {
		r.Position = intent - 1
	}
	switch {
	case state == EntryOrphan:
		// Sets the bit again, in case the reaper that made the orphan
		// died before it did.
		m.Orphans.Or(uint64(1) << dead)
		r.Orphan = true
		return r, nil
	case intent == 0:
	case state == EntryProducer:
		r.Skipped, r.Busy = m.reapProducer(dead, intent-1, alive)
	case state == EntryConsumer:
		r.Orphan, r.Busy = m.reapConsumer(dead, intent-1, alive)
	}
	switch {
	case r.Orphan:
		e.State.Store(EntryOrphan)
		m.Orphans.Or(uint64(1) << dead)
	case !r.Busy:
		e.Intent.Store(0)
		e.State.Store(EntryFree)
	}
	if state > EntryOrphan {
		return r, fmt.Errorf("%w: participant %d in state %d", ErrCorrupt, dead, state)
	}
	return r, nil
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
// one in state role, or (for consumers) an orphan.
func (m *MPMC) named(dead int, p uint64, role uint32, alive func(int) bool) (live, orphan bool) {
	for i := range m.entries {
		e := &m.entries[i]
		if i == dead || e.Intent.Load() != p+1 {
			continue
		}
		switch s := e.State.Load(); {
		case s == EntryOrphan && role == EntryConsumer:
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

// freeOrphan frees orphan entry i once its slot is released. An adopter
// that dies in the middle leaves an orphan whose intent is 0 or names a
// released slot, or a free entry whose bit is still set: Adopt repairs each.
func (m *MPMC) freeOrphan(i int) {
	e := m.Entry(i)
	e.Intent.Store(0)
	e.State.Store(EntryFree)
	m.Orphans.And(^(uint64(1) << i))
}

// Adopt takes over the message of orphan entry orphan, whose lock the caller
// holds until Release, and returns its payload in place, as TryPeek does;
// Release frees its slot and the orphan entry. The consumer's own intent is
// not used: the orphan entry names the slot until it is freed, which is what
// keeps reapers off it. Adopting a message delivers it a second time from
// the ring's point of view; its first consumer died before its caller got
// it, or (with the zero-copy API) while the caller held it.
//
// When there is nothing to adopt, Adopt returns ErrEmpty and leaves the
// entry free, its Orphans bit clear: the entry is not an orphan (adopted
// already), or a previous adopter died after releasing the slot, or the slot
// was a skip record (freed now). An orphan that names a position no consumer
// claimed, or a slot that was never committed, is ErrCorrupt, and the entry
// is freed as well. A message whose header is corrupt is held and reported
// as TryPeek does. Adopt panics while the consumer holds a slot, or unless
// 0 <= orphan < Participants.
func (c *MPMCConsumer) Adopt(orphan int) ([]byte, error) {
	if c.held {
		panic("ring: Adopt while holding a slot")
	}
	m := c.m
	e := m.Entry(orphan)
	if s := e.State.Load(); s != EntryOrphan {
		m.Orphans.And(^(uint64(1) << orphan))
		return nil, fmt.Errorf("ring: participant %d is in state %d, not an orphan: %w", orphan, s, ErrEmpty)
	}
	intent := e.Intent.Load()
	if intent == 0 {
		m.freeOrphan(orphan)
		return nil, fmt.Errorf("ring: orphan participant %d names no position: %w", orphan, ErrEmpty)
	}
	p := intent - 1
	if m.Deq.Load() <= p {
		m.freeOrphan(orphan)
		return nil, fmt.Errorf("%w: orphan participant %d names position %d, which no consumer claimed",
			ErrCorrupt, orphan, p)
	}
	seq := m.seqWord(p)
	// Pairs with the producer's Store(seq) in publish, as in claim.
	switch s := seq.Load(); {
	case int64(s-(p+1)) > 0:
		m.freeOrphan(orphan)
		return nil, fmt.Errorf("ring: orphan participant %d names position %d, released already: %w",
			orphan, p, ErrEmpty)
	case s != p+1:
		m.freeOrphan(orphan)
		return nil, fmt.Errorf("%w: orphan participant %d names position %d, whose slot has seq %d",
			ErrCorrupt, orphan, p, s)
	}
	n, flags := getHeader(m.header(p))
	if flags == flagSkip {
		// Frees the skip as its dead holder would have; pairs with the
		// producer's Load(seq) in claim.
		seq.Store(p + m.geo.Slots)
		m.freeOrphan(orphan)
		return nil, fmt.Errorf("ring: orphan participant %d held a skip record: %w", orphan, ErrEmpty)
	}
	c.hold(p, n, flags, orphan)
	return c.msg, c.heldErr
}
