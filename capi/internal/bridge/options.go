//go:build linux

package bridge

import (
	"fmt"
	"os"
	"time"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/ring"
)

// Options are the fields of shmring_options, as C gives them.
type Options struct {
	Kind         int32
	Wait         int32
	Size         int64
	Mode         uint32
	SlotSize     int32
	Participants int32
	WatchParent  int32
	SpinBudgetNs int64
	Lanes        int32
}

// options converts o (nil: the defaults) to shmring.Options. A value that
// a ring cannot have (an unknown kind or strategy, a negative number, a
// size, slot size, number of participants or of lanes above the largest,
// bits of mode other than permissions) gives ErrInvalid.
func (o *Options) options() (*shmring.Options, error) {
	if o == nil {
		return nil, nil
	}
	bad := func(field string, v any) error {
		return fmt.Errorf("shmring: options: %s %v: %w", field, v, ErrInvalid)
	}
	switch {
	case o.Kind != int32(shmring.SPSC) && o.Kind != int32(shmring.MPMC):
		return nil, bad("kind", o.Kind)
	case o.Wait < int32(shmring.Adaptive) || o.Wait > int32(shmring.Block):
		return nil, bad("wait", o.Wait)
	case o.Size < 0 || o.Size > ring.MaxCapacity:
		return nil, bad("size", o.Size)
	case o.Mode&^uint32(os.ModePerm) != 0:
		return nil, bad("mode", fmt.Sprintf("%#o", o.Mode))
	case o.SlotSize < 0 || o.SlotSize > ring.MPMCMaxSlotSize:
		return nil, bad("slot_size", o.SlotSize)
	case o.Participants < 0 || o.Participants > shmring.MaxParticipants:
		return nil, bad("participants", o.Participants)
	case o.SpinBudgetNs < 0:
		return nil, bad("spin_budget_ns", o.SpinBudgetNs)
	case o.Lanes < 0 || o.Lanes > shmring.MaxLanes:
		return nil, bad("lanes", o.Lanes)
	}
	return &shmring.Options{
		Kind:         shmring.Kind(o.Kind),
		Wait:         shmring.WaitStrategy(o.Wait),
		Size:         o.Size,
		Mode:         os.FileMode(o.Mode),
		SlotSize:     int(o.SlotSize),
		Participants: int(o.Participants),
		WatchParent:  o.WatchParent != 0,
		SpinBudget:   time.Duration(o.SpinBudgetNs),
		Lanes:        int(o.Lanes),
	}, nil
}
