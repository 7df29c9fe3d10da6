//go:build linux && shmring_nofutex && !shmring_portable

package futex

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// semctl commands from <linux/sem.h> that only the tests use.
const (
	semGETNCNT = 14 // GETNCNT: number of operations waiting for the value to grow
	semSETVAL  = 16 // SETVAL: set the value
)

// assertRemoved checks that the semaphore set is gone and that the Set refuses to be used.
func assertRemoved(tb testing.TB, s *Set) {
	tb.Helper()
	assertGone(tb, s.id)
	var w atomic.Uint32
	assert.ErrorIs(tb, s.Wake(0, &w, 1), unix.EIDRM)
	assert.ErrorIs(tb, s.Wait(0, &w, 0, -1), unix.EIDRM)
}

// assertGone checks that semaphore set id is gone: IPC_STAT fails on it (a live set would fail
// with EFAULT instead, for the nil buffer), and /proc/sysvipc/sem (what ipcs -s reads) no longer
// lists it.
func assertGone(tb testing.TB, id int) {
	tb.Helper()
	_, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, unix.IPC_STAT, 0, 0, 0)
	assert.Contains(tb, []unix.Errno{unix.EINVAL, unix.EIDRM}, errno,
		"IPC_STAT on removed semaphore set %d: %v", id, errno)
	assert.NotContains(tb, semaphoreSets(tb), id, "/proc/sysvipc/sem still lists set %d", id)
}

// semaphoreSets lists the ids of the System V semaphore sets on the system, keyed to their
// number of semaphores.
func semaphoreSets(tb testing.TB) map[int]int {
	tb.Helper()
	b, err := os.ReadFile("/proc/sysvipc/sem")
	require.NoError(tb, err)
	sets := make(map[int]int)
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		id, err1 := strconv.Atoi(f[1])
		nsems, err2 := strconv.Atoi(f[3])
		if err1 == nil && err2 == nil {
			sets[id] = nsems
		}
	}
	return sets
}

// awaitSleepers waits until at least k sleepers block on the generation of word i.
func awaitSleepers(tb testing.TB, s *Set, i int, _ *atomic.Uint32, k int) {
	tb.Helper()
	deadline := time.Now().Add(watchdog)
	for {
		n := semValue(tb, s, 2*i, semGETNCNT)
		if n >= k {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d waiters sleep on word %d after %v", n, k, i, watchdog)
		}
		time.Sleep(time.Millisecond)
	}
}

// semValue runs a semctl query on semaphore num of the set.
func semValue(tb testing.TB, s *Set, num, cmd int) int {
	tb.Helper()
	v, errno := semctlValue(s.id, num, cmd)
	require.Zero(tb, errno, "semctl(%d, %d, %d): %v", s.id, num, cmd, errno)
	return v
}

// setGeneration sets the generation of word i.
func setGeneration(tb testing.TB, s *Set, i, gen int) {
	tb.Helper()
	_, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(s.id), uintptr(2*i), semSETVAL, uintptr(gen), 0, 0)
	require.Zero(tb, errno, "SETVAL: %v", errno)
}

func TestSemOpenCreatesOneSet(t *testing.T) {
	var cookie atomic.Uint32
	// An odd size, so that sets of other users are unlikely to be counted.
	const nwords = 77
	count := func() int {
		n := 0
		for _, nsems := range semaphoreSets(t) {
			if nsems == countersOf(nwords).nsems {
				n++
			}
		}
		return n
	}
	before := count()
	sets := make([]*Set, 8)
	var wg sync.WaitGroup
	for k := range sets {
		wg.Go(func() {
			s, err := Open(&cookie, nwords)
			assert.NoError(t, err)
			sets[k] = s
		})
	}
	wg.Wait()
	for _, s := range sets {
		require.NotNil(t, s)
		assert.Equal(t, int(cookie.Load())-1, s.id, "every Open must use the CAS winner's set")
	}
	assert.Equal(t, before+1, count(), "losers of the cookie CAS must remove their sets")
	require.NoError(t, sets[0].Remove())
	assertRemoved(t, sets[0])
}

func TestSemOpenHostileCookie(t *testing.T) {
	t.Run("removed set", func(t *testing.T) {
		var cookie atomic.Uint32
		s, err := Open(&cookie, 1)
		require.NoError(t, err)
		require.NoError(t, s.Remove())
		_, err = Open(&cookie, 1)
		require.Error(t, err)
		assert.Contains(t, []unix.Errno{unix.EINVAL, unix.EIDRM}, errnoOf(err))
	})
	t.Run("set too small", func(t *testing.T) {
		var cookie atomic.Uint32
		s := openSet(t, &cookie, 1)
		_, err := Open(&cookie, 2)
		require.ErrorIs(t, err, ErrMismatch)
		var w atomic.Uint32
		assert.NoError(t, s.Wake(0, &w, 1), "a refused Open must leave the set alone")
	})
	t.Run("set too large", func(t *testing.T) {
		var cookie atomic.Uint32
		s := openSet(t, &cookie, 2)
		_, err := Open(&cookie, 1)
		require.ErrorIs(t, err, ErrMismatch)
		assert.Equal(t, refCounts{refs: 1}, countsOf(t, s.id, 2), "a refused Open must take no reference")
	})
	t.Run("set being removed", func(t *testing.T) {
		var cookie atomic.Uint32
		s, err := Open(&cookie, 1)
		require.NoError(t, err)
		// As R2 leaves it when its releaser dies before R3.
		c := countersOf(1)
		_, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(s.id), uintptr(c.dying), semSETVAL, 1, 0, 0)
		require.Zero(t, errno, "SETVAL: %v", errno)
		_, err = Open(&cookie, 1)
		require.ErrorIs(t, err, unix.EIDRM)
		assertGone(t, s.id)
		assert.NoError(t, s.Release(), "a set removed by another process is not an error")
	})
}

// errnoOf returns the errno wrapped in err, or 0.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return 0
	}
	return errno
}

func TestSemRemoveWakesSleepers(t *testing.T) {
	var cookie, w atomic.Uint32
	s, err := Open(&cookie, 1)
	require.NoError(t, err)
	done := goWait(s, 0, &w, 0, -1)
	awaitSleepers(t, s, 0, &w, 1)
	require.NoError(t, s.Remove())
	assert.ErrorIs(t, awaitReturn(t, done), unix.EIDRM)
	assertRemoved(t, s)
}

func TestSemWrapAround(t *testing.T) {
	t.Run("waker resets with nobody registered", func(t *testing.T) {
		var cookie, w atomic.Uint32
		s := openSet(t, &cookie, 1)
		setGeneration(t, s, 0, semvmx)
		require.NoError(t, s.Wake(0, &w, 1))
		assert.Zero(t, semValue(t, s, 0, semGETVAL))
	})
	t.Run("lone waiter resets and sleeps", func(t *testing.T) {
		var cookie, w atomic.Uint32
		s := openSet(t, &cookie, 1)
		setGeneration(t, s, 0, semvmx)
		done := goWait(s, 0, &w, 0, -1)
		awaitSleepers(t, s, 0, &w, 1)
		assert.Zero(t, semValue(t, s, 0, semGETVAL))
		w.Store(1)
		require.NoError(t, s.Wake(0, &w, 1))
		assert.NoError(t, awaitReturn(t, done))
		assert.Zero(t, semValue(t, s, 1, semGETVAL), "registration left behind")
	})
	t.Run("sleeper just below the limit", func(t *testing.T) {
		var cookie, w atomic.Uint32
		s := openSet(t, &cookie, 1)
		setGeneration(t, s, 0, semvmx-1)
		done := goWait(s, 0, &w, 0, -1)
		awaitSleepers(t, s, 0, &w, 1)
		w.Store(1)
		require.NoError(t, s.Wake(0, &w, 1))
		assert.NoError(t, awaitReturn(t, done))
		assert.Equal(t, semvmx, semValue(t, s, 0, semGETVAL))
	})
	t.Run("waiter at the limit with others registered", func(t *testing.T) {
		var cookie, w atomic.Uint32
		s := openSet(t, &cookie, 1)
		setGeneration(t, s, 0, semvmx)
		// Stand in for another registered waiter.
		require.Zero(t, s.semop(nil, sembuf{num: 1, op: 1, flg: semUNDO}))
		start := time.Now()
		require.NoError(t, awaitReturn(t, goWait(s, 0, &w, 0, -1)))
		assert.GreaterOrEqual(t, time.Since(start), semPollInterval, "the waiter must back off before it returns")
		assert.Equal(t, 1, semValue(t, s, 1, semGETVAL), "the waiter must deregister, and only itself")
		assert.Equal(t, semvmx, semValue(t, s, 0, semGETVAL))
		require.Zero(t, s.semop(nil, sembuf{num: 1, op: -1, flg: semUNDO}))
	})
}

// TestSemDeadWaiterDeregistered kills a helper process that sleeps on a word: the kernel must
// undo its registration, so that the word can wrap around again.
func TestSemDeadWaiterDeregistered(t *testing.T) {
	if os.Getenv(helperEnv) == "sleep" {
		seg := helperSegment(t)
		s, err := Open(seg.cookie(), 1)
		require.NoError(t, err)
		require.NoError(t, s.Wait(0, seg.word(0), 0, -1))
		t.Fatal("woken from a wait nobody ends")
	}
	seg := newSegment(t)
	s := openSet(t, seg.cookie(), 1)
	cmd, out := startHelper(t, "sleep", "TestSemDeadWaiterDeregistered", seg)
	awaitSleepers(t, s, 0, seg.word(0), 1)
	assert.Equal(t, 1, semValue(t, s, 1, semGETVAL), "the sleeping helper is registered")
	killHelper(t, cmd, out)
	assert.Zero(t, semValue(t, s, 1, semGETVAL), "the dead helper is still registered")
	assert.Zero(t, semValue(t, s, 0, semGETNCNT), "the dead helper still sleeps")
}

// refCounts are the counting semaphores of a set.
type refCounts struct {
	refs, holds, dying int
}

// countsOf reads the counting semaphores of set id, made for nwords words.
func countsOf(tb testing.TB, id, nwords int) refCounts {
	tb.Helper()
	c := countersOf(nwords)
	var v [3]int
	for k, num := range []uint16{c.refs, c.holds, c.dying} {
		var errno unix.Errno
		v[k], errno = semctlValue(id, int(num), semGETVAL)
		require.Zero(tb, errno, "GETVAL of semaphore %d of set %d: %v", num, id, errno)
	}
	return refCounts{refs: v[0], holds: v[1], dying: v[2]}
}

// TestSemReferenceCounts follows the counting semaphores through Open, Adopt, Hold, Release and
// Detach within one process, which counts like any other.
func TestSemReferenceCounts(t *testing.T) {
	t.Run("last release removes", func(t *testing.T) {
		var cookie, w atomic.Uint32
		a, err := Open(&cookie, 1)
		require.NoError(t, err)
		b, err := Open(&cookie, 1)
		require.NoError(t, err)
		assert.Equal(t, refCounts{refs: 2}, countsOf(t, a.id, 1))
		require.NoError(t, a.Release())
		assert.Equal(t, refCounts{refs: 1}, countsOf(t, a.id, 1), "b still holds the set")
		assert.ErrorIs(t, a.Wake(0, &w, 1), os.ErrClosed)
		assert.ErrorIs(t, a.Wait(0, &w, 0, -1), os.ErrClosed)
		assert.NoError(t, b.Wake(0, &w, 1))
		require.NoError(t, b.Release())
		assertRemoved(t, b)
	})
	t.Run("detach leaves the set", func(t *testing.T) {
		var cookie, w atomic.Uint32
		a, err := Open(&cookie, 1)
		require.NoError(t, err)
		require.NoError(t, a.Detach())
		assert.Equal(t, refCounts{}, countsOf(t, a.id, 1))
		assert.ErrorIs(t, a.Wake(0, &w, 1), os.ErrClosed)
		b := openSet(t, &cookie, 1)
		assert.Equal(t, a.id, b.id, "a later Open must find the detached set")
		assert.Equal(t, refCounts{refs: 1}, countsOf(t, b.id, 1))
		require.NoError(t, b.Detach())
		assert.Contains(t, semaphoreSets(t), b.id, "only Remove removes a detached set")
	})
	t.Run("hold keeps the set", func(t *testing.T) {
		var cookie atomic.Uint32
		a, err := Open(&cookie, 1)
		require.NoError(t, err)
		require.NoError(t, a.Hold())
		require.NoError(t, a.Hold())
		require.NoError(t, a.Release())
		assert.Equal(t, refCounts{holds: 2}, countsOf(t, a.id, 1))
		b, err := Adopt(&cookie, 1)
		require.NoError(t, err)
		assert.Equal(t, refCounts{refs: 1, holds: 1}, countsOf(t, a.id, 1))
		require.NoError(t, b.Release())
		assert.Equal(t, refCounts{holds: 1}, countsOf(t, a.id, 1), "a hold nobody adopted keeps the set")
		require.NoError(t, b.Remove())
		assertRemoved(t, b)
	})
	t.Run("adopt without a hold", func(t *testing.T) {
		var cookie atomic.Uint32
		a, err := Open(&cookie, 1)
		require.NoError(t, err)
		b, err := Adopt(&cookie, 1)
		require.NoError(t, err)
		assert.Equal(t, refCounts{refs: 2}, countsOf(t, a.id, 1))
		require.NoError(t, a.Release())
		require.NoError(t, b.Release())
		assertRemoved(t, b)
	})
	t.Run("adopt on a fresh segment", func(t *testing.T) {
		var cookie atomic.Uint32
		a, err := Adopt(&cookie, 1)
		require.NoError(t, err)
		assert.Equal(t, refCounts{refs: 1}, countsOf(t, a.id, 1))
		require.NoError(t, a.Release())
		assertRemoved(t, a)
	})
	t.Run("after release", func(t *testing.T) {
		var cookie atomic.Uint32
		a, err := Open(&cookie, 1)
		require.NoError(t, err)
		require.NoError(t, a.Release())
		assert.ErrorIs(t, a.Hold(), unix.EIDRM)
		assert.NoError(t, a.Release())
		assert.NoError(t, a.Detach())
		assert.NoError(t, a.Remove())
		assertRemoved(t, a)
	})
	t.Run("hold after detach", func(t *testing.T) {
		var cookie atomic.Uint32
		a := openSet(t, &cookie, 1)
		require.NoError(t, a.Detach())
		assert.ErrorIs(t, a.Hold(), os.ErrClosed)
		assert.Equal(t, refCounts{}, countsOf(t, a.id, 1))
	})
	t.Run("release after remove", func(t *testing.T) {
		var cookie atomic.Uint32
		a, err := Open(&cookie, 1)
		require.NoError(t, err)
		b, err := Open(&cookie, 1)
		require.NoError(t, err)
		require.NoError(t, a.Remove())
		assert.NoError(t, a.Release())
		assert.NoError(t, b.Release(), "a set removed by another process is not an error")
		assert.NoError(t, b.Detach())
		assertGone(t, b.id)
	})
}

// TestSemConcurrentRelease releases many references at once: every Release must succeed, exactly
// one of them must win R2 and remove the set, and the set must be gone afterwards.
func TestSemConcurrentRelease(t *testing.T) {
	const (
		rounds  = 50
		holders = 4
	)
	for range rounds {
		var cookie atomic.Uint32
		sets := make([]*Set, holders)
		for k := range sets {
			s, err := Open(&cookie, 1)
			require.NoError(t, err)
			sets[k] = s
		}
		errs := make([]error, holders)
		var wg sync.WaitGroup
		for k, s := range sets {
			wg.Go(func() { errs[k] = s.Release() })
		}
		wg.Wait()
		removers := 0
		for k, s := range sets {
			require.NoError(t, errs[k])
			if s.removed.Load() {
				removers++
			}
		}
		assert.Equal(t, 1, removers, "exactly one Release must remove the set")
		assertGone(t, sets[0].id)
	}
}

// TestSemOpenDuringLastRelease races an Open against the last Release: the Open either gets the
// set, which then must have stayed, or fails with EIDRM or EINVAL, the set being gone.
func TestSemOpenDuringLastRelease(t *testing.T) {
	const rounds = 200
	var got, refused int
	for round := range rounds {
		var cookie atomic.Uint32
		a, err := Open(&cookie, 1)
		require.NoError(t, err)
		// Delay the Release by 0 to 18µs, so that the Open lands on either side of it.
		delay := time.Duration(round%10) * 2 * time.Microsecond
		var (
			b          *Set
			aErr, bErr error
			wg         sync.WaitGroup
		)
		start := make(chan struct{})
		wg.Go(func() { <-start; b, bErr = Open(&cookie, 1) })
		wg.Go(func() {
			<-start
			for begin := time.Now(); time.Since(begin) < delay; {
				runtime.Gosched()
			}
			aErr = a.Release()
		})
		close(start)
		wg.Wait()
		require.NoError(t, aErr)
		if bErr != nil {
			refused++
			assert.Contains(t, []unix.Errno{unix.EINVAL, unix.EIDRM}, errnoOf(bErr), "%v", bErr)
			assertGone(t, a.id)
			continue
		}
		got++
		var w atomic.Uint32
		assert.Equal(t, refCounts{refs: 1}, countsOf(t, b.id, 1), "the set must stay for b")
		assert.NoError(t, b.Wake(0, &w, 1))
		require.NoError(t, b.Release())
		assertRemoved(t, b)
	}
	t.Logf("the racing Open got the set %d times and was refused %d times", got, refused)
}

// awaitWord waits until w holds val, polling: the waiter may hold no reference to wait with.
func awaitWord(tb testing.TB, w *atomic.Uint32, val uint32) {
	tb.Helper()
	deadline := time.Now().Add(watchdog)
	for w.Load() != val {
		if time.Now().After(deadline) {
			tb.Fatalf("word holds %d, not %d, after %v", w.Load(), val, watchdog)
		}
		time.Sleep(time.Millisecond)
	}
}

// refHelper is the helper side of TestSemReferenceAcrossProcesses: it attaches (with Adopt for
// "ref-adopt"), says so in word 0, then either sleeps until it is killed ("ref-sleep") or waits
// for word 1 and releases.
func refHelper(t *testing.T, role string) {
	seg := helperSegment(t)
	attach := Open
	if role == "ref-adopt" {
		attach = Adopt
	}
	s, err := attach(seg.cookie(), 1)
	require.NoError(t, err)
	seg.word(0).Store(1)
	if role == "ref-sleep" {
		for {
			require.NoError(t, s.Wait(0, seg.word(2), 0, -1))
		}
	}
	awaitWord(t, seg.word(1), 1)
	require.NoError(t, s.Release())
}

// newReferencedSet opens a one-word set on a new segment and leaves its references to the
// test: no cleanup releases or removes it.
func newReferencedSet(t *testing.T) (*segment, *Set) {
	t.Helper()
	seg := newSegment(t)
	s, err := Open(seg.cookie(), 1)
	require.NoError(t, err)
	return seg, s
}

// killHelper kills a helper process and waits for it to end.
func killHelper(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	require.NoError(t, cmd.Process.Kill())
	require.Error(t, cmd.Wait(), "helper output:\n%s", out)
}

// TestSemReferenceAcrossProcesses counts references of a helper process: the set outlives the
// parent's Release while the helper holds it, the helper's Release removes it, a killed helper's
// reference is dropped by the kernel, and a hold carries the set over to a helper that adopts it.
func TestSemReferenceAcrossProcesses(t *testing.T) {
	if role := os.Getenv(helperEnv); role != "" {
		refHelper(t, role)
		return
	}
	const test = "TestSemReferenceAcrossProcesses"
	t.Run("helper releases last", func(t *testing.T) {
		seg, s := newReferencedSet(t)
		cmd, out := startHelper(t, "ref-open", test, seg)
		awaitWord(t, seg.word(0), 1)
		assert.Equal(t, refCounts{refs: 2}, countsOf(t, s.id, 1))
		require.NoError(t, s.Release())
		assert.Equal(t, refCounts{refs: 1}, countsOf(t, s.id, 1), "the helper still holds the set")
		seg.word(1).Store(1)
		require.NoError(t, cmd.Wait(), "helper output:\n%s", out)
		assertGone(t, s.id)
	})
	t.Run("killed helper drops its reference", func(t *testing.T) {
		seg, s := newReferencedSet(t)
		cmd, out := startHelper(t, "ref-sleep", test, seg)
		awaitWord(t, seg.word(0), 1)
		awaitSleepers(t, s, 0, seg.word(2), 1)
		assert.Equal(t, refCounts{refs: 2}, countsOf(t, s.id, 1))
		killHelper(t, cmd, out)
		assert.Equal(t, refCounts{refs: 1}, countsOf(t, s.id, 1), "the kernel must drop the dead helper's reference")
		require.NoError(t, s.Release())
		assertGone(t, s.id)
	})
	t.Run("killed last holder leaves the set", func(t *testing.T) {
		seg, s := newReferencedSet(t)
		cmd, out := startHelper(t, "ref-sleep", test, seg)
		awaitWord(t, seg.word(0), 1)
		require.NoError(t, s.Release())
		killHelper(t, cmd, out)
		// As documented: the kernel drops the reference but removes nothing; Remove still can.
		assert.Equal(t, refCounts{}, countsOf(t, s.id, 1))
		require.NoError(t, s.Remove())
		assertGone(t, s.id)
	})
	t.Run("hold carries the set to the helper", func(t *testing.T) {
		seg, s := newReferencedSet(t)
		require.NoError(t, s.Hold())
		cmd, out := startHelper(t, "ref-adopt", test, seg)
		// Release at once, as a parent that closes its ring after starting the child may: the
		// helper has probably not adopted yet.
		require.NoError(t, s.Release())
		assert.Contains(t, semaphoreSets(t), s.id, "the hold must keep the set")
		awaitWord(t, seg.word(0), 1)
		assert.Equal(t, refCounts{refs: 1}, countsOf(t, s.id, 1), "the helper must own the hold now")
		seg.word(1).Store(1)
		require.NoError(t, cmd.Wait(), "helper output:\n%s", out)
		assertGone(t, s.id)
	})
}
