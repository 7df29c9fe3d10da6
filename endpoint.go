package shmring

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/internal/pidwatch"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// endpoint is what Producer and Consumer share: the kernel lock that makes
// an SPSC endpoint the only one of its role, or an MPMC endpoint the owner
// of its participant entry; the gate that Close shuts; and the record of
// its sleeping goroutines.
//
// Every exported method of Producer and Consumer that touches the segment
// runs between begin and end, so that Close, from any goroutine, finds out
// whether a call is inside and waits for it (gate, wait.go) before it
// detaches the endpoint or unmaps the segment. After Close, begin fails and
// the method returns ErrClosed without a single access to shared memory.
type endpoint struct {
	r        *Ring
	gate     gate
	lock     *shm.Lock
	entry    int            // MPMC participant entry; -1 for SPSC
	attached *atomic.Uint32 // SPSC: this role's attached flag in the segment
	words    waitWords      // the condition this role waits on
	sleepers sleepers
	detach   func() error // role-specific last words before the lock goes
	leased   func() bool  // whether a zero-copy lease is out; close calls it once no call is inside
	faults   bool         // the segment can shrink: calls run with panic-on-fault (begin, end)
	oldFault bool         // the owner goroutine's panic-on-fault setting, for end to restore
	lease    *leasePin    // pins the mapping for a lease still out when Ring.Close ran
	lastReap time.Time    // the owner's last look for dead MPMC participants (reapIfDue)

	closeOnce sync.Once
	closeErr  error
	closeDone chan struct{} // closed when close has finished
}

// leasePin is the pin that keeps a closed ring's memory addressable for a
// lease that was out when the ring closed (shm.Segment.Pin). It is released
// by the Commit or Release that reports ErrClosed, or by a cleanup when its
// Producer or Consumer is collected.
type leasePin struct {
	seg    *shm.Segment
	pinned atomic.Bool
}

func (l *leasePin) release() {
	if l.pinned.CompareAndSwap(true, false) {
		_ = l.seg.Unpin()
	}
}

// begin admits a call of the endpoint's owner goroutine (see gate); false
// means the endpoint is closed. It inlines: a method pays two plain stores
// and two loads for its gate, and no call.
//
// Where the segment can shrink under the mapping (faults), the method then
// calls panicOnFault and defers recoverFault, which turn a fault on the
// segment into ErrCorrupt.
func (ep *endpoint) begin() bool { return ep.gate.begin() }

// panicOnFault turns panic-on-fault on for the calling goroutine, keeping
// its setting for recoverFault to restore.
func (ep *endpoint) panicOnFault() { ep.oldFault = debug.SetPanicOnFault(true) }

// end ends a call admitted by begin, on its way out.
//
// No defer on the fast path: a call must not panic between begin and end,
// or the endpoint's Close would wait for it for ever. The methods check the
// preconditions whose breach panics (Commit, Release) before they touch
// anything, and end first. Where a panic can come from elsewhere, a fault on
// a segment that can shrink (faults) or the callback of ReadBatch, the
// method defers recoverFault, which ends the call on that path.
func (ep *endpoint) end() { ep.gate.end() }

// recoverFault, deferred directly after begin (and panicOnFault), restores
// the goroutine's panic-on-fault setting and ends a call that panics: a
// fault on the segment becomes an error wrapping ErrCorrupt in *errp (errp
// nil: dropped); any other panic goes on once the call has ended.
func (ep *endpoint) recoverFault(errp *error) {
	if ep.faults {
		debug.SetPanicOnFault(ep.oldFault)
	}
	e := recover()
	if e == nil {
		return
	}
	ep.end()
	err := ep.r.faultError(e)
	if errp != nil {
		*errp = err
	}
}

// reapIfDue looks for dead participants of the MPMC ring, counting what it
// reaps in st, when the owner's try calls have not looked for
// peerCheckInterval: a wait looks that often, and a caller that only polls
// (TrySend, TryRecv) must not stall forever behind a dead process's slot
// either. It reports whether it looked.
func (ep *endpoint) reapIfDue(st *ring.Stats) (bool, error) {
	now := time.Now()
	if now.Sub(ep.lastReap) < peerCheckInterval {
		return false, nil
	}
	ep.lastReap = now
	return true, ep.r.reapDead(st)
}

// endLease ends the lease of a call that begin refused: once Close has
// finished, the pin it took for the lease, if any, is released.
func (ep *endpoint) endLease() {
	<-ep.closeDone
	ep.lease.release()
}

// attachEndpoint takes the lock of an SPSC role (ErrBusy when another
// endpoint holds it) or of a free MPMC participant entry (ErrBusy when the
// table is full), and registers with the ring.
func (r *Ring) attachEndpoint(role int, words waitWords) (*endpoint, error) {
	ep := &endpoint{
		r: r, entry: -1, words: words,
		faults:    r.faults,
		lease:     &leasePin{seg: r.seg},
		closeDone: make(chan struct{}),
	}
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
	// The set-up is the endpoint's first call: a Ring.Close from now on
	// closes the endpoint, after waiting for setUp.
	ep.gate.begin()
	if err := r.register(ep); err != nil {
		ep.gate.end()
		return nil, errors.Join(err, ep.abandon())
	}
	return ep, nil
}

// setUp ends the set-up call that attachEndpoint began, once the role has
// joined its state in the segment (with the result setUpErr): the endpoint
// is its owner's from now on. When the set-up failed, it closes the
// endpoint instead, which frees its MPMC entry and returns setUpErr.
func (ep *endpoint) setUp(setUpErr error, detach func() error, leased func() bool) error {
	if setUpErr != nil {
		ep.detach = ep.leaveEntry
	} else {
		ep.detach, ep.leased = detach, leased
	}
	ep.gate.end()
	if setUpErr != nil {
		return errors.Join(setUpErr, ep.close(false))
	}
	return nil
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
		if err := r.mp.Join(i, state, uint32(os.Getpid()), pidwatch.Namespace()); err != nil {
			return nil, -1, errors.Join(err, lock.Release())
		}
		r.noBarrierEntry(i)
		// The sleepers of other processes watch this one from now on
		// (deaths.go, "Which process").
		r.wakeMended()
		return lock, i, nil
	}
	return nil, -1, fmt.Errorf("shmring: %s: %w: all %d participant entries are taken",
		r.Name(), ErrBusy, r.mp.Geometry().Participants)
}

// abandon undoes attachEndpoint when the ring closed before the endpoint
// was registered.
func (ep *endpoint) abandon() error {
	return errors.Join(ep.leaveEntry(), ep.lock.Release())
}

// leaveEntry frees the endpoint's MPMC participant entry, if it has one.
func (ep *endpoint) leaveEntry() error {
	if ep.entry < 0 {
		return nil
	}
	return ep.r.mp.Leave(ep.entry)
}

// close shuts the gate (ending and awaiting the calls inside), runs the
// role's detach, clears the SPSC attached flag and drops the lock. With
// pin (Ring.Close), a lease still out pins the mapping (leasePin).
// Idempotent: every call returns after the first has finished, with its
// result.
func (ep *endpoint) close(pin bool) error {
	ep.closeOnce.Do(func() {
		defer close(ep.closeDone)
		r := ep.r
		ep.gate.close(func() {
			_ = r.guarded(func() error { r.wake(ep.words); return nil })
		})
		// No call is inside: the owner's state is ours to read.
		if pin && ep.leased != nil && ep.leased() && r.seg.Pin() {
			ep.lease.pinned.Store(true)
		}
		var errs []error
		errs = append(errs, r.guarded(ep.lastWords))
		errs = append(errs, ep.lock.Release())
		ep.r.unregister(ep)
		ep.closeErr = errors.Join(errs...)
	})
	return ep.closeErr
}

// lastWords runs the role's detach and clears the SPSC attached flag.
func (ep *endpoint) lastWords() error {
	var err error
	if ep.detach != nil {
		err = ep.detach()
	}
	if ep.attached != nil {
		// Cleared before the lock goes, so that a peer that finds the
		// lock free and the flag set knows this endpoint died.
		ep.attached.Store(0)
	}
	return err
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
