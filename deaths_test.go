package shmring_test

import (
	"context"
	"errors"
	"os"
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
}

// TestIdlePeerGarbledWords: pid words that another process garbled cost
// the idle consumer its event, never the death: the consumer's look finds
// the dead producer's lock free (within a second when it watches the wrong
// process, within 50 ms when it watches none).
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
