package ring

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzCapacity is the data area of the fuzzed rings.
const fuzzCapacity = MinCapacity

// A FuzzConsumer input is a ring region in short: the head, then the tail
// minus the head (both 64-bit little-endian; the consumer reads no other
// control word, and a tail given by its distance from the head is one small
// mutation away from every interesting value), then the data area from the
// head's index on, wrapping at its end, padded with zeros or truncated to
// fuzzCapacity. A full region image would make every input over 4 KiB, and
// the fuzzer's minimization of each new input, quadratic in its length,
// would stall it for the whole -fuzzminimizetime; this way an input is as
// long as the records it holds.
const fuzzCursors = 16

// regionFromInput returns the region that the FuzzConsumer input in
// describes.
func regionFromInput(in []byte) []byte {
	var cursors [fuzzCursors]byte
	copy(cursors[:], in)
	head := binary.LittleEndian.Uint64(cursors[:8])
	tail := head + binary.LittleEndian.Uint64(cursors[8:])
	region := newRegion(fuzzCapacity)
	binary.NativeEndian.PutUint64(region[offHead:], head)
	binary.NativeEndian.PutUint64(region[offTail:], tail)
	data := region[ControlSize:]
	start := int(head % fuzzCapacity)
	rest := in[min(len(in), fuzzCursors):]
	n := copy(data[start:], rest)
	copy(data[:start], rest[n:])
	return region
}

// fuzzStale is how many bytes past the tail inputFromRegion keeps: stale
// records there make a good bait for a consumer that reads too far.
const fuzzStale = 64

// inputFromRegion returns the FuzzConsumer input of a valid region: its
// cursors, its committed bytes, and the stale bytes right behind them.
func inputFromRegion(region []byte) []byte {
	head := binary.NativeEndian.Uint64(region[offHead:])
	tail := binary.NativeEndian.Uint64(region[offTail:])
	in := binary.LittleEndian.AppendUint64(nil, head)
	in = binary.LittleEndian.AppendUint64(in, tail-head)
	data := region[ControlSize:]
	start := int(head % fuzzCapacity)
	in = append(in, data[start:]...)
	in = append(in, data[:start]...)
	return bytes.TrimRight(in[:min(len(in), fuzzCursors+int(tail-head)+fuzzStale)], "\x00")
}

// consumerSeeds returns inputs for FuzzConsumer: rings written by a real
// producer, an empty one, a random one.
func consumerSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	written := func(steps func(p *Producer, cons *Consumer)) []byte {
		region := newRegion(fuzzCapacity)
		c, err := NewControl(region)
		require.NoError(tb, err)
		p, err := c.NewProducer()
		require.NoError(tb, err)
		cons, err := c.NewConsumer()
		require.NoError(tb, err)
		steps(p, cons)
		return inputFromRegion(region)
	}
	put := func(p *Producer, seq uint64, n int) {
		buf, err := p.TryReserve(n)
		require.NoError(tb, err)
		fillPayload(buf, seq)
		p.Commit(n)
		p.Publish()
	}
	take := func(cons *Consumer) {
		_, err := cons.TryPeek()
		require.NoError(tb, err)
		cons.Release()
		cons.Publish()
	}

	records := written(func(p *Producer, _ *Consumer) {
		for i, n := range []int{0, 1, 8, 20} {
			put(p, uint64(i), n)
		}
	})
	padded := written(func(p *Producer, cons *Consumer) {
		put(p, 0, fuzzCapacity-64)
		take(cons)
		put(p, 1, 24)
		put(p, 2, 32) // crosses the end: padding first
		put(p, 3, 4)
	})
	// Only padding is published; the bytes behind it are a record of the
	// previous lap.
	stale := written(func(p *Producer, cons *Consumer) {
		put(p, 0, 8)
		take(cons)
		put(p, 1, fuzzCapacity-48)
		take(cons)
		_, err := p.TryReserve(100)
		require.NoError(tb, err)
		require.True(tb, p.Publish())
	})
	random := make([]byte, fuzzCursors+64)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	binary.LittleEndian.PutUint64(random[0:], 0)
	binary.LittleEndian.PutUint64(random[8:], 32)
	return [][]byte{records, padded, stale, nil, random}
}

// FuzzConsumer runs a consumer over a ring region taken from the input: it
// never panics, never goes back, and every record it returns lies inside
// the data area and within its lap. (It follows the headers, not the tail:
// over an arbitrary region it may read records past the tail; that the
// headers past the committed records are zero is the producer's invariant
// Z, which TestRoundTrip and TestProducerDiesMidBatch check.)
func FuzzConsumer(f *testing.F) {
	for _, seed := range consumerSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := NewControl(regionFromInput(in))
		require.NoError(t, err)
		head := c.Head.Load()

		cons, err := c.NewConsumer()
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		next := head // where the next record may start
		for range 1000 {
			b, err := cons.TryPeek()
			switch {
			case errors.Is(err, ErrEmpty):
				return
			case errors.Is(err, ErrCorrupt):
				return
			}
			require.NoError(t, err)
			pos := cons.head
			end := pos + recordSize(uint64(len(b)))
			require.GreaterOrEqual(t, pos, next, "the consumer went back")
			require.LessOrEqual(t, pos&(c.capacity-1)+recordSize(uint64(len(b))), c.capacity,
				"record [%d, %d) crosses the end of the lap", pos, end)
			require.Equal(t, len(b), cap(b))
			off, inside := offsetIn(c.data, b)
			require.True(t, inside, "record outside the data area")
			if len(b) > 0 {
				require.Equal(t, int(pos&(c.capacity-1))+recordHeader, off)
			}
			cons.Release()
			cons.Publish()
			require.Equal(t, end, c.Head.Load())
			next = end
		}
	})
}

// A FuzzProducer input is a script of operations. Each starts with a byte
// whose low 2 bits are the opcode and whose high 6 bits are flags; the
// argument that follows is 8 bytes for opStoreHead and 2 bytes for the others
// (little-endian), which keeps scripts short and cheap to minimize.
const (
	opStoreHead     = iota // the peer stores any head
	opStoreNearHead        // the peer stores a head up to arg bytes below the published tail
	opReserve              // TryReserve(arg - 16); Commit unless flags%4 == 0, flags/4 bytes short
	opPublish
)

// fuzzOp encodes one FuzzProducer operation.
func fuzzOp(code, flags byte, arg uint64) []byte {
	b := []byte{code | flags<<2}
	if code == opStoreHead {
		return binary.LittleEndian.AppendUint64(b, arg)
	}
	return binary.LittleEndian.AppendUint16(b, uint16(arg))
}

// fuzzScript concatenates operations.
func fuzzScript(ops ...[]byte) []byte {
	var s []byte
	for _, o := range ops {
		s = append(s, o...)
	}
	return s
}

// FuzzProducer runs a producer while the input plays a consumer that stores
// arbitrary heads: the producer never panics, never hands out a slice outside
// the data area, and never reserves past the last head it accepted.
func FuzzProducer(f *testing.F) {
	const commit = 1
	f.Add(uint64(0), fuzzScript(
		fuzzOp(opReserve, commit, 116), fuzzOp(opReserve, commit, 3016), fuzzOp(opPublish, 0, 0),
		fuzzOp(opReserve, commit, 2016), fuzzOp(opStoreNearHead, 0, 0), fuzzOp(opReserve, commit, 2016),
		fuzzOp(opStoreHead, 0, 3), fuzzOp(opReserve, commit, 4016),
	))
	f.Add(uint64(4000), fuzzScript(
		fuzzOp(opReserve, commit|5<<2, 216), fuzzOp(opPublish, 0, 0), fuzzOp(opStoreNearHead, 0, 8),
		fuzzOp(opReserve, 0, fuzzCapacity+8), fuzzOp(opStoreNearHead, 0, 0),
		fuzzOp(opReserve, commit, fuzzCapacity+8), fuzzOp(opPublish, 0, 0),
	))
	f.Add(uint64(math.MaxUint64-64), fuzzScript(
		fuzzOp(opReserve, commit, 24), fuzzOp(opReserve, commit, 116), fuzzOp(opPublish, 0, 0),
		fuzzOp(opStoreHead, 0, 0), fuzzOp(opReserve, commit, 4016), fuzzOp(opStoreNearHead, 0, 16),
		fuzzOp(opReserve, commit, 4016),
	))
	f.Add(uint64(1<<40), fuzzScript(
		fuzzOp(opStoreHead, 0, math.MaxUint64), fuzzOp(opReserve, commit, 0xffff), fuzzOp(opReserve, commit, 17),
	))

	f.Fuzz(func(t *testing.T, start uint64, script []byte) {
		c := newRing(t, fuzzCapacity)
		start &^= recordAlign - 1
		setCursors(c, start, start)
		p, err := c.NewProducer()
		require.NoError(t, err)
		capacity, mask := c.capacity, c.capacity-1

		for steps := 0; len(script) > 0 && steps < 1000; steps++ {
			code, flags := script[0]&3, script[0]>>2
			var arg uint64
			if code == opStoreHead {
				var b [8]byte
				script = script[1+copy(b[:], script[1:]):]
				arg = binary.LittleEndian.Uint64(b[:])
			} else {
				var b [2]byte
				script = script[1+copy(b[:], script[1:]):]
				arg = uint64(binary.LittleEndian.Uint16(b[:]))
			}
			switch code {
			case opStoreHead:
				c.Head.Store(arg)
			case opStoreNearHead:
				c.Head.Store(p.published - arg)
			case opReserve:
				n := int(arg) - 16
				buf, err := p.TryReserve(n)
				if n < 0 || n > c.MaxPayload() {
					require.ErrorIs(t, err, ErrTooLarge)
					continue
				}
				if err != nil {
					require.True(t, errors.Is(err, ErrFull) || errors.Is(err, ErrCorrupt), "%v", err)
					continue
				}
				size := recordSize(uint64(n))
				require.Len(t, buf, n)
				require.Equal(t, n, cap(buf))
				off, inside := offsetIn(c.data, buf)
				require.True(t, inside, "reservation outside the data area")
				if n > 0 {
					require.Equal(t, int(p.tail&mask)+recordHeader, off)
				}
				require.LessOrEqual(t, p.tail&mask+size, capacity, "reservation crosses the end of the lap")
				require.LessOrEqual(t, p.tail+size-p.head, capacity, "reservation over unread bytes")
				if flags%4 != 0 {
					p.Commit(n - min(n, int(flags/4)))
				}
			case opPublish:
				p.Publish()
				require.Equal(t, p.published, c.Tail.Load())
			}
			require.LessOrEqual(t, p.published-p.head, capacity, "accepted head outside the published window")
			require.LessOrEqual(t, p.tail-p.head, capacity)
		}
	})
}

// TestConsumerSeedsAreValid checks that the seeds written by a real producer
// hold what FuzzConsumer should start from: records, padding, padding alone.
func TestConsumerSeedsAreValid(t *testing.T) {
	seeds := consumerSeeds(t)
	for i, want := range []struct {
		records int
		padding bool
	}{{4, false}, {3, true}, {0, true}} {
		region := regionFromInput(seeds[i])
		require.Less(t, len(seeds[i]), 256, "seed %d is short", i)
		c, err := NewControl(region)
		require.NoError(t, err)
		cons, err := c.NewConsumer()
		require.NoError(t, err)
		var got int
		var padding bool
		for {
			before := cons.head
			_, err := cons.TryPeek()
			padding = padding || cons.head != before
			if errors.Is(err, ErrEmpty) {
				break
			}
			require.NoError(t, err, "seed %d", i)
			cons.Release()
			got++
		}
		require.Equal(t, want.records, got, "seed %d", i)
		require.Equal(t, want.padding, padding, "seed %d", i)
	}
}
