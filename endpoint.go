package shmring

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/shmring/shmring/shm"
)

// endpoint is what Producer and Consumer share: the role lock that makes
// them the only one of their role, and the gate that Close shuts.
type endpoint struct {
	r        *Ring
	gate     gate
	lock     *shm.Lock
	attached *atomic.Uint32 // this role's attached flag in the segment
	words    waitWords      // the condition this role waits on
	detach   func() error   // role-specific last words before the lock goes

	closeOnce sync.Once
	closeErr  error
}

// attachEndpoint takes the role's lock and registers with the ring.
func (r *Ring) attachEndpoint(role int, attached *atomic.Uint32, words waitWords) (*endpoint, error) {
	lock, err := r.seg.Lock(role)
	if errors.Is(err, shm.ErrLocked) {
		return nil, fmt.Errorf("shmring: %s: %w", r.Name(), ErrBusy)
	}
	if err != nil {
		return nil, err
	}
	ep := &endpoint{r: r, lock: lock, attached: attached, words: words}
	if err := r.register(ep); err != nil {
		return nil, errors.Join(err, lock.Release())
	}
	return ep, nil
}

// abandon undoes attachEndpoint after a failure before the endpoint was
// handed out.
func (ep *endpoint) abandon() {
	ep.r.unregister(ep)
	_ = ep.lock.Release()
}

// close shuts the gate (ending and awaiting the blocked call), runs the
// role's detach, clears the attached flag and drops the lock. Idempotent:
// every call returns after the first has finished, with its result.
func (ep *endpoint) close() error {
	ep.closeOnce.Do(func() {
		ep.gate.close(func() { ep.r.wake(ep.words) })
		var errs []error
		if ep.detach != nil {
			errs = append(errs, ep.detach())
		}
		// Cleared before the lock goes, so that a peer that finds the
		// lock free and the flag set knows this endpoint died.
		ep.attached.Store(0)
		errs = append(errs, ep.lock.Release())
		ep.r.unregister(ep)
		ep.closeErr = errors.Join(errs...)
	})
	return ep.closeErr
}

// peerDead reports ErrPeerDead when the peer role's flag says attached but
// nobody holds its lock: the process died without closing.
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
