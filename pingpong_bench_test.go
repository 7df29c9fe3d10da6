package shmring_test

import (
	"context"
	"testing"

	"github.com/shmring/shmring"
)

// BenchmarkPingPong times round trips (ns/op) between two goroutines over a pair of
// rings (request and response): the wait path's cost per hand-off, which
// the cross-process bench measures as a latency. block/copy sleeps on every
// hand-off; adaptive/channel receives the responses through Ready and
// TryRecv.
func BenchmarkPingPong(b *testing.B) {
	for _, tc := range []struct {
		name    string
		wait    shmring.WaitStrategy
		channel bool
	}{
		{"block/copy", shmring.Block, false},
		{"adaptive/copy", shmring.Adaptive, false},
		{"adaptive/channel", shmring.Adaptive, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			opts := &shmring.Options{Wait: tc.wait}
			reqP, reqC := pair(b, anonRing(b, opts))
			respP, respC := pair(b, anonRing(b, opts))
			ctx := context.Background()
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 64)
				for range b.N {
					n, err := reqC.Recv(ctx, buf)
					if err == nil {
						err = respP.Send(ctx, buf[:n])
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
			msg, buf := make([]byte, 64), make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := reqP.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if err := receive(ctx, respC, buf, tc.channel); err != nil {
					b.Fatal(err)
				}
			}
			<-done
		})
	}
}

// receive receives one message into buf: with Recv, or by selecting on
// Ready and draining with TryRecv.
func receive(ctx context.Context, c *shmring.Consumer, buf []byte, channel bool) error {
	if !channel {
		_, err := c.Recv(ctx, buf)
		return err
	}
	for {
		_, err := c.TryRecv(buf)
		if err != shmring.ErrEmpty {
			return err
		}
		<-c.Ready()
	}
}
