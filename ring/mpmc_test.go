package ring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mpGeo is the geometry of most MPMC tests: 8 slots of 64 bytes, 8 entries.
var mpGeo = MPMCGeometry{SlotSize: 64, Slots: 8, Participants: 8}

// mpWatchdog bounds a concurrent MPMC test that stopped making progress.
const mpWatchdog = 2 * time.Minute

// newMPMCRing returns an initialised ring of geometry g over a fresh region.
// Go heap allocations of this size are 8-byte aligned.
func newMPMCRing(tb testing.TB, g MPMCGeometry) *MPMC {
	tb.Helper()
	m, err := NewMPMC(make([]byte, g.RegionSize()), g)
	require.NoError(tb, err)
	m.Init()
	return m
}

// mpProducer joins entry i as a producer and returns its endpoint.
func mpProducer(tb testing.TB, m *MPMC, i int) *MPMCProducer {
	tb.Helper()
	require.NoError(tb, m.Join(i, EntryProducer, uint32(1000+i), 0))
	p, err := m.NewProducer(i)
	require.NoError(tb, err)
	return p
}

// mpConsumer joins entry i as a consumer and returns its endpoint.
func mpConsumer(tb testing.TB, m *MPMC, i int) *MPMCConsumer {
	tb.Helper()
	require.NoError(tb, m.Join(i, EntryConsumer, uint32(1000+i), 0))
	c, err := m.NewConsumer(i)
	require.NoError(tb, err)
	return c
}

// mpSend reserves, fills and commits one message.
func mpSend(tb testing.TB, p *MPMCProducer, msg []byte) {
	tb.Helper()
	buf, err := p.TryReserve(len(msg))
	require.NoError(tb, err)
	copy(buf, msg)
	p.Commit(len(msg))
}

// mpRecv peeks, copies and releases one message.
func mpRecv(tb testing.TB, c *MPMCConsumer) []byte {
	tb.Helper()
	b, err := c.TryPeek()
	require.NoError(tb, err)
	msg := append([]byte{}, b...)
	c.Release()
	return msg
}

// mpPeekErr returns the error of one TryPeek.
func mpPeekErr(c *MPMCConsumer) error {
	_, err := c.TryPeek()
	return err
}

// mpReserveErr returns the error of one TryReserve(n).
func mpReserveErr(p *MPMCProducer, n int) error {
	_, err := p.TryReserve(n)
	return err
}

// aliveExcept returns a liveness callback under which only the given
// entries are dead.
func aliveExcept(dead ...int) func(int) bool {
	return func(i int) bool {
		for _, d := range dead {
			if i == d {
				return false
			}
		}
		return true
	}
}

// mpName makes entry e name the single position intent-1, as a claim of
// one position does: end, then intent.
func mpName(e *Participant, intent uint64) {
	e.End.Store(intent)
	e.Intent.Store(intent)
}

// mpNameRange makes entry e name the positions [start, end), as a batch
// claim does.
func mpNameRange(e *Participant, start, end uint64) {
	e.End.Store(end)
	e.Intent.Store(start + 1)
}

// mpPattern returns the n-byte message seq of the single-goroutine tests.
func mpPattern(seq uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seq*151 + uint64(i)*13 + 5)
	}
	return b
}

func TestMPMCGeometryValidate(t *testing.T) {
	tests := []struct {
		name string
		g    MPMCGeometry
		ok   bool
	}{
		{"smallest", MPMCGeometry{8, 2, 1, 0}, true},
		{"largest", MPMCGeometry{MPMCMaxSlotSize, MPMCMaxSlots, MPMCMaxParticipants, 0}, true},
		{"typical", MPMCGeometry{4096, 1024, 16, 0}, true},
		{"zero", MPMCGeometry{}, false},
		{"slot size 0", MPMCGeometry{0, 8, 4, 0}, false},
		{"slot size 4", MPMCGeometry{4, 8, 4, 0}, false},
		{"slot size not a multiple of 8", MPMCGeometry{68, 8, 4, 0}, false},
		{"slot size above the maximum", MPMCGeometry{MPMCMaxSlotSize + 8, 8, 4, 0}, false},
		{"slot size 2^63", MPMCGeometry{1 << 63, 8, 4, 0}, false},
		{"one slot", MPMCGeometry{64, 1, 4, 0}, false},
		{"zero slots", MPMCGeometry{64, 0, 4, 0}, false},
		{"slots not a power of two", MPMCGeometry{64, 12, 4, 0}, false},
		{"slots above the maximum", MPMCGeometry{64, MPMCMaxSlots * 2, 4, 0}, false},
		{"slots 2^63", MPMCGeometry{64, 1 << 63, 4, 0}, false},
		{"no participants", MPMCGeometry{64, 8, 0, 0}, false},
		{"65 participants", MPMCGeometry{64, 8, MPMCMaxParticipants + 1, 0}, false},
		{"participants 2^64-1", MPMCGeometry{64, 8, math.MaxUint64, 0}, false},
		{"lanes", MPMCGeometry{64, 8, 4, 4}, true},
		{"most lanes", MPMCGeometry{64, 128, 4, MPMCMaxLanes}, true},
		{"lanes of two slots", MPMCGeometry{64, 8, 4, 4}, true},
		{"lanes of one slot", MPMCGeometry{64, 8, 4, 8}, false},
		{"lanes not a power of two", MPMCGeometry{64, 8, 4, 3}, false},
		{"lanes above the maximum", MPMCGeometry{64, 1024, 4, MPMCMaxLanes * 2}, false},
		{"lanes 2^63", MPMCGeometry{64, 8, 4, 1 << 63}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.g.Validate()
			g, perr := GeometryFromParams(tt.g.Params())
			if tt.ok {
				require.NoError(t, err)
				require.NoError(t, perr)
				assert.Equal(t, tt.g, g, "Params and GeometryFromParams round trip")
				return
			}
			require.ErrorIs(t, err, os.ErrInvalid)
			assert.Contains(t, err.Error(), "ring: mpmc ")
			require.ErrorIs(t, perr, ErrCorrupt, "invalid params in a header are corrupt")
			assert.Zero(t, g)
			_, err = NewMPMC(make([]byte, 1<<16), tt.g)
			require.ErrorIs(t, err, os.ErrInvalid)
		})
	}

	t.Run("one lane", func(t *testing.T) {
		g := mpGeo
		g.Lanes = 1
		require.NoError(t, g.Validate())
		p := g.Params()
		assert.Zero(t, p[3], "one lane is stored as 0, as before lanes existed")
		p[3] = 1
		_, err := GeometryFromParams(p)
		require.ErrorIs(t, err, ErrCorrupt, "only Params writes the header, and never 1")
	})
}

func TestMPMCRegionSize(t *testing.T) {
	tests := []struct {
		g      MPMCGeometry
		stride uint64
		slots  uint64 // offset of the slot area
	}{
		{MPMCGeometry{8, 2, 1, 0}, 64, 8192},
		{MPMCGeometry{48, 8, 16, 0}, 64, 8192},
		{MPMCGeometry{56, 8, 17, 0}, 128, 12288},
		{MPMCGeometry{64, 8, 64, 0}, 128, 4096 + 64*256},
		{MPMCGeometry{4096, 1024, 8, 0}, 4096 + 64, 8192},
		{MPMCGeometry{64, 8, 8, 1}, 128, 8192},
		{MPMCGeometry{64, 8, 8, 4}, 128, 8192},
		{MPMCGeometry{64, 128, 8, 64}, 128, 24576},  // 4096 + 8*256 + 63*256, rounded up
		{MPMCGeometry{64, 128, 64, 64}, 128, 36864}, // 4096 + 64*256 + 63*256, rounded up
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.g), func(t *testing.T) {
			assert.Equal(t, tt.stride, tt.g.stride())
			assert.Equal(t, tt.slots, tt.g.slotsOffset())
			end := tt.slots + tt.g.Slots*tt.stride
			assert.Equal(t, (end+4095)&^4095, tt.g.RegionSize(), "the slots, rounded up to a page")
			assert.Zero(t, tt.g.slotsOffset()%4096, "the slot area is page aligned")
		})
	}
	big := MPMCGeometry{MPMCMaxSlotSize, MPMCMaxSlots, MPMCMaxParticipants, 0}
	assert.Less(t, big.RegionSize(), uint64(1)<<49, "the largest geometry does not overflow")
}

func TestNewMPMCRejects(t *testing.T) {
	size := int(mpGeo.RegionSize())
	buf := make([]byte, size+4096+8)
	for _, n := range []int{0, size - 1, size - 4096, size + 1, size + 4096} {
		_, err := NewMPMC(buf[:n], mpGeo)
		require.ErrorIs(t, err, ErrCorrupt, "%d bytes", n)
		assert.Contains(t, err.Error(), "corrupt ring")
	}
	for shift := 1; shift < 8; shift++ {
		_, err := NewMPMC(buf[shift:shift+size], mpGeo)
		require.ErrorIs(t, err, ErrCorrupt, "shift %d", shift)
	}
	_, err := NewMPMC(buf[8:8+size], mpGeo)
	require.NoError(t, err)
}

// mpWord64 and mpWord32 name a typed word and its offset in the region.
type (
	mpWord64 struct {
		name string
		w    *atomic.Uint64
		off  int
	}
	mpWord32 struct {
		name string
		w    *atomic.Uint32
		off  int
	}
)

// TestMPMCWordOffsets checks that every typed word is the word of the region
// at the offset of the layout diagram, and that Init writes the slot seqs.
func TestMPMCWordOffsets(t *testing.T) {
	g := mpGeo
	region := make([]byte, g.RegionSize())
	m, err := NewMPMC(region, g)
	require.NoError(t, err)
	ne := binary.NativeEndian

	var words64 []mpWord64
	var words32 []mpWord32
	words64 = append(words64, mpWord64{"enq", m.Enq, 0}, mpWord64{"deq", m.Deq, 128},
		mpWord64{"dataSleepers", m.DataSleepers, 392}, mpWord64{"spaceSleepers", m.SpaceSleepers, 520},
		mpWord64{"orphans", m.Orphans, 768}, mpWord64{"noBarrier", m.NoBarrier, 784})
	words32 = append(words32, mpWord32{"closed", m.Closed, 256}, mpWord32{"dataSeq", m.DataSeq, 384},
		mpWord32{"spaceSeq", m.SpaceSeq, 512}, mpWord32{"futexCookie", m.FutexCookie, 640},
		mpWord32{"ready", m.ready, 776})
	for i, e := range m.Events {
		off := 1024 + 128*i
		words32 = append(words32,
			mpWord32{fmt.Sprintf("event %d state", i), e.State, off},
			mpWord32{fmt.Sprintf("event %d seq", i), e.Seq, off + 4},
			mpWord32{fmt.Sprintf("event %d waiters", i), e.Waiters, off + 8})
	}
	for i := range int(g.Participants) {
		e := m.Entry(i)
		off := 4096 + 256*i
		words32 = append(words32,
			mpWord32{fmt.Sprintf("entry %d state", i), e.State, off},
			mpWord32{fmt.Sprintf("entry %d pid", i), e.Pid, off + 4})
		words64 = append(words64,
			mpWord64{fmt.Sprintf("entry %d generation", i), e.Generation, off + 8},
			mpWord64{fmt.Sprintf("entry %d intent", i), e.Intent, off + 16},
			mpWord64{fmt.Sprintf("entry %d end", i), e.End, off + 24},
			mpWord64{fmt.Sprintf("entry %d lane", i), e.Lane, off + 32},
			mpWord64{fmt.Sprintf("entry %d pid namespace", i), e.PidNS, off + 40})
		for k, w := range e.Stats {
			words64 = append(words64, mpWord64{fmt.Sprintf("entry %d stat %d", i, k), w, off + 128 + 8*k})
		}
	}
	for i, w := range words64 {
		v := uint64(0x0102030405060000) + uint64(i)
		w.w.Store(v)
		assert.Equal(t, v, ne.Uint64(region[w.off:]), w.name)
	}
	for i, w := range words32 {
		v := uint32(0xa0b0c000) + uint32(i)
		w.w.Store(v)
		assert.Equal(t, v, ne.Uint32(region[w.off:]), w.name)
	}
	slots := int(g.slotsOffset())
	assert.Equal(t, make([]byte, len(region)-slots), region[slots:], "no control word lies in the slot area")

	m.Init()
	assert.Equal(t, uint32(mpmcReady), ne.Uint32(region[776:]))
	for i := range int(g.Slots) {
		off := slots + i*int(g.stride())
		assert.Equal(t, uint64(i), ne.Uint64(region[off:]), "seq of slot %d", i)
		assert.Equal(t, m.seqWord(uint64(i)), m.seqWord(uint64(i)+g.Slots), "positions a lap apart share a slot")
	}
}

func TestMPMCUninitialised(t *testing.T) {
	m, err := NewMPMC(make([]byte, mpGeo.RegionSize()), mpGeo)
	require.NoError(t, err)
	require.NoError(t, m.Join(0, EntryProducer, 1, 0))
	require.NoError(t, m.Join(1, EntryConsumer, 1, 0))
	_, err = m.NewProducer(0)
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = m.NewConsumer(1)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), "not initialised")

	m.Init()
	_, err = m.NewProducer(0)
	require.NoError(t, err)
	_, err = m.NewConsumer(1)
	require.NoError(t, err)
	_, err = m.NewProducer(1)
	require.ErrorIs(t, err, ErrCorrupt, "entry 1 is a consumer")
	_, err = m.NewConsumer(2)
	require.ErrorIs(t, err, ErrCorrupt, "entry 2 is free")
}

// mpModelRec is a claimed position in the model of TestMPMCRoundTrip.
type mpModelRec struct {
	pos       uint64
	seq       uint64
	n         int
	committed bool
	skip      bool
}

// TestMPMCRoundTrip drives a producer and a consumer in one goroutine through
// random steps over hundreds of laps and checks each step against a model:
// what fits, what is visible, where each message lies and what it holds.
func TestMPMCRoundTrip(t *testing.T) {
	const laps = 500
	g := mpGeo
	m := newMPMCRing(t, g)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	rng := rand.New(rand.NewPCG(7, 8))

	var (
		enq, deq uint64
		recs     []mpModelRec // claimed, not yet claimed by the consumer
		heldP    = -1         // index in recs of the producer's reservation
		heldC    *mpModelRec  // the message the consumer holds
		seq      uint64
		sent     Stats
		stats    = map[string]int{}
	)
	skipHeld := func() {
		if heldP >= 0 {
			recs[heldP].committed, recs[heldP].skip = true, true
			heldP = -1
		}
	}
	for step := 0; deq < laps*g.Slots; step++ {
		require.Less(t, step, 1_000_000, "no progress")
		switch r := rng.IntN(100); {
		case r < 5:
			n := int(g.SlotSize) + 1 + rng.IntN(100)
			if rng.IntN(2) == 0 {
				n = -1 - rng.IntN(8)
			}
			require.ErrorIs(t, mpReserveErr(p, n), ErrTooLarge)
			stats["too large"]++
		case r < 45:
			n := rng.IntN(int(g.SlotSize) + 1)
			released := deq
			if heldC != nil {
				released--
			}
			buf, err := p.TryReserve(n)
			skipHeld()
			if enq-released >= g.Slots {
				require.ErrorIs(t, err, ErrFull, "step %d", step)
				stats["full"]++
				continue
			}
			require.NoError(t, err, "step %d", step)
			require.Len(t, buf, n)
			require.Equal(t, n, cap(buf), "the reservation gives no access past its end")
			off, inside := offsetIn(m.slots, buf)
			require.True(t, inside)
			if n > 0 {
				require.Equal(t, int(m.slotOffset(enq))+slotHeader, off)
			}
			for i := range buf {
				buf[i] = 0xee
			}
			recs = append(recs, mpModelRec{pos: enq})
			heldP = len(recs) - 1
			enq++
			switch rng.IntN(10) {
			case 0: // abandoned: the next TryReserve commits it as a skip
				stats["abandoned"]++
			case 1:
				p.Cancel()
				skipHeld()
				stats["cancelled"]++
			default:
				k := n
				if rng.IntN(5) == 0 {
					k = rng.IntN(n + 1)
					stats["short commit"]++
				}
				copy(buf, mpPattern(seq, k))
				p.Commit(k)
				recs[heldP] = mpModelRec{pos: recs[heldP].pos, seq: seq, n: k, committed: true}
				heldP = -1
				seq++
				sent.MsgsSent++
				sent.BytesSent += uint64(k)
			}
		case r < 90:
			b, err := c.TryPeek()
			if heldC != nil {
				require.NoError(t, err)
				require.Equal(t, mpPattern(heldC.seq, heldC.n), b, "peek again")
				stats["peek again"]++
			} else {
				for len(recs) > 0 && recs[0].skip {
					recs = recs[1:]
					heldP--
					deq++
					stats["skipped"]++
				}
				if len(recs) == 0 || !recs[0].committed {
					require.ErrorIs(t, err, ErrEmpty, "step %d", step)
					stats["empty"]++
					continue
				}
				require.NoError(t, err, "step %d", step)
				rec := recs[0]
				recs = recs[1:]
				heldP--
				heldC = &rec
				deq++
				require.Equal(t, mpPattern(rec.seq, rec.n), b, "step %d: message %d", step, rec.seq)
				require.Equal(t, rec.n, cap(b))
				off, inside := offsetIn(m.slots, b)
				require.True(t, inside)
				if rec.n > 0 {
					require.Equal(t, int(m.slotOffset(rec.pos))+slotHeader, off)
				}
			}
			if rng.IntN(4) != 0 {
				c.Release()
				sent.MsgsReceived++
				sent.BytesReceived += uint64(heldC.n)
				heldC = nil
			}
		default:
			p.FlushStats()
			c.FlushStats()
			require.Equal(t, Stats{MsgsSent: sent.MsgsSent, BytesSent: sent.BytesSent}, m.Stats(0))
			require.Equal(t, Stats{MsgsReceived: sent.MsgsReceived, BytesReceived: sent.BytesReceived}, m.Stats(1))
		}
		require.Equal(t, enq, m.Enq.Load(), "step %d", step)
		require.Equal(t, deq, m.Deq.Load(), "step %d", step)
		if heldP < 0 {
			require.Zero(t, p.e.Intent.Load(), "a producer without a reservation names nothing")
		} else {
			require.Equal(t, recs[heldP].pos+1, p.e.Intent.Load())
		}
		if heldC == nil {
			require.Zero(t, c.e.Intent.Load(), "a consumer without a slot names nothing")
		} else {
			require.Equal(t, heldC.pos+1, c.e.Intent.Load())
		}
	}
	for _, event := range []string{"too large", "full", "abandoned", "cancelled", "short commit",
		"peek again", "skipped", "empty"} {
		assert.Positive(t, stats[event], "the random walk never hit %q", event)
	}
	t.Logf("%d messages, %d laps: %v", seq, deq/g.Slots, stats)
}

func TestMPMCFullEmptyTooLarge(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty)

	for i := range mpGeo.Slots {
		mpSend(t, p, mpPattern(i, int(mpGeo.SlotSize)))
	}
	require.ErrorIs(t, mpReserveErr(p, 0), ErrFull)
	require.Zero(t, p.e.Intent.Load(), "a failed claim leaves no intent")

	for _, n := range []int{int(mpGeo.SlotSize) + 1, math.MaxInt, -1} {
		err := mpReserveErr(p, n)
		require.ErrorIs(t, err, ErrTooLarge, "%d bytes", n)
		assert.NotErrorIs(t, err, ErrFull)
	}

	b, err := c.TryPeek()
	require.NoError(t, err)
	require.Equal(t, mpPattern(0, int(mpGeo.SlotSize)), b)
	require.ErrorIs(t, mpReserveErr(p, 0), ErrFull, "a held slot is not free")
	c.Release()
	mpSend(t, p, []byte("next lap"))
	require.ErrorIs(t, mpReserveErr(p, 0), ErrFull)

	for i := range mpGeo.Slots - 1 {
		assert.Equal(t, mpPattern(i+1, int(mpGeo.SlotSize)), mpRecv(t, c))
	}
	assert.Equal(t, []byte("next lap"), mpRecv(t, c))
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty)
	require.Zero(t, c.e.Intent.Load())
	assert.False(t, m.Drained(), "not closed")
}

func TestMPMCSkipRecords(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)

	buf, err := p.TryReserve(10)
	require.NoError(t, err)
	copy(buf, "abandoned!")
	mpSend(t, p, []byte("one")) // commits the first reservation as a skip
	_, err = p.TryReserve(5)
	require.NoError(t, err)
	p.Cancel()
	p.Cancel() // nothing outstanding: no-op
	mpSend(t, p, []byte("two"))
	_, err = p.TryReserve(5)
	require.NoError(t, err)
	p.Cancel()
	require.Equal(t, uint64(5), m.Enq.Load())

	assert.Equal(t, []byte("one"), mpRecv(t, c))
	assert.Equal(t, uint64(2), m.Deq.Load(), "the skip before it was passed over")
	assert.Equal(t, []byte("two"), mpRecv(t, c))
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty)
	assert.Equal(t, uint64(5), m.Deq.Load(), "trailing skips are passed over too")
	for i := range uint64(5) {
		assert.Equal(t, i+mpGeo.Slots, m.seqWord(i).Load(), "slot %d freed for the next lap", i)
	}

	p.FlushStats()
	c.FlushStats()
	assert.Equal(t, Stats{MsgsSent: 2, BytesSent: 6}, m.Stats(0), "skips are not counted")
	assert.Equal(t, Stats{MsgsReceived: 2, BytesReceived: 6}, m.Stats(1))
}

// TestMPMCPanics covers the preconditions the local caller must keep.
func TestMPMCPanics(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	assert.Panics(t, func() { p.Commit(0) }, "Commit without a reservation")
	_, err := p.TryReserve(8)
	require.NoError(t, err)
	assert.Panics(t, func() { p.Commit(9) }, "Commit of more than reserved")
	assert.Panics(t, func() { p.Commit(-1) }, "Commit of a negative length")
	p.Commit(8)
	assert.Panics(t, func() { p.Commit(8) }, "Commit twice")
	_, err = p.TryReserve(8)
	require.NoError(t, err)
	require.ErrorIs(t, mpReserveErr(p, 100), ErrTooLarge)
	p.Commit(8) // ErrTooLarge left the reservation alone

	assert.Panics(t, c.Release, "Release without a slot")
	mpRecv(t, c)
	assert.Panics(t, c.Release, "Release twice")
	_, err = c.TryPeek()
	require.NoError(t, err)
	assert.Panics(t, func() { _, _ = c.Adopt(3) }, "Adopt while holding a slot")
	c.Release()
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty)
	assert.Panics(t, c.Release, "Release after ErrEmpty")

	for _, i := range []int{-1, int(mpGeo.Participants), 1 << 20} {
		assert.Panics(t, func() { m.Entry(i) }, "entry %d", i)
		assert.Panics(t, func() { _, _ = m.NewProducer(i) }, "producer %d", i)
		assert.Panics(t, func() { _, _ = m.Reap(i, aliveExcept()) }, "reap %d", i)
	}
	for _, role := range []uint32{EntryFree, EntryOrphan, 7} {
		assert.Panics(t, func() { _ = m.Join(5, role, 1, 0) }, "join as %d", role)
	}
}

func TestMPMCJoinLeave(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	e := m.Entry(2)
	for gen := uint64(1); gen <= 3; gen++ {
		require.NoError(t, m.Join(2, EntryProducer, uint32(40+gen), 0x500+gen))
		assert.Equal(t, uint32(EntryProducer), e.State.Load())
		assert.Equal(t, gen, e.Generation.Load())
		assert.Equal(t, uint32(40+gen), e.Pid.Load())
		assert.Equal(t, 0x500+gen, e.PidNS.Load())

		err := m.Join(2, EntryConsumer, 99, 0)
		require.ErrorIs(t, err, ErrEntryInUse)
		assert.Contains(t, err.Error(), "ring: join participant 2 in state 1")
		assert.Equal(t, uint32(EntryProducer), e.State.Load(), "a refused join changes nothing")

		p, err := m.NewProducer(2)
		require.NoError(t, err)
		mpSend(t, p, []byte("x"))
		p.Counters().Sleeps += 3
		p.FlushStats()
		assert.Equal(t, Stats{MsgsSent: 1, BytesSent: 1, Sleeps: 3}, m.Stats(2))

		_, err = p.TryReserve(1)
		require.NoError(t, err)
		require.ErrorIs(t, m.Leave(2), ErrEntryInUse, "a reservation is outstanding")
		p.Cancel()
		m.DataSleepers.Store(1<<2 | 1<<5)
		m.SpaceSleepers.Store(1 << 2)
		require.NoError(t, m.Leave(2))
		assert.Equal(t, uint32(EntryFree), e.State.Load())
		assert.Equal(t, uint64(1<<5), m.DataSleepers.Load(), "Leave clears the entry's sleeper bits")
		assert.Zero(t, m.SpaceSleepers.Load())
	}
	require.NoError(t, m.Join(2, EntryConsumer, 7, 0))
	assert.Equal(t, Stats{}, m.Stats(2), "Join zeroes the stats")
	c, err := m.NewConsumer(2)
	require.NoError(t, err)
	for range 3 {
		mpRecv(t, c)
	}
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty, "three messages and three skips")
}

// TestMPMCClosed checks the end of stream: a slot claimed before the close is
// delivered, a claim after it is a skip, Send fails with ErrClosed, and
// Drained becomes true once every claimed position was consumed.
func TestMPMCClosed(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p1, p2 := mpProducer(t, m, 0), mpProducer(t, m, 1)
	c := mpConsumer(t, m, 2)
	assert.False(t, m.Drained())

	mpSend(t, p1, []byte("before"))
	buf, err := p2.TryReserve(6)
	require.NoError(t, err)
	m.Closed.Store(1)
	assert.False(t, m.Drained(), "messages remain")

	err = mpReserveErr(p1, 3)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, os.ErrClosed)
	assert.Equal(t, uint64(3), m.Enq.Load(), "the claim after the close became a skip")
	assert.Zero(t, p1.e.Intent.Load())

	assert.Equal(t, []byte("before"), mpRecv(t, c))
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty, "p2's slot is not committed")
	assert.False(t, m.Drained(), "p2 claimed before the close")

	copy(buf, "during")
	p2.Commit(6)
	assert.False(t, m.Drained())
	assert.Equal(t, []byte("during"), mpRecv(t, c), "claimed before the close: delivered")
	assert.False(t, m.Drained(), "the skip after it is not consumed yet")
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty)
	assert.True(t, m.Drained())

	t.Run("full and closed", func(t *testing.T) {
		m := newMPMCRing(t, mpGeo)
		p := mpProducer(t, m, 0)
		for range mpGeo.Slots {
			mpSend(t, p, []byte("x"))
		}
		require.ErrorIs(t, mpReserveErr(p, 1), ErrFull)
		m.Closed.Store(1)
		require.ErrorIs(t, mpReserveErr(p, 1), ErrClosed, "a full ring reports the close")
		assert.Equal(t, mpGeo.Slots, m.Enq.Load())
	})
}

// TestMPMCReapDeadProducer kills a producer between claim and commit: its
// slot becomes a skip, and everything committed around it arrives.
func TestMPMCReapDeadProducer(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	live, dead := mpProducer(t, m, 0), mpProducer(t, m, 1)
	c := mpConsumer(t, m, 2)

	mpSend(t, live, []byte("one"))
	buf, err := dead.TryReserve(8)
	require.NoError(t, err)
	copy(buf, "torn")
	mpSend(t, live, []byte("two"))
	assert.Equal(t, []byte("one"), mpRecv(t, c))
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty, "the dead producer's slot blocks the ones behind it")
	// dead is not used again: its process died with intent 1+1.
	require.Equal(t, uint64(2), dead.e.Intent.Load())

	r, err := m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.Equal(t, Reaped{State: EntryProducer, Position: 1, Skipped: true}, r)
	assert.True(t, r.Freed())
	assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
	assert.Zero(t, m.Entry(1).Intent.Load())

	assert.Equal(t, []byte("two"), mpRecv(t, c), "the torn slot is passed over")
	require.ErrorIs(t, mpPeekErr(c), ErrEmpty)

	r, err = m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.Equal(t, Reaped{State: EntryFree}, r, "a free entry reaps to nothing")

	// The entry is free: a new producer joins it, and the ring goes on.
	p := mpProducer(t, m, 1)
	assert.Equal(t, uint64(2), m.Entry(1).Generation.Load())
	for i := range 3 * mpGeo.Slots {
		mpSend(t, p, mpPattern(i, 9))
		assert.Equal(t, mpPattern(i, 9), mpRecv(t, c))
	}
}

// TestMPMCReapProducerCases covers the rules that decide whether a dead
// producer's named position is mended.
func TestMPMCReapProducerCases(t *testing.T) {
	t.Run("a live producer names the same position", func(t *testing.T) {
		m := newMPMCRing(t, mpGeo)
		owner := mpProducer(t, m, 0)
		mpProducer(t, m, 1)
		c := mpConsumer(t, m, 2)
		buf, err := owner.TryReserve(4)
		require.NoError(t, err)
		// Entry 1 lost the race for position 0 and then died: it names 0.
		mpName(m.Entry(1), 1)

		r, err := m.Reap(1, aliveExcept(1))
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryProducer, Position: 0, Busy: true}, r)
		assert.False(t, r.Freed())
		assert.Equal(t, uint32(EntryProducer), m.Entry(1).State.Load(), "left for a later reap")
		assert.Equal(t, uint64(0), m.seqWord(0).Load(), "the live owner's slot is untouched")

		copy(buf, "mine")
		owner.Commit(4)
		r, err = m.Reap(1, aliveExcept(1))
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryProducer, Position: 0}, r, "committed: nothing to mend")
		assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
		assert.Equal(t, []byte("mine"), mpRecv(t, c))
	})

	t.Run("a live loser blocks the reap of the dead owner until it moves on", func(t *testing.T) {
		m := newMPMCRing(t, mpGeo)
		dead := mpProducer(t, m, 0)
		loser := mpProducer(t, m, 1)
		c := mpConsumer(t, m, 2)
		_, err := dead.TryReserve(4)
		require.NoError(t, err)
		mpName(loser.e, 1) // stored before its CAS, which fails

		r, err := m.Reap(0, aliveExcept(0))
		require.NoError(t, err)
		assert.True(t, r.Busy)

		mpSend(t, loser, []byte("later")) // its next claim replaces the intent
		r, err = m.Reap(0, aliveExcept(0))
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryProducer, Position: 0, Skipped: true}, r)
		assert.Equal(t, []byte("later"), mpRecv(t, c))
	})

	t.Run("dead non-owners naming the position", func(t *testing.T) {
		m := newMPMCRing(t, mpGeo)
		owner := mpProducer(t, m, 0)
		mpProducer(t, m, 1)
		mpProducer(t, m, 2)
		c := mpConsumer(t, m, 3)
		_, err := owner.TryReserve(4)
		require.NoError(t, err)
		mpName(m.Entry(1), 1)
		mpName(m.Entry(2), 1)
		alive := aliveExcept(0, 1, 2)

		r, err := m.Reap(1, alive)
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryProducer, Position: 0, Skipped: true}, r,
			"whoever of the dead owned it, the owner is dead")
		for _, i := range []int{0, 2} {
			r, err = m.Reap(i, alive)
			require.NoError(t, err)
			assert.Equal(t, Reaped{State: EntryProducer, Position: 0}, r, "entry %d: mended already", i)
		}
		assert.Equal(t, uint64(1), m.seqWord(0).Load(), "one skip, not three")
		require.ErrorIs(t, mpPeekErr(c), ErrEmpty)
		assert.Equal(t, uint64(1), m.Deq.Load())
	})

	t.Run("intent without a claim", func(t *testing.T) {
		m := newMPMCRing(t, mpGeo)
		mpProducer(t, m, 0)
		mpName(m.Entry(0), 1) // died between its intent and its CAS
		r, err := m.Reap(0, aliveExcept(0))
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryProducer, Position: 0}, r)
		assert.Equal(t, uint64(0), m.seqWord(0).Load(), "nothing claimed, nothing mended")
		assert.Zero(t, m.Entry(0).Intent.Load())
	})

	t.Run("without intent", func(t *testing.T) {
		m := newMPMCRing(t, mpGeo)
		p := mpProducer(t, m, 0)
		mpSend(t, p, []byte("kept"))
		r, err := m.Reap(0, func(int) bool { panic("no position, no liveness check") })
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryProducer}, r)
		assert.Equal(t, []byte("kept"), mpRecv(t, mpConsumer(t, m, 1)))
	})
}

// TestMPMCReapDeadConsumer kills a consumer between claim and release: its
// message becomes an orphan that another consumer adopts, and its slot then
// serves the producers again.
func TestMPMCReapDeadConsumer(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p := mpProducer(t, m, 0)
	dead, adopter := mpConsumer(t, m, 1), mpConsumer(t, m, 2)
	mpSend(t, p, []byte("orphaned"))
	mpSend(t, p, []byte("next"))
	b, err := dead.TryPeek()
	require.NoError(t, err)
	require.Equal(t, []byte("orphaned"), b)
	// dead is not used again.

	r, err := m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.Equal(t, Reaped{State: EntryConsumer, Position: 0, Orphan: true}, r)
	assert.False(t, r.Freed())
	assert.Equal(t, uint32(EntryOrphan), m.Entry(1).State.Load())
	assert.Equal(t, uint64(1), m.Entry(1).Intent.Load(), "the orphan keeps naming the slot")
	assert.Equal(t, uint64(1<<1), m.Orphans.Load())
	require.ErrorIs(t, m.Join(1, EntryConsumer, 1, 0), ErrEntryInUse, "an orphan is not free")

	r, err = m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.Equal(t, Reaped{State: EntryOrphan, Position: 0, Orphan: true}, r, "reaping an orphan again")
	assert.Equal(t, uint64(1<<1), m.Orphans.Load())

	assert.Equal(t, []byte("next"), mpRecv(t, adopter), "others go on meanwhile")
	b, err = adopter.Adopt(1)
	require.NoError(t, err)
	assert.Equal(t, []byte("orphaned"), b)
	b, err = adopter.TryPeek()
	require.NoError(t, err)
	assert.Equal(t, []byte("orphaned"), b, "TryPeek returns the adopted slot again")
	assert.Zero(t, adopter.e.Intent.Load(), "the adopter's own intent is not used")
	adopter.Release()
	assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
	assert.Zero(t, m.Entry(1).Intent.Load())
	assert.Zero(t, m.Orphans.Load())
	adopter.FlushStats()
	assert.Equal(t, Stats{MsgsReceived: 2, BytesReceived: 12}, m.Stats(2))

	_, err = adopter.Adopt(1)
	require.ErrorIs(t, err, ErrEmpty, "adopted already")

	for i := range mpGeo.Slots {
		mpSend(t, p, mpPattern(i, 20))
	}
	require.ErrorIs(t, mpReserveErr(p, 0), ErrFull, "every slot, the adopted one too, serves the producer")
	for i := range mpGeo.Slots {
		assert.Equal(t, mpPattern(i, 20), mpRecv(t, adopter))
	}
}

// TestMPMCOrphanRepairs covers the states that a reaper or an adopter
// dying in the middle of its work leaves behind: the next Reap or Adopt of
// the entry repairs each.
func TestMPMCOrphanRepairs(t *testing.T) {
	// orphaned returns a ring whose entry 1 is the orphan of message
	// "lost", with the adopter of entry 2 holding it, and the producer.
	orphaned := func(t *testing.T) (*MPMC, *MPMCProducer, *MPMCConsumer) {
		m := newMPMCRing(t, mpGeo)
		p := mpProducer(t, m, 0)
		dead, adopter := mpConsumer(t, m, 1), mpConsumer(t, m, 2)
		mpSend(t, p, []byte("lost"))
		require.NoError(t, mpPeekErr(dead))
		r, err := m.Reap(1, aliveExcept(1))
		require.NoError(t, err)
		require.True(t, r.Orphan)
		return m, p, adopter
	}
	// checkFreed checks that entry 1 is free, its bit clear, and that the
	// ring still carries messages.
	checkFreed := func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) {
		assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
		assert.Zero(t, m.Entry(1).Intent.Load())
		assert.Zero(t, m.Orphans.Load())
		for i := range 2 * mpGeo.Slots {
			mpSend(t, p, mpPattern(i, 5))
			assert.Equal(t, mpPattern(i, 5), mpRecv(t, c))
		}
	}

	t.Run("adopter died after releasing the slot", func(t *testing.T) {
		m, p, adopter := orphaned(t)
		m.seqWord(0).Store(mpGeo.Slots)
		_, err := adopter.Adopt(1)
		require.ErrorIs(t, err, ErrEmpty)
		assert.NotErrorIs(t, err, ErrCorrupt)
		checkFreed(t, m, p, adopter)
	})
	t.Run("adopter died after clearing the intent", func(t *testing.T) {
		m, p, adopter := orphaned(t)
		m.seqWord(0).Store(mpGeo.Slots)
		m.Entry(1).Intent.Store(0)
		_, err := adopter.Adopt(1)
		require.ErrorIs(t, err, ErrEmpty)
		checkFreed(t, m, p, adopter)
	})
	t.Run("adopter died before clearing the bit", func(t *testing.T) {
		m, p, adopter := orphaned(t)
		m.seqWord(0).Store(mpGeo.Slots)
		m.Entry(1).Intent.Store(0)
		m.Entry(1).State.Store(EntryFree)
		_, err := adopter.Adopt(1)
		require.ErrorIs(t, err, ErrEmpty)
		checkFreed(t, m, p, adopter)
	})
	t.Run("reaper died before setting the bit", func(t *testing.T) {
		m, p, adopter := orphaned(t)
		m.Orphans.Store(0)
		r, err := m.Reap(1, aliveExcept(1))
		require.NoError(t, err)
		assert.True(t, r.Orphan)
		assert.Equal(t, uint64(1<<1), m.Orphans.Load(), "set again")
		b, err := adopter.Adopt(1)
		require.NoError(t, err)
		assert.Equal(t, []byte("lost"), b)
		adopter.Release()
		checkFreed(t, m, p, adopter)
	})
	t.Run("adopter died holding the message", func(t *testing.T) {
		m, p, adopter := orphaned(t)
		_, err := adopter.Adopt(1)
		require.NoError(t, err)
		next := mpConsumer(t, m, 3) // the first adopter is gone
		b, err := next.Adopt(1)
		require.NoError(t, err)
		assert.Equal(t, []byte("lost"), b)
		next.Release()
		checkFreed(t, m, p, next)
	})
}

// TestMPMCReapConsumerCases covers the rules that decide whether a dead
// consumer's named position becomes an orphan.
func TestMPMCReapConsumerCases(t *testing.T) {
	setup := func(t *testing.T) (*MPMC, *MPMCProducer, []*MPMCConsumer) {
		m := newMPMCRing(t, mpGeo)
		p := mpProducer(t, m, 0)
		cs := []*MPMCConsumer{mpConsumer(t, m, 1), mpConsumer(t, m, 2), mpConsumer(t, m, 3)}
		return m, p, cs
	}

	t.Run("a live consumer holds the position", func(t *testing.T) {
		m, p, cs := setup(t)
		mpSend(t, p, []byte("held"))
		_, err := cs[0].TryPeek()
		require.NoError(t, err)
		mpName(m.Entry(2), 1) // lost the race for position 0, then died

		r, err := m.Reap(2, aliveExcept(2))
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryConsumer, Position: 0, Busy: true}, r)
		cs[0].Release()
		r, err = m.Reap(2, aliveExcept(2))
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryConsumer, Position: 0}, r, "released: nothing to adopt")
		assert.Zero(t, m.Orphans.Load())
	})

	t.Run("two dead consumers name the position", func(t *testing.T) {
		m, p, cs := setup(t)
		mpSend(t, p, []byte("once"))
		_, err := cs[0].TryPeek()
		require.NoError(t, err)
		mpName(m.Entry(2), 1)
		alive := aliveExcept(1, 2)

		r, err := m.Reap(2, alive)
		require.NoError(t, err)
		assert.True(t, r.Orphan, "whoever of the dead held it, the holder is dead")
		r, err = m.Reap(1, alive)
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryConsumer, Position: 0}, r, "covered by the orphan")
		assert.Equal(t, uint64(1<<2), m.Orphans.Load(), "adopted once")

		b, err := cs[2].Adopt(2)
		require.NoError(t, err)
		assert.Equal(t, []byte("once"), b)
		cs[2].Release()
		require.ErrorIs(t, mpPeekErr(cs[2]), ErrEmpty)
	})

	t.Run("died holding a skip", func(t *testing.T) {
		m, p, cs := setup(t)
		_, err := p.TryReserve(3)
		require.NoError(t, err)
		p.Cancel()
		// The consumer claimed the skip and died before freeing it.
		mpName(cs[0].e, 1)
		require.True(t, m.Deq.CompareAndSwap(0, 1))

		r, err := m.Reap(1, aliveExcept(1))
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryConsumer, Position: 0}, r)
		assert.Equal(t, mpGeo.Slots, m.seqWord(0).Load(), "the skip was freed")
		assert.Zero(t, m.Orphans.Load())
	})

	t.Run("intent without a claim", func(t *testing.T) {
		m, p, cs := setup(t)
		mpSend(t, p, []byte("free"))
		mpName(m.Entry(1), 1) // died between its intent and its CAS
		r, err := m.Reap(1, aliveExcept(1))
		require.NoError(t, err)
		assert.Equal(t, Reaped{State: EntryConsumer, Position: 0}, r)
		assert.Equal(t, []byte("free"), mpRecv(t, cs[1]))
	})
}

func TestMPMCReapClearsSleepers(t *testing.T) {
	m := newMPMCRing(t, MPMCGeometry{SlotSize: 8, Slots: 2, Participants: 64})
	mpConsumer(t, m, 63)
	m.DataSleepers.Store(math.MaxUint64)
	m.SpaceSleepers.Store(1<<63 | 1)
	r, err := m.Reap(63, aliveExcept(63))
	require.NoError(t, err)
	assert.True(t, r.Freed())
	assert.Equal(t, uint64(math.MaxUint64>>1), m.DataSleepers.Load(), "only bit 63 is cleared")
	assert.Equal(t, uint64(1), m.SpaceSleepers.Load())

	mpProducer(t, m, 0)
	r, err = m.Reap(0, aliveExcept(0))
	require.NoError(t, err)
	assert.True(t, r.Freed())
	assert.Equal(t, uint64(math.MaxUint64>>1&^1), m.DataSleepers.Load())
	assert.Zero(t, m.SpaceSleepers.Load())
}

// TestMPMCHostile writes into the region what a broken or hostile peer
// could, and checks that each operation reports an error instead of
// panicking, looping or handing out bytes outside a slot.
func TestMPMCHostile(t *testing.T) {
	g := mpGeo
	n := g.Slots
	tests := []struct {
		name string
		want error
		run  func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error
	}{
		{"producer: seq ahead, enq not moving", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.seqWord(0).Store(12345)
			return mpReserveErr(p, 1)
		}},
		{"producer: seq of 2^64-1", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.seqWord(0).Store(math.MaxUint64)
			return mpReserveErr(p, 1)
		}},
		{"producer: seq mid-lap behind", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.Enq.Store(3 * n)
			m.Deq.Store(3 * n)
			m.seqWord(0).Store(3*n - 3)
			return mpReserveErr(p, 1)
		}},
		{"producer: enq far ahead of deq", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.Enq.Store(1000 * n)
			return mpReserveErr(p, 1)
		}},
		{"producer: enq at the top", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.Enq.Store(math.MaxUint64)
			return mpReserveErr(p, 1)
		}},
		{"consumer: deq far ahead of enq", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.Deq.Store(1000 * n)
			return mpPeekErr(c)
		}},
		{"consumer: seq ahead, deq not moving", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.seqWord(0).Store(5)
			return mpPeekErr(c)
		}},
		{"consumer: seq behind", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.seqWord(0).Store(math.MaxUint64)
			return mpPeekErr(c)
		}},
		{"consumer: length above the slot size", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			mpSend(t, p, []byte("x"))
			putHeader(m.header(0), g.SlotSize+1, 0)
			return mpPeekErr(c)
		}},
		{"consumer: length 2^32-1", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			mpSend(t, p, []byte("x"))
			putHeader(m.header(0), math.MaxUint32, 0)
			return mpPeekErr(c)
		}},
		{"consumer: unknown flags", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			mpSend(t, p, []byte("x"))
			putHeader(m.header(0), 1, 2)
			return mpPeekErr(c)
		}},
		{"uninitialised slots", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			for i := range n {
				m.seqWord(i).Store(0)
			}
			mpSend(t, p, []byte("slot 0 looks fresh"))
			assert.Equal(t, []byte("slot 0 looks fresh"), mpRecv(t, c))
			return mpReserveErr(p, 1)
		}},
		{"uninitialised slots, consumer ahead", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			for i := range n {
				m.seqWord(i).Store(0)
			}
			m.Deq.Store(2)
			m.Enq.Store(2)
			return mpPeekErr(c)
		}},
		{"reap: unknown state", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			m.Entry(5).State.Store(77)
			mpName(m.Entry(5), 1)
			_, err := m.Reap(5, aliveExcept(5))
			assert.Equal(t, uint32(EntryFree), m.Entry(5).State.Load(), "freed")
			assert.Zero(t, m.Entry(5).Intent.Load())
			return err
		}},
		{"adopt: orphan of a slot never committed", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			_, err := p.TryReserve(1)
			require.NoError(t, err)
			m.Deq.Store(1)
			m.Entry(5).State.Store(EntryOrphan)
			mpName(m.Entry(5), 1)
			m.Orphans.Store(1 << 5)
			_, err = c.Adopt(5)
			assert.Equal(t, uint32(EntryFree), m.Entry(5).State.Load(), "nothing to adopt: freed")
			assert.Zero(t, m.Orphans.Load())
			p.Cancel()
			return err
		}},
		{"adopt: orphan of a position nobody claimed", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			mpSend(t, p, []byte("not claimed"))
			m.Entry(5).State.Store(EntryOrphan)
			mpName(m.Entry(5), 1)
			_, err := c.Adopt(5)
			assert.Equal(t, []byte("not claimed"), mpRecv(t, c), "delivered once, the normal way")
			return err
		}},
		{"adopt: corrupt length", ErrCorrupt, func(t *testing.T, m *MPMC, p *MPMCProducer, c *MPMCConsumer) error {
			mpSend(t, p, []byte("x"))
			require.True(t, m.Deq.CompareAndSwap(0, 1))
			m.Entry(5).State.Store(EntryOrphan)
			mpName(m.Entry(5), 1)
			putHeader(m.header(0), g.SlotSize+8, 0)
			_, err := c.Adopt(5)
			require.ErrorIs(t, err, ErrCorrupt)
			c.Release() // discards it
			assert.Equal(t, uint32(EntryFree), m.Entry(5).State.Load())
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMPMCRing(t, g)
			p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
			var err error
			require.NotPanics(t, func() { err = tt.run(t, m, p, c) })
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), "ring: ")
			assert.Zero(t, p.e.Intent.Load(), "an error leaves no producer intent")
		})
	}
}

// TestMPMCCorruptSlotIsHeld checks that a corrupt slot stays claimed until
// Release discards it, and that the ring then goes on.
func TestMPMCCorruptSlotIsHeld(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	mpSend(t, p, []byte("bad"))
	mpSend(t, p, []byte("good"))
	putHeader(m.header(0), mpGeo.SlotSize+1, 0)
	require.ErrorIs(t, mpPeekErr(c), ErrCorrupt)
	require.ErrorIs(t, mpPeekErr(c), ErrCorrupt, "the same slot again")
	assert.Equal(t, uint64(1), m.Deq.Load())
	assert.Equal(t, uint64(1), c.e.Intent.Load(), "held")
	c.Release()
	assert.Equal(t, mpGeo.Slots, m.seqWord(0).Load(), "discarded: the slot is free")
	assert.Equal(t, []byte("good"), mpRecv(t, c))
	c.FlushStats()
	assert.Equal(t, Stats{MsgsReceived: 1, BytesReceived: 4}, m.Stats(1), "a discarded slot is not counted")
}

// TestMPMCTwoSlots runs the smallest ring, where full and empty are one slot
// apart, through many laps.
func TestMPMCTwoSlots(t *testing.T) {
	g := MPMCGeometry{SlotSize: 8, Slots: 2, Participants: 2}
	m := newMPMCRing(t, g)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	for lap := range uint64(100) {
		mpSend(t, p, mpPattern(2*lap, 8))
		mpSend(t, p, mpPattern(2*lap+1, 8))
		require.ErrorIs(t, mpReserveErr(p, 0), ErrFull)
		require.Equal(t, mpPattern(2*lap, 8), mpRecv(t, c))
		require.Equal(t, mpPattern(2*lap+1, 8), mpRecv(t, c))
		require.ErrorIs(t, mpPeekErr(c), ErrEmpty)
	}
}

// Stress messages: [0,4) producer id, [4,12) sequence number, [12,16)
// CRC-32 of the body, then the body.
const mpStressHeader = 16

// mpFillStress writes message seq of producer id into b.
func mpFillStress(b []byte, id uint32, seq uint64, rng *rand.Rand) {
	body := b[mpStressHeader:]
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	binary.LittleEndian.PutUint32(b, id)
	binary.LittleEndian.PutUint64(b[4:], seq)
	binary.LittleEndian.PutUint32(b[12:], crc32.ChecksumIEEE(body))
}

// mpCheckStress returns the producer and sequence number of stress message b.
func mpCheckStress(b []byte, producers int) (int, uint64, error) {
	if len(b) < mpStressHeader {
		return 0, 0, fmt.Errorf("message of %d bytes", len(b))
	}
	id, seq := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint64(b[4:])
	if int(id) >= producers {
		return 0, 0, fmt.Errorf("message from producer %d", id)
	}
	if got, want := crc32.ChecksumIEEE(b[mpStressHeader:]), binary.LittleEndian.Uint32(b[12:]); got != want {
		return 0, 0, fmt.Errorf("message %d of producer %d: checksum %#x, want %#x", seq, id, got, want)
	}
	return int(id), seq, nil
}

// mpProduce sends count stress messages as producer id, spinning on ErrFull:
// one at a time with TryReserve and Commit when batch is 1, otherwise with
// TryReserveBatch of 1 to batch positions and CommitNext.
func mpProduce(p *MPMCProducer, id uint32, count uint64, slotSize, batch int, deadline time.Time) error {
	rng := rand.New(rand.NewPCG(uint64(id), 99))
	msg := make([]byte, slotSize)
	for seq := uint64(0); seq < count; {
		n := mpStressHeader + rng.IntN(slotSize-mpStressHeader+1)
		var buf []byte
		k, err := 1, error(nil)
		if batch == 1 {
			buf, err = p.TryReserve(n)
		} else {
			k, err = p.TryReserveBatch(min(1+rng.IntN(batch), int(count-seq)))
		}
		if errors.Is(err, ErrFull) {
			if time.Now().After(deadline) {
				return fmt.Errorf("producer %d stuck at message %d", id, seq)
			}
			runtime.Gosched()
			continue
		}
		if err != nil {
			return fmt.Errorf("producer %d, message %d: %w", id, seq, err)
		}
		if batch == 1 {
			mpFillStress(buf, id, seq, rng)
			p.Commit(n)
			seq++
			continue
		}
		for range k {
			mpFillStress(msg[:n], id, seq, rng)
			p.CommitNext(msg[:n])
			seq++
			n = mpStressHeader + rng.IntN(slotSize-mpStressHeader+1)
		}
	}
	p.FlushStats()
	return nil
}

// mpConsume receives stress messages until the stream is drained, checking
// each and the per-producer order, and returns the sequence numbers it got
// from each producer. It claims up to batch positions at a time
// (TryPeekBatch).
func mpConsume(m *MPMC, c *MPMCConsumer, producers, batch int, deadline time.Time) ([][]uint64, error) {
	got := make([][]uint64, producers)
	for {
		b, err := c.TryPeekBatch(batch)
		if errors.Is(err, ErrEmpty) {
			if m.Drained() {
				c.FlushStats()
				return got, nil
			}
			if time.Now().After(deadline) {
				return got, errors.New("consumer stuck")
			}
			runtime.Gosched()
			continue
		}
		if err != nil {
			return got, err
		}
		id, seq, err := mpCheckStress(b, producers)
		if err != nil {
			return got, err
		}
		if k := len(got[id]); k > 0 && got[id][k-1] >= seq {
			return got, fmt.Errorf("message %d of producer %d after its message %d", seq, id, got[id][k-1])
		}
		got[id] = append(got[id], seq)
		c.Release()
	}
}

// mpMeddler plays, during a stress run, processes that die and the reaper
// that cleans up after them. It may send messages as producer id meddlerID
// (the stress run's producer count); it returns the messages it delivered,
// by producer, and how many it sent.
type mpMeddler func(m *MPMC, meddlerID uint32) (got [][]uint64, sent uint64)

// mpStress runs producer and consumer goroutines over one ring until the
// producers have sent count messages each and the consumers drained the
// stream, with meddle (if not nil) running meanwhile; half of the producers
// and consumers claim batches (mpStressBatch). It checks that every
// message arrived exactly once and intact, and that each consumer saw each
// producer's messages in order.
func mpStress(t *testing.T, g MPMCGeometry, producers, consumers int, count uint64, meddle mpMeddler) {
	m := newMPMCRing(t, g)
	deadline := time.Now().Add(mpWatchdog)
	ids := producers // producer ids a message may carry
	if meddle != nil {
		ids++
	}
	var wg sync.WaitGroup
	prodErrs := make([]error, producers)
	for i := range producers {
		p := mpProducer(t, m, i)
		wg.Go(func() { prodErrs[i] = mpProduce(p, uint32(i), count, int(g.SlotSize), mpStressBatch(i), deadline) })
	}
	results := make([][][]uint64, consumers)
	consErrs := make([]error, consumers)
	var cwg sync.WaitGroup
	for i := range consumers {
		c := mpConsumer(t, m, producers+i)
		cwg.Go(func() { results[i], consErrs[i] = mpConsume(m, c, ids, mpStressBatch(i), deadline) })
	}
	sentBy := make([]uint64, ids)
	for i := range producers {
		sentBy[i] = count
	}
	if meddle != nil {
		got, sent := meddle(m, uint32(producers))
		results = append(results, got)
		sentBy[producers] = sent
	}
	wg.Wait()
	m.Closed.Store(1)
	cwg.Wait()
	for _, err := range append(prodErrs, consErrs...) {
		require.NoError(t, err)
	}

	var stats Stats
	for i := range int(g.Participants) {
		s := m.Stats(i)
		stats.MsgsSent += s.MsgsSent
		stats.MsgsReceived += s.MsgsReceived
	}
	var total uint64
	seen := make([][]int, ids)
	for id := range seen {
		seen[id] = make([]int, sentBy[id])
		total += sentBy[id]
	}
	per := make([]int, len(results))
	for ci, got := range results {
		for id, seqs := range got {
			per[ci] += len(seqs)
			for _, s := range seqs {
				require.Less(t, s, sentBy[id], "producer %d", id)
				seen[id][s]++
			}
		}
	}
	for id := range seen {
		for s, k := range seen[id] {
			if k != 1 {
				require.Equal(t, 1, k, "message %d of producer %d delivered %d times", s, id, k)
			}
		}
	}
	assert.Equal(t, total, stats.MsgsSent, "sent, by the flushed stats")
	assert.Equal(t, total, stats.MsgsReceived, "received, by the flushed stats")
	for l, lane := range m.Lanes() {
		assert.Equal(t, lane.Enq.Load(), lane.Deq.Load(), "lane %d", l)
	}
	t.Logf("%d messages, %d positions (%d laps), per consumer %v",
		total, mpPositions(m), mpPositions(m)/g.Slots, per)
}

// mpPositions returns the positions claimed by producers in all the lanes.
func mpPositions(m *MPMC) uint64 {
	var n uint64
	for _, l := range m.Lanes() {
		n += l.Enq.Load() - l.Base
	}
	return n
}

// mpStressBatch returns the batch size of the stress run's producer or
// consumer i: the even ones claim one position at a time, the odd ones
// batches of up to 8.
func mpStressBatch(i int) int { return 1 + i%2*7 }

// mpStressCount returns the messages per producer of a stress test moving
// total messages, scaled down under the race detector and -short.
func mpStressCount(total, producers int) uint64 {
	if raceEnabled {
		total /= 10
	}
	if testing.Short() {
		total /= 10
	}
	return uint64(total / producers)
}

// TestMPMCStress moves 400,000 messages of random sizes from 4 producer
// goroutines to 4 consumer goroutines, all spinning on ErrFull and ErrEmpty:
// each arrives exactly once, intact, and each consumer sees each producer's
// messages in order. The end of stream is Closed and Drained. Under the race
// detector it also checks that the slot seqs order the plain accesses to the
// slots.
func TestMPMCStress(t *testing.T) {
	g := MPMCGeometry{SlotSize: 200, Slots: 64, Participants: 8}
	mpStress(t, g, 4, 4, mpStressCount(400_000, 4), nil)
}

// TestMPMCStressLanes runs the stress test on rings of lanes: as many as
// the producers (each in a lane of its own), fewer (producers share a
// lane's enq), and more (lanes nobody produces into), with lanes of two
// slots in the last.
func TestMPMCStressLanes(t *testing.T) {
	for _, tt := range []struct {
		lanes, slots uint64
		producers    int
	}{{4, 64, 4}, {2, 64, 4}, {8, 64, 3}, {4, 8, 4}} {
		t.Run(fmt.Sprintf("%d lanes of %d slots, %d producers", tt.lanes, tt.slots/tt.lanes, tt.producers), func(t *testing.T) {
			g := MPMCGeometry{SlotSize: 200, Slots: tt.slots, Participants: 8, Lanes: tt.lanes}
			mpStress(t, g, tt.producers, 8-tt.producers, mpStressCount(200_000, tt.producers), nil)
		})
	}
}

// TestMPMCStressSmallRing runs the stress test on a ring of two slots, where
// every claim races with the one a lap behind.
func TestMPMCStressSmallRing(t *testing.T) {
	g := MPMCGeometry{SlotSize: 32, Slots: 2, Participants: 4}
	mpStress(t, g, 2, 2, mpStressCount(100_000, 2), nil)
}

// TestMPMCStressDeadPeers runs the stress test while, five times over, a
// producer dies between claim and commit and a consumer dies between claim
// and release, each reaped while the others run: nothing is lost or
// duplicated, and the slots of the dead serve the living again. It runs
// on a ring of one lane and on one of four.
func TestMPMCStressDeadPeers(t *testing.T) {
	for _, lanes := range []uint64{1, 4} {
		t.Run(fmt.Sprintf("%d lanes", lanes), func(t *testing.T) { mpStressDeadPeers(t, lanes) })
	}
}

// mpStressDeadPeers is TestMPMCStressDeadPeers on a ring of lanes.
func mpStressDeadPeers(t *testing.T, lanes uint64) {
	g := MPMCGeometry{SlotSize: 64, Slots: 16, Participants: 16, Lanes: lanes}
	const producers, consumers = 3, 2
	const feederEntry, deadProducer, deadConsumer, adopterEntry = 5, 6, 7, 8
	mpStress(t, g, producers, consumers, mpStressCount(60_000, producers), func(m *MPMC, id uint32) ([][]uint64, uint64) {
		got := make([][]uint64, producers+1)
		deadline := time.Now().Add(mpWatchdog)
		alive := aliveExcept(deadProducer, deadConsumer)
		rng := rand.New(rand.NewPCG(11, 12))
		feeder := mpProducer(t, m, feederEntry)
		adopter := mpConsumer(t, m, adopterEntry)
		// reap reaps entry i until no live endpoint that lost the race
		// for the same position names it anymore.
		reap := func(i int) Reaped {
			for {
				r, err := m.Reap(i, alive)
				require.NoError(t, err)
				if !r.Busy {
					return r
				}
				require.False(t, time.Now().After(deadline), "entry %d busy for ever", i)
				runtime.Gosched()
			}
		}
		var sent uint64
		for range 5 {
			// A producer dies holding a slot: the consumers stall behind
			// it until the reap.
			dp := mpProducer(t, m, deadProducer)
			for {
				_, err := dp.TryReserve(8)
				if err == nil {
					break
				}
				require.ErrorIs(t, err, ErrFull)
				require.False(t, time.Now().After(deadline), "the dying producer never claimed")
				runtime.Gosched()
			}
			time.Sleep(time.Millisecond)
			r := reap(deadProducer)
			require.True(t, r.Skipped, "%+v", r)

			// A consumer dies holding a message, which the adopter gets.
			// The feeder makes sure there is one to claim, however far
			// the producers got.
			dc := mpConsumer(t, m, deadConsumer)
			var (
				b   []byte
				err error
			)
			for {
				b, err = dc.TryPeek()
				if err == nil {
					break
				}
				require.ErrorIs(t, err, ErrEmpty)
				require.False(t, time.Now().After(deadline), "the dying consumer never claimed")
				n := mpStressHeader + rng.IntN(int(g.SlotSize)-mpStressHeader+1)
				if buf, err := feeder.TryReserve(n); err == nil {
					mpFillStress(buf, id, sent, rng)
					feeder.Commit(n)
					sent++
				}
				runtime.Gosched()
			}
			want := append([]byte{}, b...)
			r = reap(deadConsumer)
			require.True(t, r.Orphan, "%+v", r)
			b, err = adopter.Adopt(deadConsumer)
			require.NoError(t, err)
			require.Equal(t, want, b)
			from, seq, err := mpCheckStress(b, producers+1)
			require.NoError(t, err)
			got[from] = append(got[from], seq)
			adopter.Release()
			require.Equal(t, uint32(EntryFree), m.Entry(deadConsumer).State.Load())
		}
		feeder.FlushStats()
		adopter.FlushStats()
		return got, sent
	})
}

// TestMPMCReapRacesLiveTraffic reaps, over and over while the stress test
// runs, entries that died naming the position a live producer or consumer
// is working on right then (or a range of up to four from it), as a
// producer or consumer that lost the race for it and died would have left
// them; half of the live ones claim batches. The intent protocol must keep every
// such reap off the live slot: never a skip, never an orphan, and every
// message arrives once. A live endpoint that stored its intent after its
// claim, or cleared it before its last store to the slot, fails here.
func TestMPMCReapRacesLiveTraffic(t *testing.T) {
	for _, lanes := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("%d lanes", lanes), func(t *testing.T) { mpReapRacesLiveTraffic(t, lanes) })
	}
}

// mpReapRacesLiveTraffic is TestMPMCReapRacesLiveTraffic on a ring of
// lanes; the planted entries take the lanes in turn.
func mpReapRacesLiveTraffic(t *testing.T, lanes uint64) {
	g := MPMCGeometry{SlotSize: 32, Slots: 8, Participants: 8, Lanes: lanes}
	const producers, consumers = 2, 2
	const deadProducer, deadConsumer = 6, 7
	count := mpStressCount(200_000, producers)
	mpStress(t, g, producers, consumers, count, func(m *MPMC, _ uint32) ([][]uint64, uint64) {
		alive := aliveExcept(deadProducer, deadConsumer)
		deadline := time.Now().Add(mpWatchdog)
		outcomes := map[string]int{}
		// A planted entry names one position, or a range of up to four as
		// a batch claim would.
		k := uint64(0)
		plant := func(i int, role uint32, pos uint64) {
			e := m.Entry(i)
			k = k%4 + 1
			mpNameRange(e, pos, pos+k)
			e.State.Store(role)
		}
		for turn := 0; mpPositions(m) < producers*count; turn++ {
			require.False(t, time.Now().After(deadline), "producers stuck")
			lane := m.Lanes()[turn%len(m.Lanes())]
			plant(deadProducer, EntryProducer, lane.Enq.Load())
			r, err := m.Reap(deadProducer, alive)
			require.NoError(t, err)
			require.False(t, r.Skipped, "reaped a live producer's slot: %+v", r)
			outcomes[fmt.Sprintf("producer busy=%v", r.Busy)]++

			plant(deadConsumer, EntryConsumer, lane.Deq.Load())
			r, err = m.Reap(deadConsumer, alive)
			require.NoError(t, err)
			require.False(t, r.Orphan, "orphaned a live consumer's message: %+v", r)
			outcomes[fmt.Sprintf("consumer busy=%v", r.Busy)]++
		}
		for _, i := range []int{deadProducer, deadConsumer} {
			m.Entry(i).Intent.Store(0)
			require.NoError(t, m.Leave(i))
		}
		t.Logf("reaps: %v", outcomes)
		return nil, 0
	})
}

// TestMPMCNoAllocs checks that the message path allocates nothing.
func TestMPMCNoAllocs(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	msg := mpPattern(1, 48)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, err := p.TryReserve(len(msg))
		if err != nil {
			panic(err)
		}
		copy(buf, msg)
		p.Commit(len(msg))
		if _, err := c.TryPeek(); err != nil {
			panic(err)
		}
		c.Release()
		if _, err := c.TryPeek(); !errors.Is(err, ErrEmpty) {
			panic(err)
		}
	})
	assert.Zero(t, allocs)
}

// BenchmarkMPMC measures the ring per message: in one goroutine (the cost of
// the path, with stats flushed per batch or per message), and between
// goroutines spinning on ErrFull and ErrEmpty (1P1C, 2P2C on one lane and
// on a lane per producer).
func BenchmarkMPMC(b *testing.B) {
	const size = 64
	g := MPMCGeometry{SlotSize: size, Slots: 1024, Participants: 8}
	msg := mpPattern(1, size)

	for _, flushEach := range []bool{false, true} {
		b.Run(fmt.Sprintf("1goroutine/flush-each=%v", flushEach), func(b *testing.B) {
			m := newMPMCRing(b, g)
			p, c := mpProducer(b, m, 0), mpConsumer(b, m, 1)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				buf, err := p.TryReserve(size)
				if err != nil {
					b.Fatal(err)
				}
				copy(buf, msg)
				p.Commit(size)
				got, err := c.TryPeek()
				if err != nil || len(got) != size {
					b.Fatalf("peek: %d bytes, %v", len(got), err)
				}
				c.Release()
				if flushEach {
					p.FlushStats()
					c.FlushStats()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
		})
	}

	for _, run := range []struct{ pc, lanes int }{{1, 1}, {2, 1}, {2, 2}} {
		pc := run.pc
		b.Run(fmt.Sprintf("%dP%dC/lanes=%d", pc, pc, run.lanes), func(b *testing.B) {
			g := g
			g.Lanes = uint64(run.lanes)
			m := newMPMCRing(b, g)
			ps := make([]*MPMCProducer, pc)
			cs := make([]*MPMCConsumer, pc)
			for i := range pc {
				ps[i], cs[i] = mpProducer(b, m, i), mpConsumer(b, m, pc+i)
			}
			b.SetBytes(size)
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, p := range ps {
				count := b.N / pc
				if i == 0 {
					count += b.N % pc
				}
				wg.Go(func() {
					for k := 0; k < count; {
						buf, err := p.TryReserve(size)
						if err != nil {
							runtime.Gosched()
							continue
						}
						copy(buf, msg)
						p.Commit(size)
						k++
					}
				})
			}
			var cwg sync.WaitGroup
			for _, c := range cs {
				cwg.Go(func() {
					for {
						got, err := c.TryPeek()
						if err != nil {
							if m.Drained() {
								return
							}
							runtime.Gosched()
							continue
						}
						_ = got[0]
						c.Release()
					}
				})
			}
			wg.Wait()
			m.Closed.Store(1)
			cwg.Wait()
			b.StopTimer()
			// Drained: every position claimed by a producer was claimed by
			// a consumer.
			if got := mpPositions(m); got != uint64(b.N) {
				b.Fatalf("%d messages received, want %d", got, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
		})
	}
}
