//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testLine is a cache line over private memory, its sequence word set to
// seq, whose spinning ends with ctx.
func testLine(ctx context.Context, seq uint64) (*lineStream, []byte) {
	mem := make([]byte, lineSize)
	binary.NativeEndian.PutUint64(mem[lineSeqOff:], seq)
	return newLineStream(mem, streamSpec{ctx: ctx}), mem
}

// TestLineTurns plays both sides of the cache line's protocol in turn, in
// one goroutine: each side finds the word where the other left it.
func TestLineTurns(t *testing.T) {
	l, mem := testLine(context.Background(), 0)
	seq := func() uint64 { return binary.NativeEndian.Uint64(mem[lineSeqOff:]) }
	for i := range uint64(3) {
		l.seq.Store(2*i + 1) // the harness's hit, without its wait
		require.NoError(t, l.answer(i))
		assert.Equal(t, 2*i+2, seq())
		require.NoError(t, l.await(2*i+2, 2*i+1), "the harness sees the answer")
	}
	_, err := l.sender()
	assert.ErrorIs(t, err, errTurnsOnly)
	_, err = l.receiver()
	assert.ErrorIs(t, err, errTurnsOnly)
}

// TestLineHostile checks that a sequence word neither side wrote fails the
// side that reads it, and that a side waiting on a peer that never answers
// stops when its run is abandoned.
func TestLineHostile(t *testing.T) {
	l, _ := testLine(context.Background(), 7)
	err := l.await(2, 1) // the harness, after its first hit
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sequence word 7, want 1 or 2")
	err = l.answer(0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sequence word 7, want 0 or 1")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l, _ = testLine(ctx, 0)
	assert.ErrorIs(t, l.hit(0), context.Canceled)
}
