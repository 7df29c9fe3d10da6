package shmring_test

// MPMC reaping that a death interrupts, and the end of the stream while a
// message is still held somewhere: the states are built directly in the
// region (what a reaper, adopter or consumer killed after each of its stores
// leaves), or by a helper process that is killed.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// reapOpts shapes the rings of these tests: 4 participant entries, 8 slots.
var reapOpts = &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 64 * 8, Participants: 4, Wait: shmring.Block}

// claimDead makes entry i the entry of a consumer that claimed the message at
// deq and died holding it: the entry is joined, names the position and
// nobody holds its lock. It returns the position.
func claimDead(t *testing.T, m *ring.MPMC, i int) uint64 {
	t.Helper()
	p := m.Deq.Load()
	require.Equal(t, p+1, m.Slot(p).Seq, "a message is committed at deq")
	require.NoError(t, m.Join(i, ring.EntryConsumer, 1, 0))
	m.Entry(i).End.Store(p + 1)
	m.Entry(i).Intent.Store(p + 1)
	require.True(t, m.Deq.CompareAndSwap(p, p+1))
	return p
}

// recvOne receives one message from c, within the watchdog.
func recvOne(t *testing.T, ctx context.Context, c *shmring.Consumer) string {
	t.Helper()
	buf := make([]byte, 64)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	return string(buf[:n])
}

// TestMPMCReaperDiesAtEveryStep leaves entry 2 as a reaper or an adopter
// killed after each of its stores would (the table in ring/mpmc_reap.go),
// around the message "held" of a dead consumer, and checks that the
// survivors finish the work: the message is delivered once (unless the
// dead adopter had released it), then the stream ends, and the entry is
// free again.
func TestMPMCReaperDiesAtEveryStep(t *testing.T) {
	const dead = 2
	steps := []struct {
		name     string
		released bool // the dead adopter released the message first
		leave    func(m *ring.MPMC)
	}{
		{"consumer died, not reaped", false, func(m *ring.MPMC) {}},
		{"reaper cleared the sleeper bits", false, func(m *ring.MPMC) {
			m.DataSleepers.And(^uint64(1 << dead))
		}},
		{"reaper set the bit", false, func(m *ring.MPMC) {
			m.Orphans.Or(1 << dead)
		}},
		{"reaper stored the orphan state, bit unset", false, func(m *ring.MPMC) {
			m.Entry(dead).State.Store(ring.EntryOrphan)
		}},
		{"reaper done", false, func(m *ring.MPMC) {
			m.Orphans.Or(1 << dead)
			m.Entry(dead).State.Store(ring.EntryOrphan)
		}},
		{"adopter stored the adopted state", false, func(m *ring.MPMC) {
			m.Orphans.Or(1 << dead)
			m.Entry(dead).State.Store(ring.EntryAdopted)
		}},
		{"adopter released the slot", true, func(m *ring.MPMC) {
			m.Orphans.Or(1 << dead)
			m.Entry(dead).State.Store(ring.EntryAdopted)
		}},
		{"adopter cleared the intent", true, func(m *ring.MPMC) {
			m.Orphans.Or(1 << dead)
			m.Entry(dead).State.Store(ring.EntryAdopted)
			m.Entry(dead).Intent.Store(0)
		}},
		{"adopter freed the entry", true, func(m *ring.MPMC) {
			m.Orphans.Or(1 << dead)
			m.Entry(dead).Intent.Store(0)
			m.Entry(dead).State.Store(ring.EntryFree)
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			// A watchdog of its own: a message nobody adopts makes Recv
			// wait for ever.
			ctx, cancel := context.WithTimeout(watchdog(t), 10*time.Second)
			defer cancel()
			r := anonRing(t, reapOpts)
			p, c := pair(t, r) // entries 0 and 1
			m := shmring.MPMCView(r)
			require.NoError(t, p.Send(ctx, []byte("held")))
			if step.released {
				// The dead adopter's caller got the message: its slot
				// is released, and entry 2 names it.
				pos := m.Deq.Load()
				require.Equal(t, "held", recvOne(t, ctx, c))
				require.NoError(t, m.Join(dead, ring.EntryConsumer, 1, 0))
				m.Entry(dead).End.Store(pos + 1)
				m.Entry(dead).Intent.Store(pos + 1)
			} else {
				claimDead(t, m, dead)
			}
			require.NoError(t, p.Send(ctx, []byte("next")))
			step.leave(m)

			assert.Equal(t, "next", recvOne(t, ctx, c))
			if !step.released {
				assert.Equal(t, "held", recvOne(t, ctx, c), "the survivors finish the reap and adopt")
			}
			require.NoError(t, r.CloseStream())
			_, err := c.Recv(ctx, make([]byte, 64))
			assert.ErrorIs(t, err, io.EOF)
			_, err = r.Producer() // takes entry 2 if the reap left it behind
			require.NoError(t, err)
			assert.NotEqual(t, uint32(ring.EntryOrphan), m.Entry(dead).State.Load())
			assert.NotEqual(t, uint32(ring.EntryAdopted), m.Entry(dead).State.Load())
			assert.Zero(t, m.Orphans.Load())
			assert.Zero(t, r.LostWakeups())
		})
	}
}

// TestMPMCJoinTakesStaleOrphan fills the participant table but for an orphan
// entry whose message was adopted and released by a consumer that died
// before it freed the entry: a new endpoint takes the entry, instead of
// finding the table full for ever.
func TestMPMCJoinTakesStaleOrphan(t *testing.T) {
	ctx := watchdog(t)
	r := anonRing(t, reapOpts)
	p, c := pair(t, r)
	m := shmring.MPMCView(r)
	pos := m.Deq.Load()
	require.NoError(t, p.Send(ctx, []byte("gone")))
	require.Equal(t, "gone", recvOne(t, ctx, c))
	require.NoError(t, m.Join(2, ring.EntryConsumer, 1, 0))
	m.Entry(2).End.Store(pos + 1)
	m.Entry(2).Intent.Store(pos + 1)
	m.Orphans.Or(1 << 2)
	m.Entry(2).State.Store(ring.EntryOrphan)

	p3, err := r.Producer() // entry 3
	require.NoError(t, err)
	defer p3.Close()
	p4, err := r.Producer()
	require.NoError(t, err, "the stale orphan's entry is taken")
	require.NoError(t, p4.Close())
}

// TestMPMCEndWhileReaperHoldsTheLock closes the stream while the only
// unreleased message is held by a dead consumer whose lock a reaper holds
// (here a second description of the segment, as another process's reaper
// would): no consumer may report io.EOF before the message is adopted.
func TestMPMCEndWhileReaperHoldsTheLock(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, reapOpts)
	p, c := pair(t, r)
	m := shmring.MPMCView(r)
	require.NoError(t, p.Send(ctx, []byte("held")))
	claimDead(t, m, 2)
	seg, err := shm.Open(name)
	require.NoError(t, err)
	defer seg.Close()
	reaper, err := seg.Lock(2)
	require.NoError(t, err)
	require.NoError(t, r.CloseStream())

	_, err = c.TryRecv(make([]byte, 64))
	assert.ErrorIs(t, err, shmring.ErrEmpty, "the message can still appear: no io.EOF")
	require.NoError(t, reaper.Release()) // the reaper died before its first store
	assert.Equal(t, "held", recvOne(t, ctx, c))
	_, err = c.Recv(ctx, make([]byte, 64))
	assert.ErrorIs(t, err, io.EOF)
	assert.Zero(t, r.LostWakeups())
}

// TestMPMCEndWhileConsumerHolds closes the stream while a consumer process
// holds the last message it peeked: the other consumer gets no io.EOF while
// the message can still come back, then the message if the holder is killed,
// or io.EOF (woken by the release) if the holder releases it.
func TestMPMCEndWhileConsumerHolds(t *testing.T) {
	for _, kill := range []bool{true, false} {
		name := "holder releases"
		if kill {
			name = "holder killed"
		}
		t.Run(name, func(t *testing.T) {
			ctx := watchdog(t)
			r, ringName := createNamed(t, mpmcOptions(shmring.Block))
			max := r.MaxMessage()
			p, c := pair(t, r)
			require.NoError(t, p.Send(ctx, mpmcMessage(nil, msgID{0, 0}, max)))
			out := t.TempDir() + "/records"
			h := startMPMC(t, "mpmc-consume", ringName, map[string]string{envMode: "hold", envCount: "0", envOut: out}, true)
			h.await(t, "the lease", func() bool { return h.hasLine("peeked") })
			require.NoError(t, r.CloseStream())

			buf := make([]byte, max)
			_, err := c.TryRecv(buf)
			require.ErrorIs(t, err, shmring.ErrEmpty, "a live consumer holds a message: no io.EOF yet")
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err = c.Recv(short, buf)
			require.ErrorIs(t, err, context.DeadlineExceeded)

			got := make(chan error, 1)
			go func() {
				n, err := c.Recv(ctx, buf)
				if err == nil {
					chk := mpmcChecker{max: max}
					var m msgID
					if m, err = chk.check(buf[:n]); err == nil && m != (msgID{0, 0}) {
						err = errors.New("unexpected message")
					}
					if err == nil {
						_, err = c.Recv(ctx, buf)
					}
				}
				got <- err
			}()
			if kill {
				h.kill()
				requireKilled(t, h.wait())
				assert.Empty(t, readRecords(t, out))
			} else {
				require.NoError(t, h.closeStdin())
				require.NoError(t, h.wait())
				assert.Equal(t, []msgID{{0, 0}}, readRecords(t, out))
			}
			assert.ErrorIs(t, <-got, io.EOF, "the message once, then the end")
			assert.Zero(t, r.LostWakeups())
		})
	}
}

// TestMPMCReaperKilled kills a reaper process after each of its stores on
// the entry of a dead consumer that holds the message "held", while the
// stream is closed: while the reaper lives (it holds the entry's lock) no
// consumer reports io.EOF, and once it is dead the survivor finishes the
// reap, delivers the message, then reports io.EOF.
func TestMPMCReaperKilled(t *testing.T) {
	for steps := range 4 {
		t.Run(fmt.Sprintf("after %d stores", steps), func(t *testing.T) {
			ctx := watchdog(t)
			r, name := createNamed(t, reapOpts)
			p, c := pair(t, r)
			m := shmring.MPMCView(r)
			require.NoError(t, p.Send(ctx, []byte("held")))
			require.NoError(t, p.Send(ctx, []byte("next")))
			claimDead(t, m, 2)
			h := startMPMC(t, "mpmc-half-reap", name, map[string]string{envID: "2", envCount: strconv.Itoa(steps)}, true)
			h.await(t, "the reaper to stop", func() bool { return h.hasLine("stopped") })
			require.NoError(t, r.CloseStream())

			assert.Equal(t, "next", recvOne(t, ctx, c))
			_, err := c.TryRecv(make([]byte, 64))
			require.ErrorIs(t, err, shmring.ErrEmpty, "the reaper holds the entry: no io.EOF")
			h.kill()
			requireKilled(t, h.wait())
			assert.Equal(t, "held", recvOne(t, ctx, c))
			_, err = c.Recv(ctx, make([]byte, 64))
			assert.ErrorIs(t, err, io.EOF)
			assert.Zero(t, m.Orphans.Load())
			assert.Zero(t, r.LostWakeups())
		})
	}
}

// roleMPMCHalfReap is a reaper that stops: it opens the named ring's
// segment, takes the lock of entry envID (a dead consumer's) and the
// reapers' lock, makes envCount of the stores that turn the entry into an
// orphan (clear its sleeper bits, set its Orphans bit, store its state),
// prints "stopped" and waits to be killed.
func roleMPMCHalfReap(context.Context) error {
	seg, err := shm.Open(os.Getenv(envRing))
	if err != nil {
		return err
	}
	defer seg.Close()
	g, err := ring.GeometryFromParams(seg.Params())
	if err != nil {
		return err
	}
	m, err := ring.NewMPMC(seg.Region(), g)
	if err != nil {
		return err
	}
	entry, err := envUint(envID)
	if err != nil {
		return err
	}
	steps, err := envUint(envCount)
	if err != nil {
		return err
	}
	for _, lock := range []int{int(entry), ring.MPMCMaxParticipants} {
		if _, err := seg.Lock(lock); err != nil {
			return err
		}
	}
	bit := uint64(1) << entry
	for _, store := range []func(){
		func() { m.DataSleepers.And(^bit); m.SpaceSleepers.And(^bit) },
		func() { m.Orphans.Or(bit) },
		func() { m.Entry(int(entry)).State.Store(ring.EntryOrphan) },
	}[:steps] {
		store()
	}
	fmt.Println("stopped")
	return waitForStdin()
}
