package ring

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/require"
)

// mpFuzzGeos are the geometries of the fuzzed rings, one lane and two:
// small, so that laps are short and every slot is reached. The first byte
// of a state input picks one (mpFuzzRegion).
var mpFuzzGeos = [2]MPMCGeometry{
	{SlotSize: 24, Slots: 4, Participants: 4},
	{SlotSize: 24, Slots: 4, Participants: 4, Lanes: 2},
}

// mpFuzzGeo is the slot size and participant count of both.
var mpFuzzGeo = mpFuzzGeos[0]

// mpFuzzDead is the entry FuzzMPMC reaps and adopts from: the input writes
// its state and intent, as a dead or hostile peer would have left them.
const mpFuzzDead = 3

// mpFuzzWords returns the offsets in the region of the 8-byte words that
// FuzzMPMC's state input fills, in order: the positions and flags of the
// control area (the sleeper and orphan bitmaps among them), the dead
// entry's state and intent, then each slot's seq, header and first payload
// word, then the dead entry's generation, end and lane, then the enq and
// deq of each lane after the first. The rest of the region stays as Init
// left it.
func mpFuzzWords(g MPMCGeometry) []int {
	dead := offMEntries + mpFuzzDead*entryStride
	offs := []int{offMEnq, offMDeq, offMClosed, offMDataSleepers, offMSpaceSleepers, offMOrphans,
		dead + offEntState, dead + offEntIntent}
	for i := range int(g.Slots) {
		slot := int(g.slotsOffset()) + i*int(g.stride())
		offs = append(offs, slot+offSlotSeq, slot+offSlotHeader, slot+slotHeader)
	}
	offs = append(offs, dead+offEntGen, dead+offEntEnd, dead+offEntLane)
	for l := range int(g.lanes()) - 1 {
		lane := int(g.lanesOffset()) + l*laneStride
		offs = append(offs, lane, lane+offLaneDeq)
	}
	return offs
}

// mpFuzzPokes returns the offsets of the 8-byte words that a peer rewrites
// in FuzzMPMC (mpOpPoke): those of mpFuzzWords, and the words of the live
// entries that only their owners should write (state and pid, generation),
// but for their intents, which the fuzz checks against the endpoints.
func mpFuzzPokes(g MPMCGeometry) []int {
	offs := mpFuzzWords(g)
	for i := range mpFuzzDead {
		e := offMEntries + i*entryStride
		offs = append(offs, e+offEntState, e+offEntGen, e+offEntLane)
	}
	// Any NoBarrier word leaves the claims and hand-offs sound: it only
	// chooses the kind of store that publishes a seq.
	return append(offs, offMNoBarrier)
}

// mpFuzzRegion returns an initialised region of the geometry that the
// first byte of state picks from mpFuzzGeos (its low bit; the first when
// state is empty), with the words of mpFuzzWords overwritten by the rest
// of state, 8 bytes each, as far as it goes.
func mpFuzzRegion(tb testing.TB, state []byte) (*MPMC, []byte) {
	tb.Helper()
	g := mpFuzzGeos[0]
	if len(state) > 0 {
		g, state = mpFuzzGeos[state[0]&1], state[1:]
	}
	region := make([]byte, g.RegionSize())
	m, err := NewMPMC(region, g)
	require.NoError(tb, err)
	m.Init()
	for _, off := range mpFuzzWords(g) {
		if len(state) == 0 {
			break
		}
		k := copy(region[off:off+8], state)
		state = state[k:]
	}
	return m, region
}

// mpFuzzState returns the state input that mpFuzzRegion turns back into
// region, of geometry mpFuzzGeos[geo].
func mpFuzzState(region []byte, geo byte) []byte {
	state := []byte{geo}
	for _, off := range mpFuzzWords(mpFuzzGeos[geo]) {
		state = append(state, region[off:off+8]...)
	}
	return state
}

// FuzzMPMC operations, one per 3 bytes of input: an opcode and two argument
// bytes a and b.
const (
	mpOpReserve      = iota // TryReserve(a - 4): some negative, some too large
	mpOpCommit              // Commit(b % (reserved+1)) when a reservation is held
	mpOpCancel              // Cancel
	mpOpPeek                // TryPeek on consumer a%2
	mpOpRelease             // Release on consumer a%2 when it holds a slot
	mpOpReap                // Reap(mpFuzzDead), entry i alive when bit i of a is set
	mpOpAdopt               // Adopt(mpFuzzDead) on consumer a%2 when it holds nothing
	mpOpPoke                // a peer writes word b of mpFuzzPokes: its value plus int8(a)
	mpOpDrained             // Drained
	mpOpOrphaned            // Orphaned, then Adopt of each orphan on consumer a%2 when it holds nothing
	mpOpReadable            // Readable
	mpOpReserveBatch        // TryReserveBatch(a%9 + 1)
	mpOpCommitNext          // CommitNext of b%25 bytes when a batch position is held
	mpOpPeekBatch           // TryPeekBatch(b%9 + 1) on consumer a%2
	mpNumOps
)

// mpFuzzSeeds returns state inputs: a fresh ring of each geometry, and
// rings a real producer and consumer left in several states.
func mpFuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	seeds := [][]byte{nil, {1}}
	for _, steps := range []func(m *MPMC, p *MPMCProducer, c *MPMCConsumer){
		func(m *MPMC, p *MPMCProducer, c *MPMCConsumer) { // two messages waiting
			mpSend(tb, p, []byte("one"))
			mpSend(tb, p, mpPattern(2, 24))
		},
		func(m *MPMC, p *MPMCProducer, c *MPMCConsumer) { // full, one held, a lap on
			for i := range uint64(6) {
				mpSend(tb, p, mpPattern(i, int(i)*4))
				if i < 3 {
					mpRecv(tb, c)
				}
			}
			_, err := c.TryPeek()
			require.NoError(tb, err)
		},
		func(m *MPMC, p *MPMCProducer, c *MPMCConsumer) { // a skip, a claim, closed
			_, err := p.TryReserve(8)
			require.NoError(tb, err)
			p.Cancel()
			_, err = p.TryReserve(8)
			require.NoError(tb, err)
			mpName(m.Entry(mpFuzzDead), p.pos+1)
			m.Entry(mpFuzzDead).State.Store(EntryProducer)
			m.Closed.Store(1)
		},
		func(m *MPMC, p *MPMCProducer, c *MPMCConsumer) { // a batch half published, a dead consumer's batch
			mpSend(tb, p, []byte("one"))
			mpSend(tb, p, []byte("two"))
			_, err := c.TryPeekBatch(2)
			require.NoError(tb, err)
			k, err := p.TryReserveBatch(3)
			require.NoError(tb, err)
			require.Equal(tb, 2, k)
			p.CommitNext([]byte("three"))
			mpNameRange(m.Entry(mpFuzzDead), 0, 2)
			m.Entry(mpFuzzDead).State.Store(EntryConsumer)
		},
		func(m *MPMC, p *MPMCProducer, c *MPMCConsumer) { // an orphan
			mpSend(tb, p, []byte("orphan"))
			require.True(tb, m.Deq.CompareAndSwap(0, 1))
			mpName(m.Entry(mpFuzzDead), 1)
			m.Entry(mpFuzzDead).State.Store(EntryConsumer)
		},
	} {
		m, region := mpFuzzRegion(tb, nil)
		p, c := mpProducer(tb, m, 0), mpConsumer(tb, m, 1)
		steps(m, p, c)
		seeds = append(seeds, mpFuzzState(region, 0))
	}
	// Two lanes: a message in each, and the dead entry a producer of lane
	// 1 holding a claim.
	m, region := mpFuzzRegion(tb, []byte{1})
	p, c := mpProducer(tb, m, 0), mpConsumer(tb, m, 1)
	dead := mpProducer(tb, m, mpFuzzDead)
	require.Equal(tb, 1, dead.Lane())
	mpSend(tb, p, []byte("lane 0"))
	mpSend(tb, dead, []byte("lane 1"))
	mpRecv(tb, c)
	_, err := dead.TryReserve(8)
	require.NoError(tb, err)
	return append(seeds, mpFuzzState(region, 1))
}

// FuzzMPMC runs a producer and two consumers over a region whose positions,
// slot seqs and headers, and dead entry come from the input, through
// operations from the input, among them a peer rewriting shared words and
// reaps of the dead entry. Nothing panics, every loop ends, and every slice
// handed out lies inside the payload of the slot of its position.
func FuzzMPMC(f *testing.F) {
	all := func(ops ...byte) []byte { return ops }
	scripts := [][]byte{
		all(mpOpReserveBatch, 5, 0, mpOpCommitNext, 0, 3, mpOpCommitNext, 0, 24, mpOpPeekBatch, 0, 8,
			mpOpRelease, 0, 0, mpOpReap, 0, 0, mpOpPeekBatch, 1, 3, mpOpReap, 0xff, 0, mpOpAdopt, 1, 0),
		all(mpOpReserve, 20, 0, mpOpCommit, 0, 9, mpOpPeek, 0, 0, mpOpRelease, 0, 0),
		all(mpOpPeek, 1, 0, mpOpReap, 0xff, 0, mpOpAdopt, 0, 0, mpOpPeek, 0, 0, mpOpRelease, 0, 0,
			mpOpDrained, 0, 0),
		all(mpOpReserve, 4, 0, mpOpReserve, 30, 0, mpOpCancel, 0, 0, mpOpReap, 0, 0, mpOpPeek, 1, 0,
			mpOpPoke, 1, 0, mpOpPeek, 1, 0, mpOpPoke, 0xff, 8, mpOpReserve, 10, 0),
		all(mpOpPoke, 2, 9, mpOpPeek, 0, 0, mpOpPoke, 0xf0, 10, mpOpReserve, 200, 0, mpOpCommit, 0, 255),
	}
	for i, state := range mpFuzzSeeds(f) {
		f.Add(state, scripts[i%len(scripts)])
	}
	f.Fuzz(func(t *testing.T, state, ops []byte) {
		m, region := mpFuzzRegion(t, state)
		words := mpFuzzPokes(mpFuzzGeo)
		p := mpProducer(t, m, 0)
		cs := []*MPMCConsumer{mpConsumer(t, m, 1), mpConsumer(t, m, 2)}

		// inSlot checks that b is the payload of the slot of pos.
		inSlot := func(b []byte, pos uint64) {
			require.LessOrEqual(t, len(b), int(mpFuzzGeo.SlotSize))
			require.Equal(t, len(b), cap(b))
			off, inside := offsetIn(m.slots, b)
			require.True(t, inside, "slice outside the slot area")
			if len(b) > 0 {
				require.Equal(t, int(m.slotOffset(pos))+slotHeader, off)
			}
		}
		for steps := 0; len(ops) >= 3 && steps < 500; steps++ {
			op, a, b := ops[0]%mpNumOps, ops[1], ops[2]
			ops = ops[3:]
			switch op {
			case mpOpReserve:
				n := int(a) - 4
				buf, err := p.TryReserve(n)
				if n < 0 || n > int(mpFuzzGeo.SlotSize) {
					require.ErrorIs(t, err, ErrTooLarge)
					continue
				}
				if err != nil {
					require.True(t, errors.Is(err, ErrFull) || errors.Is(err, ErrClosed) ||
						errors.Is(err, ErrCorrupt), "%v", err)
					require.False(t, p.Holding())
					continue
				}
				require.Len(t, buf, n)
				inSlot(buf, p.pos)
				require.Equal(t, p.pos+1, p.e.Intent.Load())
			case mpOpCommit:
				if p.Reserved() >= 0 {
					p.Commit(int(uint64(b) % (p.limit + 1)))
				}
			case mpOpCancel:
				p.Cancel()
			case mpOpReserveBatch:
				k := int(a)%9 + 1
				got, err := p.TryReserveBatch(k)
				if err != nil {
					require.True(t, errors.Is(err, ErrFull) || errors.Is(err, ErrClosed) ||
						errors.Is(err, ErrCorrupt), "%v", err)
					require.False(t, p.Holding())
					continue
				}
				require.True(t, got >= 1 && got <= k, "claimed %d of %d", got, k)
				require.Equal(t, uint64(got), p.end-p.pos)
			case mpOpCommitNext:
				if p.batch && p.Holding() {
					p.CommitNext(mpPattern(uint64(b), int(b)%25))
				}
			case mpOpPeek, mpOpPeekBatch:
				c := cs[a%2]
				peek := c.TryPeek
				if op == mpOpPeekBatch {
					peek = func() ([]byte, error) { return c.TryPeekBatch(int(b)%9 + 1) }
				}
				msg, err := peek()
				if err != nil {
					require.True(t, errors.Is(err, ErrEmpty) || errors.Is(err, ErrCorrupt), "%v", err)
					require.Nil(t, msg)
					continue
				}
				require.True(t, c.held)
				inSlot(msg, c.at)
			case mpOpRelease:
				if c := cs[a%2]; c.held {
					c.Release()
				}
			case mpOpReap:
				r, err := m.Reap(mpFuzzDead, func(i int) bool {
					require.NotEqual(t, mpFuzzDead, i, "the dead entry is not asked about")
					return a>>i&1 != 0
				})
				if err != nil {
					require.ErrorIs(t, err, ErrCorrupt)
				}
				require.False(t, r.Skipped && r.Orphan)
			case mpOpAdopt:
				c := cs[a%2]
				if c.held {
					continue
				}
				msg, err := c.Adopt(mpFuzzDead)
				if c.held {
					require.Equal(t, c.adopted, mpFuzzDead)
					if err == nil {
						inSlot(msg, c.at)
					}
				}
				if err != nil {
					require.True(t, errors.Is(err, ErrEmpty) || errors.Is(err, ErrCorrupt), "%v", err)
				}
			case mpOpPoke:
				off := words[int(b)%len(words)]
				v := binary.NativeEndian.Uint64(region[off:])
				word64(region, off).Store(v + uint64(int64(int8(a))))
			case mpOpDrained:
				m.Drained()
			case mpOpOrphaned:
				orphans, err := m.Orphaned()
				if err != nil {
					require.ErrorIs(t, err, ErrCorrupt)
				}
				require.Zero(t, orphans>>mpFuzzGeo.Participants, "an orphan outside the table")
				require.Zero(t, m.Orphans.Load()>>mpFuzzGeo.Participants, "bits outside the table stay")
				for ; orphans != 0; orphans &= orphans - 1 {
					i := bits.TrailingZeros64(orphans)
					c := cs[a%2]
					if c.held || i == int(a%2)+1 {
						continue // the fuzz's own consumers are alive
					}
					msg, err := c.Adopt(i)
					if err != nil {
						require.True(t, errors.Is(err, ErrEmpty) || errors.Is(err, ErrCorrupt), "%v", err)
					} else {
						inSlot(msg, c.at)
					}
				}
			case mpOpReadable:
				m.Readable()
			}
			mpFuzzCheckRange(t, p.e, p.pos, p.end, "the producer's range names its claim, or nothing")
			for _, c := range cs {
				mpFuzzCheckRange(t, c.e, c.pos, c.end, "a consumer's range names its claim, or nothing")
			}
		}
	})
}

// mpFuzzCheckRange checks that entry e names the claimed positions [pos,
// end) that its endpoint has not finished, or nothing when there are none:
// intent at or before pos (the range's first position), end at end.
func mpFuzzCheckRange(t *testing.T, e *Participant, pos, end uint64, what string) {
	t.Helper()
	intent := e.Intent.Load()
	if pos == end {
		require.Zero(t, intent, what)
		return
	}
	require.NotZero(t, intent, what)
	require.LessOrEqual(t, intent-1, pos, what)
	require.Equal(t, end, e.End.Load(), what)
}

// TestMPMCFuzzSeedsAreValid checks that the seeds written by a real producer
// decode to rings an endpoint runs without error.
func TestMPMCFuzzSeedsAreValid(t *testing.T) {
	for i, state := range mpFuzzSeeds(t)[2:] {
		m, _ := mpFuzzRegion(t, state)
		require.NotZero(t, mpPositions(m), "seed %d", i)
		c := mpConsumer(t, m, 2)
		_, err := c.TryPeek()
		if err != nil {
			require.ErrorIs(t, err, ErrEmpty, "seed %d", i)
		}
	}
}
