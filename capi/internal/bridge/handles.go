//go:build linux

package bridge

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/shmring/shmring"
)

// table maps handles to the objects they name. Handles count up from 1 and
// are never reused while the process lives, so a handle that is not in the
// table is told apart by its value: below the counter it was closed
// (ErrClosed), above it, or 0, it was never given (ErrInvalid). A stale
// handle therefore never names another object.
type table struct {
	last atomic.Uint64 // the last handle given out
	m    sync.Map      // uint64 -> *ringEntry, *producer or *consumer
}

// add stores v under a new handle.
func (t *table) add(v any) uint64 {
	h := t.last.Add(1)
	t.m.Store(h, v)
	return h
}

// missing is the error of a handle that is not in the table.
func (t *table) missing(h uint64) error {
	if h == 0 || h > t.last.Load() {
		return fmt.Errorf("shmring: handle %d: %w", h, ErrInvalid)
	}
	return fmt.Errorf("shmring: handle %d: %w", h, shmring.ErrClosed)
}

// lookup returns the object of handle h, which must be a T (ErrInvalid
// otherwise: a producer's handle given for a ring, say).
func lookup[T any](t *table, h uint64) (T, error) {
	v, ok := t.m.Load(h)
	if !ok {
		var zero T
		return zero, t.missing(h)
	}
	x, ok := v.(T)
	if !ok {
		return x, fmt.Errorf("shmring: handle %d is a %T, not a %T: %w", h, v, x, ErrInvalid)
	}
	return x, nil
}

// remove takes handle h, which must name a T, out of the table: the first
// of concurrent removes gets the object, the others ErrClosed.
func remove[T any](t *table, h uint64) (T, error) {
	x, err := lookup[T](t, h)
	if err != nil {
		return x, err
	}
	if _, ok := t.m.LoadAndDelete(h); !ok {
		return x, t.missing(h)
	}
	return x, nil
}
