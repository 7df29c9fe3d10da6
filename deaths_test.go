package shmring_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/internal/pidwatch"
	"github.com/shmring/shmring/ring"
)

// idleAfter is how long a wait runs before it is surely in its timed
// sleeps: the spin budget and the untimed slices (wait.go) are over.
const idleAfter = 400 * time.Millisecond

// requireWatches skips where the kernel cannot report a process's exit:
// there, idle sleeps keep their 50 ms slices, which the other tests cover.
func requireWatches(t *testing.T) {
	t.Helper()
	if !pidwatch.Supported {
		t.Skip("this system has no pidfds: idle sleeps keep their 50 ms looks")
	}
}

// TestIdleSleepWatchesPeer: an idle consumer whose producer's exit is
// watched sleeps in slices of a second, not 50 ms.
func TestIdleSleepWatchesPeer(t *testing.T) {
	requireWatches(t)
	for _, wait := range []shmring.WaitStrategy{shmring.Adaptive, shmring.Block} {
		t.Run(wait.String(), func(t *testing.T) {
			r := createAnon(t, &shmring.Options{Size: 4096, Wait: wait})
			_, err := r.Producer()
			require.NoError(t, err)
			c, err := r.Consumer()
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
			defer cancel()
			_, err = c.Recv(ctx, make([]byte, 64))
			require.ErrorIs(t, err, context.DeadlineExceeded)
			// Two untimed slices, then one of a second, which the
			// deadline ends; 50 ms slices would have made 15 or more.
			assert.LessOrEqual(t, c.Stats().Sleeps, uint64(6), "sleeps of a 900 ms idle wait")
		})
		t.Run("mpmc/"+wait.String(), func(t *testing.T) {
			// A producer in another process holds a slot, one in this
			// process is idle: the consumer watches the first and trusts
			// the second, its own process.
			opts := mpmcOptions(wait)
			opts.Participants = 4
			r := createAnon(t, opts)
			holdSlot(t, r)
			p, c := pair(t, r)
			t.Cleanup(func() { assert.NoError(t, p.Close()) })

			ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
			defer cancel()
			_, err := c.Recv(ctx, make([]byte, r.MaxMessage()))
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.LessOrEqual(t, c.Stats().Sleeps, uint64(6), "sleeps of a 900 ms idle wait")
		})
	}
}

// TestIdlePeerKilled: the kill -9 of an idle side's peer reaches it through
// the watch of the peer's exit, not its next look.
func TestIdlePeerKilled(t *testing.T) {
	requireWatches(t)
	t.Run("producer", func(t *testing.T) {
		r, elapsed := killIdleProducer(t, func(*ring.Control) {}, true)
		assert.Less(t, elapsed, peerDeathBound, "time to notice the dead producer")
		assert.NotZero(t, shmring.Exits(r), "the watch of the producer's exit woke the consumer")
	})

	t.Run("consumer attached while the producer slept", func(t *testing.T) {
		// The producer waits for room with no consumer attached; the
		// consumer that attaches wakes it, so that it watches the new
		// consumer (deaths.go, "Which process").
		ctx := watchdog(t)
		r := createAnon(t, &shmring.Options{Size: 4096})
		p, err := r.Producer()
		require.NoError(t, err)
		for {
			err := p.TrySend([]byte("filler"))
			if errors.Is(err, shmring.ErrFull) {
				break
			}
			require.NoError(t, err)
		}
		// Slices too long to end before the test does: only the wake-up
		// of the attach can make the producer watch the consumer.
		shmring.SetWatchedSlice(r, time.Hour)
		sendErr := make(chan error, 1)
		go func() { sendErr <- p.Send(ctx, []byte("one too many")) }()
		// In its timed sleep by then, almost surely; had it not got
		// there, it would watch the consumer on the way in, and the
		// test would pass without proving the wake-up.
		time.Sleep(idleAfter)

		h := startHelper(t, "consume-hang", helperConfig{
			rings: map[string]*shmring.Ring{ringKey: r},
			stdin: true,
		})
		h.awaitEvent(t, r.Event(0))
		awaitWatch(t, r, 0, h.cmd.Process.Pid)
		h.kill()
		requireKilled(t, h.wait())
		require.ErrorIs(t, <-sendErr, shmring.ErrPeerDead)
		assert.NotZero(t, shmring.Exits(r), "the producer watched the consumer that attached while it slept")
	})

	for _, joinedLate := range []bool{false, true} {
		name := "mpmc producer holding a slot"
		if joinedLate {
			name = "mpmc producer that joined while the consumer slept"
		}
		t.Run(name, func(t *testing.T) {
			// The consumer waits behind the slot that the producer
			// process holds. Its slices are too long to end before the
			// test does: only the watch of that process's exit can
			// make it reap the slot, and when the producer joins while
			// it sleeps, only the wake-up of the join can make it
			// watch the producer.
			ctx := watchdog(t)
			opts := mpmcOptions(shmring.Adaptive)
			opts.Participants = 4
			r := createAnon(t, opts)
			shmring.SetWatchedSlice(r, time.Hour)
			c, err := r.Consumer()
			require.NoError(t, err)
			got := recvLater(ctx, c, r.MaxMessage())
			if joinedLate {
				// In its timed sleep by then, almost surely (see the
				// SPSC case above).
				time.Sleep(idleAfter)
			}
			h, _ := holdSlot(t, r)
			// Before the message below, which wakes the consumer.
			awaitEntryWatch(t, r, h.cmd.Process.Pid)
			p, err := r.Producer()
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, p.Close()) })
			require.NoError(t, p.Send(ctx, []byte("after the held slot")))

			h.kill()
			requireKilled(t, h.wait())
			requireReceived(t, "after the held slot", <-got)
			assert.NotZero(t, shmring.Exits(r), "the consumer watched the producer's process")
		})
	}
}

// TestIdleOrphanAdopted: the kill -9 of a consumer process that holds a
// message reaches an idle consumer through the watch of that process's
// exit; it reaps the dead consumer's entry and adopts the message.
func TestIdleOrphanAdopted(t *testing.T) {
	requireWatches(t)
	ctx := watchdog(t)
	opts := mpmcOptions(shmring.Adaptive)
	opts.Participants = 4
	r := createAnon(t, opts)
	// Slices too long to end before the test does (see TestIdlePeerKilled).
	shmring.SetWatchedSlice(r, time.Hour)
	max := r.MaxMessage()
	p, c := pair(t, r)
	require.NoError(t, p.Send(ctx, mpmcMessage(nil, msgID{0, 0}, max)))
	h := startHelper(t, "mpmc-consume", helperConfig{
		env:   map[string]string{envMode: "hold", envCount: "0", envOut: filepath.Join(t.TempDir(), "records")},
		rings: map[string]*shmring.Ring{ringKey: r},
		stdin: true,
	})
	h.await(t, "the lease", func() bool { return h.hasLine("peeked") })

	got := recvLater(ctx, c, max)
	awaitEntryWatch(t, r, h.cmd.Process.Pid)
	h.kill()
	requireKilled(t, h.wait())
	res := <-got
	require.NoError(t, res.err)
	m, err := (&mpmcChecker{max: max}).check([]byte(res.msg))
	require.NoError(t, err)
	assert.Equal(t, msgID{0, 0}, m, "the adopted message")
	assert.NotZero(t, shmring.Exits(r), "the consumer watched the holder's process")
	assert.Equal(t, uint64(1), c.Stats().Reaped, "the idle consumer reaped the holder")
}

// TestIdleEventWatchesNoParticipant: an event's waiters on an MPMC ring
// look at the parent alone (events have no peer), so they watch no
// participant's process: a descriptor and a goroutine each for nothing.
func TestIdleEventWatchesNoParticipant(t *testing.T) {
	requireWatches(t)
	opts := mpmcOptions(shmring.Adaptive)
	opts.Participants = 4
	r := createAnon(t, opts)
	h, entry := holdSlot(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), idleAfter)
	defer cancel()
	require.ErrorIs(t, r.Event(1).Wait(ctx), context.DeadlineExceeded)
	assert.Zero(t, shmring.WatchedEntry(r, entry), "an event wait watches the producer")
	h.kill()
	requireKilled(t, h.wait())
}

// holdSlot starts a producer process on the MPMC ring r that reserves a
// slot, writes half of it and hangs (the test kills it), and waits for the
// reservation. It returns the helper and its participant entry.
func holdSlot(t *testing.T, r *shmring.Ring) (*helper, int) {
	t.Helper()
	h := startHelper(t, "mpmc-produce", helperConfig{
		env:   map[string]string{envID: "1", envCount: "0", envMode: "hold"},
		rings: map[string]*shmring.Ring{ringKey: r},
		stdin: true,
	})
	h.await(t, "the reservation", func() bool { return h.hasLine("reserved") })
	m := shmring.MPMCView(r)
	for i := range int(m.Geometry().Participants) {
		if e := m.Entry(i); e.State.Load() == ring.EntryProducer && int(e.Pid.Load()) == h.cmd.Process.Pid {
			return h, i
		}
	}
	require.Failf(t, "no entry", "process %d holds no producer entry", h.cmd.Process.Pid)
	return nil, 0
}

// received is what a Recv returned.
type received struct {
	msg string
	err error
}

// recvLater receives one message of at most size bytes with c, in a
// goroutine of its own, and sends what Recv returned on the channel.
func recvLater(ctx context.Context, c *shmring.Consumer, size int) <-chan received {
	got := make(chan received, 1)
	go func() {
		buf := make([]byte, size)
		n, err := c.Recv(ctx, buf)
		got <- received{string(buf[:n]), err}
	}()
	return got
}

// requireReceived requires that got is the message want.
func requireReceived(t *testing.T, want string, got received) {
	t.Helper()
	require.NoError(t, got.err)
	assert.Equal(t, want, got.msg)
}

// awaitEntryWatch waits until r's sleepers watch process pid, a participant
// of the MPMC ring r, so that a kill that follows reaches them through the
// watch.
func awaitEntryWatch(t *testing.T, r *shmring.Ring, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for i := range int(shmring.MPMCView(r).Geometry().Participants) {
			if shmring.WatchedEntry(r, i) == pid {
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond, "the sleeper watches process %d", pid)
}

// TestIdlePeerGarbledWords: pid words that another process garbled cost
// the idle consumer its event, never the death: the consumer's look finds
// the dead producer's lock free (within a second when it watches the wrong
// process, within 50 ms when it watches none), and on an MPMC ring reaps
// the slot the dead producer held.
func TestIdlePeerGarbledWords(t *testing.T) {
	requireWatches(t)
	for _, tc := range []struct {
		name   string
		garble func(ctl *ring.Control)
	}{
		{"pid of a live process", func(ctl *ring.Control) { ctl.ProducerPid.Store(uint32(os.Getpid())) }},
		{"another namespace", func(ctl *ring.Control) { ctl.ProducerPidNS.Add(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, elapsed := killIdleProducer(t, tc.garble, false)
			assert.Less(t, elapsed, peerDeathBound, "time to notice the dead producer")
			assert.Zero(t, shmring.Exits(r), "no watch of the producer's process")
		})
	}
	for _, tc := range []struct {
		name   string
		garble func(e *ring.Participant)
	}{
		{"mpmc entry with this process's id", func(e *ring.Participant) { e.Pid.Store(uint32(os.Getpid())) }},
		{"mpmc entry of another namespace", func(e *ring.Participant) { e.PidNS.Add(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The consumer waits behind the slot that a producer process
			// holds, whose entry says the wrong process: its look reaps
			// the slot once the producer is dead.
			ctx := watchdog(t)
			opts := mpmcOptions(shmring.Adaptive)
			opts.Participants = 4
			r := createAnon(t, opts)
			h, entry := holdSlot(t, r)
			tc.garble(shmring.MPMCView(r).Entry(entry))
			p, c := pair(t, r)
			t.Cleanup(func() { assert.NoError(t, p.Close()) })
			require.NoError(t, p.Send(ctx, []byte("after the held slot")))
			got := recvLater(ctx, c, r.MaxMessage())
			time.Sleep(idleAfter)
			assert.Zero(t, shmring.WatchedEntry(r, entry), "the garbled entry's process is watched")

			h.kill()
			killed := time.Now()
			requireReceived(t, "after the held slot", <-got)
			assert.Less(t, time.Since(killed), peerDeathBound, "time to reap the dead producer")
			requireKilled(t, h.wait())
			assert.Zero(t, shmring.Exits(r), "no watch of the producer's process")
		})
	}
}

// killIdleProducer kills -9 the producer process of a ring whose consumer
// has received one message, garbled the segment with garble, and waited
// idle: until it watches the producer's process (watched), or for
// idleAfter. It requires the consumer's wait to end with ErrPeerDead, and
// returns the ring and how long after the kill it ended.
func killIdleProducer(t *testing.T, garble func(ctl *ring.Control), watched bool) (*shmring.Ring, time.Duration) {
	t.Helper()
	ctx := watchdog(t)
	r := createAnon(t, &shmring.Options{Size: 4096})
	c, err := r.Consumer()
	require.NoError(t, err)
	h := startHelper(t, "produce-hang", helperConfig{
		env:   map[string]string{envCount: "1"},
		rings: map[string]*shmring.Ring{ringKey: r},
		stdin: true,
	})
	require.Equal(t, "message 0", recvString(t, ctx, c))
	garble(shmring.Control(r))

	recvErr := make(chan error, 1)
	go func() {
		_, err := c.Recv(ctx, make([]byte, 64))
		recvErr <- err
	}()
	if watched {
		awaitWatch(t, r, h.cmd.Process.Pid, 0)
	} else {
		time.Sleep(idleAfter)
	}
	h.kill()
	killed := time.Now()
	require.ErrorIs(t, <-recvErr, shmring.ErrPeerDead)
	elapsed := time.Since(killed)
	requireKilled(t, h.wait())
	return r, elapsed
}

// awaitWatch waits until r's sleepers watch the processes producer and
// consumer (0: either), so that a kill that follows reaches them through
// the watch.
func awaitWatch(t *testing.T, r *shmring.Ring, producer, consumer int) {
	t.Helper()
	require.Eventually(t, func() bool {
		p, c := shmring.WatchedPeers(r)
		return (producer == 0 || p == producer) && (consumer == 0 || c == consumer)
	}, 5*time.Second, time.Millisecond, "the sleeper watches processes %d and %d", producer, consumer)
}
