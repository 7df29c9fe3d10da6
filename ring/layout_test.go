package ring

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newRegion returns a zeroed region with a data area of capacity bytes. Go
// heap allocations of this size are at least 8-byte aligned.
func newRegion(capacity int) []byte {
	return make([]byte, ControlSize+capacity)
}

// newRing returns the Control of a fresh region with a data area of capacity
// bytes.
func newRing(tb testing.TB, capacity int) *Control {
	tb.Helper()
	c, err := NewControl(newRegion(capacity))
	require.NoError(tb, err)
	return c
}

func TestNewControlRejects(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"control area only", ControlSize},
		{"one byte short of the minimum", ControlSize + MinCapacity - 1},
		{"data area not a power of two", ControlSize + MinCapacity + 8},
		{"three pages of data", ControlSize + 3*MinCapacity},
		{"data area of 2^k-1 bytes", ControlSize + 2*MinCapacity - 1},
		{"data area of 2^k+1 bytes", ControlSize + 2*MinCapacity + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewControl(make([]byte, tt.size))
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), "ring: ")
		})
	}
}

func TestNewControlRejectsMisalignedRegion(t *testing.T) {
	size := ControlSize + MinCapacity
	buf := make([]byte, size+8)
	for shift := 1; shift < 8; shift++ {
		c, err := NewControl(buf[shift : shift+size])
		require.ErrorIs(t, err, ErrCorrupt, "shift %d", shift)
		assert.Nil(t, c)
	}
	c, err := NewControl(buf[8 : 8+size])
	require.NoError(t, err, "an 8-byte aligned sub-slice is accepted")
	assert.Equal(t, uint64(MinCapacity), c.Capacity())
}

func TestNewControlAccepts(t *testing.T) {
	for _, capacity := range []int{MinCapacity, 2 * MinCapacity, 64 << 10, 1 << 20} {
		t.Run(fmt.Sprintf("capacity=%d", capacity), func(t *testing.T) {
			region := newRegion(capacity)
			c, err := NewControl(region)
			require.NoError(t, err)
			assert.Equal(t, uint64(capacity), c.Capacity())
			assert.Equal(t, capacity-2*recordHeader, c.MaxPayload())
			assert.Equal(t, uint64(len(region)), RegionSize(c.Capacity()))
			assert.Len(t, c.data, capacity)
		})
	}
}

// TestControlWordOffsets checks that every typed word of Control is the word
// of the region at the offset the layout diagram gives, so that two processes
// that map the same region agree on it.
func TestControlWordOffsets(t *testing.T) {
	region := newRegion(MinCapacity)
	c, err := NewControl(region)
	require.NoError(t, err)

	c.Tail.Store(0x0102030405060708)
	c.Head.Store(0x1112131415161718)
	c.ProducerPidNS.Store(0x2122232425262728)
	c.ConsumerPidNS.Store(0x3132333435363738)
	assert.Equal(t, uint64(0x0102030405060708), binary.NativeEndian.Uint64(region[offTail:]), "tail")
	assert.Equal(t, uint64(0x1112131415161718), binary.NativeEndian.Uint64(region[offHead:]), "head")
	assert.Equal(t, uint64(0x2122232425262728), binary.NativeEndian.Uint64(region[offProducerPidNS:]), "producerPidNS")
	assert.Equal(t, uint64(0x3132333435363738), binary.NativeEndian.Uint64(region[offConsumerPidNS:]), "consumerPidNS")

	type word32 struct {
		name string
		w    *atomic.Uint32
		off  int
	}
	words := []word32{
		{"closed", c.Closed, offClosed},
		{"dataSeq", c.DataSeq, offDataSeq},
		{"dataWaiters", c.DataWaiters, offDataWaiters},
		{"spaceSeq", c.SpaceSeq, offSpaceSeq},
		{"spaceWaiters", c.SpaceWaiters, offSpaceWaiters},
		{"producerAttached", c.ProducerAttached, offProducerAttached},
		{"consumerAttached", c.ConsumerAttached, offConsumerAttached},
		{"producerNoBarrier", c.ProducerNoBarrier, offProducerNoBarrier},
		{"consumerNoBarrier", c.ConsumerNoBarrier, offConsumerNoBarrier},
		{"producerPid", c.ProducerPid, offProducerPid},
		{"consumerPid", c.ConsumerPid, offConsumerPid},
		{"futexCookie", c.FutexCookie, offFutexCookie},
	}
	for i, e := range c.Events {
		off := offEvents + i*eventStride
		words = append(words,
			word32{fmt.Sprintf("event %d state", i), e.State, off},
			word32{fmt.Sprintf("event %d seq", i), e.Seq, off + 4},
			word32{fmt.Sprintf("event %d waiters", i), e.Waiters, off + 8},
		)
	}
	for i, w := range words {
		v := uint32(0xa0b0c000) + uint32(i)
		w.w.Store(v)
		assert.Equal(t, v, binary.NativeEndian.Uint32(region[w.off:]), w.name)
		// The tail's line holds the tail alone (layout.go): the consumer
		// polls some of these words while the ring is empty.
		assert.NotEqual(t, offTail/128, w.off/128, "%s shares the tail's 128-byte line", w.name)
	}
	assert.LessOrEqual(t, offEvents+NumEvents*eventStride, ControlSize, "events fit in the control area")
	assert.Equal(t, make([]byte, MinCapacity), region[ControlSize:], "no control word lies in the data area")
}
