//go:build unix && (!linux || shmring_portable)

package shm

// The portable backend: macOS, FreeBSD and every other Unix, and Linux with
// the build tag shmring_portable, which runs these code paths where CI can
// test them. It needs nothing but files, mmap and flock(2). shm_unix.go holds
// what it shares with the Linux backend; the liveness locks are in
// locks_portable.go.
//
// Bare names live in a per-user directory, segmentDir: $TMPDIR/shmring-UID
// (/tmp/shmring-UID without $TMPDIR), created mode 0700 on first use. Every
// Create and Open of a bare name checks it (checkOwnedDir): a directory, not
// a symlink, owned by this user, writable by nobody else. A directory that
// another user made first therefore refuses service rather than serving files
// that user planted.
//
// Create protocol (the Linux one without O_TMPFILE):
//  1. a temporary name in the segment's directory, created
//     O_CREAT|O_EXCL|O_NOFOLLOW mode 0600;
//  2. fchmod to the exact mode, ftruncate to the segment size, then every
//     byte written with zeros (reserve): no portable call reserves blocks
//     (x/sys/unix has no posix_fallocate outside Linux), and a written page
//     is an allocated page, so a full file system fails here with ErrNoSpace,
//     not with SIGBUS on first touch. A file system that compresses or
//     deduplicates zeros (ZFS with compression) reserves nothing this way;
//     pwrite the header, mmap;
//  3. link(temporary, path), which fails with EEXIST when anything, file or
//     symlink, has the name, then unlink(temporary).
//
// Anonymous segments: the same file, in segmentDir, is unlinked right after
// it is created, before it is sized: it has no name, its storage is freed
// when the last descriptor and mapping go, and a child attaches through the
// descriptor passed in exec.Cmd.ExtraFiles as with a memfd. Nothing can seal
// it: any process holding the descriptor can shrink it (CanShrink is true).
// A process killed between the two steps leaves the temporary name behind.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

const (
	// anonPrefix starts the Name of an anonymous segment.
	anonPrefix = "anon:"
	// anonSealed is false: an unlinked file cannot be sealed against
	// shrinking.
	anonSealed = false
	// zeroChunk bounds one write of reserve.
	zeroChunk = 1 << 20
)

// segmentDir returns the directory of bare segment names: shmring-UID in the
// temporary directory ($TMPDIR, else /tmp).
func segmentDir() string {
	return filepath.Join(os.TempDir(), "shmring-"+strconv.Itoa(os.Getuid()))
}

// ensureSegmentDir creates segmentDir, mode 0700, if it does not exist, and
// checks it (checkOwnedDir). It returns the directory.
func ensureSegmentDir() (string, error) {
	dir := segmentDir()
	if err := unix.Mkdir(dir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return "", fmt.Errorf("create directory %q: %w", dir, err)
	}
	return dir, checkOwnedDir(dir)
}

// checkOwnedDir checks that dir is a directory, not a symlink, owned by this
// user and writable by nobody else. Errors wrap os.ErrNotExist when it does
// not exist, and os.ErrPermission otherwise.
func checkOwnedDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("stat directory %q: %w", dir, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%q is not a directory (mode %#o): %w", dir, st.Mode, os.ErrPermission)
	case int(st.Uid) != os.Getuid():
		return fmt.Errorf("directory %q is owned by uid %d, not %d: %w", dir, st.Uid, os.Getuid(), os.ErrPermission)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("directory %q is writable by others (mode %#o): %w", dir, st.Mode&0o777, os.ErrPermission)
	}
	return nil
}

// checkParent checks segmentDir before a bare name in it is opened; a file
// path is used as given.
func checkParent(p string) error {
	if dir := segmentDir(); filepath.Dir(p) == dir {
		return checkOwnedDir(dir)
	}
	return nil
}

// newUnnamed creates the segment file with a random temporary name in dir,
// creating and checking segmentDir first when dir is it. tmpfile is ignored:
// there is no O_TMPFILE here. It sweeps the lock directories first.
func newUnnamed(dir string, _ bool) (unnamed, error) {
	sweepLockDirs()
	if dir == segmentDir() {
		if _, err := ensureSegmentDir(); err != nil {
			return unnamed{}, err
		}
	}
	return createTemp(dir)
}

// link gives the file the name p. It fails with EEXIST when anything, even a
// dangling symlink, has that name.
func (u unnamed) link(p string) error {
	if err := unix.Link(u.tmp, p); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	return nil
}

// createAnonymous creates an unlinked file in segmentDir, fills it and maps
// it.
func createAnonymous(debugName string, cfg Config) (*Segment, error) {
	if err := checkDebugName(debugName); err != nil {
		return nil, err
	}
	hdr, mode, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	sweepLockDirs()
	dir, err := ensureSegmentDir()
	if err != nil {
		return nil, err
	}
	u, err := createTemp(dir)
	if err != nil {
		return nil, err
	}
	if err := u.removeTemp(); err != nil {
		return nil, errors.Join(err, u.f.Close())
	}
	s, err := prepareAndMap(u.f, anonPrefix+debugName, true, dir, hdr, mode)
	if err == nil && cfg.Init != nil {
		cfg.Init(s.Region())
	}
	return s, err
}

// sealAnonymous does nothing: an unlinked file cannot be sealed.
func sealAnonymous(*os.File) error { return nil }

// reserve writes zeros over the first size bytes of f, so that a full file
// system fails now and not with SIGBUS on first touch. Running out of space
// (ENOSPC, EDQUOT) gives an error wrapping ErrNoSpace and the errno that
// names the size needed and where.
func reserve(f *os.File, size int64, where string) error {
	zeros := make([]byte, min(size, zeroChunk))
	for off := int64(0); off < size; {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
				return fmt.Errorf("need %d bytes on %s: %w (%w)", size, where, ErrNoSpace, err)
			}
			return fmt.Errorf("write zeros: %w", err)
		}
		off += n
	}
	return nil
}

// fromFile validates and maps the segment open in f. A file with no link
// left is an anonymous segment.
func fromFile(f *os.File) (*Segment, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	if st.Nlink == 0 {
		return attach(f, anonPrefix+f.Name(), true, false)
	}
	return attach(f, f.Name(), false, false)
}

// unlinkPath removes the name p (never a directory) and, once the name is
// gone, the lock files of the segment it named (see locks_portable.go).
func unlinkPath(p string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return err
	}
	if err := unix.Unlink(p); err != nil {
		return err
	}
	return removeLockFiles(st)
}
