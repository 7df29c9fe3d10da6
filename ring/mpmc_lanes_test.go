package ring

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// laneGeo is the geometry of the lane tests: two lanes of four slots.
var laneGeo = MPMCGeometry{SlotSize: 64, Slots: 8, Participants: 8, Lanes: 2}

// TestMPMCLaneWords checks that the words of lanes 1 on lie in their table
// after the participant table, that Init starts each lane at its base, and
// that a position maps to its lane's slots, a lap apart sharing one.
func TestMPMCLaneWords(t *testing.T) {
	g := MPMCGeometry{SlotSize: 64, Slots: 16, Participants: 8, Lanes: 4}
	region := make([]byte, g.RegionSize())
	m, err := NewMPMC(region, g)
	require.NoError(t, err)
	ne := binary.NativeEndian
	require.Len(t, m.Lanes(), 4)
	assert.Equal(t, uint64(4), m.LaneSlots())
	assert.Same(t, m.Enq, m.Lanes()[0].Enq, "lane 0 is the ring's enq and deq")
	assert.Same(t, m.Deq, m.Lanes()[0].Deq)
	for l, lane := range m.Lanes()[1:] {
		off := 4096 + 8*256 + 256*l
		lane.Enq.Store(0x1111 + uint64(l))
		lane.Deq.Store(0x2222 + uint64(l))
		assert.Equal(t, 0x1111+uint64(l), ne.Uint64(region[off:]), "lane %d enq", l+1)
		assert.Equal(t, 0x2222+uint64(l), ne.Uint64(region[off+128:]), "lane %d deq", l+1)
	}
	slots := int(g.slotsOffset())
	assert.Equal(t, 8192, slots)
	m.Init()
	for l, lane := range m.Lanes() {
		base := uint64(l) << laneBit
		assert.Equal(t, base, lane.Base)
		assert.Equal(t, base, lane.Enq.Load(), "lane %d enq", l)
		assert.Equal(t, base, lane.Deq.Load(), "lane %d deq", l)
		for j := range 4 {
			off := slots + (4*l+j)*int(g.stride())
			assert.Equal(t, base+uint64(j), ne.Uint64(region[off:]), "seq of slot %d of lane %d", j, l)
			assert.Same(t, m.seqWord(base+uint64(j)), m.seqWord(base+uint64(j)+4), "a lap apart")
		}
	}
}

// TestMPMCLaneHomes checks that Join gives each endpoint the lane with the
// fewest others of its role, the lowest on a tie, and that producers and
// consumers are counted apart.
func TestMPMCLaneHomes(t *testing.T) {
	g := MPMCGeometry{SlotSize: 64, Slots: 16, Participants: 16, Lanes: 4}
	m := newMPMCRing(t, g)
	for i := range 5 {
		p := mpProducer(t, m, i)
		assert.Equal(t, i%4, p.Lane(), "producer %d", i)
	}
	c := mpConsumer(t, m, 5)
	assert.Equal(t, uint64(0), c.lane, "consumers start apart from the producers' count")
	require.NoError(t, m.Leave(2))
	assert.Equal(t, 2, mpProducer(t, m, 6).Lane(), "the lane the leaver had")
	m.Entry(7).Lane.Store(1<<63 | 1)
	m.Entry(7).State.Store(EntryProducer)
	assert.Equal(t, 2, mpProducer(t, m, 8).Lane(), "a hostile lane word counts modulo the lanes")
}

// TestMPMCLanesFillApart checks that a lane fills on its own: a producer
// whose lane is full gets ErrFull (and Writable says so) while a producer
// of the other lane still has room, and a consumer gets every message,
// each producer's in order.
func TestMPMCLanesFillApart(t *testing.T) {
	m := newMPMCRing(t, laneGeo)
	a, b := mpProducer(t, m, 0), mpProducer(t, m, 1)
	c := mpConsumer(t, m, 2)
	require.Equal(t, []int{0, 1}, []int{a.Lane(), b.Lane()})
	for i := range 4 {
		mpSend(t, a, []byte(fmt.Sprintf("a%d", i)))
	}
	require.ErrorIs(t, mpReserveErr(a, 8), ErrFull)
	assert.False(t, a.Writable())
	assert.True(t, b.Writable())
	for i := range 4 {
		mpSend(t, b, []byte(fmt.Sprintf("b%d", i)))
	}
	require.ErrorIs(t, mpReserveErr(b, 8), ErrFull)
	next := map[byte]int{}
	for range 8 {
		msg := mpRecv(t, c)
		require.Equal(t, fmt.Sprintf("%c%d", msg[0], next[msg[0]]), string(msg))
		next[msg[0]]++
	}
	assert.Equal(t, map[byte]int{'a': 4, 'b': 4}, next)
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty)
	assert.True(t, a.Writable())
	assert.False(t, m.Readable())
	m.Closed.Store(1)
	assert.True(t, m.Drained())
}

// TestMPMCLanesTurns checks that a consumer does not drain one lane alone
// while its producer keeps it from running dry: a message waiting in the
// other lane arrives within laneTurn claims.
func TestMPMCLanesTurns(t *testing.T) {
	m := newMPMCRing(t, laneGeo)
	a, b := mpProducer(t, m, 0), mpProducer(t, m, 1)
	c := mpConsumer(t, m, 2)
	for range 4 {
		mpSend(t, a, []byte("a"))
	}
	mpSend(t, b, []byte("b"))
	for i := range laneTurn + 2 {
		msg := mpRecv(t, c)
		if string(msg) == "b" {
			assert.LessOrEqual(t, i, laneTurn, "claims before the other lane's turn")
			return
		}
		mpSend(t, a, []byte("a"))
	}
	t.Fatalf("the message of lane 1 did not arrive in %d claims", laneTurn+2)
}

// TestMPMCLanesHostile checks the lane checks on shared words: a lane's
// enq or deq that holds a position of another lane, and a range that
// crosses lanes or names a lane the ring does not have, are ErrCorrupt,
// and nothing is claimed.
func TestMPMCLanesHostile(t *testing.T) {
	t.Run("enq", func(t *testing.T) {
		m := newMPMCRing(t, laneGeo)
		require.NoError(t, m.Join(0, EntryProducer, 1, 0))
		b := mpProducer(t, m, 2)
		require.Equal(t, 1, b.Lane())
		m.Lanes()[1].Enq.Store(0)
		require.ErrorIs(t, mpReserveErr(b, 8), ErrCorrupt)
		assert.Zero(t, m.Entry(2).Intent.Load(), "the failed claim names nothing")
		assert.Zero(t, m.Enq.Load(), "lane 0 untouched")
	})
	t.Run("deq", func(t *testing.T) {
		m := newMPMCRing(t, laneGeo)
		c := mpConsumer(t, m, 0)
		m.Lanes()[0].Deq.Store(1 << laneBit)
		require.ErrorIs(t, mpPeekErr(c), ErrCorrupt)
		assert.Zero(t, m.Entry(0).Intent.Load(), "the failed claim names nothing")
	})
	for _, tt := range []struct {
		name       string
		start, end uint64
	}{
		{"range across lanes", 1<<laneBit - 1, 1<<laneBit + 1},
		{"lane outside the ring", 3 << laneBit, 3<<laneBit + 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMPMCRing(t, laneGeo)
			e := m.Entry(3)
			mpNameRange(e, tt.start, tt.end)
			e.State.Store(EntryConsumer)
			_, _, ok := m.entryRange(e)
			assert.False(t, ok)
			_, err := m.Reap(3, aliveExcept(3))
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

// TestMPMCLanesReap checks the reaps in a lane other than 0: a dead
// producer's unfinished slot there becomes a skip record, a dead
// consumer's message there an orphan that a consumer adopts, and the end
// of the stream waits for it.
func TestMPMCLanesReap(t *testing.T) {
	m := newMPMCRing(t, laneGeo)
	require.NoError(t, m.Join(0, EntryProducer, 1, 0))
	dead := mpProducer(t, m, 1)
	live := mpProducer(t, m, 2)
	require.Equal(t, 1, dead.Lane())
	_, err := dead.TryReserve(8)
	require.NoError(t, err)
	base := m.Lanes()[1].Base
	mpSend(t, live, []byte("after")) // lane 0
	r, err := m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.True(t, r.Skipped)
	assert.Equal(t, base, r.Position)
	assert.Equal(t, base+1, m.seqWord(base).Load(), "the skip is published")

	c := mpConsumer(t, m, 3)
	msg, err := c.TryPeek()
	require.NoError(t, err)
	require.Equal(t, "after", string(msg))
	// The consumer dies holding it: the reap hands it to an orphan.
	m.Closed.Store(1)
	assert.False(t, m.Drained(), "a message is held")
	r, err = m.Reap(3, aliveExcept(3))
	require.NoError(t, err)
	require.True(t, r.Orphan, "%+v", r)
	adopter := mpConsumer(t, m, 4)
	msg, err = adopter.Adopt(3)
	require.NoError(t, err)
	assert.Equal(t, "after", string(msg))
	adopter.Release()
	require.ErrorIs(t, mpPeekErr(adopter), ErrEmpty, "the skip of lane 1 is passed over")
	assert.True(t, m.Drained())
}
