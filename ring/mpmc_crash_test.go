package ring

// The reaping table of mpmc_reap.go, state by state: what a reaper, an
// adopter or a consumer killed after each of its stores leaves, and how the
// next one completes it; and the end of the stream while messages are held.

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMPMCReapProducerPrefixes leaves a dead producer's reservation at
// position 1 as a reaper killed after each of its stores would, and checks
// that the next Reap completes it: the slot is a skip record, the entry
// free, and the message behind it arrives.
func TestMPMCReapProducerPrefixes(t *testing.T) {
	steps := []struct {
		name  string
		leave func(m *MPMC, p uint64)
	}{
		{"nothing done", func(m *MPMC, p uint64) {}},
		{"sleeper bits cleared", func(m *MPMC, p uint64) { m.clearSleeper(1) }},
		{"header written", func(m *MPMC, p uint64) { putHeader(m.header(p), 0, flagSkip) }},
		{"skip published", func(m *MPMC, p uint64) {
			putHeader(m.header(p), 0, flagSkip)
			m.seqWord(p).Store(p + 1)
		}},
		{"intent cleared", func(m *MPMC, p uint64) {
			putHeader(m.header(p), 0, flagSkip)
			m.seqWord(p).Store(p + 1)
			m.Entry(1).Intent.Store(0)
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			m := newMPMCRing(t, mpGeo)
			live, dead := mpProducer(t, m, 0), mpProducer(t, m, 1)
			c := mpConsumer(t, m, 2)
			mpSend(t, live, []byte("one"))
			_, err := dead.TryReserve(8)
			require.NoError(t, err)
			mpSend(t, live, []byte("two"))
			step.leave(m, dead.pos)

			r, err := m.Reap(1, aliveExcept(1))
			require.NoError(t, err)
			assert.True(t, r.Freed())
			assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
			assert.Equal(t, []byte("one"), mpRecv(t, c))
			assert.Equal(t, []byte("two"), mpRecv(t, c), "the dead producer's slot is passed over")
			assert.True(t, c.PassedSkip())
			assert.False(t, c.PassedSkip(), "reported once")
		})
	}
}

// TestMPMCOrphanLifecycle follows a dead consumer's message through Reap,
// Orphaned, Adopt and Release, and the repairs of a dead adopter: Disown,
// or a Reap that finds the entry adopted with its lock free.
func TestMPMCOrphanLifecycle(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p := mpProducer(t, m, 0)
	dead, a, b := mpConsumer(t, m, 1), mpConsumer(t, m, 2), mpConsumer(t, m, 3)
	mpSend(t, p, []byte("orphan"))
	require.NoError(t, mpPeekErr(dead))
	orphans, err := m.Orphaned()
	require.NoError(t, err)
	assert.Zero(t, orphans)

	r, err := m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.True(t, r.Orphan)
	orphans, err = m.Orphaned()
	require.NoError(t, err)
	assert.Equal(t, uint64(1<<1), orphans)
	assert.True(t, m.Readable())
	r, err = m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.True(t, r.Orphan, "an orphan again")

	msg, err := a.Adopt(1)
	require.NoError(t, err)
	assert.Equal(t, []byte("orphan"), msg)
	assert.Equal(t, uint32(EntryAdopted), m.Entry(1).State.Load())
	orphans, err = m.Orphaned()
	require.NoError(t, err)
	assert.Zero(t, orphans, "an adopted orphan is not offered to others")
	assert.False(t, m.Readable(), "nothing another consumer can take")

	assert.True(t, a.Disown(), "the adopter leaves without releasing")
	assert.False(t, a.Holding())
	assert.False(t, a.Disown())
	assert.Equal(t, uint32(EntryOrphan), m.Entry(1).State.Load())
	msg, err = b.Adopt(1)
	require.NoError(t, err)
	assert.Equal(t, []byte("orphan"), msg)

	// b dies holding it: the entry is adopted and its lock free.
	r, err = m.Reap(1, aliveExcept(1, 3))
	require.NoError(t, err)
	assert.Equal(t, Reaped{State: EntryAdopted, Position: 0, Orphan: true}, r)
	assert.Equal(t, uint32(EntryOrphan), m.Entry(1).State.Load())
	msg, err = a.Adopt(1)
	require.NoError(t, err)
	assert.Equal(t, []byte("orphan"), msg)
	a.Release()
	assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
	assert.Zero(t, m.Orphans.Load())
}

// TestMPMCJoinClearsStaleBits joins an entry whose bits a dead owner or
// adopter left set.
func TestMPMCJoinClearsStaleBits(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	m.Orphans.Store(1<<1 | 1<<2)
	m.DataSleepers.Store(1<<1 | 1<<2)
	m.SpaceSleepers.Store(1 << 1)
	mpConsumer(t, m, 1)
	assert.Equal(t, uint64(1<<2), m.Orphans.Load())
	assert.Equal(t, uint64(1<<2), m.DataSleepers.Load())
	assert.Zero(t, m.SpaceSleepers.Load())
	orphans, err := m.Orphaned()
	require.NoError(t, err)
	assert.Zero(t, orphans, "a bit without an orphan state is only a hint")
}

// TestMPMCOrphanedOutsideTable sets Orphans bits that name no entry.
func TestMPMCOrphanedOutsideTable(t *testing.T) {
	g := MPMCGeometry{SlotSize: 8, Slots: 2, Participants: 4}
	m := newMPMCRing(t, g)
	m.Orphans.Store(1<<63 | 1<<4 | 1<<2)
	assert.True(t, m.Readable(), "the corrupt word is something to report")
	orphans, err := m.Orphaned()
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Zero(t, orphans)
	assert.Equal(t, uint64(1<<2), m.Orphans.Load(), "the bits outside the table are cleared")
	orphans, err = m.Orphaned()
	require.NoError(t, err)
	assert.Zero(t, orphans)
}

// TestMPMCDrainedWaitsForHolders closes the stream while messages are held:
// by a live consumer, a dead one, an orphan and its adopter. Drained turns
// true only once every one of them is released.
func TestMPMCDrainedWaitsForHolders(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p := mpProducer(t, m, 0)
	c1, c2, c3 := mpConsumer(t, m, 1), mpConsumer(t, m, 2), mpConsumer(t, m, 3)
	mpSend(t, p, []byte("one"))
	mpSend(t, p, []byte("two"))
	require.NoError(t, mpPeekErr(c1))
	require.NoError(t, mpPeekErr(c2))
	m.Closed.Store(1)
	require.Equal(t, m.Enq.Load(), m.Deq.Load())
	assert.False(t, m.Drained(), "two consumers hold messages")

	c1.Release()
	assert.False(t, m.Drained(), "c2 still holds one")
	// c2 dies: its entry names the message until the reap makes it an
	// orphan, which names it until its adopter releases it.
	r, err := m.Reap(2, aliveExcept(2))
	require.NoError(t, err)
	require.True(t, r.Orphan)
	assert.False(t, m.Drained(), "an orphan holds a message")
	_, err = c3.Adopt(2)
	require.NoError(t, err)
	assert.False(t, m.Drained(), "an adopter holds a message")
	c3.Release()
	assert.True(t, m.Drained())
}
