//go:build linux && shmring_nofutex

// The System V semaphore fallback, compiled in on Linux with the build tag shmring_nofutex.
//
// Contract (see doc.go): Wait may return spuriously, never sleeps longer than its timeout plus
// scheduling slack, and never returns a timeout early; no wake-up is lost. Wake wakes every
// sleeper on word i, whatever n is: the ones beyond n see a spurious wake-up.
//
// Layout. Open creates one set of 2*nwords semaphores (IPC_PRIVATE, mode 0600) and publishes
// id+1 in the cookie by CAS; a loser of the CAS removes its own set and uses the winner's.
// Word i owns two semaphores:
//
//	semaphore 2i    gen  generation of word i: every Wake adds one
//	semaphore 2i+1  reg  waiters registered on word i; each registration is made with
//	                     SEM_UNDO, so the kernel drops the registration of a waiter that dies
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
// registration is. Remove deletes the set (IPC_RMID): sleepers get EIDRM, later calls EINVAL or
// EIDRM, and calls through a Set that was removed fail without touching the id, which the kernel
// may reuse.

package futex

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Mechanism names the implementation compiled in: "futex", "sysv-semaphore" or "poll".
const Mechanism = "sysv-semaphore"

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
	removed atomic.Bool // Remove succeeded: the id may name someone else's set now
}

// Open attaches to the wake-up mechanism of a segment. cookie is a word inside the shared segment
// that is zero in a freshly created segment; this build creates a System V semaphore set of
// 2*nwords semaphores (IPC_PRIVATE, mode 0600) and CASes its id+1 in; a loser of the CAS removes
// its own set and uses the winner's. A cookie holding another mechanism's value, or naming a set
// with too few semaphores, gives an error wrapping ErrMismatch. nwords (1..MaxWords) is the
// number of distinct wait words; index i in Wait and Wake names which one.
func Open(cookie *atomic.Uint32, nwords int) (*Set, error) {
	if err := checkWords(nwords); err != nil {
		return nil, err
	}
	v := cookie.Load()
	if v == 0 {
		id, err := createSet(2 * nwords)
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
	if errno := semctl(id, 0, semGETVAL); errno != 0 {
		return nil, fmt.Errorf("futex: semaphore set %d named by the cookie: %w", id, errno)
	}
	if errno := semctl(id, 2*nwords-1, semGETVAL); errno == unix.EINVAL {
		return nil, fmt.Errorf("futex: semaphore set %d has fewer than %d semaphores: %w",
			id, 2*nwords, ErrMismatch)
	} else if errno != 0 {
		return nil, fmt.Errorf("futex: semaphore set %d named by the cookie: %w", id, errno)
	}
	return &Set{id: id, nwords: nwords}, nil
}

// createSet creates a private semaphore set of nsems semaphores, all zero, whose id+1 fits the
// cookie.
func createSet(nsems int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_SEMGET, unix.IPC_PRIVATE, uintptr(nsems), unix.IPC_CREAT|0o600)
	if errno != 0 {
		return 0, fmt.Errorf("futex: create semaphore set: %w", notSupported(errno))
	}
	id := int(r)
	if id < 0 || uint64(id)+1 >= uint64(semCookieLimit) {
		err := fmt.Errorf("futex: semaphore set id %d does not fit the cookie", id)
		if errno := semctl(id, 0, unix.IPC_RMID); errno != 0 {
			err = errors.Join(err, fmt.Errorf("futex: remove semaphore set %d: %w", id, errno))
		}
		return 0, err
	}
	return id, nil
}

// Wait sleeps while word holds val, for at most timeout (timeout < 0: no limit). It returns nil
// when woken, when the word no longer holds val, on a spurious wake-up, or when the timeout
// expires (callers re-check their condition and their own deadline). An error means the
// mechanism itself failed; after Remove, it wraps EIDRM or EINVAL. Wait panics if i is outside
// [0, nwords).
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
// Wake; word itself is not read. Wake panics if i is outside [0, nwords).
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

// Remove destroys the semaphore set; it is called once by whoever removes the segment. Sleepers
// return an error wrapping EIDRM. Further calls return nil; a set already removed by another
// process is not an error.
func (s *Set) Remove() error {
	if !s.removed.CompareAndSwap(false, true) {
		return nil
	}
	errno := semctl(s.id, 0, unix.IPC_RMID)
	if errno != 0 && errno != unix.EINVAL && errno != unix.EIDRM {
		s.removed.Store(false)
		return fmt.Errorf("futex: remove semaphore set %d: %w", s.id, errno)
	}
	return nil
}

// usable fails once Remove has run: the id may since name another set.
func (s *Set) usable() error {
	if s.removed.Load() {
		return fmt.Errorf("futex: semaphore set %d was removed: %w", s.id, unix.EIDRM)
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
