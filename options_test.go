package shmring_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// TestOpenMismatch checks that opening a ring with options that ask for
// something else than the ring is fails with ErrMismatch, naming both, and
// that zero fields accept whatever the ring has.
func TestOpenMismatch(t *testing.T) {
	_, spsc := createNamed(t, &shmring.Options{Size: 4096})
	_, mpmc := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 512, Size: 8192, Participants: 4})
	for _, tt := range []struct {
		name string
		ring string
		opts *shmring.Options
		want []string // in the error; none: the open succeeds
	}{
		{"spsc, nil options", spsc, nil, nil},
		{"spsc, only this process's settings", spsc, &shmring.Options{Wait: shmring.Block, SpinBudget: 1}, nil},
		{"spsc, size rounded to the ring's", spsc, &shmring.Options{Size: 4000}, nil},
		{"spsc asked as mpmc", spsc, &shmring.Options{Kind: shmring.MPMC}, []string{"kind mpmc", "spsc"}},
		{"spsc, other size", spsc, &shmring.Options{Size: 1 << 20}, []string{"size 1048576", "4096"}},
		{"spsc, slot size", spsc, &shmring.Options{SlotSize: 512}, []string{"slot size 512", "spsc"}},
		{"spsc, participants", spsc, &shmring.Options{Participants: 2}, []string{"2 participants", "spsc"}},
		{"mpmc, nil options", mpmc, nil, nil},
		{"mpmc, all the same", mpmc, &shmring.Options{Kind: shmring.MPMC, SlotSize: 510, Size: 8192, Participants: 4}, nil},
		{"mpmc, zero kind", mpmc, &shmring.Options{Size: 8192}, nil},
		{"mpmc, other slot size", mpmc, &shmring.Options{Kind: shmring.MPMC, SlotSize: 1024}, []string{"slot size 1024", "512"}},
		{"mpmc, other participants", mpmc, &shmring.Options{Participants: 8}, []string{"8 participants", "4"}},
		{"mpmc, other size", mpmc, &shmring.Options{Size: 1 << 20}, []string{"size 1048576", "8192"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, open := range []struct {
				name string
				fn   func(string, *shmring.Options) (*shmring.Ring, error)
			}{{"Open", shmring.Open}, {"OpenOrCreate", shmring.OpenOrCreate}} {
				r, err := open.fn(tt.ring, tt.opts)
				if len(tt.want) == 0 {
					require.NoError(t, err, open.name)
					assert.NoError(t, r.Close())
					continue
				}
				require.ErrorIs(t, err, shmring.ErrMismatch, open.name)
				assert.Nil(t, r)
				for _, s := range tt.want {
					assert.Contains(t, err.Error(), s, open.name)
				}
			}
		})
	}
}
