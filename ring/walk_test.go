package ring

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walked is one message seen by Walk or by a consumer.
type walked struct {
	pos     uint64
	payload []byte
}

// walkAll walks c from head to tail and returns every message and the error.
func walkAll(c *Control, head, tail uint64) ([]walked, error) {
	var got []walked
	err := c.Walk(head, tail, func(pos uint64, payload []byte) bool {
		got = append(got, walked{pos, bytes.Clone(payload)})
		return true
	})
	return got, err
}

// consumeAll runs a consumer over c until the ring is empty, an error, or
// its head reaches limit, and returns every message with its position, and
// the error (nil when the ring ended empty or the limit was reached). The
// consumer follows headers, not the tail: over a region full of valid
// records it would go round for ever, hence the limit.
func consumeAll(c *Control, limit uint64) ([]walked, error) {
	cons, err := c.NewConsumer()
	if err != nil {
		return nil, err
	}
	var got []walked
	for cons.head < limit {
		b, err := cons.TryPeek()
		if errors.Is(err, ErrEmpty) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, walked{cons.head, bytes.Clone(b)})
		cons.Release()
	}
	return got, nil
}

func TestWalk(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, cons := attach(t, c)
	// Fill most of a lap, free it, then write records that wrap: the walk
	// meets a padding record.
	send(t, p, payload(0, MinCapacity-200))
	recv(t, cons)
	var want []walked
	for i, n := range []int{0, 1, 100, 150, 7, 300} {
		pos := p.tail
		msg := payload(uint64(i+1), n)
		send(t, p, msg)
		if n == 150 {
			// Crossed the end: a padding record came first.
			pos = (pos | (MinCapacity - 1)) + 1
		}
		want = append(want, walked{pos, msg})
	}
	head, tail := c.Head.Load(), c.Tail.Load()
	before := bytes.Clone(c.data)

	got, err := walkAll(c, head, tail)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, before, c.data, "Walk writes nothing")
	assert.Equal(t, head, c.Head.Load())

	consumed, err := consumeAll(c, tail)
	require.NoError(t, err)
	assert.Equal(t, consumed, got, "Walk sees what a consumer reads")

	t.Run("stop early", func(t *testing.T) {
		var n int
		err := c.Walk(head, tail, func(uint64, []byte) bool {
			n++
			return n < 2
		})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
	})
	t.Run("empty", func(t *testing.T) {
		got, err := walkAll(c, tail, tail)
		require.NoError(t, err)
		assert.Empty(t, got)
	})
	t.Run("zero-length payload is empty, not nil", func(t *testing.T) {
		require.NoError(t, c.Walk(want[0].pos, tail, func(_ uint64, b []byte) bool {
			assert.NotNil(t, b)
			assert.Empty(t, b)
			return false
		}))
	})
}

func TestWalkCorrupt(t *testing.T) {
	const capacity = MinCapacity
	tests := []struct {
		name       string
		head, tail uint64
		records    func(c *Control)
		pos        uint64 // position of the bad record; 0 for a cursor error
	}{
		{"tail below head", 64, 8, nil, 0},
		{"tail beyond a lap", 0, capacity + 8, nil, 0},
		{"misaligned tail", 0, 12, nil, 0},
		{"length beyond the tail", 0, 16, func(c *Control) { putRecord(c, 0, 9, kindMessage) }, 0},
		{"length beyond the lap", capacity - 16, capacity, func(c *Control) {
			putRecord(c, capacity-16, 16, kindMessage)
		}, capacity - 16},
		{"second record bad", 0, 48, func(c *Control) {
			putRecord(c, 0, 8, kindMessage)
			putRecord(c, 16, 1<<31, kindMessage)
		}, 16},
		{"unknown kind", 8, 32, func(c *Control) { putRecord(c, 8, 0, 7) }, 8},
		{"padding short of the end", 0, capacity - 8, func(c *Control) {
			putRecord(c, 0, capacity-16, kindPadding)
		}, 0},
		{"padding beyond the tail", capacity - 64, capacity - 8, func(c *Control) {
			putRecord(c, capacity-64, 56, kindPadding)
		}, capacity - 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRing(t, capacity)
			if tt.records != nil {
				tt.records(c)
			}
			var walkErr error
			require.NotPanics(t, func() { _, walkErr = walkAll(c, tt.head, tt.tail) })
			require.ErrorIs(t, walkErr, ErrCorrupt)
			assert.Contains(t, walkErr.Error(), "corrupt ring")

			var re *RecordError
			if tt.records == nil {
				assert.False(t, errors.As(walkErr, &re), "a cursor error is not a record error: %v", walkErr)
				return
			}
			require.ErrorAs(t, walkErr, &re)
			assert.Equal(t, tt.pos, re.Pos)

		})
	}
}

func TestOffset(t *testing.T) {
	c := newRing(t, MinCapacity)
	assert.Equal(t, uint64(ControlSize), c.Offset(0))
	assert.Equal(t, uint64(ControlSize+24), c.Offset(24))
	assert.Equal(t, uint64(ControlSize+24), c.Offset(3*MinCapacity+24))
}

// FuzzWalk checks Walk against a consumer over any region: Walk writes
// nothing, and its messages are the consumer's first ones, at the same
// positions.
func FuzzWalk(f *testing.F) {
	for _, seed := range consumerSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		region := regionFromInput(in)
		c, err := NewControl(region)
		require.NoError(t, err)
		head, tail := c.Head.Load(), c.Tail.Load()
		before := bytes.Clone(region)

		got, walkErr := walkAll(c, head, tail)
		require.Equal(t, before, region, "Walk writes nothing")
		if walkErr != nil {
			require.ErrorIs(t, walkErr, ErrCorrupt)
		}
		// Walk checks each record against the tail as well as the lap,
		// the consumer only against the lap: what Walk reports, the
		// consumer delivers first.
		want, _ := consumeAll(c, tail)
		require.LessOrEqual(t, len(got), len(want))
		for i := range got {
			require.Equal(t, want[i], got[i])
		}
	})
}
