package shmring_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// TestReadyOneMessagePerSignal reads one message per Ready signal, the
// natural loop, which must not stall while messages wait: Ready fires again
// after a try that found a message.
func TestReadyOneMessagePerSignal(t *testing.T) {
	for _, k := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(k.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(watchdog(t), 10*time.Second)
			defer cancel()
			r, p, c := allPair(t, k)
			for _, m := range []string{"one", "two", "three"} {
				require.NoError(t, p.Send(ctx, []byte(m)))
			}
			require.NoError(t, r.CloseStream())
			buf := make([]byte, 64)
			var got []string
			for {
				select {
				case <-c.Ready():
				case <-ctx.Done():
					t.Fatalf("stalled after %q with messages waiting", got)
				}
				n, err := c.TryRecv(buf)
				if errors.Is(err, shmring.ErrEmpty) {
					continue
				}
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				got = append(got, string(buf[:n]))
			}
			assert.Equal(t, []string{"one", "two", "three"}, got)
		})
	}
}

// TestProducerReadyOneMessagePerSignal sends one message per Ready signal,
// which must not stall while there is room.
func TestProducerReadyOneMessagePerSignal(t *testing.T) {
	for _, k := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(k.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(watchdog(t), 10*time.Second)
			defer cancel()
			_, p, c := allPair(t, k)
			for i := range 5 {
				select {
				case <-p.Ready():
				case <-ctx.Done():
					t.Fatalf("stalled after %d messages with room left", i)
				}
				require.NoError(t, p.TrySend([]byte("x")))
			}
			buf := make([]byte, 64)
			for range 5 {
				_, err := c.TryRecv(buf)
				require.NoError(t, err)
			}
		})
	}
}
