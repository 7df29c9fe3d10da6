//go:build linux && shmring_nofutex

package futex

import (
	"errors"
	"os"
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

// assertRemoved checks that the semaphore set is gone: IPC_STAT fails on its id (a live set
// would fail with EFAULT instead, for the nil buffer), /proc/sysvipc/sem no longer lists it
// (what ipcs -s reads), and the Set refuses to be used.
func assertRemoved(tb testing.TB, s *Set) {
	tb.Helper()
	_, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(s.id), 0, unix.IPC_STAT, 0, 0, 0)
	assert.Contains(tb, []unix.Errno{unix.EINVAL, unix.EIDRM}, errno,
		"IPC_STAT on removed semaphore set %d: %v", s.id, errno)
	assert.NotContains(tb, semaphoreSets(tb), s.id, "/proc/sysvipc/sem still lists set %d", s.id)
	var w atomic.Uint32
	assert.ErrorIs(tb, s.Wake(0, &w, 1), unix.EIDRM)
	assert.ErrorIs(tb, s.Wait(0, &w, 0, -1), unix.EIDRM)
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
			if nsems == 2*nwords {
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
	require.NoError(t, cmd.Process.Kill())
	require.Error(t, cmd.Wait(), "helper output:\n%s", out)
	assert.Zero(t, semValue(t, s, 1, semGETVAL), "the dead helper is still registered")
	assert.Zero(t, semValue(t, s, 0, semGETNCNT), "the dead helper still sleeps")
}
