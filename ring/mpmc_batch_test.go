package ring

// Batch claims: a range of positions taken with one CAS on enq or deq
// (TryReserveBatch, TryPeekBatch), the ranges participant entries name, and
// the reaping of a producer or consumer killed at each step of a batch.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mpSendBatch claims up to len(msgs) positions with one TryReserveBatch and
// publishes as many messages, returning how many.
func mpSendBatch(tb testing.TB, p *MPMCProducer, msgs ...[]byte) int {
	tb.Helper()
	k, err := p.TryReserveBatch(len(msgs))
	require.NoError(tb, err)
	for _, msg := range msgs[:k] {
		p.CommitNext(msg)
	}
	return k
}

// mpDrain receives with c until the ring is empty, adopting the orphans it
// finds, and returns the messages as strings.
func mpDrain(tb testing.TB, m *MPMC, c *MPMCConsumer) []string {
	tb.Helper()
	var got []string
	for range 1000 {
		msg, err := c.TryPeekBatch(MPMCMaxBatch)
		if err == nil {
			got = append(got, string(msg))
			c.Release()
			continue
		}
		require.ErrorIs(tb, err, ErrEmpty)
		orphans, err := m.Orphaned()
		require.NoError(tb, err)
		if orphans == 0 {
			return got
		}
		for i := range MPMCMaxParticipants {
			if orphans>>i&1 == 0 {
				continue
			}
			msg, err := c.Adopt(i)
			if err == nil {
				got = append(got, string(msg))
				c.Release()
			} else {
				require.ErrorIs(tb, err, ErrEmpty)
			}
		}
	}
	tb.Fatal("the ring does not drain")
	return nil
}

// mpStrings returns the messages "m0", "m1", ... "m<n-1>".
func mpStrings(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m%d", i)
	}
	return out
}

// mpBytes returns msgs as byte slices.
func mpBytes(msgs []string) [][]byte {
	out := make([][]byte, len(msgs))
	for i, s := range msgs {
		out[i] = []byte(s)
	}
	return out
}

func TestMPMCBatchClaim(t *testing.T) {
	m := newMPMCRing(t, mpGeo) // 8 slots
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	msgs := mpBytes(mpStrings(5))

	k, err := p.TryReserveBatch(5)
	require.NoError(t, err)
	require.Equal(t, 5, k)
	assert.Equal(t, uint64(5), m.Enq.Load(), "one CAS took five positions")
	assert.Equal(t, uint64(1), p.e.Intent.Load())
	assert.Equal(t, uint64(5), p.e.End.Load())
	assert.Equal(t, -1, p.Reserved(), "a batch is not a reservation")
	assert.Panics(t, func() { p.Commit(0) })
	for i, msg := range msgs {
		p.CommitNext(msg)
		assert.Equal(t, uint64(i)+1, m.seqWord(uint64(i)).Load(), "published at once")
		if i < len(msgs)-1 {
			assert.Equal(t, uint64(1), p.e.Intent.Load(), "the range is named until its last commit")
		}
	}
	assert.Zero(t, p.e.Intent.Load())
	assert.False(t, p.Holding())
	assert.Panics(t, func() { p.CommitNext(nil) }, "nothing left to commit")

	msg, err := c.TryPeekBatch(8)
	require.NoError(t, err)
	assert.Equal(t, "m0", string(msg))
	assert.Equal(t, uint64(5), m.Deq.Load(), "one CAS took the five committed positions")
	assert.Equal(t, uint64(1), c.e.Intent.Load())
	assert.Equal(t, uint64(5), c.e.End.Load())
	got := []string{string(msg)}
	c.Release()
	for range 4 {
		assert.True(t, c.Claiming())
		assert.Equal(t, uint64(1), c.e.Intent.Load(), "the range is named until its last release")
		msg, err := c.TryPeek()
		require.NoError(t, err)
		got = append(got, string(msg))
		c.Release()
	}
	assert.Equal(t, mpStrings(5), got)
	assert.Zero(t, c.e.Intent.Load())
	assert.False(t, c.Claiming())
	assert.ErrorIs(t, mpPeekErr(c), ErrEmpty)

	// Positions 5..7 are free, 0..4 free for the next lap: a batch of 64
	// takes the eight slots of the ring, no more.
	k, err = p.TryReserveBatch(MPMCMaxBatch)
	require.NoError(t, err)
	assert.Equal(t, 8, k)
	p.Cancel()
	assert.Equal(t, uint64(13), m.Enq.Load())
	assert.ErrorIs(t, mpPeekErr(c), ErrEmpty, "eight skip records passed over")
	assert.True(t, c.PassedSkip())
	assert.Zero(t, c.e.Intent.Load())

	assert.Panics(t, func() { _, _ = p.TryReserveBatch(0) })
	assert.Panics(t, func() { _, _ = p.TryReserveBatch(MPMCMaxBatch + 1) })
	assert.Panics(t, func() { _, _ = c.TryPeekBatch(0) })
	assert.Panics(t, func() { _, _ = c.TryPeekBatch(MPMCMaxBatch + 1) })
}

// TestMPMCBatchPartial claims batches where fewer slots are free or
// committed than asked, and batches that skip records interrupt.
func TestMPMCBatchPartial(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p, q, c := mpProducer(t, m, 0), mpProducer(t, m, 1), mpConsumer(t, m, 2)
	require.Equal(t, 6, mpSendBatch(t, p, mpBytes(mpStrings(6))...))
	require.Equal(t, 2, mpSendBatch(t, p, mpBytes(mpStrings(6))...), "two slots were free")
	_, err := p.TryReserveBatch(4)
	require.ErrorIs(t, err, ErrFull)
	assert.Zero(t, p.e.Intent.Load(), "a failed claim leaves no intent")

	// Consumers: three released, so three free for the next lap.
	for range 3 {
		mpRecv(t, c)
	}
	k, err := p.TryReserveBatch(8)
	require.NoError(t, err)
	require.Equal(t, 3, k)
	p.CommitNext([]byte("a"))
	_, err = q.TryReserveBatch(4)
	require.ErrorIs(t, err, ErrFull, "every slot is claimed")

	// A reservation in the middle of committed slots: the consumer's run
	// stops before it.
	p.Cancel() // two skips
	got := mpDrain(t, m, c)
	assert.Equal(t, []string{"m3", "m4", "m5", "m0", "m1", "a"}, got)
	assert.True(t, c.PassedSkip())

	k, err = q.TryReserveBatch(3)
	require.NoError(t, err)
	require.Equal(t, 3, k)
	q.CommitNext([]byte("x"))
	_, err = c.TryPeekBatch(8)
	require.NoError(t, err)
	assert.Equal(t, m.Enq.Load()-2, m.Deq.Load(), "the run ends at the first slot not committed")
	c.Release()
	q.CommitNext([]byte("y"))
	q.CommitNext([]byte("z"))
	assert.Equal(t, []string{"y", "z"}, mpDrain(t, m, c))
}

// TestMPMCBatchClosed claims a batch after the stream was closed: every
// position becomes a skip record and the stream can end.
func TestMPMCBatchClosed(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	require.Equal(t, 2, mpSendBatch(t, p, []byte("a"), []byte("b")))
	m.Closed.Store(1)
	_, err := p.TryReserveBatch(5)
	require.ErrorIs(t, err, ErrClosed)
	assert.False(t, p.Holding())
	assert.Zero(t, p.e.Intent.Load())
	assert.Equal(t, []string{"a", "b"}, mpDrain(t, m, c))
	assert.True(t, m.Drained())
}

// TestMPMCDrainedBatch checks that a consumer's batch keeps the stream
// from ending until its last message is released.
func TestMPMCDrainedBatch(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	mpSendBatch(t, p, mpBytes(mpStrings(3))...)
	m.Closed.Store(1)
	_, err := c.TryPeekBatch(3)
	require.NoError(t, err)
	for range 2 {
		c.Release()
		assert.False(t, m.Drained(), "a claimed message is not delivered yet")
		_, err := c.TryPeek()
		require.NoError(t, err)
	}
	c.Release()
	assert.True(t, m.Drained())
}

// TestMPMCReapBatchProducer kills a producer at each step of a batch of
// four: its range named before the CAS, after a lost CAS, after the CAS
// with 0 to 4 messages published, and after the last but before its intent
// is cleared. The reap delivers the published prefix, in order, makes the
// rest skip records, and the messages around the batch arrive.
func TestMPMCReapBatchProducer(t *testing.T) {
	const batch = 4
	type stage struct {
		name      string
		published int                                     // messages of the batch delivered
		kill      func(m *MPMC, dead, live *MPMCProducer) // leaves dead's entry as a kill would
	}
	stages := []stage{
		{"range named, no CAS", 0, func(m *MPMC, dead, _ *MPMCProducer) {
			mpNameRange(dead.e, m.Enq.Load(), m.Enq.Load()+batch)
		}},
		{"CAS lost", 0, func(m *MPMC, dead, live *MPMCProducer) {
			at := m.Enq.Load()
			mpSendBatch(t, live, []byte("l0"), []byte("l1"))
			mpNameRange(dead.e, at, at+batch)
		}},
	}
	for k := range batch + 1 {
		stages = append(stages, stage{fmt.Sprintf("CAS won, %d published", k), k, func(m *MPMC, dead, _ *MPMCProducer) {
			n, err := dead.TryReserveBatch(batch)
			require.NoError(t, err)
			require.Equal(t, batch, n)
			for i := range k {
				dead.CommitNext([]byte(fmt.Sprintf("d%d", i)))
			}
			if k == batch {
				mpNameRange(dead.e, m.Enq.Load()-batch, m.Enq.Load()) // intent not cleared yet
			}
		}})
	}
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			m := newMPMCRing(t, mpGeo)
			live, dead := mpProducer(t, m, 0), mpProducer(t, m, 1)
			c := mpConsumer(t, m, 2)
			mpSend(t, live, []byte("before"))
			st.kill(m, dead, live)
			mpSend(t, live, []byte("after"))

			r, err := m.Reap(1, aliveExcept(1))
			require.NoError(t, err)
			assert.True(t, r.Freed())
			assert.Equal(t, st.published < batch && st.name != "range named, no CAS" && st.name != "CAS lost",
				r.Skipped)
			assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
			want := []string{"before"}
			if st.name == "CAS lost" {
				want = append(want, "l0", "l1")
			}
			for i := range st.published {
				want = append(want, fmt.Sprintf("d%d", i))
			}
			want = append(want, "after")
			assert.Equal(t, want, mpDrain(t, m, c))
			again, err := m.Reap(1, aliveExcept(1))
			require.NoError(t, err)
			assert.Equal(t, Reaped{State: EntryFree}, again, "nothing left to mend")
		})
	}
}

// TestMPMCReapBatchProducerBusy reaps a dead producer whose range meets a
// live producer's batch in progress: Busy until the live one is done.
func TestMPMCReapBatchProducerBusy(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	live, _ := mpProducer(t, m, 0), mpProducer(t, m, 1)
	c := mpConsumer(t, m, 2)
	mpNameRange(m.Entry(1), 0, 6) // lost the race for the first six
	k, err := live.TryReserveBatch(3)
	require.NoError(t, err)
	require.Equal(t, 3, k)
	live.CommitNext([]byte("a"))
	r, err := m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.True(t, r.Busy, "the live producer's unpublished slots may be its own")
	live.CommitNext([]byte("b"))
	live.CommitNext([]byte("c"))
	r, err = m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	assert.False(t, r.Skipped)
	assert.True(t, r.Freed())
	assert.Equal(t, []string{"a", "b", "c"}, mpDrain(t, m, c))
}

// TestMPMCReapBatchProducerReaperDies leaves a dead batch producer's
// range as a reaper killed after each of its stores would: some slots
// mended, the next not, or its header written only. The next reap
// finishes the range.
func TestMPMCReapBatchProducerReaperDies(t *testing.T) {
	for mended := range 4 {
		for _, headerOnly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d mended, header of the next %v", mended, headerOnly), func(t *testing.T) {
				m := newMPMCRing(t, mpGeo)
				live, dead := mpProducer(t, m, 0), mpProducer(t, m, 1)
				c := mpConsumer(t, m, 2)
				_, err := dead.TryReserveBatch(4)
				require.NoError(t, err)
				dead.CommitNext([]byte("d0"))
				mpSend(t, live, []byte("after"))
				for q := uint64(1); q < uint64(1+mended) && q < 4; q++ {
					putHeader(m.header(q), 0, flagSkip)
					m.seqWord(q).Store(q + 1)
				}
				if headerOnly && mended < 3 {
					putHeader(m.header(uint64(1+mended)), 0, flagSkip)
				}
				r, err := m.Reap(1, aliveExcept(1))
				require.NoError(t, err)
				assert.Equal(t, mended < 3, r.Skipped)
				assert.True(t, r.Freed())
				assert.Equal(t, []string{"d0", "after"}, mpDrain(t, m, c))
			})
		}
	}
}

// TestMPMCReapBatchConsumer kills a consumer at each step of a batch of
// four: its range named before the CAS, after the CAS with 0 to 4 messages
// released, and after the last but before its intent is cleared. The reap
// makes an orphan of the messages not released, narrowed to them, and they
// are adopted, in order, each once.
func TestMPMCReapBatchConsumer(t *testing.T) {
	const batch = 4
	for released := -1; released <= batch; released++ {
		t.Run(fmt.Sprintf("released %d", released), func(t *testing.T) {
			m := newMPMCRing(t, mpGeo)
			p := mpProducer(t, m, 0)
			dead, live := mpConsumer(t, m, 1), mpConsumer(t, m, 2)
			mpSendBatch(t, p, mpBytes(mpStrings(batch+1))...)
			if released < 0 {
				mpNameRange(dead.e, 0, batch) // killed before its CAS
			} else {
				_, err := dead.TryPeekBatch(batch)
				require.NoError(t, err)
				for range released {
					dead.Release()
					if dead.Claiming() {
						_, err := dead.TryPeek()
						require.NoError(t, err)
					}
				}
				if released == batch {
					mpNameRange(dead.e, 0, batch) // intent not cleared yet
				}
			}
			m.Closed.Store(1)

			r, err := m.Reap(1, aliveExcept(1))
			require.NoError(t, err)
			held := batch - max(released, 0)
			if released < 0 {
				held = 0
			}
			assert.Equal(t, held > 0, r.Orphan)
			if held > 0 {
				assert.Equal(t, uint64(batch-held), r.Position, "the range starts at the first message held")
				assert.Equal(t, uint64(batch-held+1), m.Entry(1).Intent.Load())
				assert.Equal(t, uint64(batch), m.Entry(1).End.Load())
				assert.False(t, m.Drained())
			} else {
				assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
			}
			want := mpStrings(batch + 1)
			if released >= 0 {
				want = want[max(released, 0):]
			}
			got := mpDrain(t, m, live)
			if released >= 0 && held > 0 {
				// The orphan's messages are adopted once the ring is
				// empty: after the one past the batch.
				want = append(want[held:], want[:held]...)
			}
			assert.Equal(t, want, got)
			assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
			assert.Zero(t, m.Orphans.Load())
			assert.True(t, m.Drained())
		})
	}
}

// TestMPMCOrphanBatchAdopters hands the messages of one orphan to several
// adopters, one of which dies holding one, and checks that each message
// arrives once.
func TestMPMCOrphanBatchAdopters(t *testing.T) {
	m := newMPMCRing(t, mpGeo)
	p := mpProducer(t, m, 0)
	dead, a, b := mpConsumer(t, m, 1), mpConsumer(t, m, 2), mpConsumer(t, m, 3)
	mpSendBatch(t, p, mpBytes(mpStrings(3))...)
	_, err := dead.TryPeekBatch(3)
	require.NoError(t, err)
	r, err := m.Reap(1, aliveExcept(1))
	require.NoError(t, err)
	require.True(t, r.Orphan)

	msg, err := a.Adopt(1)
	require.NoError(t, err)
	assert.Equal(t, "m0", string(msg))
	a.Release()
	assert.True(t, a.OrphanLeft(), "two messages left")
	assert.Equal(t, uint32(EntryOrphan), m.Entry(1).State.Load())

	msg, err = b.Adopt(1)
	require.NoError(t, err)
	assert.Equal(t, "m1", string(msg))
	// b dies holding m1: the entry is adopted and its lock free.
	r, err = m.Reap(1, aliveExcept(1, 3))
	require.NoError(t, err)
	assert.True(t, r.Orphan)
	var got []string
	for range 2 {
		msg, err = a.Adopt(1)
		require.NoError(t, err)
		got = append(got, string(msg))
		a.Release()
	}
	assert.Equal(t, []string{"m1", "m2"}, got)
	assert.False(t, a.OrphanLeft())
	assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
	assert.Zero(t, m.Orphans.Load())
}

// TestMPMCReapOverlappingConsumers builds the ranges dead consumers name
// when a loser's range meets several winners' batches: six messages claimed
// as [0,2), [2,4), [4,6) by three consumers, and a loser that named [0,6)
// (or [0,3)), all dead, with some messages released. Reaped in every
// order, every message not released is delivered exactly once.
func TestMPMCReapOverlappingConsumers(t *testing.T) {
	geo := MPMCGeometry{SlotSize: 16, Slots: 8, Participants: 9}
	for _, loserEnd := range []uint64{6, 3} {
		for _, released := range [][]int{nil, {0}, {2, 3}, {0, 1, 4}} {
			for _, order := range permutations([]int{1, 2, 3, 4}) {
				name := fmt.Sprintf("loser to %d, released %v, order %v", loserEnd, released, order)
				m := newMPMCRing(t, geo)
				p := mpProducer(t, m, 0)
				mpSendBatch(t, p, mpBytes(mpStrings(6))...)
				winners := []*MPMCConsumer{mpConsumer(t, m, 1), mpConsumer(t, m, 2), mpConsumer(t, m, 3)}
				loser := mpConsumer(t, m, 4)
				adopters := []*MPMCConsumer{mpConsumer(t, m, 5), mpConsumer(t, m, 6),
					mpConsumer(t, m, 7), mpConsumer(t, m, 8)}
				for _, w := range winners {
					_, err := w.TryPeekBatch(2)
					require.NoError(t, err, name)
				}
				mpNameRange(loser.e, 0, loserEnd)
				for _, q := range released {
					w := winners[q/2]
					for w.at < uint64(q) {
						w.Release()
						_, err := w.TryPeek()
						require.NoError(t, err)
					}
					w.Release()
					if w.pos != w.end {
						_, err := w.TryPeek()
						require.NoError(t, err)
					}
				}
				for _, i := range order {
					_, err := m.Reap(i, aliveExcept(1, 2, 3, 4))
					require.NoError(t, err, name)
				}
				var want []string
				for q, s := range mpStrings(6) {
					if !slices.Contains(released, q) {
						want = append(want, s)
					}
				}
				got := mpAdoptAtOnce(t, m, adopters)
				slices.Sort(got)
				require.Equal(t, want, got, name)
				m.Closed.Store(1)
				require.True(t, m.Drained(), name)
				for i := 1; i <= 4; i++ {
					require.Equal(t, uint32(EntryFree), m.Entry(i).State.Load(), "%s: entry %d", name, i)
				}
			}
		}
	}
}

// mpAdoptAtOnce adopts the messages of every orphan at the same time, one
// adopter per orphan, until none is left, and fails when two adopters hold
// one position at once. It returns the messages as strings.
func mpAdoptAtOnce(tb testing.TB, m *MPMC, adopters []*MPMCConsumer) []string {
	tb.Helper()
	var got []string
	for range 100 {
		orphans, err := m.Orphaned()
		require.NoError(tb, err)
		if orphans == 0 {
			return got
		}
		var holding []*MPMCConsumer
		for i := range MPMCMaxParticipants {
			if orphans>>i&1 == 0 {
				continue
			}
			a := adopters[len(holding)]
			msg, err := a.Adopt(i)
			if err != nil {
				require.ErrorIs(tb, err, ErrEmpty)
				continue
			}
			for _, h := range holding {
				require.NotEqual(tb, h.at, a.at, "two adopters hold position %d", a.at)
			}
			got = append(got, string(msg))
			holding = append(holding, a)
		}
		for _, a := range holding {
			a.Release()
		}
	}
	tb.Fatal("the orphans do not drain")
	return nil
}

// permutations returns every order of xs.
func permutations(xs []int) [][]int {
	if len(xs) <= 1 {
		return [][]int{slices.Clone(xs)}
	}
	var out [][]int
	for i := range xs {
		rest := append(slices.Clone(xs[:i]), xs[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]int{xs[i]}, p...))
		}
	}
	return out
}

// TestMPMCReapConsumerReaperDies leaves a dead batch consumer's entry as a
// reaper killed after each of its stores would when the range must be
// narrowed (its end cut at an orphan's range, its start moved past released
// positions): the next reap narrows it to the same and makes it an orphan.
func TestMPMCReapConsumerReaperDies(t *testing.T) {
	steps := []struct {
		name  string
		leave func(m *MPMC)
	}{
		{"nothing done", func(m *MPMC) {}},
		{"end cut", func(m *MPMC) { m.Entry(2).End.Store(4) }},
		{"end cut, start moved", func(m *MPMC) { mpNameRange(m.Entry(2), 1, 4) }},
		{"bit set", func(m *MPMC) {
			mpNameRange(m.Entry(2), 1, 4)
			m.Orphans.Or(1 << 2)
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			m := newMPMCRing(t, mpGeo)
			p := mpProducer(t, m, 0)
			mpSendBatch(t, p, mpBytes(mpStrings(6))...)
			w1, w2 := mpConsumer(t, m, 1), mpConsumer(t, m, 3)
			loser := mpConsumer(t, m, 2)
			live := mpConsumer(t, m, 4)
			_, err := w1.TryPeekBatch(4)
			require.NoError(t, err)
			w1.Release() // position 0
			_, err = w2.TryPeekBatch(2)
			require.NoError(t, err)
			// w2 dies first and is an orphan of [4,6); the loser named
			// [0,6) and w1 [0,4).
			r, err := m.Reap(3, aliveExcept(1, 2, 3))
			require.NoError(t, err)
			require.True(t, r.Orphan)
			mpNameRange(loser.e, 0, 6)
			step.leave(m)

			r, err = m.Reap(2, aliveExcept(1, 2, 3))
			require.NoError(t, err)
			require.True(t, r.Orphan)
			assert.Equal(t, uint64(1), r.Position)
			assert.Equal(t, uint64(2), m.Entry(2).Intent.Load())
			assert.Equal(t, uint64(4), m.Entry(2).End.Load(), "cut where the orphan of [4,6) starts")
			r, err = m.Reap(1, aliveExcept(1, 2, 3))
			require.NoError(t, err)
			assert.True(t, r.Freed(), "w1's messages are the loser's orphan's now")

			got := mpDrain(t, m, live)
			slices.Sort(got)
			assert.Equal(t, mpStrings(6)[1:], got)
		})
	}
}

// TestMPMCReapCorruptRange reaps dead entries whose end word is not a
// range: ErrCorrupt, the first position judged alone, the entry freed.
func TestMPMCReapCorruptRange(t *testing.T) {
	for _, end := range []uint64{0, 5, 1 + MPMCMaxBatch + 10} {
		t.Run(fmt.Sprint(end), func(t *testing.T) {
			m := newMPMCRing(t, mpGeo)
			p, dead := mpProducer(t, m, 0), mpProducer(t, m, 1)
			c := mpConsumer(t, m, 2)
			mpSend(t, p, []byte("a"))
			_, err := dead.TryReserve(4)
			require.NoError(t, err)
			mpSend(t, p, []byte("b"))
			dead.e.End.Store(end)
			if end == 5 {
				dead.e.Intent.Store(7) // end below intent
			}
			r, err := m.Reap(1, aliveExcept(1))
			require.ErrorIs(t, err, ErrCorrupt)
			assert.True(t, r.Freed())
			assert.Equal(t, uint32(EntryFree), m.Entry(1).State.Load())
			if end != 5 {
				assert.True(t, r.Skipped)
				assert.Equal(t, []string{"a", "b"}, mpDrain(t, m, c))
			}
		})
	}
	m := newMPMCRing(t, mpGeo)
	p, c := mpProducer(t, m, 0), mpConsumer(t, m, 1)
	mpSend(t, p, []byte("x"))
	require.True(t, m.Deq.CompareAndSwap(0, 1))
	m.Entry(5).State.Store(EntryOrphan)
	mpNameRange(m.Entry(5), 0, 1+2*MPMCMaxBatch)
	m.Orphans.Store(1 << 5)
	_, err := c.Adopt(5)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Equal(t, uint32(EntryFree), m.Entry(5).State.Load())
}
