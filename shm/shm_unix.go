//go:build unix

package shm

// What the Linux and the portable backends share: the create protocol's
// skeleton, opening, validating and mapping a file. Each backend supplies
// where bare names live (segmentDir), a file with no final name yet
// (newUnnamed, unnamed.link), the reservation of its pages (reserve) and the
// sealing of an anonymous segment (sealAnonymous): shm_linux.go, and
// shm_portable.go for other systems and the shmring_portable build tag.
//
// Open: open(O_RDWR|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK) so that a FIFO cannot
// block us, fstat (regular files only), clear O_NONBLOCK, pread the header,
// validate it against the real file size, and only then mmap the size it
// names; fstat again to catch a file shrunk in between. OpenReadOnly
// (inspect_unix.go) follows the same steps (openFile) with O_RDONLY and
// PROT_READ.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	mmap "github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
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

// prepareAndMap sizes the new file f, reserves its pages, writes the header,
// seals it when anon (sealAnonymous), and maps it. where names the file system in an
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
		if err := sealAnonymous(f); err != nil {
			return nil, err
		}
	}
	mm, err := mapFile(f, hdr, mmap.RDWR)
	if err != nil {
		return nil, err
	}
	return newSegment(name, anon, f, mm, hdr, false), nil
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
// otherwise, after the backend checked the directory (checkParent).
func openFile(p string, readOnly bool) (*Segment, error) {
	flag := unix.O_RDWR
	if readOnly {
		flag = unix.O_RDONLY
	}
	if err := checkParent(p); err != nil {
		return nil, err
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

// createTemp creates a file with a random temporary name in dir, exclusively
// and never through a symlink: the create protocol's file before it is
// linked to its name.
func createTemp(dir string) (unnamed, error) {
	tmp := filepath.Join(dir, ".shmring-"+rand.Text()+".tmp")
	fd, err := unix.Open(tmp, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDWR|unix.O_CLOEXEC, uint32(defaultMode))
	if err != nil {
		return unnamed{}, fmt.Errorf("create temporary %q: %w", tmp, err)
	}
	return unnamed{f: os.NewFile(uintptr(fd), tmp), tmp: tmp}, nil
}

// checkDebugName checks the label of an anonymous segment: at most
// debugNameMax bytes, no NUL. Errors wrap ErrName.
func checkDebugName(debugName string) error {
	switch {
	case strings.IndexByte(debugName, 0) >= 0:
		return nameError(debugName, "contains NUL")
	case len(debugName) > debugNameMax:
		return nameError(debugName, fmt.Sprintf("longer than %d bytes", debugNameMax))
	}
	return nil
}
