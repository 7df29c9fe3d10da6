//go:build linux

package shm

// Linux: the constructors and the lock syscalls.
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
// Open: open(O_RDWR|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK) so that a FIFO cannot
// block us, fstat (regular files only), clear O_NONBLOCK, pread the header,
// validate it against the real file size, and only then mmap the size it
// names; fstat again to catch a file shrunk in between. OpenReadOnly
// (inspect_linux.go) follows the same steps (openFile) with O_RDONLY and
// PROT_READ.
//
// Locks: OFD locks (F_OFD_SETLK, F_OFD_GETLK) belong to an open file
// description, not to a process, so every Lock opens its own description
// through /proc/self/fd/N, and Locked asks through a probe description that
// never locks. A lock is dropped when the last descriptor of its description
// closes: by Release, or by the kernel when the holder dies.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	mmap "github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

const (
	// memfdNameMax is the longest memfd debug name (MFD_NAME_MAX_LEN).
	memfdNameMax = 249
	// fallocateAttempts bounds the retries of a fallocate interrupted by a
	// signal (tmpfs gives EINTR and undoes the partial reservation).
	fallocateAttempts = 100
	// memfdSeals are the seals of an anonymous segment.
	memfdSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
)

// createPath creates the segment p following the create protocol. tmpfile
// false skips O_TMPFILE and uses a temporary name (the fallback, tested
// directly).
func createPath(p string, cfg Config, tmpfile bool) (s *Segment, err error) {
	hdr, mode, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(p)
	u, err := newUnnamed(dir, tmpfile)
	if err != nil {
		return nil, err
	}
	defer func() {
		// The temporary name never outlives this call; if it cannot be
		// removed, the whole creation is undone.
		if rerr := u.removeTemp(); rerr != nil {
			if s != nil {
				rerr = errors.Join(rerr, s.Close(), unix.Unlink(p))
				s = nil
			}
			err = errors.Join(err, rerr)
		}
	}()
	s, err = prepareAndMap(u.f, p, false, dir, hdr, mode)
	if err != nil {
		return nil, err
	}
	if cfg.Init != nil {
		cfg.Init(s.Region())
	}
	if err := u.link(p); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// unnamed is a new segment file that does not have its final name yet.
type unnamed struct {
	f   *os.File
	tmp string // temporary name (fallback protocol), "" for an O_TMPFILE inode
}

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
	tmp := filepath.Join(dir, ".shmring-"+rand.Text()+".tmp")
	fd, err := unix.Open(tmp, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDWR|unix.O_CLOEXEC, uint32(defaultMode))
	if err != nil {
		return unnamed{}, fmt.Errorf("create temporary %q: %w", tmp, err)
	}
	return unnamed{f: os.NewFile(uintptr(fd), tmp), tmp: tmp}, nil
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

// removeTemp removes the temporary name, if any.
func (u unnamed) removeTemp() error {
	if u.tmp == "" {
		return nil
	}
	if err := unix.Unlink(u.tmp); err != nil {
		return fmt.Errorf("remove temporary %q: %w", u.tmp, err)
	}
	return nil
}

// createAnonymous creates, fills, seals and maps a memfd segment.
func createAnonymous(debugName string, cfg Config) (_ *Segment, err error) {
	switch {
	case strings.IndexByte(debugName, 0) >= 0:
		return nil, nameError(debugName, "contains NUL")
	case len(debugName) > memfdNameMax:
		return nil, nameError(debugName, fmt.Sprintf("longer than %d bytes", memfdNameMax))
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

// prepareAndMap sizes the new file f, reserves its pages, writes the header,
// seals it when anon, and maps it. where names the file system in an
// ErrNoSpace message. It takes ownership of f: on error f is closed.
func prepareAndMap(f *os.File, name string, anon bool, where string, hdr header, mode os.FileMode) (_ *Segment, err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close())
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return nil, err
	}
	size := int64(hdr.segmentSize)
	if err := f.Truncate(size); err != nil {
		return nil, err
	}
	if err := reserve(f, size, where); err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(hdr.encode(), 0); err != nil {
		return nil, fmt.Errorf("write header: %w", err)
	}
	if anon {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, memfdSeals); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
	}
	mm, err := mapFile(f, hdr, mmap.RDWR)
	if err != nil {
		return nil, err
	}
	return newSegment(name, anon, f, mm, hdr, false), nil
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

// mapFile maps the hdr.segmentSize bytes of f, shared, with access mmap.RDWR
// or mmap.RDONLY.
func mapFile(f *os.File, hdr header, access int) (mmap.MMap, error) {
	if hdr.segmentSize > math.MaxInt {
		return nil, fmt.Errorf("map %d bytes: larger than the address space: %w", hdr.segmentSize, ErrNotSupported)
	}
	mm, err := mmap.MapRegion(f, int(hdr.segmentSize), access, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", hdr.segmentSize, err)
	}
	return mm, nil
}

// openPath opens, validates and maps the segment file p, read-write.
func openPath(p string) (*Segment, error) {
	return openFile(p, false)
}

// openFile opens, validates and maps the segment file p, read-only (the file
// opened O_RDONLY and mapped PROT_READ) when readOnly is set, read-write
// otherwise.
func openFile(p string, readOnly bool) (*Segment, error) {
	flag := unix.O_RDWR
	if readOnly {
		flag = unix.O_RDONLY
	}
	f, err := openRegular(p, flag)
	if err != nil {
		return nil, err
	}
	s, err := attach(f, p, false, readOnly)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return s, nil
}

// openRegular opens the regular file p with flag (O_RDWR or O_RDONLY),
// never through a symlink and without blocking on a FIFO.
func openRegular(p string, flag int) (*os.File, error) {
	fd, err := unix.Open(p, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENXIO):
		return nil, fmt.Errorf("%w: %w", ErrNotRing, err)
	case err != nil:
		return nil, err
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	switch {
	case err != nil:
		err = fmt.Errorf("stat: %w", err)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		err = fmt.Errorf("%w: not a regular file (mode %#o)", ErrNotRing, st.Mode)
	default:
		err = unix.SetNonblock(fd, false)
	}
	if err != nil {
		return nil, errors.Join(err, unix.Close(fd))
	}
	return os.NewFile(uintptr(fd), p), nil
}

// regionWord reads the word at offset off of the region of the segment file
// p, checking only the magic and the format version (see RegionWord).
func regionWord(p string, off int64) (_ uint32, err error) {
	if off < 0 || off > MaxRegionSize-4 {
		return 0, fmt.Errorf("region offset %d outside [0, %d]: %w", off, int64(MaxRegionSize-4), os.ErrInvalid)
	}
	f, err := openRegular(p, unix.O_RDONLY)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	head := make([]byte, offKind)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read header: %w", err)
	}
	if err := checkMagic(head[:n]); err != nil {
		return 0, err
	}
	var w [4]byte
	if _, err := f.ReadAt(w[:], HeaderSize+off); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("read region word: %w", err)
	}
	return binary.NativeEndian.Uint32(w[:]), nil
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

// attach validates the segment open in f and maps it, read-only when readOnly
// is set. It does not close f.
func attach(f *os.File, name string, anon, readOnly bool) (*Segment, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file (%v)", ErrNotRing, fi.Mode())
	}
	size := fi.Size()
	buf := make([]byte, min(size, HeaderSize))
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read header: %w", err)
	}
	hdr, err := validateHeader(buf[:n], size)
	if err != nil {
		return nil, err
	}
	access := mmap.RDWR
	if readOnly {
		access = mmap.RDONLY
	}
	mm, err := mapFile(f, hdr, access)
	if err != nil {
		return nil, err
	}
	// A file shrunk between the first fstat and the mmap would fault on
	// access; this narrows the window (named segments trust their writers).
	if fi, err = f.Stat(); err != nil || fi.Size() != size {
		if err == nil {
			err = fmt.Errorf("%w: file size changed from %d to %d while opening", ErrCorrupt, size, fi.Size())
		}
		return nil, errors.Join(err, mm.Unmap())
	}
	return newSegment(name, anon, f, mm, hdr, readOnly), nil
}

// unlinkPath removes the name p (never a directory).
func unlinkPath(p string) error {
	return unix.Unlink(p)
}

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
