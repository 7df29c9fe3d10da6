//go:build unix && (!linux || shmring_portable)

package shm

// Liveness locks of the portable backend: one lock file per lock index,
// locked with flock(2).
//
// Why flock: a flock lock belongs to an open file description, on Linux,
// macOS and FreeBSD alike, so two endpoints of one process, each with its own
// open(2), hold independent locks, and the kernel drops a lock when the last
// descriptor of its description closes: on Release, or when the holder dies
// however it dies (kill -9 included); a stopped holder keeps it. It is what
// OFD locks give on Linux. But flock locks a whole file, and a child that
// inherits a descriptor shares its description, so each index gets a file of
// its own, which every Lock opens anew.
//
// Where: the lock files of a segment live in a directory named by the
// segment file's identity, .locks-DEV-INO in segmentDir (the owner's per-user
// directory, checked as for bare names). Named, path and anonymous segments
// alike, and a descriptor inherited from a parent, find the same directory
// from an fstat of the segment file, with no name and nothing in the header.
// The identity is unique among live segments: while any process has the
// segment open its inode stays allocated, so no other file gets its number.
// A directory left by segments that are gone may be found by a new segment
// whose inode got the number again; its files are then held by nobody (every
// holder kept the old inode alive), which is what a fresh directory says.
// The per-user directory has a cost: only the owner of the segment file, in
// processes that agree on $TMPDIR, can Lock or probe (anyone else's lock
// files would be elsewhere, and endpoints that cannot see each other could
// reap each other): any other user gets an error wrapping ErrNotSupported.
//
// Who creates: Lock, on demand: the directory (mode 0700) and the file for
// its index (mode 0600), never through a symlink. A probe creates nothing: a
// missing directory or file is an index nobody holds.
//
// Lock(i): open the file (a new description), flock(LOCK_EX|LOCK_NB).
//   - Granted: if the file still has its name, the lock is held; if a cleaner
//     unlinked it meanwhile (see below), the lock guards nothing: start over.
//   - Refused: an endpoint holds it (exclusive), or only probes or cleaners
//     do (shared, for microseconds), or a Lock that found the file unlinked
//     (exclusive, for microseconds). flock(LOCK_SH|LOCK_NB) on the same
//     description, then the link count, tell which (heldByEndpoint): a
//     shared lock refused on a file that still has its name means an
//     endpoint, ErrLocked; otherwise drop it, sleep a moment and start over,
//     up to lockAttempts times (then ErrLocked: a probe storm, or another
//     Lock racing this one through the same shared step, which the sleep's
//     jitter separates).
//
// Locked(i) (the probe): open the file, flock(LOCK_SH|LOCK_NB). Refused: an
// endpoint holds it; granted: nobody does; either only if the file still has
// its name (otherwise look again); release at once. It works from any process,
// including the holder's: the probe's description is its own.
//
// Who removes: removeLockFiles, for a segment whose file has no name left:
// Unlink after it removed the name, and Close of an anonymous or unlinked
// segment. For each lock file it takes flock(LOCK_SH|LOCK_NB), granted only
// when no endpoint holds the file, and, holding it, unlinks the file; a file
// an endpoint holds is left alone. Then it removes the directory if it is
// empty. The cleaner's lock is shared, as a probe's is, so a Lock that meets
// it takes it for a probe and starts over instead of reporting a holder. A
// Lock that opened the file before the unlink gets the lock only after the
// cleaner lets go, finds the file unlinked and starts over, so no endpoint
// ever holds a lock that probes cannot see. The last process to close cleans up what the others left.
// Since a missing file means what an unheld one means, removing unheld files
// is safe at any time, for any segment, live or gone: every Create sweeps
// all the lock directories of segmentDir that way (sweepLockDirs), which
// collects those of segments whose names went with rm instead of Unlink, and
// of anonymous segments whose processes were all killed.
//
// What kill -9 leaves: the kernel drops the dead process's locks; its files
// stay, held by nobody, which every probe reads as dead. A named segment's
// directory goes with Unlink; the directory of an anonymous segment whose
// processes were all killed stays until the next Create of this user sweeps
// it: a few empty files that no live segment can confuse with its own (see
// Where).

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// lockDirPrefix starts the name of every lock directory.
	lockDirPrefix = ".locks-"
	// lockAttempts bounds the times Lock and Locked start over.
	lockAttempts = 100
	// lockRetrySleep bounds the sleep of a Lock that met only probes.
	lockRetrySleep = 100 * time.Microsecond
)

// lockDirOf returns the lock directory of the segment file st describes.
func lockDirOf(st *unix.Stat_t) string {
	return filepath.Join(segmentDir(), fmt.Sprintf("%s%x-%x", lockDirPrefix, uint64(st.Dev), uint64(st.Ino)))
}

// lockDir returns the segment's lock directory. A file owned by another user has its lock files in that user's
// directory: the error wraps ErrNotSupported.
func (s *Segment) lockDir() (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(s.f.Fd()), &st); err != nil {
		return "", fmt.Errorf("stat: %w", err)
	}
	if int(st.Uid) != os.Getuid() {
		return "", fmt.Errorf("lock files of a segment owned by uid %d live in its owner's directory: %w",
			st.Uid, ErrNotSupported)
	}
	return lockDirOf(&st), nil
}

// openLockFile opens lock file i of the lock directory dir, read-only (flock
// needs no more), never through a symlink. With create, it makes the
// directory and the file when missing. Errors wrap os.ErrNotExist when one is
// missing (or removed by a cleaner meanwhile).
func openLockFile(dir string, i int, create bool) (*os.File, error) {
	flag := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	if create {
		if _, err := ensureSegmentDir(); err != nil {
			return nil, err
		}
		if err := unix.Mkdir(dir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create lock directory: %w", err)
		}
		flag |= unix.O_CREAT
	}
	if err := checkOwnedDir(dir); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, strconv.Itoa(i))
	fd, err := unix.Open(p, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %q: %w", p, err)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	switch {
	case err != nil:
		err = fmt.Errorf("stat lock file %q: %w", p, err)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		err = fmt.Errorf("lock file %q is not a regular file (mode %#o): %w", p, st.Mode, os.ErrPermission)
	}
	if err != nil {
		return nil, errors.Join(err, unix.Close(fd))
	}
	return os.NewFile(uintptr(fd), p), nil
}

// linked reports whether the file open in f still has a name.
func linked(f *os.File) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, fmt.Errorf("stat lock file: %w", err)
	}
	return st.Nlink > 0, nil
}

// lockByte takes the flock lock of index i through a new description of its
// lock file and returns that description. The caller holds s.mu and s is
// open.
func (s *Segment) lockByte(i int) (*os.File, error) {
	dir, err := s.lockDir()
	if err != nil {
		return nil, err
	}
	for range lockAttempts {
		f, err := openLockFile(dir, i, true)
		if errors.Is(err, os.ErrNotExist) {
			continue // a cleaner removed the directory between its creation and the open
		}
		if err != nil {
			return nil, err
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			ok, err := linked(f)
			if err == nil && ok {
				return f, nil
			}
			if err = errors.Join(err, f.Close()); err != nil {
				return nil, err
			}
			continue // unlinked by a cleaner: the lock guards nothing
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errors.Join(fmt.Errorf("flock: %w", err), f.Close())
		}
		held, err := heldByEndpoint(f)
		if err = errors.Join(err, f.Close()); err != nil {
			return nil, err
		}
		if held {
			return nil, ErrLocked
		}
		time.Sleep(rand.N(lockRetrySleep) + 1)
	}
	return nil, fmt.Errorf("%w: still contended after %d attempts", ErrLocked, lockAttempts)
}

// heldByEndpoint tells, for a lock file whose exclusive lock f was just
// refused, an endpoint's lock from a passing one: the shared lock of a probe
// or a cleaner, which flock(LOCK_SH|LOCK_NB) on f is granted beside, or the
// exclusive lock of a Lock that found the file unlinked and is about to let
// go (no endpoint ever holds an unlinked file).
func heldByEndpoint(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, unix.EWOULDBLOCK):
		return false, fmt.Errorf("flock: %w", err)
	}
	return linked(f)
}

// probeByte reports whether any description holds the flock lock of index i.
// The caller holds s.mu and s is open.
func (s *Segment) probeByte(i int) (bool, error) {
	dir, err := s.lockDir()
	if err != nil {
		return false, err
	}
	for range lockAttempts {
		f, err := openLockFile(dir, i, false)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		// Refused: an exclusive lock, an endpoint's if the file still has
		// its name. Granted: nobody's, if it still has its name.
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		held := errors.Is(err, unix.EWOULDBLOCK)
		ok := false
		if err == nil || held {
			ok, err = linked(f)
		} else {
			err = fmt.Errorf("flock: %w", err)
		}
		if err = errors.Join(err, f.Close()); err != nil {
			return false, err
		}
		if ok {
			return held, nil
		}
		// Unlinked by a cleaner: look again, and find no file or a new one.
	}
	return false, fmt.Errorf("lock file %d removed and recreated %d times while probed", i, lockAttempts)
}

// closeLocks removes the lock files nobody holds when the segment's file has
// no name left (anonymous, or unlinked): the last process to close removes
// them all. The caller has released this Segment's locks.
func (s *Segment) closeLocks() error {
	var st unix.Stat_t
	if err := unix.Fstat(int(s.f.Fd()), &st); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if st.Nlink > 0 || int(st.Uid) != os.Getuid() {
		return nil
	}
	return removeLockFiles(st)
}

// removeLockFiles removes the lock files that nobody holds from the lock
// directory of the segment file st describes, then the directory if it is
// empty (removeLockDir).
func removeLockFiles(st unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Getuid() {
		return nil
	}
	return removeLockDir(lockDirOf(&st))
}

// sweepLockDirs removes the lock files nobody holds from every lock directory
// of segmentDir, and the directories left empty. It is safe on the
// directories of live segments (see the file comment). It is a clean-up:
// Create calls it and does not fail with it, so it reports nothing.
func sweepLockDirs() {
	dir := segmentDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), lockDirPrefix) {
			_ = removeLockDir(filepath.Join(dir, e.Name()))
		}
	}
}

// removeLockDir removes the lock files that nobody holds from the lock
// directory dir, then dir if it is empty. A missing directory, a file held by
// someone, or a directory that is not empty afterwards are no errors.
func removeLockDir(dir string) error {
	if err := checkOwnedDir(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // another process's clean-up removed it meanwhile
	}
	if err != nil {
		return fmt.Errorf("read lock directory: %w", err)
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("open lock file %q: %w", p, err))
			continue
		}
		if unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) == nil {
			// Unlinked while held: a Lock that opened it meanwhile finds it
			// unlinked once it gets the lock, and starts over.
			if err := unix.Unlink(p); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("remove lock file %q: %w", p, err))
			}
		}
		if err := unix.Close(fd); err != nil {
			errs = append(errs, err)
		}
	}
	err = unix.Rmdir(dir)
	if err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("remove lock directory: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove lock files: %w", err)
	}
	return nil
}
