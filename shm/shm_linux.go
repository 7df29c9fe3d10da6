//go:build linux && !shmring_portable

package shm

// Linux: where bare names live, the create protocol's steps that need Linux
// (O_TMPFILE, fallocate, memfds and their seals), descriptors passed to a
// child, and the lock syscalls. shm_unix.go holds what the portable backend
// shares; the shmring_portable build tag replaces this file with
// shm_portable.go.
//
// Create protocol (an opener never sees a half-written header, nothing is
// ever replaced and no symlink is ever followed):
//  1. open(dir, O_TMPFILE|O_RDWR): an inode with no name. Where O_TMPFILE is
//     not supported (EOPNOTSUPP, EISDIR, EINVAL), a temporary name in the same
//     directory, created O_CREAT|O_EXCL|O_NOFOLLOW.
//  2. fchmod to the exact mode (umask does not apply), ftruncate to the segment
//     size, fallocate the whole file (ENOSPC now, not SIGBUS later; on tmpfs,
//     memfds included, first check that the pages fit in the memory and swap
//     left, or the OOM killer would answer instead), pwrite the header, mmap.
//  3. linkat("/proc/self/fd/N", path, AT_SYMLINK_FOLLOW), or link(temporary,
//     path) then unlink(temporary): both fail with EEXIST when anything, file
//     or symlink, already has the name.
//
// Locks: OFD locks (F_OFD_SETLK, F_OFD_GETLK) belong to an open file
// description, not to a process, so every Lock opens its own description
// through /proc/self/fd/N, and Locked asks through a probe description that
// never locks. A lock is dropped when the last descriptor of its description
// closes: by Release, or by the kernel when the holder dies.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// shmDir is where bare segment names live.
	shmDir = "/dev/shm"
	// anonPrefix starts the Name of an anonymous segment.
	anonPrefix = "memfd:"
	// anonSealed says that an anonymous segment is sealed against
	// shrinking (a memfd with F_SEAL_SHRINK).
	anonSealed = true
	// fallocateAttempts bounds the retries of a fallocate interrupted by a
	// signal (tmpfs gives EINTR and undoes the partial reservation).
	fallocateAttempts = 100
	// memfdSeals are the seals of an anonymous segment.
	memfdSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
)

// segmentDir returns the directory of bare segment names.
func segmentDir() string { return shmDir }

// checkParent has nothing to check: /dev/shm is the system's, sticky and
// world-writable, and Create never replaces what another user put there.
func checkParent(string) error { return nil }

// newUnnamed creates a file with no name in dir (O_TMPFILE), or with a random
// temporary name when tmpfile is false or O_TMPFILE is not supported there.
func newUnnamed(dir string, tmpfile bool) (unnamed, error) {
	if tmpfile {
		fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, uint32(defaultMode))
		if err == nil {
			return unnamed{f: os.NewFile(uintptr(fd), dir)}, nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
			return unnamed{}, fmt.Errorf("open O_TMPFILE in %q: %w", dir, err)
		}
	}
	return createTemp(dir)
}

// link gives the file the name p. It fails with EEXIST when anything, even a
// dangling symlink, has that name.
func (u unnamed) link(p string) error {
	var err error
	if u.tmp == "" {
		err = unix.Linkat(unix.AT_FDCWD, procFD(u.f), unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
	} else {
		err = unix.Link(u.tmp, p)
	}
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	return nil
}

// createAnonymous creates, fills, seals and maps a memfd segment.
func createAnonymous(debugName string, cfg Config) (_ *Segment, err error) {
	if err := checkDebugName(debugName); err != nil {
		return nil, err
	}
	hdr, mode, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate(debugName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), anonPrefix+debugName)
	s, err := prepareAndMap(f, anonPrefix+debugName, true, "memfd", hdr, mode)
	if err == nil && cfg.Init != nil {
		cfg.Init(s.Region())
	}
	return s, err
}

// sealAnonymous seals the memfd f against shrinking and growing, and its seals
// against change.
func sealAnonymous(f *os.File) error {
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, memfdSeals); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	return nil
}

// reserve allocates the pages of the first size bytes of f, so that a full
// file system fails now and not with SIGBUS on first touch. A file system
// without fallocate keeps the sparse size set by ftruncate. Running out of
// space gives an error wrapping ErrNoSpace (and the errno, if any) that names
// the size needed and the space left on where.
func reserve(f *os.File, size int64, where string) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("statfs: %w", err)
	}
	if int64(st.Type) == unix.TMPFS_MAGIC {
		if err := fitsInMemory(size, where); err != nil {
			return err
		}
	}
	for range fallocateAttempts {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case err == nil, errors.Is(err, unix.EOPNOTSUPP):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOSPC):
			// A failed fallocate releases what it allocated: the free
			// space is what it was before the call.
			free := uint64(st.Bavail) * uint64(st.Bsize)
			return fmt.Errorf("need %d bytes, %d free on %s: %w (%w)", size, free, where, ErrNoSpace, err)
		default:
			return fmt.Errorf("fallocate %d bytes: %w", size, err)
		}
	}
	return fmt.Errorf("fallocate %d bytes: interrupted %d times: %w", size, fallocateAttempts, unix.EINTR)
}

// fitsInMemory returns an error wrapping ErrNoSpace when size bytes of tmpfs
// pages exceed the memory and swap left (MemAvailable + SwapFree). tmpfs pages
// are memory: reserving more than there is summons the OOM killer instead of
// failing, and memfds live on an internal tmpfs with no size limit at all.
func fitsInMemory(size int64, where string) error {
	avail, err := availableMemory()
	if err != nil {
		return err
	}
	if uint64(size) > avail {
		return fmt.Errorf("need %d bytes, %d bytes of memory and swap available for %s: %w", size, avail, where, ErrNoSpace)
	}
	return nil
}

// availableMemory returns MemAvailable + SwapFree from /proc/meminfo, in bytes.
func availableMemory() (uint64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	var total uint64
	found := 0
	for line := range strings.Lines(string(b)) {
		key, value, _ := strings.Cut(line, ":")
		if key != "MemAvailable" && key != "SwapFree" {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("/proc/meminfo: unexpected %s line %q", key, line)
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/meminfo: %s: %w", key, err)
		}
		total += kb << 10
		found++
	}
	if found != 2 {
		return 0, errors.New("/proc/meminfo: MemAvailable or SwapFree missing")
	}
	return total, nil
}

// fromFile validates and maps the segment open in f, after checking that a
// memfd is sealed against shrinking. It does not close f.
func fromFile(f *os.File) (*Segment, error) {
	link, err := os.Readlink(procFD(f))
	if err != nil {
		return nil, fmt.Errorf("resolve descriptor: %w", err)
	}
	name, anon := f.Name(), false
	if debugName, ok := strings.CutPrefix(link, "/"+anonPrefix); ok {
		name, anon = anonPrefix+strings.TrimSuffix(debugName, " (deleted)"), true
		seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
		if err != nil {
			return nil, fmt.Errorf("get seals: %w", err)
		}
		if seals&unix.F_SEAL_SHRINK == 0 {
			return nil, fmt.Errorf("%w: memfd not sealed against shrinking (seals %#x)", ErrCorrupt, seals)
		}
	} else if filepath.IsAbs(link) {
		name = link
	}
	return attach(f, name, anon, false)
}

// unlinkPath removes the name p (never a directory).
func unlinkPath(p string) error {
	return unix.Unlink(p)
}

// closeLocks has nothing to do: OFD locks live on the segment file itself.
func (s *Segment) closeLocks() error { return nil }

// procFD returns the /proc path that reopens f's file.
func procFD(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// reopen opens a new open file description of the segment's file.
func (s *Segment) reopen(flag int) (*os.File, error) {
	f, err := os.OpenFile(procFD(s.f), flag|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	return f, nil
}

// lockByte takes the OFD write lock on byte i through a new description and
// returns that description. The caller holds s.mu and s is open.
func (s *Segment) lockByte(i int) (*os.File, error) {
	f, err := s.reopen(os.O_RDWR)
	if err != nil {
		return nil, err
	}
	lk := lockRange(i)
	err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
		err = ErrLocked
	default:
		err = fmt.Errorf("F_OFD_SETLK: %w", err)
	}
	return nil, errors.Join(err, f.Close())
}

// probeByte reports whether any description holds a lock on byte i, asking
// through the probe description (opened read-only on first use; it never
// locks, so every lock conflicts with the query). The caller holds s.mu and s
// is open.
func (s *Segment) probeByte(i int) (bool, error) {
	if s.probe == nil {
		f, err := s.reopen(os.O_RDONLY)
		if err != nil {
			return false, err
		}
		s.probe = f
	}
	lk := lockRange(i)
	if err := unix.FcntlFlock(s.probe.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false, fmt.Errorf("F_OFD_GETLK: %w", err)
	}
	return lk.Type != unix.F_UNLCK, nil
}

// lockRange describes a write lock on lock byte i (Pid stays 0, as OFD
// commands require).
func lockRange(i int) unix.Flock_t {
	return unix.Flock_t{
		Type:   unix.F_WRLCK,
		Whence: io.SeekStart,
		Start:  LockBase + int64(i),
		Len:    1,
	}
}
