package shmring_test

// MPMC participant table and bitmaps written by a broken or hostile peer:
// every value an endpoint reads there is checked where it is used, so bad
// contents give errors, never a panic, a fault or a wait without end.

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// TestMPMCOrphanBitOutsideTable sets bits of the Orphans word at and above
// the participant count: the consumer reports ErrCorrupt once (the bits
// name no entry, and are cleared), Ready fires for it, and the ring goes on.
func TestMPMCOrphanBitOutsideTable(t *testing.T) {
	ctx := watchdog(t)
	r := anonRing(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 4096, Participants: 4})
	p, c := pair(t, r)
	m := shmring.MPMCView(r)
	buf := make([]byte, 64)

	m.Orphans.Store(1<<63 | 1<<4)
	_, err := c.TryRecv(buf)
	require.ErrorIs(t, err, shmring.ErrCorrupt)
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, shmring.ErrEmpty, "the stray bits were cleared")

	m.Orphans.Store(1 << 63)
	select {
	case <-c.Ready():
	case <-ctx.Done():
		t.Fatal("watchdog: Ready did not report the corrupt bitmap")
	}
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, shmring.ErrCorrupt)

	m.DataSleepers.Store(^uint64(0))
	m.SpaceSleepers.Store(^uint64(0))
	require.NoError(t, p.Send(ctx, []byte("still")))
	assert.Equal(t, "still", recvOne(t, ctx, c))
}

// TestMPMCScribbledTable runs producers and consumers (Recv, and Ready with
// TryRecv) while a peer writes random values into the participant table
// (every entry's state, pid, generation and intent) and the sleeper and
// orphan bitmaps. Calls may fail, and messages may be lost or skipped; no
// call panics, and every call returns within its deadline, as Close does.
func TestMPMCScribbledTable(t *testing.T) {
	ctx := watchdog(t)
	const participants = 8
	r := anonRing(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 4096, Participants: participants})
	m := shmring.MPMCView(r)
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	// call bounds each blocking call: the scribbler may make any of them
	// wait for a message or room that never comes.
	call := func(fn func(ctx context.Context)) {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		fn(ctx)
	}
	var wg sync.WaitGroup
	for range 2 {
		p, err := r.Producer()
		require.NoError(t, err)
		wg.Go(func() {
			for !stopped() {
				call(func(ctx context.Context) { _ = p.Send(ctx, []byte("scribbled")) })
			}
			_ = p.Close()
		})
	}
	c, err := r.Consumer()
	require.NoError(t, err)
	wg.Go(func() {
		buf := make([]byte, 64)
		for !stopped() {
			call(func(ctx context.Context) { _, _ = c.Recv(ctx, buf) })
		}
		_ = c.Close()
	})
	rc, err := r.Consumer()
	require.NoError(t, err)
	wg.Go(func() {
		buf := make([]byte, 64)
		for {
			select {
			case <-rc.Ready():
				for range 16 {
					if _, err := rc.TryRecv(buf); err != nil {
						break
					}
				}
			case <-stop:
				_ = rc.Close()
				return
			}
		}
	})

	rng := rand.New(rand.NewPCG(1, 2))
	value := func() uint64 {
		if rng.IntN(2) == 0 {
			return rng.Uint64N(8) // near the valid states, positions and bits
		}
		return rng.Uint64()
	}
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		e := m.Entry(rng.IntN(participants))
		switch rng.IntN(8) {
		case 0:
			m.Orphans.Store(value())
		case 1:
			m.DataSleepers.Store(value())
		case 2:
			m.SpaceSleepers.Store(value())
		case 3:
			e.State.Store(uint32(value()))
		case 4:
			e.Pid.Store(uint32(value()))
		case 5:
			e.Generation.Store(value())
		case 6:
			e.Intent.Store(value())
		case 7:
			e.End.Store(value())
		}
		time.Sleep(50 * time.Microsecond)
	}
	close(stop)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("watchdog: an endpoint hung after the scribbling")
	}
}
