//go:build linux

package main

// The bare ring: the hardware's ceiling for a ring in shared memory between
// two processes. Fixed-size slots, no framing, no wake-ups, no end-of-stream
// mark; both sides spin with PAUSE. It shows what moving a message through
// a cache line shared by two cores costs, so that shmring's framing, waiting
// and checks can be priced against it.
//
// Layout of the memfd (every offset page-aligned or 128-byte aligned):
//
//	[0, 128)            tail: the next index the producer writes (uint64 at 0)
//	[128, 256)          head: the next index the consumer reads (uint64 at 128)
//	[256, 256+n*slot)   n slots of slot bytes; n is a power of two
//
// Protocol (SPSC): the producer copies message tail into slot tail%n, then
// Store(tail+1); the consumer's Load(tail) pairs with that Store, so the slot
// is complete when the consumer sees the new tail. The consumer copies slot
// head%n out, then Store(head+1); the producer's Load(head) pairs with it, so
// the slot is free once the producer sees the new head. Each side keeps a
// private copy of the other's index and loads the shared one only when its
// copy says full or empty. Both indexes only grow; a slot index is masked,
// so a hostile value can never address outside the slots.

import (
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/shmring/shmring/internal/spin"
)

const (
	bareTailOff  = 0
	bareHeadOff  = 128
	bareSlotsOff = 256
	bareSlotMin  = 64 // a slot is at least one cache line
)

// spinCheck is how many PAUSEs a spinning side of the bare ring or the
// cache line lets pass between two looks at its stopper.
const spinCheck = 256

// stopper ends the spinning of a side whose run was abandoned: it holds the
// run's context.
type stopper struct {
	done <-chan struct{}
	err  func() error
}

func newStopper(s streamSpec) stopper { return stopper{done: s.ctx.Done(), err: s.ctx.Err} }

// stopped reports the context's error once it is done.
func (s stopper) stopped() error {
	select {
	case <-s.done:
		return s.err()
	default:
		return nil
	}
}

// bareGeometry returns the slot size and count for s: slots of a message
// rounded up to a power of two of at least bareSlotMin, as many as fit in
// s.capacity (at least two).
func bareGeometry(s streamSpec) (slot, n int) {
	slot = max(bareSlotMin, 1<<bits.Len(uint(s.size-1)))
	n = 2
	for 2*n*slot <= s.capacity {
		n *= 2
	}
	return slot, n
}

func bareFileSize(s streamSpec) int {
	slot, n := bareGeometry(s)
	return bareSlotsOff + slot*n
}

type bareTransport struct{}

func (bareTransport) open(s streamSpec, p *peer, key string) (stream, error) {
	mem, err := passMapping(tBare, bareFileSize(s), p, key)
	if err != nil {
		return nil, err
	}
	return newBareStream(mem, s), nil
}

func (bareTransport) inherit(s streamSpec, key string) (stream, error) {
	mem, err := inheritMapping(tBare, key, bareFileSize(s))
	if err != nil {
		return nil, err
	}
	return newBareStream(mem, s), nil
}

func (bareTransport) inProcess() bool { return false }

// newBareStream is the bare ring laid out over mem, a mapping of
// bareFileSize(s) bytes.
func newBareStream(mem []byte, s streamSpec) *bareStream {
	slot, n := bareGeometry(s)
	return &bareStream{
		mapping: mapping{mem},
		tail:    word64(mem, bareTailOff),
		head:    word64(mem, bareHeadOff),
		slots:   mem[bareSlotsOff:],
		slot:    slot,
		n:       uint64(n),
		size:    s.size,
		stop:    newStopper(s),
	}
}

type bareStream struct {
	mapping    // close unmaps it
	tail, head *atomic.Uint64
	slots      []byte
	slot       int    // bytes per slot
	n          uint64 // slots; a power of two
	size       int    // bytes per message
	stop       stopper
}

// at returns the message bytes of the slot of index i.
func (b *bareStream) at(i uint64) []byte {
	off := int(i&(b.n-1)) * b.slot
	return b.slots[off : off+b.size]
}

func (b *bareStream) sender() (sender, error) {
	return &bareSender{b: b, head: b.head.Load(), tail: b.tail.Load()}, nil
}

func (b *bareStream) receiver() (receiver, error) {
	return &bareReceiver{b: b, head: b.head.Load(), tail: b.tail.Load(), buf: make([]byte, b.size)}, nil
}

type bareSender struct {
	b    *bareStream
	tail uint64 // own index
	head uint64 // cached copy of the consumer's
}

func (s *bareSender) send(msgs [][]byte) error {
	b := s.b
	for _, m := range msgs {
		if len(m) != b.size {
			return fmt.Errorf("bench: bare ring: a %d-byte message in %d-byte slots", len(m), b.size)
		}
		for i := 1; s.tail-s.head >= b.n; i++ {
			s.head = b.head.Load()
			if s.tail-s.head < b.n {
				break
			}
			spin.Pause()
			if i%spinCheck == 0 {
				if err := b.stop.stopped(); err != nil {
					return err
				}
			}
		}
		copy(b.at(s.tail), m)
		s.tail++
		b.tail.Store(s.tail)
	}
	return nil
}

// close does nothing: the bare ring has no end-of-stream mark.
func (s *bareSender) close() error { return nil }

type bareReceiver struct {
	b    *bareStream
	head uint64 // own index
	tail uint64 // cached copy of the producer's
	buf  []byte
}

func (r *bareReceiver) read(fn func([]byte)) (int, error) {
	b := r.b
	for i := 1; r.head == r.tail; i++ {
		r.tail = b.tail.Load()
		if r.head != r.tail {
			break
		}
		spin.Pause()
		if i%spinCheck == 0 {
			if err := b.stop.stopped(); err != nil {
				return 0, err
			}
		}
	}
	copy(r.buf, b.at(r.head))
	r.head++
	b.head.Store(r.head)
	fn(r.buf)
	return 1, nil
}
