//go:build linux && shmring_portable

package shm

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// dupName is the Name of a descriptor of an anonymous segment attached with
// FromFile: the descriptor's name, "dup" in TestFromFileInProcess.
const dupName = anonPrefix + "dup"

// lockDirOfSegment returns the lock directory of s.
func lockDirOfSegment(t *testing.T, s *Segment) string {
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(s.File().Fd()), &st))
	return lockDirOf(&st)
}

func TestSegmentDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := filepath.Join(tmp, "shmring-"+strconv.Itoa(os.Getuid()))
	require.Equal(t, dir, segmentDir())

	s, err := Create("seg", testConfig())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, filepath.Join(dir, "seg"), s.Name())
	fi, err := os.Lstat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.ModeDir|0o700, fi.Mode(), "created 0700")
	require.NoError(t, Unlink("seg"))

	refuse := func(t *testing.T, why string) {
		t.Helper()
		_, err := Create("seg", testConfig())
		assert.ErrorIs(t, err, os.ErrPermission, "Create: %s", why)
		_, err = Open("seg")
		assert.ErrorIs(t, err, os.ErrPermission, "Open: %s", why)
		_, err = CreateAnonymous("anon", testConfig())
		assert.ErrorIs(t, err, os.ErrPermission, "CreateAnonymous: %s", why)
	}
	t.Run("writable by others", func(t *testing.T) {
		require.NoError(t, os.Chmod(dir, 0o777))
		t.Cleanup(func() { require.NoError(t, os.Chmod(dir, 0o700)) })
		refuse(t, "a directory others can write")
	})
	t.Run("symlink", func(t *testing.T) {
		real := filepath.Join(tmp, "elsewhere")
		require.NoError(t, os.Rename(dir, real))
		require.NoError(t, os.Symlink(real, dir))
		t.Cleanup(func() {
			require.NoError(t, os.Remove(dir))
			require.NoError(t, os.Rename(real, dir))
		})
		refuse(t, "a symlink")
	})
	t.Run("owned by another user", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("giving a directory away needs root")
		}
		require.NoError(t, os.Chown(dir, 12345, 12345))
		t.Cleanup(func() { require.NoError(t, os.Chown(dir, 0, 0)) })
		refuse(t, "another user's directory")
	})
	t.Run("not a directory", func(t *testing.T) {
		require.NoError(t, os.Remove(dir))
		require.NoError(t, os.WriteFile(dir, nil, 0o600))
		t.Cleanup(func() {
			require.NoError(t, os.Remove(dir))
			require.NoError(t, os.Mkdir(dir, 0o700))
		})
		refuse(t, "a file")
	})
}

func TestAnonymousIsUnlinked(t *testing.T) {
	before, err := os.ReadDir(segmentDir())
	require.NoError(t, err)
	s, err := CreateAnonymous("shmtest-unlinked", testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(s.File().Fd()), &st))
	assert.Zero(t, st.Nlink, "the file has no name")
	after, err := os.ReadDir(segmentDir())
	require.NoError(t, err)
	assert.Equal(t, names(before), names(after), "nothing is left in the directory")
	assert.True(t, s.CanShrink(), "an unlinked file cannot be sealed")
}

// names lists the names of entries.
func names(entries []os.DirEntry) []string {
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

func TestLockFilesRemoved(t *testing.T) {
	t.Run("named", func(t *testing.T) {
		name := uniqueName(t)
		s, err := Create(name, testConfig())
		require.NoError(t, err)
		o, err := Open(name)
		require.NoError(t, err)
		dir := lockDirOfSegment(t, s)
		l0, err := s.Lock(0)
		require.NoError(t, err)
		_, err = o.Lock(5)
		require.NoError(t, err)
		require.NoError(t, l0.Release())
		assert.DirExists(t, dir, "a named segment keeps its lock files while it has its name")

		require.NoError(t, Unlink(name))
		assert.NoFileExists(t, filepath.Join(dir, "0"), "Unlink removes the files nobody holds")
		assert.FileExists(t, filepath.Join(dir, "5"), "and leaves the held ones")
		held, err := s.Locked(5)
		require.NoError(t, err)
		assert.True(t, held, "a held lock stays visible after Unlink")

		require.NoError(t, o.Close())
		require.NoError(t, s.Close())
		assert.NoDirExists(t, dir, "the last Close of an unlinked segment removes the rest")
	})
	t.Run("anonymous", func(t *testing.T) {
		s, err := CreateAnonymous("shmtest-locks", testConfig())
		require.NoError(t, err)
		dir := lockDirOfSegment(t, s)
		_, err = s.Lock(2)
		require.NoError(t, err)
		assert.FileExists(t, filepath.Join(dir, "2"))
		require.NoError(t, s.Close())
		assert.NoDirExists(t, dir)
	})
}

// TestLockNotRefusedByProbes checks that a probe, which holds a lock file's
// lock in shared mode for a moment, never makes Lock report a holder.
func TestLockNotRefusedByProbes(t *testing.T) {
	s, o := createOpened(t)

	var stop atomic.Bool
	var probes atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			if _, err := o.Locked(0); err != nil {
				t.Error(err)
				return
			}
			probes.Add(1)
		}
	})
	deadline := time.Now().Add(300 * time.Millisecond)
	for i := 0; time.Now().Before(deadline) || i < 1000; i++ {
		l, err := s.Lock(0)
		if !assert.NoError(t, err, "attempt %d", i) {
			break
		}
		require.NoError(t, l.Release())
	}
	stop.Store(true)
	wg.Wait()
	assert.Positive(t, probes.Load())
}

func TestLockOtherOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("giving a file away needs root")
	}
	p := filepath.Join(t.TempDir(), "seg")
	s, err := Create(p, testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)
	require.NoError(t, os.Chown(p, 12345, 12345))
	_, err = s.Lock(0)
	assert.ErrorIs(t, err, ErrNotSupported, "another user's lock files are not ours to find")
	_, err = s.Locked(0)
	assert.ErrorIs(t, err, ErrNotSupported)
}

func TestCreateNoSpace(t *testing.T) {
	dir := smallTmpfs(t)

	const regionSize = 4 << 20
	_, err := Create(filepath.Join(dir, "big"), Config{Kind: testKind, RegionSize: regionSize})
	requireNoSpace(t, dir, err, fmt.Sprintf("need %d bytes on %s", HeaderSize+regionSize, dir))
	requireFits(t, dir)
}

func TestSweepLockDirs(t *testing.T) {
	// A ring removed with rm: its lock directory outlives it.
	p := filepath.Join(t.TempDir(), "seg")
	gone, err := Create(p, testConfig())
	require.NoError(t, err)
	goneDir := lockDirOfSegment(t, gone)
	_, err = gone.Lock(0)
	require.NoError(t, err)
	// An open descriptor keeps the inode, whose number would otherwise go to
	// the next file created and name the same directory.
	keep, err := os.Open(p)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, keep.Close()) })
	require.NoError(t, gone.Close())
	require.NoError(t, os.Remove(p))
	require.DirExists(t, goneDir)

	// A live ring: one lock held, one file left unheld.
	live, err := CreateAnonymous("shmtest-sweep", testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, live)
	liveDir := lockDirOfSegment(t, live)
	require.NotEqual(t, goneDir, liveDir)
	_, err = live.Lock(0)
	require.NoError(t, err)
	l1, err := live.Lock(1)
	require.NoError(t, err)
	require.NoError(t, l1.Release())

	other, err := Create(uniqueName(t), testConfig())
	require.NoError(t, err, "Create sweeps")
	closeAtCleanup(t, other)
	assert.NoDirExists(t, goneDir, "the directory of a ring removed with rm is swept")
	assert.NoFileExists(t, filepath.Join(liveDir, "1"), "an unheld file of a live ring is swept")
	held, err := live.Locked(0)
	require.NoError(t, err)
	assert.True(t, held, "a held lock survives the sweep")
	held, err = live.Locked(1)
	require.NoError(t, err)
	assert.False(t, held)
	l1, err = live.Lock(1)
	require.NoError(t, err, "a swept index can be locked again")
	require.NoError(t, l1.Release())
}

// TestConcurrentCleanUp closes many segments of one anonymous file at once,
// each after locking: every Close cleans the shared lock directory up, and
// none may fail because another removed a file or the directory first.
func TestConcurrentCleanUp(t *testing.T) {
	s, err := CreateAnonymous("shmtest-cleanup", testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)
	const workers, rounds = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				fd, err := unix.Dup(int(s.File().Fd()))
				if !assert.NoError(t, err) {
					return
				}
				o, err := FromFile(os.NewFile(uintptr(fd), "dup"))
				if !assert.NoError(t, err) {
					return
				}
				_, err = o.Lock(w)
				assert.NoError(t, err)
				if !assert.NoError(t, o.Close()) {
					return
				}
			}
		})
	}
	wg.Wait()
}
