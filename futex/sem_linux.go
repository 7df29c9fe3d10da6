//go:build linux && shmring_nofutex && !shmring_portable

// The System V semaphore fallback, compiled in on Linux with the build tag shmring_nofutex.
//
// Contract (see doc.go): Wait may return spuriously, never sleeps longer than its timeout plus
// scheduling slack, and never returns a timeout early; no wake-up is lost. Wake wakes every
// sleeper on word i, whatever n is: the ones beyond n see a spurious wake-up.
//
// Layout. Open creates one set of 2*nwords+3 semaphores (IPC_PRIVATE, mode 0600), takes its
// reference on it, and publishes id+1 in the cookie by CAS; a loser of the CAS removes its own set
// and uses the winner's. Word i owns two semaphores, and three more count who uses the set:
//
//	semaphore 2i        gen    generation of word i: every Wake adds one
//	semaphore 2i+1      reg    waiters registered on word i; each registration is made with
//	                           SEM_UNDO, so the kernel drops the registration of a waiter that dies
//	semaphore 2n        refs   references: one per Open or Adopt not yet given up, each made
//	                           with SEM_UNDO, so the kernel drops the reference of a process
//	                           that dies (n is nwords)
//	semaphore 2n+1      holds  references handed to a child (Hold), without SEM_UNDO: they
//	                           outlive the process that made them until a child Adopts one
//	semaphore 2n+2      dying  0 while the set is in use; 1 once a Release found refs and holds
//	                           at zero: nobody may attach any more, and anyone may remove it
//
// An existing set is used only if it has exactly 2*nwords+3 semaphores: semop on a missing index
// fails with EFBIG, which tells a set that is too small, or too large, from one that is gone.
//
// Why not one token semaphore per word, posted by Wake and taken by Wait: a token can be taken
// by a waiter that arrives after the wake-up (say one already waiting for the next value of an
// eventcount), and the sleeper it was meant for sleeps on. The kernel cannot compare the word in
// user memory, as FUTEX_WAIT does, so the waiter makes it compare a kernel-side value instead:
// the generation it read before it read the word.
//
// Wait(i, word, val), after a first check of the word:
//
//	W1  reg += 1 (SEM_UNDO)
//	W2  g = GETVAL(gen)
//	W3  if word != val { reg -= 1; return }
//	W4  one atomic semtimedop: gen -= g+1; gen += g+1; reg -= 1
//	    (it blocks until gen >= g+1 and leaves gen unchanged)
//
// Wake(i), called after the caller changed the word (K1):
//
//	K2  gen += 1
//
// Ordering: the kernel serialises every operation on gen under the set's lock. If K2 comes
// before W2, W2 reads its result, so K1 (before K2 in the waker) happens before W3 (after W2 in
// the waiter): W3 sees the change and Wait returns. Otherwise g predates K2, gen >= g+1 holds
// from K2 on, and W4 completes at once or is woken by K2. The word itself is accessed only with
// sync/atomic (sequentially consistent), and each semaphore operation is a system call that takes
// the set's lock, which orders the word accesses around it. Between W2 and W4, gen never goes
// down: the only decrement is the wrap-around reset below, which requires reg == 0 in the same
// atomic operation, and this waiter keeps reg >= 1 from W1 through W4.
//
// Wrap-around: gen stops at semvmx. A Wake that finds it there need wake nobody, since every
// sleeper waits for gen >= g+1 <= semvmx, which already holds; it resets gen to 0 if reg == 0,
// in one atomic operation, to make room. A waiter that reads g == semvmx cannot wait for more: if
// it is the only registered waiter it deregisters and resets gen in one atomic operation and
// starts over; otherwise it deregisters, sleeps one poll interval (within its timeout) and
// returns nil, a spurious wake-up. So gen never wraps under a registered waiter, however many
// wake-ups pass while it stalls between W2 and W4: no ABA. A process stopped (SIGSTOP) while
// registered keeps gen from being reset; until it resumes, waiters that find gen at semvmx poll.
//
// Timeouts are relative and recomputed from a monotonic start after EINTR, which semtimedop
// returns whenever a signal arrives, and after each maxSleep slice; the same g is kept, as the
// registration is.
//
// Lifetime. The set lives outside the segment, so somebody has to remove it, and who depends on
// the segment. A named segment outlives its processes (a producer may leave messages and exit
// before its consumer starts), so its set stays until whoever removes the name calls Remove;
// Detach only gives up the caller's reference. An anonymous segment dies with the last process
// that has it, so the last Release removes its set:
//
//	R1  refs -= 1 (SEM_UNDO, which cancels the adjustment Open made)
//	R2  one atomic semop, IPC_NOWAIT: refs == 0; holds == 0; dying == 0; dying += 1
//	R3  if R2 succeeded: IPC_RMID
//
// Open takes its reference in one atomic semop, IPC_NOWAIT: dying == 0; refs += 1 (SEM_UNDO).
// Adopt first tries dying == 0; holds -= 1; refs += 1 (SEM_UNDO), which turns a hold into a
// reference of its caller without the count passing through zero, and does what Open does when
// there is no hold. The kernel runs each semop atomically under the set's lock, so R2 and every
// operation that takes a reference happen in one order:
//
//   - Two last processes releasing at once both succeed, and exactly one of them removes the set.
//     R2 succeeds only with refs == 0, so only after both R1s, and only with dying == 0, which it
//     sets, so at most once. The R2 that runs later runs after both R1s; it fails only if dying is
//     already 1 (the other one is removing the set) or a reference was taken meanwhile (the set
//     is in use again and must stay). A failed R2 is no error.
//   - An Open concurrent with the last Release either gets the set or fails cleanly. If its semop
//     runs before R2, R2 sees refs >= 1 and fails: the set stays, and the opener holds it. If it
//     runs after R2, dying == 1 makes it fail with EAGAIN, and Open returns an error wrapping
//     EIDRM; after R3 it fails on the id itself, with EINVAL or EIDRM. No Open ever returns a
//     reference to a set that is about to be removed.
//   - A hold counts in R2 like a reference, so a child that has not adopted yet keeps the set
//     alive after its parent released it; the child's Adopt moves the hold to refs, atomically.
//   - A killed process gets its reference undone by the kernel (SEM_UNDO), but runs no R2: if it
//     was the last, the set stays, with refs == 0 and dying == 0. A later Open can still use it;
//     if none comes (every process of an anonymous segment killed), it is left behind for ipcrm,
//     as is a hold that nobody adopts. A process killed between R2 and R3 leaves a dying set: the
//     next Open that meets it removes it.
//   - SEM_UNDO adjustments belong to the process (Go's threads share them: the runtime clones
//     them with CLONE_SYSVSEM), and a forked child starts with none, so every process counts its
//     own references.
//
// Remove deletes the set (IPC_RMID) whatever the counts: sleepers get EIDRM, later calls EINVAL
// or EIDRM. Calls through a Set that was removed, released or detached fail without touching the
// id, which the kernel may reuse once the set is gone.

package futex

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Mechanism names the implementation compiled in: "futex", "sysv-semaphore" or "poll".
const Mechanism = "sysv-semaphore"

// WakeInterrupts reports whether Wake ends a Wait on its word even while the word still holds the
// value the sleeper waits on, so that a caller may sleep without a timeout and count on a Wake to
// cut the sleep short: true, Wake raises the generation that every sleeper on the word awaits.
const WakeInterrupts = true

// System V semaphore constants from <linux/sem.h> that x/sys/unix does not define (IPC_PRIVATE,
// IPC_CREAT, IPC_NOWAIT and IPC_RMID come from <linux/ipc.h> through x/sys/unix).
const (
	semGETVAL = 12     // GETVAL: semctl command returning semval
	semUNDO   = 0x1000 // SEM_UNDO: the kernel undoes the operation when the process exits
	semvmx    = 32767  // SEMVMX: the largest semaphore value
)

// semPollInterval is how long a waiter that found gen at semvmx, and could not reset it because
// other waiters are registered, sleeps before it returns.
const semPollInterval = time.Millisecond

// sembuf is struct sembuf from <linux/sem.h>, the same on every architecture.
type sembuf struct {
	num uint16 // sem_num: index in the set
	op  int16  // sem_op: add op; 0 waits for zero
	flg int16  // sem_flg: IPC_NOWAIT, SEM_UNDO
}

// Set is the wake-up mechanism for the wait words of one shared segment.
type Set struct {
	id      int         // semaphore set id, read once from the cookie and checked at Open
	nwords  int         // number of wait words, fixed at Open
	dropped atomic.Bool // Release or Detach gave up the reference: the Set may not be used
	removed atomic.Bool // Remove, or the last Release, succeeded: the id may name another set
}

// counters names the semaphores that count the users of a set for nwords words.
type counters struct {
	refs, holds, dying uint16
	nsems              int // size of the set
}

// countersOf returns the counting semaphores of a set for nwords (1..MaxWords) words.
func countersOf(nwords int) counters {
	n := uint16(2 * nwords)
	return counters{refs: n, holds: n + 1, dying: n + 2, nsems: int(n) + 3}
}

// takeRef is the operation that takes a reference, which the kernel gives up when the process
// exits.
func (c counters) takeRef() sembuf {
	return sembuf{num: c.refs, op: 1, flg: semUNDO | unix.IPC_NOWAIT}
}

// notDying is the operation that fails with EAGAIN once R2 has marked the set for removal.
func (c counters) notDying() sembuf {
	return sembuf{num: c.dying, op: 0, flg: unix.IPC_NOWAIT}
}

// Open attaches to the wake-up mechanism of a segment and takes a reference to it. cookie is a
// word inside the shared segment that is zero in a freshly created segment; this build creates
// a System V semaphore set of 2*nwords+3 semaphores (IPC_PRIVATE, mode 0600) and CASes its id+1
// in; a loser of the CAS removes its own set and uses the winner's. A cookie holding another
// mechanism's value, or naming a set of another size, gives an error wrapping ErrMismatch; a set
// that is gone or being removed by its last Release gives an error wrapping EINVAL or EIDRM.
// nwords (1..MaxWords) is the number of distinct wait words; index i in Wait and Wake names which
// one. The reference is given up by Release or Detach, or by the kernel when the process exits.
func Open(cookie *atomic.Uint32, nwords int) (*Set, error) {
	return open(cookie, nwords, false)
}

// Adopt is Open for a process that inherited the segment from a parent that called Hold: it
// turns one hold into its own reference, in one atomic step, so the set stays alive between the
// parent's Release and the child's. With no hold to take, it takes a new reference as Open does.
func Adopt(cookie *atomic.Uint32, nwords int) (*Set, error) {
	return open(cookie, nwords, true)
}

// open is Open, and Adopt when adopt is set.
func open(cookie *atomic.Uint32, nwords int, adopt bool) (*Set, error) {
	if err := checkWords(nwords); err != nil {
		return nil, err
	}
	c := countersOf(nwords)
	v := cookie.Load()
	if v == 0 {
		id, err := createSet(c)
		if err != nil {
			return nil, err
		}
		if cookie.CompareAndSwap(0, uint32(id)+1) {
			return &Set{id: id, nwords: nwords}, nil
		}
		if errno := semctl(id, 0, unix.IPC_RMID); errno != 0 {
			return nil, fmt.Errorf("futex: remove semaphore set %d after a lost race: %w", id, errno)
		}
		v = cookie.Load()
	}
	if v == 0 || v >= semCookieLimit {
		return nil, mismatch(v)
	}
	id := int(v - 1)
	if err := attachSet(id, c, adopt); err != nil {
		return nil, err
	}
	return &Set{id: id, nwords: nwords}, nil
}

// createSet creates a private semaphore set for the counters c, all zero, whose id+1 fits the
// cookie, and takes the caller's reference on it before anyone else can see it, so that no
// Release can find it unused in between.
func createSet(c counters) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_SEMGET, unix.IPC_PRIVATE, uintptr(c.nsems),
		unix.IPC_CREAT|0o600)
	if errno != 0 {
		return 0, fmt.Errorf("futex: create semaphore set: %w", notSupported(errno))
	}
	id := int(r)
	var err error
	if id < 0 || uint64(id)+1 >= uint64(semCookieLimit) {
		err = fmt.Errorf("futex: semaphore set id %d does not fit the cookie", id)
	} else if errno := semopNow(id, c.takeRef()); errno != 0 {
		err = fmt.Errorf("futex: take a reference to new semaphore set %d: %w", id, errno)
	}
	if err != nil {
		if errno := semctl(id, 0, unix.IPC_RMID); errno != 0 {
			err = errors.Join(err, fmt.Errorf("futex: remove semaphore set %d: %w", id, errno))
		}
		return 0, err
	}
	return id, nil
}

// Discard removes the semaphore set that cookie, the value of a segment's cookie word, names,
// without attaching to it: it is Remove for a segment that can no longer be opened (its header
// is damaged) but is being removed. A cookie that names no set of nwords words (another
// mechanism's marker, a set that is gone or of another size) is left alone: nil. The cookie is
// read from a damaged segment, so it may be wrong in a way no check here can tell: it may name
// another segment's set of the same size, which any process of the set's owner could remove.
func Discard(cookie uint32, nwords int) error {
	if err := checkWords(nwords); err != nil {
		return err
	}
	if cookie == 0 || cookie >= semCookieLimit {
		return nil
	}
	id, c := int(cookie-1), countersOf(nwords)
	if err := checkSize(id, c); err != nil {
		return nil
	}
	// Index nsems-1 must exist too: a set that is too small fails here with EFBIG.
	if errno := semopNow(id, c.notDying()); errno != 0 && errno != unix.EAGAIN {
		return nil
	}
	return (&Set{id: id, nwords: nwords}).Remove()
}

// checkSize checks that set id, read from a cookie, has no more semaphores than the counters c
// name: index nsems must not exist (EFBIG). A set too small fails with EFBIG at its first
// operation on the counters.
func checkSize(id int, c counters) error {
	switch errno := semopNow(id, sembuf{num: uint16(c.nsems), op: 0, flg: unix.IPC_NOWAIT}); errno {
	case unix.EFBIG:
		return nil
	case 0, unix.EAGAIN:
		return fmt.Errorf("futex: semaphore set %d has more than %d semaphores: %w",
			id, c.nsems, ErrMismatch)
	default:
		return fmt.Errorf("futex: semaphore set %d named by the cookie: %w", id, notSupported(errno))
	}
}

// attachSet checks that set id, read from the cookie, has the size of the counters c, and takes a
// reference to it: by adopting a hold first when adopt is set.
func attachSet(id int, c counters, adopt bool) error {
	if err := checkSize(id, c); err != nil {
		return err
	}
	if adopt {
		takeHold := sembuf{num: c.holds, op: -1, flg: unix.IPC_NOWAIT}
		errno := semopNow(id, c.notDying(), takeHold, c.takeRef())
		if errno != unix.EAGAIN {
			return referenceError(id, c, errno)
		}
		// No hold left, or the set is dying: the plain reference below tells which.
	}
	errno := semopNow(id, c.notDying(), c.takeRef())
	if errno == unix.EAGAIN {
		// R2 ran: nobody may attach any more, and whoever sees it removes it, in case the
		// releaser died before R3.
		err := fmt.Errorf("futex: semaphore set %d is being removed: %w", id, unix.EIDRM)
		if errno := semctl(id, 0, unix.IPC_RMID); errno != 0 && !gone(errno) {
			err = errors.Join(err, fmt.Errorf("futex: remove dying semaphore set %d: %w", id, errno))
		}
		return err
	}
	return referenceError(id, c, errno)
}

// referenceError describes the result of taking a reference to set id, nil on success.
func referenceError(id int, c counters, errno unix.Errno) error {
	switch errno {
	case 0:
		return nil
	case unix.EFBIG:
		return fmt.Errorf("futex: semaphore set %d has fewer than %d semaphores: %w",
			id, c.nsems, ErrMismatch)
	case unix.ERANGE:
		return fmt.Errorf("futex: semaphore set %d: too many references: %w", id, errno)
	default:
		return fmt.Errorf("futex: semaphore set %d named by the cookie: %w", id, notSupported(errno))
	}
}

// Wait sleeps while word holds val, for at most timeout (timeout < 0: no limit). It returns nil
// when woken, when the word no longer holds val, on a spurious wake-up, or when the timeout
// expires (callers re-check their condition and their own deadline). An error means the
// mechanism itself failed; after Remove, it wraps EIDRM or EINVAL, and after Release or Detach,
// os.ErrClosed (or EIDRM if that removed the set). Wait panics if i is outside [0, nwords).
func (s *Set) Wait(i int, word *atomic.Uint32, val uint32, timeout time.Duration) error {
	checkIndex(i, s.nwords)
	if word.Load() != val {
		return nil
	}
	if err := s.usable(); err != nil {
		return err
	}
	gen, reg := uint16(2*i), uint16(2*i+1)
	start := time.Now()
	for {
		// W1: register; from here until W4 or deregister, gen cannot be reset.
		if errno := s.semop(nil, sembuf{num: reg, op: 1, flg: semUNDO}); errno != 0 {
			return s.fail("register on word", i, errno)
		}
		// W2: the generation before the word is read.
		g, errno := semctlValue(s.id, int(gen), semGETVAL)
		if errno != 0 {
			return s.fail("read generation of word", i, errno)
		}
		// W3: K1 before K2 before W2 means the change is visible here.
		if word.Load() != val {
			return s.deregister(reg, i)
		}
		if g == semvmx {
			// Reset gen if this waiter is the only one registered, then start over.
			errno := s.semop(nil,
				sembuf{num: reg, op: -1, flg: semUNDO | unix.IPC_NOWAIT},
				sembuf{num: reg, op: 0, flg: unix.IPC_NOWAIT},
				sembuf{num: gen, op: -semvmx, flg: unix.IPC_NOWAIT})
			if errno == 0 {
				continue
			}
			if errno != unix.EAGAIN {
				return s.fail("reset generation of word", i, errno)
			}
			if err := s.deregister(reg, i); err != nil {
				return err
			}
			if left := remaining(start, timeout); left != 0 {
				time.Sleep(within(semPollInterval, left))
			}
			return nil
		}
		return s.sleep(i, gen, reg, g, start, timeout)
	}
}

// sleep is W4: it blocks until gen > g, then deregisters in the same atomic operation. On timeout
// it deregisters separately. The registration, and with it g, stays valid across EINTR.
func (s *Set) sleep(i int, gen, reg uint16, g int, start time.Time, timeout time.Duration) error {
	for {
		var ts *semTimespec
		left := remaining(start, timeout)
		switch {
		case left == 0:
			return s.deregister(reg, i)
		case left > 0:
			t := toSemTimespec(within(maxSleep, left))
			ts = &t
		}
		errno := s.semop(ts,
			sembuf{num: gen, op: int16(-(g + 1))},
			sembuf{num: gen, op: int16(g + 1)},
			sembuf{num: reg, op: -1, flg: semUNDO})
		switch errno {
		case 0:
			return nil
		case unix.EINTR, unix.EAGAIN:
			// Interrupted, or the slice ended: recompute what is left and sleep again.
		default:
			return s.fail("wait on word", i, errno)
		}
	}
}

// deregister undoes W1 when Wait returns without W4 having done so.
func (s *Set) deregister(reg uint16, i int) error {
	if errno := s.semop(nil, sembuf{num: reg, op: -1, flg: semUNDO | unix.IPC_NOWAIT}); errno != 0 {
		return s.fail("deregister from word", i, errno)
	}
	return nil
}

// Wake wakes the sleepers waiting on word i: all of them, whatever n is, which the contract
// allows (the ones beyond n see a spurious wake-up). The caller changes word before it calls
// Wake; word itself is not read. It fails as Wait does after Remove, Release or Detach. Wake
// panics if i is outside [0, nwords).
func (s *Set) Wake(i int, word *atomic.Uint32, n int) error {
	checkIndex(i, s.nwords)
	if err := s.usable(); err != nil {
		return err
	}
	gen, reg := uint16(2*i), uint16(2*i+1)
	// K2.
	errno := s.semop(nil, sembuf{num: gen, op: 1})
	if errno == unix.ERANGE {
		// gen is at semvmx: every sleeper waits for gen >= g+1 <= semvmx and is awake already.
		// Make room if nobody is registered; if somebody is, leave gen as it is.
		errno = s.semop(nil,
			sembuf{num: reg, op: 0, flg: unix.IPC_NOWAIT},
			sembuf{num: gen, op: -semvmx, flg: unix.IPC_NOWAIT})
		if errno == unix.EAGAIN {
			errno = 0
		}
	}
	if errno != 0 {
		return s.fail("wake word", i, errno)
	}
	return nil
}

// Hold takes a reference for a child process that will attach with Adopt, so that the set
// survives until then even if every process that has it releases it. Unlike the reference of
// Open, a hold outlives the process that made it: a child that never adopts it (it failed to
// start, or died first) leaves the set behind until Remove. The Set must still have its own
// reference (not released or detached).
func (s *Set) Hold() error {
	if err := s.usable(); err != nil {
		return err
	}
	c := countersOf(s.nwords)
	if errno := s.semop(nil, sembuf{num: c.holds, op: 1, flg: unix.IPC_NOWAIT}); errno != 0 {
		return fmt.Errorf("futex: hold semaphore set %d: %w", s.id, notSupported(errno))
	}
	return nil
}

// Release gives up the reference of Open or Adopt and, when it was the last reference and no hold
// is left, removes the set: for anonymous segments, which die with their last process. Calls
// through the Set fail afterwards, with an error wrapping os.ErrClosed, or EIDRM if it removed
// the set. Further calls, and calls after Detach or Remove, return nil; a set already removed by
// another process is not an error.
func (s *Set) Release() error {
	return s.drop(true)
}

// Detach gives up the reference of Open or Adopt and leaves the set in place even if it was the
// last: for named segments, which outlive their processes, and whose set Remove destroys. Calls
// through the Set fail afterwards, with an error wrapping os.ErrClosed. Further calls, and calls
// after Release or Remove, return nil.
func (s *Set) Detach() error {
	return s.drop(false)
}

// drop is R1, then R2 and R3 when removeIfLast is set (see the file comment).
func (s *Set) drop(removeIfLast bool) error {
	if s.removed.Load() || !s.dropped.CompareAndSwap(false, true) {
		return nil
	}
	c := countersOf(s.nwords)
	switch errno := s.semop(nil, sembuf{num: c.refs, op: -1, flg: semUNDO | unix.IPC_NOWAIT}); errno {
	case 0:
	case unix.EINVAL, unix.EIDRM:
		// Removed by another process: nothing is left to give up.
		return nil
	default:
		// Nothing was given up (EAGAIN: refs is already zero, so someone meddled with the set):
		// a later call may try again.
		s.dropped.Store(false)
		return fmt.Errorf("futex: release semaphore set %d: %w", s.id, notSupported(errno))
	}
	if !removeIfLast {
		return nil
	}
	errno := s.semop(nil,
		sembuf{num: c.refs, op: 0, flg: unix.IPC_NOWAIT},
		sembuf{num: c.holds, op: 0, flg: unix.IPC_NOWAIT},
		c.notDying(),
		sembuf{num: c.dying, op: 1, flg: unix.IPC_NOWAIT})
	switch errno {
	case 0:
		return s.Remove()
	case unix.EAGAIN, unix.EINVAL, unix.EIDRM:
		// Still in use, or another process is removing it or has removed it.
		return nil
	default:
		return fmt.Errorf("futex: mark semaphore set %d for removal: %w", s.id, notSupported(errno))
	}
}

// Remove destroys the semaphore set, whatever references and holds are left; it is called once
// by whoever removes the segment. Sleepers return an error wrapping EIDRM. Further calls return
// nil; a set already removed by another process is not an error.
func (s *Set) Remove() error {
	if !s.removed.CompareAndSwap(false, true) {
		return nil
	}
	if errno := semctl(s.id, 0, unix.IPC_RMID); errno != 0 && !gone(errno) {
		s.removed.Store(false)
		return fmt.Errorf("futex: remove semaphore set %d: %w", s.id, errno)
	}
	return nil
}

// usable fails once Remove has run, since the id may name another set now, and once the
// reference is given up, since nothing keeps the set alive for this Set any more.
func (s *Set) usable() error {
	if s.removed.Load() {
		return fmt.Errorf("futex: semaphore set %d was removed: %w", s.id, unix.EIDRM)
	}
	if s.dropped.Load() {
		return fmt.Errorf("futex: semaphore set %d was released: %w", s.id, os.ErrClosed)
	}
	return nil
}

// fail wraps a failed semaphore operation on word i.
func (s *Set) fail(what string, i int, errno unix.Errno) error {
	return fmt.Errorf("futex: %s %d (semaphore set %d): %w", what, i, s.id, notSupported(errno))
}

// semop runs ops as one atomic operation; ts == nil blocks without a limit.
func (s *Set) semop(ts *semTimespec, ops ...sembuf) unix.Errno {
	return semtimedop(s.id, ops, ts)
}

// semopNow runs ops on set id as one atomic operation, not limited in time: callers that must
// not block set IPC_NOWAIT on the operations that could.
func semopNow(id int, ops ...sembuf) unix.Errno {
	return semtimedop(id, ops, nil)
}

// gone reports whether errno says that a semaphore set no longer exists (EINVAL, or EIDRM while
// the kernel removes it).
func gone(errno unix.Errno) bool {
	return errno == unix.EINVAL || errno == unix.EIDRM
}

// semctl runs a semctl command that takes no argument and reports only its errno.
func semctl(id, num, cmd int) unix.Errno {
	_, errno := semctlValue(id, num, cmd)
	return errno
}

// semctlValue runs a semctl command that takes no argument and returns a value.
func semctlValue(id, num, cmd int) (int, unix.Errno) {
	r, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(num), uintptr(cmd), 0, 0, 0)
	return int(r), errno
}
