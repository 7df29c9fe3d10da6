package shmring_test

// Producer.Ready: a channel that fires when room was freed after a try
// found the ring full.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// fires reports whether ch delivers (or is closed) within wait.
func fires(ch <-chan struct{}, wait time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(wait):
		return false
	}
}

func TestProducerReady(t *testing.T) {
	for _, kind := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			r := createAnon(t, &shmring.Options{Kind: kind, Size: 4096, SlotSize: 64})
			p, err := r.Producer()
			require.NoError(t, err)
			c, err := r.Consumer()
			require.NoError(t, err)
			ready := p.Ready()
			assert.True(t, fires(ready, 5*time.Second), "ready at once: nothing was refused yet")
			msg := make([]byte, 64)
			for err == nil {
				err = p.TrySend(msg)
			}
			require.ErrorIs(t, err, shmring.ErrFull)
			assert.False(t, fires(ready, 20*time.Millisecond), "full")
			// Three records: an SPSC record that does not fit before the
			// end of the lap needs room for padding too.
			buf := make([]byte, 64)
			for range 3 {
				_, err = c.TryRecv(buf)
				require.NoError(t, err)
			}
			assert.True(t, fires(ready, 5*time.Second), "messages were released")
			sent := 0
			for err = p.TrySend(msg); err == nil; err = p.TrySend(msg) {
				sent++
			}
			require.ErrorIs(t, err, shmring.ErrFull)
			assert.Positive(t, sent, "the room is there")
			assert.False(t, fires(ready, 20*time.Millisecond), "full again")
			if kind == shmring.MPMC {
				require.NoError(t, r.CloseStream())
				assert.True(t, fires(ready, 5*time.Second), "the stream ended")
				assert.ErrorIs(t, p.TrySend(msg), shmring.ErrClosed)
			}
			require.NoError(t, p.Close())
			_, open := <-ready
			assert.False(t, open, "Close closes the channel")
			_, open = <-p.Ready()
			assert.False(t, open, "after Close")
		})
	}
}

// TestProducerReadyNoLostWakeup fills the ring, waits on Ready only, and
// fills it again, against a consumer that pauses at random: a lost wake-up
// leaves the producer waiting on a ring with room.
func TestProducerReadyNoLostWakeup(t *testing.T) {
	const n = 20000
	for _, kind := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			ctx := watchdog(t)
			r := createAnon(t, &shmring.Options{Kind: kind, Size: 4096, SlotSize: 64})
			p, err := r.Producer()
			require.NoError(t, err)
			c, err := r.Consumer()
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, 64)
				rng := rand.New(rand.NewPCG(1, 2))
				for i := range n {
					if rng.IntN(64) == 0 {
						time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
					}
					if _, err := c.Recv(ctx, buf); err != nil {
						done <- fmt.Errorf("message %d: %w", i, err)
						return
					}
				}
				done <- nil
			}()
			ready := p.Ready()
			msg := make([]byte, 8+rand.IntN(56))
			for sent := 0; sent < n; {
				err := p.TrySend(msg)
				if err == nil {
					sent++
					continue
				}
				require.ErrorIs(t, err, shmring.ErrFull)
				select {
				case <-ready:
				case <-time.After(5 * time.Second):
					require.Failf(t, "lost wake-up", "Ready silent for 5 s after %d of %d messages", sent, n)
				case <-ctx.Done():
					t.Fatal(ctx.Err())
				}
			}
			require.NoError(t, <-done)
			st := p.Stats()
			assert.EqualValues(t, n, st.MsgsSent)
		})
	}
}

// TestProducerReadyAlongsideSend: a blocking Send and the poller may wait
// for room together.
func TestProducerReadyAlongsideSend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := createAnon(t, &shmring.Options{Size: 4096})
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	ready := p.Ready()
	msg := make([]byte, 100)
	for p.TrySend(msg) == nil {
	}
	sent := make(chan error, 1)
	go func() { sent <- p.Send(ctx, msg) }()
	time.Sleep(10 * time.Millisecond)
	buf := make([]byte, 100)
	for range 3 {
		_, err := c.TryRecv(buf)
		require.NoError(t, err)
	}
	require.NoError(t, <-sent)
	assert.True(t, fires(ready, 5*time.Second))
}
