package shmring

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// endpoint is what Producer and Consumer share: the kernel lock that makes
// an SPSC endpoint the only one of its role, or an MPMC endpoint the owner
// of its participant entry; the gate that Close shuts; and the record of
// its sleeping goroutines.
type endpoint struct {
	r        *Ring
	gate     gate
	lock     *shm.Lock
	entry    int            // MPMC participant entry; -1 for SPSC
	attached *atomic.Uint32 // SPSC: this role's attached flag in the segment
	words    waitWords      // the condition this role waits on
	sleepers sleepers
	detach   func() error // role-specific last words before the lock goes

	closeOnce sync.Once
	closeErr  error
}

// attachEndpoint takes the lock of an SPSC role (ErrBusy when another
// endpoint holds it) or of a free MPMC participant entry (ErrBusy when the
// table is full), and registers with the ring.
func (r *Ring) attachEndpoint(role int, words waitWords) (*endpoint, error) {
	ep := &endpoint{r: r, entry: -1, words: words}
	var err error
	if r.mp != nil {
		ep.lock, ep.entry, err = r.join(role)
		if err == nil {
			// Only a joined entry has a bit: a failed join's index is -1.
			ep.sleepers.bit = 1 << ep.entry
		}
	} else {
		ep.attached = r.ctl.ProducerAttached
		if role == lockConsumer {
			ep.attached = r.ctl.ConsumerAttached
		}
		ep.lock, err = r.seg.Lock(role)
		if errors.Is(err, shm.ErrLocked) {
			err = fmt.Errorf("shmring: %s: %w", r.Name(), ErrBusy)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := r.register(ep); err != nil {
		return nil, errors.Join(err, ep.lock.Release())
	}
	return ep, nil
}

// join finds a participant entry of the MPMC ring whose kernel lock is free,
// reaps it if its owner died, and joins it in role (lockProducer or
// lockConsumer). It returns the entry's lock and index.
func (r *Ring) join(role int) (*shm.Lock, int, error) {
	state := uint32(ring.EntryProducer)
	if role == lockConsumer {
		state = ring.EntryConsumer
	}
	for i := range int(r.mp.Geometry().Participants) {
		lock, err := r.seg.Lock(i)
		if errors.Is(err, shm.ErrLocked) {
			continue
		}
		if err != nil {
			return nil, -1, err
		}
		if s := r.mp.Entry(i).State.Load(); s != ring.EntryFree {
			// The lock was free but the entry was not: its owner died,
			// or it is an orphan (kept while its message waits for a
			// consumer, freed when it was released already).
			res, err := r.reapLocked(i)
			if err != nil || !res.Freed() {
				rerr := lock.Release()
				// A consumer that found an orphan's lock taken while we
				// held it went to sleep: the orphan is its to take now.
				if !res.Busy || s == ring.EntryOrphan {
					r.wakeMended()
				}
				if err != nil || rerr != nil {
					return nil, -1, errors.Join(err, rerr)
				}
				continue
			}
			r.wakeMended()
		}
		if err := r.mp.Join(i, state, uint32(os.Getpid())); err != nil {
			return nil, -1, errors.Join(err, lock.Release())
		}
		return lock, i, nil
	}
	return nil, -1, fmt.Errorf("shmring: %s: %w: all %d participant entries are taken",
		r.Name(), ErrBusy, r.mp.Geometry().Participants)
}

// abandon undoes attachEndpoint after a failure before the endpoint was
// handed out.
func (ep *endpoint) abandon() {
	ep.r.unregister(ep)
	if ep.entry >= 0 {
		_ = ep.r.mp.Leave(ep.entry)
	}
	_ = ep.lock.Release()
}

// close shuts the gate (ending and awaiting the blocked call), runs the
// role's detach, clears the SPSC attached flag and drops the lock.
// Idempotent: every call returns after the first has finished, with its
// result.
func (ep *endpoint) close() error {
	ep.closeOnce.Do(func() {
		ep.gate.close(func() { ep.r.wake(ep.words) })
		var errs []error
		if ep.detach != nil {
			errs = append(errs, ep.detach())
		}
		if ep.attached != nil {
			// Cleared before the lock goes, so that a peer that finds
			// the lock free and the flag set knows this endpoint died.
			ep.attached.Store(0)
		}
		errs = append(errs, ep.lock.Release())
		ep.r.unregister(ep)
		ep.closeErr = errors.Join(errs...)
	})
	return ep.closeErr
}

// peerDead reports ErrPeerDead when the SPSC peer role's flag says attached
// but nobody holds its lock: the process died without closing.
func (r *Ring) peerDead(role int, attached *atomic.Uint32) error {
	if attached.Load() == 0 {
		return nil
	}
	held, err := r.seg.Locked(role)
	if err != nil {
		return err
	}
	if held {
		return nil
	}
	// A peer may have closed between the two loads; only a flag still set
	// now means it died.
	if attached.Load() == 0 {
		return nil
	}
	return fmt.Errorf("shmring: %s: %w", r.Name(), ErrPeerDead)
}
