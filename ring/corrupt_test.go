package ring

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The region is written by a peer we do not trust. These tests write into it
// what a broken or hostile peer could, and check that each side reports an
// error wrapping ErrCorrupt instead of panicking or reading out of place.

// putRecord stores a raw record header (its commit word) at position pos of
// the data area.
func putRecord(c *Control, pos, n uint64, kind uint32) {
	c.header(pos & (c.capacity - 1)).Store(makeHeader(n, kind))
}

// setCursors stores a head and a tail as a peer would.
func setCursors(c *Control, head, tail uint64) {
	c.Head.Store(head)
	c.Tail.Store(tail)
}

func TestAttachBadCursors(t *testing.T) {
	const capacity = MinCapacity
	tests := []struct {
		name       string
		head, tail uint64
	}{
		{"tail beyond head+capacity", 0, capacity + recordAlign},
		{"tail at head+capacity: no room for the zero header", 0, capacity},
		{"tail far beyond head", 64, math.MaxUint64 &^ (recordAlign - 1)},
		{"tail below head", 64, 8},
		{"head at the top, tail wrapped", math.MaxUint64 &^ (recordAlign - 1), 0},
		{"misaligned tail", 0, 12},
		{"misaligned head", 4, 8},
		{"both misaligned", 3, 3},
	}
	attachers := []struct {
		name   string
		attach func(*Control) (any, error)
	}{
		{"producer", func(c *Control) (any, error) { return c.NewProducer() }},
		{"consumer", func(c *Control) (any, error) { return c.NewConsumer() }},
	}
	for _, tt := range tests {
		for _, a := range attachers {
			t.Run(a.name+"/"+tt.name, func(t *testing.T) {
				c := newRing(t, capacity)
				setCursors(c, tt.head, tt.tail)
				var (
					endpoint any
					err      error
				)
				require.NotPanics(t, func() { endpoint, err = a.attach(c) })
				require.ErrorIs(t, err, ErrCorrupt)
				assert.Nil(t, endpoint)
				assert.Contains(t, err.Error(), "corrupt ring")
			})
		}
	}
}

func TestAttachGoodCursors(t *testing.T) {
	const capacity = MinCapacity
	top := uint64(math.MaxUint64 &^ (recordAlign - 1))
	for _, cur := range []struct{ head, tail uint64 }{
		{0, 0}, {0, capacity - 8}, {8, 8}, {4096, 4096 + 8}, {1 << 40, 1<<40 + capacity - 8}, {top, top},
	} {
		c := newRing(t, capacity)
		setCursors(c, cur.head, cur.tail)
		_, err := c.NewProducer()
		assert.NoError(t, err, "producer at head %d, tail %d", cur.head, cur.tail)
		_, err = c.NewConsumer()
		assert.NoError(t, err, "consumer at head %d, tail %d", cur.head, cur.tail)
	}
}

// TestHostilePeer covers what a peer may change under an attached endpoint.
// Each case sets the region up, attaches, corrupts, and returns the error of
// the operation that must notice.
func TestHostilePeer(t *testing.T) {
	const capacity = MinCapacity
	tests := []struct {
		name string
		run  func(t *testing.T, c *Control) error
	}{
		// Seen by the consumer, which reads the header at its head.
		{"record length of 2^32-1", func(t *testing.T, c *Control) error {
			putRecord(c, 0, math.MaxUint32, kindMessage)
			cons := attachConsumer(t, c)
			return peekErr(cons)
		}},
		{"record crossing the end of the lap", func(t *testing.T, c *Control) error {
			const pos = capacity - 16
			setCursors(c, pos, pos)
			cons := attachConsumer(t, c)
			putRecord(c, pos, 16, kindMessage)
			c.Tail.Store(pos + 64)
			return peekErr(cons)
		}},
		{"padding shorter than the rest of the lap", func(t *testing.T, c *Control) error {
			putRecord(c, 0, 8, kindPadding)
			putRecord(c, 16, 0, kindMessage)
			cons := attachConsumer(t, c)
			return peekErr(cons)
		}},
		{"padding longer than the rest of the lap", func(t *testing.T, c *Control) error {
			const pos = capacity - 64
			setCursors(c, pos, pos)
			putRecord(c, pos, 64, kindPadding)
			c.Tail.Store(pos + 64 + 8)
			cons := attachConsumer(t, c)
			return peekErr(cons)
		}},
		{"padding starting the lap", func(t *testing.T, c *Control) error {
			putRecord(c, 0, capacity-recordHeader, kindPadding)
			cons := attachConsumer(t, c)
			return peekErr(cons)
		}},
		{"padding length of 2^32-1", func(t *testing.T, c *Control) error {
			putRecord(c, 0, math.MaxUint32, kindPadding)
			cons := attachConsumer(t, c)
			return peekErr(cons)
		}},
		{"unknown kind 3", func(t *testing.T, c *Control) error {
			putRecord(c, 0, 0, 3)
			c.Tail.Store(8)
			cons := attachConsumer(t, c)
			return peekErr(cons)
		}},
		{"unknown kind 2^32-1", func(t *testing.T, c *Control) error {
			putRecord(c, 0, 0, math.MaxUint32)
			cons := attachConsumer(t, c)
			return peekErr(cons)
		}},
		{"header rewritten after the peek", func(t *testing.T, c *Control) error {
			p, cons := attach(t, c)
			send(t, p, []byte("valid"))
			_, err := cons.TryPeek()
			require.NoError(t, err)
			putRecord(c, 0, capacity, kindMessage)
			return peekErr(cons)
		}},

		// Seen by an attaching producer, which follows the committed
		// records from head to the first zero header, within tail.
		{"attach: committed record crossing the tail", func(t *testing.T, c *Control) error {
			putRecord(c, 0, 100, kindMessage)
			c.Tail.Store(16)
			_, err := c.NewProducer()
			return err
		}},
		{"attach: committed records past the tail", func(t *testing.T, c *Control) error {
			putRecord(c, 0, 8, kindMessage)
			putRecord(c, 16, 8, kindMessage)
			c.Tail.Store(16)
			_, err := c.NewProducer()
			return err
		}},

		// Seen by the producer, which re-reads the head when its cached
		// copy says the ring is full.
		{"head beyond the published tail", func(t *testing.T, c *Control) error {
			p, _ := attach(t, c)
			fill(t, p)
			c.Head.Store(c.Tail.Load() + recordAlign)
			return reserveErr(p, 0)
		}},
		{"head beyond the published tail, within the committed", func(t *testing.T, c *Control) error {
			p, _ := attach(t, c)
			fill(t, p)
			c.Head.Store(capacity / 2)
			_, err := p.TryReserve(capacity/2 - 2*recordHeader)
			require.NoError(t, err)
			p.Commit(capacity/2 - 2*recordHeader)
			c.Head.Store(capacity + capacity/2 - recordHeader)
			return reserveErr(p, c.MaxPayload())
		}},
		{"head moving backwards", func(t *testing.T, c *Control) error {
			p, _ := attach(t, c)
			half := capacity/2 - 2*recordHeader
			send(t, p, make([]byte, half))
			send(t, p, make([]byte, half))
			c.Head.Store(capacity / 2)
			send(t, p, make([]byte, half))
			c.Head.Store(0)
			return reserveErr(p, 64)
		}},
		{"misaligned head", func(t *testing.T, c *Control) error {
			p, _ := attach(t, c)
			fill(t, p)
			c.Head.Store(4)
			return reserveErr(p, 0)
		}},
		{"head at the top of the range", func(t *testing.T, c *Control) error {
			p, _ := attach(t, c)
			fill(t, p)
			c.Head.Store(math.MaxUint64 &^ (recordAlign - 1))
			return reserveErr(p, 0)
		}},
		{"misaligned head on the padding path", func(t *testing.T, c *Control) error {
			p, _ := attach(t, c)
			send(t, p, make([]byte, capacity-64))
			c.Head.Store(capacity - 60)
			return reserveErr(p, 128)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRing(t, capacity)
			var err error
			require.NotPanics(t, func() { err = tt.run(t, c) })
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), "corrupt ring")
		})
	}
}

// TestCorruptIsNotSticky checks that an endpoint which reported ErrCorrupt
// did not move: once the peer's value is sane again, it goes on from where it
// was.
func TestCorruptIsNotSticky(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, cons := attach(t, c)
	send(t, p, []byte("one"))
	good := c.header(0).Load()

	putRecord(c, 0, 0, 3)
	require.ErrorIs(t, peekErr(cons), ErrCorrupt)
	c.header(0).Store(good)
	assert.Equal(t, []byte("one"), recv(t, cons))

	fill(t, p)
	head := c.Head.Load()
	c.Head.Store(head + 4)
	require.ErrorIs(t, reserveErr(p, 0), ErrCorrupt)
	c.Head.Store(head)
	require.ErrorIs(t, reserveErr(p, 0), ErrFull)
}

// attachConsumer returns a consumer of c: the consumer-side cases attach no
// producer, which would refuse the records they write.
func attachConsumer(t *testing.T, c *Control) *Consumer {
	t.Helper()
	cons, err := c.NewConsumer()
	require.NoError(t, err)
	return cons
}

// peekErr returns the error of one TryPeek.
func peekErr(c *Consumer) error {
	_, err := c.TryPeek()
	return err
}

// reserveErr returns the error of one TryReserve(n).
func reserveErr(p *Producer, n int) error {
	_, err := p.TryReserve(n)
	return err
}

// fill sends messages until the ring is full to the last byte (but the
// header word that stays zero) and leaves them published.
func fill(t *testing.T, p *Producer) {
	t.Helper()
	for {
		free := p.capacity - (p.tail - p.c.Head.Load())
		if free == recordHeader {
			return
		}
		toEnd := p.capacity - p.tail&p.mask
		n := int(min(free-recordHeader, toEnd, 256) - recordHeader)
		send(t, p, make([]byte, n))
	}
}
