package ring

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test messages carry their sequence number in their first 8 bytes (when
// they are that long) and a pattern derived from it in every byte, so a
// message delivered torn, twice, out of order or with a wrong length is seen.

// patternByte is byte i of the pattern of message seq.
func patternByte(seq uint64, i int) byte {
	return byte(seq*131 + uint64(i)*7 + 1)
}

// fillPayload writes the pattern of message seq into b.
func fillPayload(b []byte, seq uint64) {
	for i := range b {
		b[i] = patternByte(seq, i)
	}
	if len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, seq)
	}
}

// payload returns the n-byte message seq.
func payload(seq uint64, n int) []byte {
	b := make([]byte, n)
	fillPayload(b, seq)
	return b
}

// send reserves, fills, commits and publishes one message, and returns the
// room it reserved.
func send(t *testing.T, p *Producer, msg []byte) []byte {
	t.Helper()
	buf, err := p.TryReserve(len(msg))
	require.NoError(t, err)
	copy(buf, msg)
	p.Commit(len(msg))
	require.True(t, p.Publish())
	return buf
}

// assertSameRoom checks that the reservations a and b start at one offset of
// c's data.
func assertSameRoom(t *testing.T, c *Control, a, b []byte, msg string) {
	t.Helper()
	offA, _ := offsetIn(c.data, a)
	offB, _ := offsetIn(c.data, b)
	assert.Equal(t, offA, offB, msg)
}

// requireEmpty checks that cons finds no message.
func requireEmpty(t *testing.T, cons *Consumer) {
	t.Helper()
	_, err := cons.TryPeek()
	require.ErrorIs(t, err, ErrEmpty)
}

// recv peeks, copies, releases and publishes one message.
func recv(t *testing.T, c *Consumer) []byte {
	t.Helper()
	b, err := c.TryPeek()
	require.NoError(t, err)
	msg := append([]byte(nil), b...)
	c.Release()
	require.True(t, c.Publish())
	return msg
}

// attach returns a producer and a consumer of c.
func attach(t *testing.T, c *Control) (*Producer, *Consumer) {
	t.Helper()
	p, err := c.NewProducer()
	require.NoError(t, err)
	cons, err := c.NewConsumer()
	require.NoError(t, err)
	return p, cons
}

// modelRecord is a committed message in the model of TestRoundTrip.
type modelRecord struct {
	seq uint64
	pos uint64 // position of its header
	n   int
}

// modelReserve says what TryReserve(n) must do with the private tail at
// tail and the published head at head: the position of the record after the
// padding it writes first (the tail moves there even when the record does not
// fit) and whether the record fits.
func modelReserve(tail, head, capacity uint64, n int) (pos uint64, fits bool) {
	size := recordSize(uint64(n))
	// Each record, padding included, needs the header word past it free
	// (invariant Z).
	free := func(at uint64) uint64 { return capacity - (at - head) }
	if rest := capacity - tail%capacity; rest < size {
		if free(tail) < rest+recordHeader {
			return tail, false
		}
		tail += rest
	}
	return tail, free(tail) >= size+recordHeader
}

// randomSize returns a payload size in [0, maxPayload], mostly small, some
// large, a few exactly maxPayload.
func randomSize(rng *rand.Rand, maxPayload int) int {
	switch r := rng.IntN(100); {
	case r < 60:
		return rng.IntN(33)
	case r < 85:
		return 33 + rng.IntN(480)
	case r < 98:
		return 513 + rng.IntN(maxPayload-512)
	default:
		return maxPayload
	}
}

// TestRoundTrip drives a producer and a consumer in one goroutine through
// random steps and checks each against a model of the ring: what fits, what
// is visible, where each record lies and what it holds.
func TestRoundTrip(t *testing.T) {
	const (
		capacity = 4096
		laps     = 256
	)
	c := newRing(t, capacity)
	p, cons := attach(t, c)
	rng := rand.New(rand.NewPCG(1, 2))
	maxPayload := c.MaxPayload()

	var (
		tail, published uint64 // the producer's private and published tail
		head, freed     uint64 // the consumer's private and published head
		queue           []modelRecord
		visible         int // records of queue below the published tail
		seq             uint64
		stats           = map[string]int{}
	)
	for step := 0; head < laps*capacity; step++ {
		require.Less(t, step, 10_000_000, "no progress")
		switch r := rng.IntN(100); {
		case r < 8: // TryWrite of a few messages: as many as fit
			k := 1 + rng.IntN(5)
			msgs := make([][]byte, k)
			for i := range msgs {
				msgs[i] = payload(seq+uint64(i), randomSize(rng, maxPayload))
			}
			wrote, err := p.TryWrite(msgs)
			stats["write"]++
			for i, m := range msgs {
				pos, fits := modelReserve(tail, freed, capacity, len(m))
				if pos != tail {
					stats["padding"]++
				}
				tail = pos
				if !fits {
					require.Equal(t, i, wrote, "step %d: the messages before the first that does not fit", step)
					require.ErrorIs(t, err, ErrFull, "step %d", step)
					stats["write full"]++
					break
				}
				queue = append(queue, modelRecord{seq: seq, pos: pos, n: len(m)})
				seq++
				tail = pos + recordSize(uint64(len(m)))
			}
			if wrote == k {
				require.NoError(t, err, "step %d", step)
			}
		case r < 40: // reserve, fill, commit
			n := randomSize(rng, maxPayload)
			pos, fits := modelReserve(tail, freed, capacity, n)
			if pos != tail {
				stats["padding"]++
			}
			buf, err := p.TryReserve(n)
			tail = pos
			if !fits {
				require.ErrorIs(t, err, ErrFull, "step %d: %d bytes at %d, head %d", step, n, pos, freed)
				stats["full"]++
				continue
			}
			require.NoError(t, err, "step %d: %d bytes at %d, head %d", step, n, pos, freed)
			require.Len(t, buf, n)
			require.Equal(t, n, cap(buf), "the reservation gives no access past its end")
			off, inside := offsetIn(c.data, buf)
			require.True(t, inside)
			if n > 0 {
				require.Equal(t, int(pos%capacity)+recordHeader, off, "step %d", step)
			}
			for i := range buf {
				buf[i] = 0xee
			}
			if rng.IntN(10) == 0 { // abandoned: the next TryReserve takes the room
				stats["abandoned"]++
				continue
			}
			m := n
			if rng.IntN(10) == 0 {
				m = rng.IntN(n + 1)
				stats["short commit"]++
			}
			fillPayload(buf[:m], seq)
			p.Commit(m)
			queue = append(queue, modelRecord{seq: seq, pos: pos, n: m})
			seq++
			tail = pos + recordSize(uint64(m))
			if m > capacity/2 {
				stats["large"]++
			}
		case r < 50:
			require.Equal(t, tail != published, p.Pending())
			require.Equal(t, tail != published, p.Publish())
			published = tail
			visible = len(queue)
			assert.Equal(t, published, c.Tail.Load())
		case r < 90:
			b, err := cons.TryPeek()
			if visible == 0 {
				require.ErrorIs(t, err, ErrEmpty, "step %d", step)
				require.Equal(t, published, cons.head, "padding up to the published tail is skipped")
				head = published
				if len(queue) > 0 {
					stats["unpublished invisible"]++
				}
				continue
			}
			require.NoError(t, err, "step %d", step)
			want := queue[0]
			require.Equal(t, want.pos, cons.head, "step %d: the record of message %d", step, want.seq)
			require.Equal(t, payload(want.seq, want.n), b, "step %d: message %d", step, want.seq)
			require.Equal(t, want.n, cap(b), "the peeked bytes give no access past the record")
			if off, inside := offsetIn(c.data, b); assert.True(t, inside) && want.n > 0 {
				require.Equal(t, int(want.pos%capacity)+recordHeader, off)
			}
			head = want.pos
			if rng.IntN(5) == 0 { // peek again later: the same record comes back
				stats["peek again"]++
				continue
			}
			cons.Release()
			head += recordSize(uint64(want.n))
			queue = queue[1:]
			visible--
		default:
			require.Equal(t, head != freed, cons.Publish())
			freed = head
			assert.Equal(t, freed, c.Head.Load())
		}
	}
	for _, event := range []string{"padding", "full", "write", "write full", "abandoned", "short commit", "large", "unpublished invisible", "peek again"} {
		assert.Positive(t, stats[event], "the random walk never hit %q", event)
	}
	t.Logf("%d messages, %d laps: %v", seq, head/capacity, stats)
}

func TestCommitShorterThanReserved(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, cons := attach(t, c)

	buf, err := p.TryReserve(100)
	require.NoError(t, err)
	copy(buf, "short")
	p.Commit(5)
	require.True(t, p.Publish())
	assert.Equal(t, recordSize(5), c.Tail.Load(), "the record takes the room of 5 bytes, not 100")

	send(t, p, []byte("next"))
	assert.Equal(t, []byte("short"), recv(t, cons))
	assert.Equal(t, []byte("next"), recv(t, cons))
}

func TestCommitIsInvisibleUntilPublish(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, cons := attach(t, c)
	buf, err := p.TryReserve(3)
	require.NoError(t, err)
	copy(buf, "one")
	p.Commit(3)
	assert.True(t, p.Pending())
	assert.Zero(t, c.Tail.Load())
	requireEmpty(t, cons)

	require.True(t, p.Publish())
	assert.False(t, p.Pending())
	assert.False(t, p.Publish(), "nothing new to publish")
	assert.Equal(t, []byte("one"), recv(t, cons))
	assert.False(t, cons.Publish(), "nothing new to publish")
}

// TestProducerDiesMidBatch: a producer that committed records without
// publishing them has stored the headers of all but the first. A successor
// starts at the published tail with records of other sizes; the consumer
// must never reach the dead producer's headers, which lie where the
// successor's records do not start (invariant Z).
func TestProducerDiesMidBatch(t *testing.T) {
	c := newRing(t, MinCapacity)
	dead, cons := attach(t, c)
	send(t, dead, []byte("published"))
	for i, n := range []int{8, 24, 40} {
		buf, err := dead.TryReserve(n)
		require.NoError(t, err)
		fillPayload(buf, uint64(i))
		dead.Commit(n)
	}
	assert.Equal(t, []byte("published"), recv(t, cons))
	requireEmpty(t, cons)

	p, err := c.NewProducer()
	require.NoError(t, err)
	send(t, p, make([]byte, 4))
	send(t, p, []byte("after"))
	assert.Equal(t, make([]byte, 4), recv(t, cons))
	assert.Equal(t, []byte("after"), recv(t, cons))
	requireEmpty(t, cons)
}

// TestProducerDiesBeforeCommit: a producer that stored tail and died before
// the header that commits the record leaves tail past the committed records.
// The successor finds their end, moves tail back to it, and goes on from
// there; the consumer never sees the uncommitted record.
func TestProducerDiesBeforeCommit(t *testing.T) {
	c := newRing(t, MinCapacity)
	dead, cons := attach(t, c)
	send(t, dead, []byte("one"))
	committed := c.Tail.Load()
	buf, err := dead.TryReserve(5)
	require.NoError(t, err)
	copy(buf, "never")
	dead.Commit(5)
	c.Tail.Store(dead.tail) // Publish's first store, then death

	requireEmpty(t, &Consumer{c: c, data: c.data, mask: c.capacity - 1, capacity: c.capacity, head: committed})
	p, err := c.NewProducer()
	require.NoError(t, err)
	assert.Equal(t, committed, c.Tail.Load(), "tail moved back to the committed records")
	send(t, p, []byte("two"))
	assert.Equal(t, []byte("one"), recv(t, cons))
	assert.Equal(t, []byte("two"), recv(t, cons))
	requireEmpty(t, cons)
}

func TestAbandonedReservation(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, cons := attach(t, c)

	buf, err := p.TryReserve(64)
	require.NoError(t, err)
	copy(buf, "abandoned")
	assert.False(t, p.Publish(), "a reservation is not published")
	requireEmpty(t, cons)

	kept := send(t, p, []byte("kept"))
	assertSameRoom(t, c, buf, kept, "the second reservation takes the room of the first")

	assert.Equal(t, []byte("kept"), recv(t, cons))
	requireEmpty(t, cons)
}

// TestTryWriteStops checks that TryWrite stops at a message that cannot be
// sent with the error TryReserve gives for it, having written the ones
// before, and that it takes the room of an abandoned reservation.
func TestTryWriteStops(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, cons := attach(t, c)

	abandoned, err := p.TryReserve(16)
	require.NoError(t, err)
	tooLarge := make([]byte, c.MaxPayload()+1)
	n, err := p.TryWrite([][]byte{[]byte("one"), []byte("two"), tooLarge, []byte("three")})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, 2, n)
	assert.Equal(t, -1, p.Reserved(), "TryWrite abandons the reservation")
	require.True(t, p.Publish())

	first, err := cons.TryPeek()
	require.NoError(t, err)
	assertSameRoom(t, c, abandoned, first, "the first message takes the abandoned room")
	assert.Equal(t, []byte("one"), recv(t, cons))
	assert.Equal(t, []byte("two"), recv(t, cons))
	requireEmpty(t, cons)
	assert.Equal(t, uint64(2), p.Counters().MsgsSent)
}

func TestMaxPayload(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, cons := attach(t, c)
	maxPayload := c.MaxPayload()
	big := payload(7, maxPayload)

	t.Run("fills an empty ring", func(t *testing.T) {
		send(t, p, big)
		_, err := p.TryReserve(0)
		require.ErrorIs(t, err, ErrFull, "not even an empty message fits behind it")
		assert.Equal(t, big, recv(t, cons))
	})

	t.Run("needs padding when the tail is mid-lap", func(t *testing.T) {
		send(t, p, []byte("mid-lap"))
		require.Equal(t, []byte("mid-lap"), recv(t, cons))
		tail := c.Tail.Load()
		require.NotZero(t, tail%c.Capacity())

		_, err := p.TryReserve(maxPayload)
		require.ErrorIs(t, err, ErrFull, "the padding fits, the record behind it does not")
		assert.True(t, p.Pending(), "the padding is written and awaits Publish")
		require.True(t, p.Publish())

		_, err = cons.TryPeek()
		require.ErrorIs(t, err, ErrEmpty, "the consumer skips the padding")
		require.True(t, cons.Publish(), "and frees it")

		send(t, p, big)
		assert.Equal(t, big, recv(t, cons))
		assert.Equal(t, c.Head.Load(), c.Tail.Load())
	})
}

func TestTryReserveTooLarge(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, cons := attach(t, c)
	for _, n := range []int{c.MaxPayload() + 1, int(c.Capacity()), 1 << 40, -1, -8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			buf, err := p.TryReserve(n)
			require.ErrorIs(t, err, ErrTooLarge)
			assert.Nil(t, buf)
			assert.NotErrorIs(t, err, ErrFull)
		})
	}
	assert.Panics(t, func() { p.Commit(0) }, "a failed TryReserve leaves no reservation")
	send(t, p, []byte("still works"))
	assert.Equal(t, []byte("still works"), recv(t, cons))
}

// TestCommitPanics checks Commit's precondition: it panics unless it
// finishes a reservation with at most the bytes reserved.
func TestCommitPanics(t *testing.T) {
	tests := []struct {
		name    string
		reserve int // -1: no reservation
		commit  int
	}{
		{"without a reservation", -1, 0},
		{"negative length", 8, -1},
		{"one record size more", 8, 9},
		// The record has room for 7 bytes, but the caller filled 1: a
		// Commit(7) would deliver 6 stale bytes of an earlier lap.
		{"more bytes in the same record size", 1, 7},
		{"one byte more than an aligned reservation", 16, 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := attach(t, newRing(t, MinCapacity))
			if tt.reserve >= 0 {
				_, err := p.TryReserve(tt.reserve)
				require.NoError(t, err)
			}
			assert.Panics(t, func() { p.Commit(tt.commit) })
		})
	}

	t.Run("twice", func(t *testing.T) {
		p, _ := attach(t, newRing(t, MinCapacity))
		_, err := p.TryReserve(8)
		require.NoError(t, err)
		p.Commit(8)
		assert.Panics(t, func() { p.Commit(8) })
	})

	t.Run("after ErrFull", func(t *testing.T) {
		c := newRing(t, MinCapacity)
		p, _ := attach(t, c)
		_, err := p.TryReserve(16)
		require.NoError(t, err)
		p.Commit(16)
		_, err = p.TryReserve(32)
		require.NoError(t, err)
		_, err = p.TryReserve(c.MaxPayload())
		require.ErrorIs(t, err, ErrFull)
		assert.Panics(t, func() { p.Commit(32) }, "the failed TryReserve abandoned the reservation before it")
	})
}

// TestReleasePanics checks Release's precondition: it panics unless the last
// TryPeek returned a record that was not released yet.
func TestReleasePanics(t *testing.T) {
	t.Run("without a peek", func(t *testing.T) {
		_, cons := attach(t, newRing(t, MinCapacity))
		assert.Panics(t, cons.Release)
	})

	t.Run("twice", func(t *testing.T) {
		p, cons := attach(t, newRing(t, MinCapacity))
		send(t, p, []byte("a"))
		send(t, p, []byte("b"))
		_, err := cons.TryPeek()
		require.NoError(t, err)
		cons.Release()
		assert.Panics(t, cons.Release)
	})

	t.Run("after ErrEmpty", func(t *testing.T) {
		p, cons := attach(t, newRing(t, MinCapacity))
		send(t, p, []byte("a"))
		recv(t, cons)
		requireEmpty(t, cons)
		assert.Panics(t, cons.Release)
	})

	// A hostile producer rewrites the peeked record's header into one of
	// an unknown kind: the next TryPeek reports ErrCorrupt. The record of
	// the first TryPeek is gone; releasing it again would move the head by
	// a size the ring no longer vouches for.
	t.Run("after a TryPeek that returned an error", func(t *testing.T) {
		c := newRing(t, MinCapacity)
		putRecord(c, 0, 0, kindMessage)
		putRecord(c, 8, 16, kindMessage)
		c.Tail.Store(32)
		_, cons := attach(t, c)
		b, err := cons.TryPeek()
		require.NoError(t, err)
		require.Empty(t, b)

		putRecord(c, 0, 0, 3)
		require.ErrorIs(t, peekErr(cons), ErrCorrupt)
		assert.Panics(t, cons.Release)
		assert.LessOrEqual(t, cons.head, c.Tail.Load(), "the private head never passes the tail")
	})
}

// TestConsumerLease checks that a record is consumed only when a consumer
// publishes its release: a successor attaching after a consumer that peeked,
// or released without publishing, gets the same record.
func TestConsumerLease(t *testing.T) {
	c := newRing(t, MinCapacity)
	p, err := c.NewProducer()
	require.NoError(t, err)
	send(t, p, []byte("first"))
	send(t, p, []byte("second"))

	first, err := c.NewConsumer()
	require.NoError(t, err)
	b, err := first.TryPeek()
	require.NoError(t, err)
	require.Equal(t, []byte("first"), b)

	second, err := c.NewConsumer()
	require.NoError(t, err)
	b, err = second.TryPeek()
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), b, "a peeked record is leased, not consumed")

	first.Release()
	third, err := c.NewConsumer()
	require.NoError(t, err)
	b, err = third.TryPeek()
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), b, "a release is private until Publish")

	require.True(t, first.Publish())
	fourth, err := c.NewConsumer()
	require.NoError(t, err)
	assert.Equal(t, []byte("second"), recv(t, fourth))
	_, err = fourth.TryPeek()
	require.ErrorIs(t, err, ErrEmpty)
}

// TestProducerReattach checks that a producer attaching after one that
// committed without publishing writes over the unpublished record.
func TestProducerReattach(t *testing.T) {
	c := newRing(t, MinCapacity)
	old, cons := attach(t, c)
	send(t, old, []byte("published"))
	buf, err := old.TryReserve(5)
	require.NoError(t, err)
	copy(buf, "stale")
	old.Commit(5)
	require.True(t, old.Pending())

	p, err := c.NewProducer()
	require.NoError(t, err)
	assert.False(t, p.Pending())
	fresh := send(t, p, []byte("fresh"))
	assertSameRoom(t, c, buf, fresh, "the new producer starts at the published tail")

	assert.Equal(t, []byte("published"), recv(t, cons))
	assert.Equal(t, []byte("fresh"), recv(t, cons))
	requireEmpty(t, cons)
}

// Stress messages have a size derived from their sequence number. One of 12
// bytes or more holds the sequence number, the CRC-32 of the rest, and random
// bytes; a shorter one holds the pattern of its sequence number.
const stressHeader = 12

// stressSize is the size of stress message seq, in [0, 200].
func stressSize(seq uint64) int {
	x := seq*0x9e3779b97f4a7c15 + 0x632be59bd9b4e5
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 29
	return int(x % 201)
}

// fillStress writes stress message seq into b, drawing its body from rng.
func fillStress(b []byte, seq uint64, rng *rand.Rand) {
	if len(b) < stressHeader {
		fillPayload(b, seq)
		return
	}
	body := b[stressHeader:]
	for i := 0; i < len(body); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(body[i:], w[:])
	}
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(body))
}

// checkStress reports what is wrong with b as stress message seq.
func checkStress(b []byte, seq uint64) error {
	if n := stressSize(seq); len(b) != n {
		return fmt.Errorf("message %d: %d bytes, want %d", seq, len(b), n)
	}
	if len(b) < stressHeader {
		var want [stressHeader]byte
		fillPayload(want[:len(b)], seq)
		if !bytes.Equal(b, want[:len(b)]) {
			return fmt.Errorf("message %d: % x, want % x", seq, b, want[:len(b)])
		}
		return nil
	}
	if got := binary.LittleEndian.Uint64(b); got != seq {
		return fmt.Errorf("message %d: carries sequence number %d", seq, got)
	}
	if got, want := crc32.ChecksumIEEE(b[stressHeader:]), binary.LittleEndian.Uint32(b[8:]); got != want {
		return fmt.Errorf("message %d: checksum %#x, want %#x", seq, got, want)
	}
	return nil
}

// stressWatchdog bounds a stress test that stopped making progress.
const stressWatchdog = 2 * time.Minute

// TestSPSCTwoGoroutines moves millions of messages of random sizes from a
// producer goroutine to a consumer goroutine that spin on ErrFull and
// ErrEmpty. Under the race detector it also checks that the atomics of the
// ring order the plain accesses to the data area.
func TestSPSCTwoGoroutines(t *testing.T) {
	count := uint64(2_000_000)
	if raceEnabled {
		count = 500_000
	}
	if testing.Short() {
		count /= 10
	}
	c := newRing(t, 64<<10)
	p, cons := attach(t, c)
	deadline := time.Now().Add(stressWatchdog)

	produced := make(chan error, 1)
	go func() {
		produced <- func() error {
			rng := rand.New(rand.NewPCG(3, 4))
			for seq := uint64(0); seq < count; {
				buf, err := p.TryReserve(stressSize(seq))
				if errors.Is(err, ErrFull) {
					p.Publish()
					if time.Now().After(deadline) {
						return fmt.Errorf("producer stuck at message %d", seq)
					}
					runtime.Gosched()
					continue
				}
				if err != nil {
					return fmt.Errorf("message %d: %w", seq, err)
				}
				fillStress(buf, seq, rng)
				p.Commit(len(buf))
				seq++
				if seq%16 == 0 {
					p.Publish()
				}
			}
			p.Publish()
			return nil
		}()
	}()

	var spins int
	for seq := uint64(0); seq < count; {
		b, err := cons.TryPeek()
		if errors.Is(err, ErrEmpty) {
			cons.Publish()
			spins++
			if time.Now().After(deadline) {
				require.FailNow(t, "consumer stuck", "at message %d of %d", seq, count)
			}
			runtime.Gosched()
			continue
		}
		require.NoError(t, err, "message %d", seq)
		if err := checkStress(b, seq); err != nil {
			require.NoError(t, err)
		}
		cons.Release()
		seq++
		if seq%16 == 0 {
			cons.Publish()
		}
	}
	cons.Publish()
	require.NoError(t, <-produced)
	requireEmpty(t, cons)
	assert.Equal(t, c.Tail.Load(), c.Head.Load())
	t.Logf("%d messages, %d laps, consumer found the ring empty %d times",
		count, c.Head.Load()/c.Capacity(), spins)
}

// TestSPSCNoAllocs checks that the message path allocates nothing.
func TestSPSCNoAllocs(t *testing.T) {
	p, cons := attach(t, newRing(t, MinCapacity))
	msg := payload(1, 100)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, err := p.TryReserve(len(msg))
		if err != nil {
			panic(err)
		}
		copy(buf, msg)
		p.Commit(len(msg))
		p.Publish()
		if _, err := cons.TryPeek(); err != nil {
			panic(err)
		}
		cons.Release()
		cons.Publish()
	})
	assert.Zero(t, allocs)
}

// BenchmarkSPSC measures one message through the ring in one goroutine:
// reserve, copy, commit, publish, peek, release, publish.
func BenchmarkSPSC(b *testing.B) {
	for _, size := range []int{8, 64, 1024} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			p, err := newRing(b, 64<<10).NewProducer()
			require.NoError(b, err)
			cons, err := p.c.NewConsumer()
			require.NoError(b, err)
			msg := payload(1, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf, err := p.TryReserve(size)
				if err != nil {
					b.Fatal(err)
				}
				copy(buf, msg)
				p.Commit(size)
				p.Publish()
				got, err := cons.TryPeek()
				if err != nil || len(got) != size {
					b.Fatalf("peek: %d bytes, %v", len(got), err)
				}
				cons.Release()
				cons.Publish()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
		})
	}
}
