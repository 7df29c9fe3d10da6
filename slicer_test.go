package shmring

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/ring"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slicerWatchdog bounds every wait of these tests that should end: only a
// hang reaches it, however loaded the machine.
const slicerWatchdog = 10 * time.Second

// blockRing returns an anonymous Block ring with a consumer, whose waits
// sleep at once.
func blockRing(t *testing.T) (*Ring, *Consumer) {
	t.Helper()
	if !futex.WakeInterrupts {
		t.Skipf("the %s mechanism cannot cut an untimed sleep short: every sleep is timed", futex.Mechanism)
	}
	r, err := CreateAnonymous(&Options{Size: 4096, Wait: Block})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	c, err := r.Consumer()
	require.NoError(t, err)
	return r, c
}

// goRecv runs c.Recv(ctx) in a goroutine and delivers its error.
func goRecv(ctx context.Context, c *Consumer) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Recv(ctx, make([]byte, 64))
		done <- err
	}()
	return done
}

// awaitErr returns the error done delivers, failing the test after
// slicerWatchdog.
func awaitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(slicerWatchdog):
		t.Fatalf("the wait has not ended after %v", slicerWatchdog)
		return nil
	}
}

// eventually polls cond every millisecond until it holds, failing the test
// after slicerWatchdog.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(slicerWatchdog)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not after %v: %s", slicerWatchdog, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// sleepingUntimed reports whether one wait of r for data sleeps untimed.
func sleepingUntimed(r *Ring) bool {
	return r.slicer.counts[ring.WordData].Load() == 1 && r.slicer.running.Load()
}

func TestSlicerStartsAndStops(t *testing.T) {
	r, c := blockRing(t)
	p, err := r.Producer()
	require.NoError(t, err)
	assert.False(t, r.slicer.running.Load(), "no sleeper, no slicer")

	done := goRecv(context.Background(), c)
	eventually(t, "the slicer runs for the untimed sleeper", func() bool { return sleepingUntimed(r) })
	start := r.slicer.ticks.Load()

	// Idle for untimedSlices slices, the wait goes on with timed sleeps and
	// the slicer stops, the wait still asleep.
	eventually(t, "the slicer stops for an idle wait", func() bool { return !r.slicer.running.Load() })
	assert.Zero(t, r.slicer.counts[ring.WordData].Load(), "the idle wait left the slicer")
	assert.GreaterOrEqual(t, r.slicer.ticks.Load()-start, uint32(untimedSlices), "slices before the wait went timed")
	select {
	case err := <-done:
		t.Fatalf("the wait ended with %v on an empty ring", err)
	default:
	}

	// A message still ends the timed wait, and the next sleep starts the
	// slicer again.
	require.NoError(t, p.Send(context.Background(), []byte("m")))
	require.NoError(t, awaitErr(t, done))
	done = goRecv(context.Background(), c)
	eventually(t, "the slicer starts again", func() bool { return sleepingUntimed(r) })
	require.NoError(t, p.Send(context.Background(), []byte("m")))
	require.NoError(t, awaitErr(t, done))
	assert.Zero(t, r.LostWakeups())
}

func TestSlicerEndsWithRingClose(t *testing.T) {
	before := runtime.NumGoroutine()
	r, c := blockRing(t)
	done := goRecv(context.Background(), c)
	eventually(t, "the slicer runs for the untimed sleeper", func() bool { return sleepingUntimed(r) })

	require.NoError(t, r.Close())
	require.ErrorIs(t, awaitErr(t, done), ErrClosed)
	select {
	case <-r.slicer.done:
	default:
		t.Fatal("the slicer's goroutine outlived Ring.Close")
	}
	assert.False(t, r.slicer.running.Load())
	assert.False(t, r.slicer.join(ring.WordData), "a closed ring's slicer starts no goroutine")
	eventually(t, "no goroutine outlives the ring", func() bool { return runtime.NumGoroutine() <= before })
}

// TestUntimedSleepEndsWithContext cancels the context of an untimed sleep,
// or lets its deadline pass: the wait ends without waiting for the slice's
// end. A round in which the slicer ticked meanwhile proves nothing (the tick
// may be what ended it) and is run again.
func TestUntimedSleepEndsWithContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		end  func(context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, func(cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, func(context.CancelFunc) {}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c := blockRing(t)
			const rounds = 20
			for range rounds {
				ctx, cancel := tc.ctx()
				done := goRecv(ctx, c)
				eventually(t, "the wait sleeps untimed", func() bool { return sleepingUntimed(r) })
				ticks := r.slicer.ticks.Load()
				tc.end(cancel)
				err := awaitErr(t, done)
				cancel()
				require.ErrorIs(t, err, tc.want)
				if r.slicer.ticks.Load() == ticks {
					return
				}
			}
			t.Fatalf("in %d rounds, the wait ended only after a slice had ended", rounds)
		})
	}
}

// TestUntimedSleepNoticesDeadPeer leaves what a producer that died attached
// leaves (its attached flag set, its lock free) under a consumer that sleeps
// untimed: the slicer's next tick ends the sleep, and the wait's look at its
// peer reports ErrPeerDead.
func TestUntimedSleepNoticesDeadPeer(t *testing.T) {
	r, c := blockRing(t)
	done := goRecv(context.Background(), c)
	eventually(t, "the wait sleeps untimed", func() bool { return sleepingUntimed(r) })
	ticks := r.slicer.ticks.Load()
	r.ctl.ProducerAttached.Store(1)
	require.ErrorIs(t, awaitErr(t, done), ErrPeerDead)
	// The first tick after the death ends the sleep; one more if the
	// sleeper joined just as a tick looked at the counts.
	assert.LessOrEqual(t, r.slicer.ticks.Load()-ticks, uint32(2), "slices until the dead peer was noticed")
	r.ctl.ProducerAttached.Store(0)
}
