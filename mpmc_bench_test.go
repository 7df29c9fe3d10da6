package shmring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// BenchmarkMPMCBatch moves 64-byte messages from P producer goroutines
// sending with SendBatch (64 messages a call) to C consumer goroutines
// reading with ReadBatch (up to 64 a call) through one MPMC ring: the path
// whose claims take a range of slots with one CAS on the shared position
// instead of one CAS per message.
func BenchmarkMPMCBatch(b *testing.B) {
	const size, batch = 64, 64
	for _, pc := range []int{1, 2} {
		b.Run(fmt.Sprintf("%dP%dC", pc, pc), func(b *testing.B) {
			r := anonRing(b, &shmring.Options{Kind: shmring.MPMC, SlotSize: size})
			ctx := context.Background()
			var prod, cons sync.WaitGroup
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range pc {
				p, err := r.Producer()
				require.NoError(b, err)
				c, err := r.Consumer()
				require.NoError(b, err)
				prod.Go(func() {
					msgs := make([][]byte, batch)
					for k := range msgs {
						msgs[k] = make([]byte, size)
					}
					for left := b.N/pc + boolInt(i < b.N%pc); left > 0; {
						n, err := p.SendBatch(ctx, msgs[:min(left, batch)])
						if err != nil {
							b.Error(err)
							return
						}
						left -= n
					}
				})
				cons.Go(func() {
					for {
						_, err := c.ReadBatch(ctx, batch, func([]byte) {})
						if errors.Is(err, io.EOF) {
							return
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			prod.Wait()
			require.NoError(b, r.CloseStream())
			cons.Wait()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
		})
	}
}
