package shmring

import (
	"errors"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// Reaping dead MPMC participants.
//
// Every attached MPMC endpoint holds the kernel lock of its participant
// entry (lock byte = entry index); the kernel drops it when the process dies,
// and a stopped process keeps it. An entry that is not free while its lock
// is free therefore belongs to a dead process. Whoever takes that lock owns
// the entry exclusively and may mend what the dead owner held (ring.Reap):
// a half-written slot becomes a skip record, a message taken but not
// delivered becomes an orphan that a consumer adopts. Reapers also take the
// reap lock, so that two reaps never overlap. Waits look for dead entries
// after every sleep slice (and every peerCheckInterval of spinning), so a
// slot a dead process held blocks the others for about one slice.

// reapLock is the lock byte that serialises reapers: the one after the last
// possible participant entry.
const reapLock = ring.MPMCMaxParticipants

// reapDead reaps every entry of the MPMC ring whose owner died, counting
// them in st (nil: do not count), and wakes both conditions when it mended
// something. The dead are the entries in state producer, consumer or
// adopted (an adopter's) whose lock is free, and an orphan without its
// Orphans bit, which a reaper that died left behind (ring/mpmc_reap.go):
// consumers would not see it. An orphan with its bit waits for a consumer
// to adopt it.
func (r *Ring) reapDead(st *ring.Stats) error {
	mended := false
	var failed error
	for i := range int(r.mp.Geometry().Participants) {
		switch r.mp.Entry(i).State.Load() {
		case ring.EntryFree:
			continue
		case ring.EntryOrphan:
			if r.mp.Orphans.Load()&(1<<i) != 0 {
				continue
			}
		}
		// The probe is one syscall; taking the lock opens a description.
		if held, err := r.seg.Locked(i); err != nil || held {
			if err != nil {
				return err
			}
			continue
		}
		lock, err := r.seg.Lock(i)
		if errors.Is(err, shm.ErrLocked) {
			continue // a joiner or another reaper has it
		}
		if err != nil {
			return err
		}
		res, err := r.reapLocked(i)
		mended = mended || !res.Busy
		if err = errors.Join(err, lock.Release()); err != nil {
			failed = err
			break
		}
		if !res.Busy && st != nil {
			st.Reaped++
		}
	}
	if mended {
		r.wakeMended()
	}
	return failed
}

// wakeMended is step (b) of wait.go after a reap that was not Busy: a skip
// record or a freed slot for both sides, an orphan to adopt, an entry that
// no longer holds the end of the stream back. The caller has released the
// reaped entry's lock first, so that a woken consumer can take it to adopt
// the orphan. A Join calls it too: a new participant is a process for the
// sleepers to watch (deaths.go).
func (r *Ring) wakeMended() {
	r.wakeIfWaiting(r.dataWords())
	r.wakeIfWaiting(r.spaceWords())
}

// reapLocked reaps entry i, whose lock the caller holds, under the reap
// lock. A reap lock held by another reaper reads as Busy: try again later.
func (r *Ring) reapLocked(i int) (ring.Reaped, error) {
	rl, err := r.seg.Lock(reapLock)
	if errors.Is(err, shm.ErrLocked) {
		return ring.Reaped{Busy: true}, nil
	}
	if err != nil {
		return ring.Reaped{}, err
	}
	res, err := r.mp.Reap(i, r.alive)
	return res, errors.Join(err, rl.Release())
}

// alive reports whether the owner of entry i holds its lock. When the probe
// fails, the entry counts as alive: reaping a live owner's slot would lose
// its message, waiting a little longer loses nothing.
func (r *Ring) alive(i int) bool {
	held, err := r.seg.Locked(i)
	return err != nil || held
}
