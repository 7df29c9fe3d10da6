package shmring

import (
	"fmt"
	"math/bits"
	"os"
	"strings"
	"time"

	"github.com/shmring/shmring/ring"
)

// WaitStrategy says how a call waits for its condition (room for Send, a
// message for Recv, an event).
type WaitStrategy uint8

const (
	// Adaptive spins for Options.SpinBudget, yields the processor a few
	// times, then sleeps on the futex. It is the default: latency near a
	// spinning ring while traffic flows, no CPU while idle.
	Adaptive WaitStrategy = iota
	// Spin never sleeps: the lowest latency, at the cost of a whole core for
	// as long as the call waits.
	Spin
	// Block sleeps on the futex at once: no CPU while waiting, a wake-up
	// (a few microseconds) on every hand-off.
	Block
)

// String returns the strategy's name: adaptive, spin or block.
func (s WaitStrategy) String() string {
	switch s {
	case Adaptive:
		return "adaptive"
	case Spin:
		return "spin"
	case Block:
		return "block"
	}
	return fmt.Sprintf("WaitStrategy(%d)", uint8(s))
}

// Kind is a ring's algorithm, chosen at creation and recorded in the
// segment; Open takes whatever the segment says.
type Kind uint8

const (
	// SPSC is a single-producer single-consumer ring of variable-length
	// records: one producer and one consumer attached at a time, the
	// fastest kind.
	SPSC Kind = iota
	// MPMC is a multi-producer multi-consumer ring of fixed-size slots: any
	// number of producers and consumers, in any processes, up to
	// Options.Participants attached at once. Each message goes to exactly
	// one consumer; a process that dies mid-message is reaped.
	MPMC
)

// String returns the kind's name: spsc or mpmc.
func (k Kind) String() string {
	switch k {
	case SPSC:
		return "spsc"
	case MPMC:
		return "mpmc"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Defaults used where Options leaves a field zero.
const (
	// DefaultSize is the default data capacity of a new ring.
	DefaultSize = 1 << 20
	// DefaultSpinBudget is how long Adaptive spins before it sleeps. A
	// futex wake-up costs 10-15 µs on small VMs; spinning for much less than
	// that makes both sides fall asleep in turn and loses on tail latency.
	DefaultSpinBudget = 100 * time.Microsecond
	// DefaultMode is the permission of a new named ring.
	DefaultMode os.FileMode = 0o600
	// DefaultSlotSize is the largest message of a new MPMC ring.
	DefaultSlotSize = 1024
	// MaxParticipants bounds the endpoints attached to one MPMC ring at
	// once; it is also the default.
	MaxParticipants = ring.MPMCMaxParticipants
	// MaxLanes bounds the lanes of an MPMC ring (Options.Lanes).
	MaxLanes = ring.MPMCMaxLanes
)

// Options configure a ring. The zero value (or a nil *Options) means the
// documented defaults.
//
// Kind, Size, SlotSize, Participants and Lanes describe a ring being
// created. When a ring is opened (Open, Inherit, or OpenOrCreate finding
// it), each of them that is set is checked against the ring: one that does
// not match fails with an error wrapping ErrMismatch that names what was
// asked for and what the ring has, and a zero field accepts whatever the
// ring has. Size, SlotSize and Lanes match when they round to the ring's
// (a Size of 5000 matches a ring of 8 KiB, 3 lanes a ring of 4). Kind MPMC
// must find an MPMC ring; SPSC, the zero value, accepts either kind. Processes that may create the same named ring
// (OpenOrCreate, start in either order) should therefore pass the same
// values, or zero.
type Options struct {
	// Kind is the algorithm of a ring being created.
	Kind Kind
	// Size is the data capacity in bytes of a ring being created, rounded up
	// to a power of two between 4 KiB and 4 GiB. Zero means DefaultSize.
	// The largest message of an SPSC ring is Size-16 bytes (a record has an
	// 8-byte header, and the header word past the last record is kept zero);
	// an MPMC ring has Size/SlotSize slots (at least 2, rounded up to a power
	// of two).
	Size int64
	// Mode is the permission of a named ring being created. Zero means
	// DefaultMode (0600). Not checked when opening.
	Mode os.FileMode
	// Wait is the wait strategy of this process's calls on the ring.
	Wait WaitStrategy
	// SpinBudget is how long Adaptive spins before sleeping. Zero means
	// DefaultSpinBudget.
	SpinBudget time.Duration
	// SlotSize is the largest message of an MPMC ring being created,
	// rounded up to a multiple of 8 (at most 16 MiB). Zero means
	// DefaultSlotSize. Only MPMC rings have it.
	SlotSize int
	// Participants is how many endpoints may attach to an MPMC ring being
	// created at once, 1 to MaxParticipants. Zero means MaxParticipants.
	// Only MPMC rings have it.
	Participants int
	// Lanes splits the slots of an MPMC ring being created into that many
	// lanes, each a ring of its own with its own claim positions, rounded
	// up to a power of two, 1 to MaxLanes and at most half the slots. Zero
	// means 1. Each producer claims in one lane, the one fewest producers
	// had when it attached, and each consumer takes from every lane, its
	// own first: producers in lanes of their own never contend for a
	// claim, and consumers as many as the lanes seldom do, which is what
	// lets many producers and consumers scale. The price: a producer has
	// only its lane's share of the slots (Slots/Lanes) to fill before it
	// waits, and messages of different producers have no order between
	// them (one producer's still arrive in order, as on every MPMC ring).
	// Only MPMC rings have it.
	Lanes int
	// WatchParent makes every wait on the ring end with ErrParentDead once
	// the process that started this one (its parent when the ring was
	// opened) has died, noticed within about peerCheckInterval of waiting
	// (50 ms), or at once by a wait gone idle where the kernel reports the
	// exit (Linux pidfds): for a worker whose parent was the only
	// producer, or kept the stream going. A ring obtained with Inherit
	// always watches its parent. Not checked against the ring when
	// opening.
	WatchParent bool
}

// resolve returns opts with defaults filled in and the capacity rounded.
func (o *Options) resolve() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Size == 0 {
		r.Size = DefaultSize
	}
	if r.Size < 0 || r.Size > ring.MaxCapacity {
		return r, fmt.Errorf("shmring: size %d outside [1, %d]", r.Size, int64(ring.MaxCapacity))
	}
	if r.Size < ring.MinCapacity {
		r.Size = ring.MinCapacity
	}
	r.Size = 1 << bits.Len64(uint64(r.Size-1))
	if r.Mode == 0 {
		r.Mode = DefaultMode
	}
	if r.Mode&^os.ModePerm != 0 {
		return r, fmt.Errorf("shmring: mode %v has bits other than permissions", r.Mode)
	}
	if r.Wait > Block {
		return r, fmt.Errorf("shmring: unknown wait strategy %d", uint8(r.Wait))
	}
	if r.SpinBudget < 0 {
		return r, fmt.Errorf("shmring: negative spin budget %v", r.SpinBudget)
	}
	if r.SpinBudget == 0 {
		r.SpinBudget = DefaultSpinBudget
	}
	switch r.Kind {
	case SPSC:
	case MPMC:
		if r.SlotSize == 0 {
			r.SlotSize = DefaultSlotSize
		}
		if r.SlotSize < 0 || r.SlotSize > ring.MPMCMaxSlotSize {
			return r, fmt.Errorf("shmring: slot size %d outside [1, %d]", r.SlotSize, ring.MPMCMaxSlotSize)
		}
		r.SlotSize = (r.SlotSize + 7) &^ 7
		if r.Participants == 0 {
			r.Participants = MaxParticipants
		}
		if r.Participants < 0 || r.Participants > MaxParticipants {
			return r, fmt.Errorf("shmring: %d participants outside [1, %d]", r.Participants, MaxParticipants)
		}
		if r.Lanes == 0 {
			r.Lanes = 1
		}
		if r.Lanes < 0 || r.Lanes > MaxLanes {
			return r, fmt.Errorf("shmring: %d lanes outside [1, %d]", r.Lanes, MaxLanes)
		}
		r.Lanes = 1 << bits.Len64(uint64(r.Lanes-1))
		if slots := r.geometry().Slots; uint64(r.Lanes) > slots/ring.MPMCMinSlots {
			return r, fmt.Errorf("shmring: %d lanes need at least %d slots, the ring has %d (size %d, slot size %d)",
				r.Lanes, r.Lanes*ring.MPMCMinSlots, slots, r.Size, r.SlotSize)
		}
	default:
		return r, fmt.Errorf("shmring: unknown ring kind %d", uint8(r.Kind))
	}
	return r, nil
}

// geometry returns the MPMC geometry of resolved options.
func (o Options) geometry() ring.MPMCGeometry {
	slots := max(uint64(o.Size)/uint64(o.SlotSize), ring.MPMCMinSlots)
	slots = min(uint64(1)<<bits.Len64(slots-1), ring.MPMCMaxSlots)
	return ring.MPMCGeometry{SlotSize: uint64(o.SlotSize), Slots: slots, Participants: uint64(o.Participants),
		Lanes: uint64(o.Lanes)}
}

// match checks the explicit requests of o (nil: none) against the ring r has
// opened, and returns an error wrapping ErrMismatch that names every field
// that differs. o has passed resolve.
func (o *Options) match(r *Ring) error {
	if o == nil {
		return nil
	}
	var diffs []string
	differ := func(format string, asked, has any) {
		diffs = append(diffs, fmt.Sprintf(format+" asked, the ring has %v", asked, has))
	}
	if o.Kind != SPSC && o.Kind != r.kind {
		differ("kind %v", o.Kind, r.kind)
	}
	// The capacity creation would give o on a ring of r's kind (and, for
	// MPMC, r's slot size where o has none).
	want := Options{Kind: r.kind, Size: o.Size}
	if r.mp == nil {
		if o.SlotSize != 0 {
			differ("slot size %d", o.SlotSize, "no slots (spsc)")
		}
		if o.Participants != 0 {
			differ("%d participants", o.Participants, "no participant table (spsc)")
		}
		if o.Lanes != 0 {
			differ("%d lanes", o.Lanes, "no lanes (spsc)")
		}
	} else {
		g := r.mp.Geometry()
		want.SlotSize = int(g.SlotSize)
		if o.SlotSize != 0 {
			if s := uint64(o.SlotSize+7) &^ 7; s != g.SlotSize {
				differ("slot size %d", o.SlotSize, g.SlotSize)
			}
		}
		if o.Participants != 0 && uint64(o.Participants) != g.Participants {
			differ("%d participants", o.Participants, g.Participants)
		}
		if o.Lanes != 0 {
			if l := 1 << bits.Len64(uint64(o.Lanes-1)); l != r.Lanes() {
				differ("%d lanes", o.Lanes, len(r.mp.Lanes()))
			}
		}
	}
	if o.Size != 0 {
		// want only holds values of o that resolved, and r's own.
		w, _ := want.resolve()
		size := w.Size
		if r.mp != nil {
			g := w.geometry()
			size = int64(g.Slots * g.SlotSize)
		}
		if size != int64(r.Capacity()) {
			differ("size %d", o.Size, fmt.Sprintf("%d bytes", r.Capacity()))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("shmring: %s: %w: %s", r.Name(), ErrMismatch, strings.Join(diffs, "; "))
}
