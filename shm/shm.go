package shm

// The platform-independent half of the package: errors, Config, names, and
// the Segment and Lock types with every method that needs no platform call.
// The constructors and the lock syscalls live in shm_unix.go with
// shm_linux.go, or with shm_portable.go and locks_portable.go; shm_other.go
// makes them return ErrNotSupported on systems that are not Unix.
//
// Contracts:
//   - A Segment is immutable after its constructor returns, except for its
//     closed flag, its probe description and its set of live locks.
//   - Lock order: Segment.mu is the only lock. Close first flips closed (CAS),
//     then takes mu to collect the probe and the live locks: a Lock or Locked
//     call that holds mu and saw closed == false finishes with the descriptor
//     before Close can close it.
//   - Region() is valid until Close. The package sets no finalizer on the
//     mapping: the region is not Go memory, so a finalizer could unmap it
//     while a caller still used a slice of it. Keep the Segment reachable and
//     Close it.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	mmap "github.com/edsrzf/mmap-go"
)

var (
	// ErrNotRing reports a file that is not a segment at all: empty, too
	// short, without the magic, or not a regular file.
	ErrNotRing = errors.New("not a shmring segment")
	// ErrVersion reports a segment of a format version this package does not
	// know.
	ErrVersion = errors.New("unsupported segment format version")
	// ErrCorrupt reports a segment whose magic and version are right but
	// whose header, size or seals are wrong.
	ErrCorrupt = errors.New("corrupt segment")
	// ErrName reports an invalid segment name.
	ErrName = errors.New("invalid segment name")
	// ErrNoSpace reports that the file system cannot hold a new segment.
	ErrNoSpace = errors.New("not enough space for the segment")
	// ErrLocked reports a lock byte held by another open file description.
	ErrLocked = errors.New("lock held by another endpoint")
	// ErrNotSupported reports a platform without shared-memory segments, or
	// an operation this backend cannot do (see Segment.Lock).
	ErrNotSupported = errors.New("not supported on this platform")
)

const (
	// nameMax is the longest bare name (NAME_MAX).
	nameMax = 255
	// debugNameMax is the longest label of an anonymous segment
	// (MFD_NAME_MAX_LEN on Linux, kept on every system).
	debugNameMax = 249
	// defaultMode is the permission of a segment when Config.Mode is zero.
	defaultMode os.FileMode = 0o600
)

// Config describes a segment to create. Its zero Mode means 0600.
type Config struct {
	Kind       uint32      // non-zero; opaque to shm
	RegionSize int64       // > 0, multiple of 4096, <= MaxRegionSize
	Params     [4]uint64   // opaque to shm; returned by Segment.Params
	Mode       os.FileMode // permission bits; zero means 0600; applied exactly (not masked by umask)
	// Init, if set, fills in the new region before any other process can
	// open the segment (before the name is linked): the upper layer's
	// initial state is never seen half written.
	Init func(region []byte)
}

// validate checks c and returns the header of the segment it describes and
// the permission bits to apply. Errors wrap os.ErrInvalid.
func (c Config) validate() (header, os.FileMode, error) {
	switch {
	case c.Kind == 0:
		return header{}, 0, fmt.Errorf("invalid config: kind must be non-zero: %w", os.ErrInvalid)
	case c.RegionSize <= 0 || c.RegionSize%pageSize != 0 || c.RegionSize > MaxRegionSize:
		return header{}, 0, fmt.Errorf("invalid config: region size %d is not a positive multiple of %d up to %d: %w",
			c.RegionSize, pageSize, int64(MaxRegionSize), os.ErrInvalid)
	case c.Mode&^os.ModePerm != 0:
		return header{}, 0, fmt.Errorf("invalid config: mode %v has more than permission bits: %w", c.Mode, os.ErrInvalid)
	}
	mode := c.Mode
	if mode == 0 {
		mode = defaultMode
	}
	return newHeader(c.Kind, c.RegionSize, c.Params), mode, nil
}

// Path returns the file path of a segment name. A bare name (no '/') names a
// file in the segment directory (/dev/shm on Linux; $TMPDIR/shmring-UID, or
// /tmp/shmring-UID, with the portable backend): it must be non-empty, at most 255 bytes, free of NUL and
// neither "." nor "..". A file path must say so: it is absolute or starts
// with "./", and is used as given, cleaned by filepath.Clean; only NUL is
// rejected. Any other name with a '/' (such as "../etc/x" or "a/b", which a
// name read from a configuration file could hold by mistake) is refused, so
// that a name never lands outside the segment directory by accident. Errors
// wrap ErrName.
func Path(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", nameError(name, "contains NUL")
	}
	if strings.HasPrefix(name, "/") || strings.HasPrefix(name, "./") {
		return filepath.Clean(name), nil
	}
	switch {
	case strings.ContainsRune(name, '/'):
		return "", nameError(name, `contains '/': a file path must be absolute or start with "./"`)
	case name == "":
		return "", nameError(name, "empty")
	case name == "." || name == "..":
		return "", nameError(name, "reserved")
	case len(name) > nameMax:
		return "", nameError(name, fmt.Sprintf("longer than %d bytes", nameMax))
	}
	return segmentDir() + "/" + name, nil
}

// Dir returns the directory where bare names live: /dev/shm on Linux, and
// $TMPDIR/shmring-UID (or /tmp/shmring-UID) with the portable backend. The
// portable backend creates it on the first Create; it may not exist yet.
func Dir() string { return segmentDir() }

// nameError returns an error wrapping ErrName that names name and why.
func nameError(name, why string) error {
	return fmt.Errorf("shm: name %q: %s: %w", name, why, ErrName)
}

// Create creates the segment name (see Path) described by cfg, exclusively,
// and maps it. It never follows a symlink and never replaces anything: when
// the name exists, as a file or a symlink, the error wraps os.ErrExist. The
// name appears only once the header is complete, so an opener never sees a
// half-written segment. The pages are reserved at creation: a full file
// system gives an error wrapping ErrNoSpace, never a SIGBUS later.
func Create(name string, cfg Config) (*Segment, error) {
	p, err := Path(name)
	if err != nil {
		return nil, err
	}
	s, err := createPath(p, cfg, true)
	if err != nil {
		return nil, fmt.Errorf("shm: create %q: %w", p, err)
	}
	return s, nil
}

// CreateAnonymous creates a segment with no name: on Linux a memfd
// (memfd_create with MFD_CLOEXEC|MFD_ALLOW_SEALING) that is sized, reserved,
// given its header and then sealed with F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL;
// with the portable backend a file of the segment directory unlinked as soon
// as it is created (not sealed). Pass File() to a child
// (exec.Cmd.ExtraFiles), which attaches with FromFile. debugName only labels
// the segment (Name; /proc/PID/fd for a memfd): at most 249 bytes, no NUL.
func CreateAnonymous(debugName string, cfg Config) (*Segment, error) {
	s, err := createAnonymous(debugName, cfg)
	if err != nil {
		return nil, fmt.Errorf("shm: create %q: %w", anonPrefix+debugName, err)
	}
	return s, nil
}

// Open opens and maps the existing segment name (see Path) after validating
// its header against the real file size. It never follows a symlink and never
// blocks on a FIFO. Errors wrap ErrNotRing, ErrVersion or ErrCorrupt for a file
// that is not a valid segment, or the system error.
//
// A named segment trusts every process that may write its file not to
// truncate it (a truncated mapping faults with SIGBUS): keep the mode tight.
func Open(name string) (*Segment, error) {
	p, err := Path(name)
	if err != nil {
		return nil, err
	}
	s, err := openPath(p)
	if err != nil {
		return nil, fmt.Errorf("shm: open %q: %w", p, err)
	}
	return s, nil
}

// FromFile validates and maps the segment open in f, typically a descriptor
// inherited from a parent through exec.Cmd.ExtraFiles (os.NewFile(3, ...)).
// It takes ownership of f: the Segment closes it, and so does FromFile when it
// fails. A memfd must carry F_SEAL_SHRINK, or the error wraps ErrCorrupt: a
// peer could otherwise shrink it under our mapping and SIGBUS us.
func FromFile(f *os.File) (*Segment, error) {
	if f == nil {
		return nil, fmt.Errorf("shm: from file: nil file: %w", os.ErrInvalid)
	}
	s, err := fromFile(f)
	if err != nil {
		return nil, fmt.Errorf("shm: from file %q: %w", f.Name(), errors.Join(err, f.Close()))
	}
	return s, nil
}

// Unlink removes the segment name (see Path). Segments already open stay
// valid until closed. A missing name gives an error wrapping os.ErrNotExist.
func Unlink(name string) error {
	p, err := Path(name)
	if err != nil {
		return err
	}
	if err := unlinkPath(p); err != nil {
		return fmt.Errorf("shm: unlink %q: %w", p, err)
	}
	return nil
}

// RegionWord reads the native-endian 32-bit word at offset off of the region
// of the segment file name (see Path) without validating the header beyond
// its magic and format version, and without mapping the file: for a segment
// that Open refuses but whose wake-up state must still be found (Unlink of a
// damaged ring). It never follows a symlink, never blocks on a FIFO and never
// writes. Errors wrap ErrNotRing without the magic, ErrVersion for another
// format version (whose layout is unknown), io.ErrUnexpectedEOF when the
// file ends before the word, or the system error.
func RegionWord(name string, off int64) (uint32, error) {
	p, err := Path(name)
	if err != nil {
		return 0, err
	}
	w, err := regionWord(p, off)
	if err != nil {
		return 0, fmt.Errorf("shm: read %q at region offset %d: %w", p, off, err)
	}
	return w, nil
}

// Segment is a mapped segment: an immutable header and a region shared with
// every other process that maps the same file. Its methods are safe for
// concurrent use.
type Segment struct {
	name     string
	anon     bool
	readOnly bool // opened by OpenReadOnly: the region is PROT_READ, Lock refused
	hdr      header
	f        *os.File
	mm       mmap.MMap
	region   []byte

	closed atomic.Bool

	mu         sync.Mutex         // guards probe, locks, pins and privatized
	probe      *os.File           // lazily opened description for Locked; never locks
	locks      map[*Lock]struct{} // live locks, released by Close
	pins       int                // holders of slices that must stay addressable past Close
	privatized bool               // Close left a private copy for the pins
}

// newSegment wraps a validated header and its mapping. mm holds exactly
// hdr.segmentSize bytes; readOnly says it is mapped PROT_READ.
func newSegment(name string, anon bool, f *os.File, mm mmap.MMap, hdr header, readOnly bool) *Segment {
	end := hdr.regionOffset + hdr.regionSize
	return &Segment{
		name:     name,
		anon:     anon,
		readOnly: readOnly,
		hdr:      hdr,
		f:        f,
		mm:       mm,
		region:   mm[hdr.regionOffset:end:end],
		locks:    make(map[*Lock]struct{}),
	}
}

// Name returns the segment's file path, or, for an anonymous segment,
// "memfd:"+debugName on Linux and "anon:"+debugName with the portable backend.
func (s *Segment) Name() string { return s.name }

// Anonymous reports whether the segment is a memfd with no name.
func (s *Segment) Anonymous() bool { return s.anon }

// Kind returns the kind stored at creation.
func (s *Segment) Kind() uint32 { return s.hdr.kind }

// Params returns the parameters stored at creation.
func (s *Segment) Params() [4]uint64 { return s.hdr.params }

// Region returns the mapped bytes [HeaderSize, segment size): page aligned,
// shared with every process mapping the segment, and hostile input. It is nil
// after Close; slices taken before Close must not be used after it. The
// region of a segment from OpenReadOnly is read-only memory: a write to it
// faults.
func (s *Segment) Region() []byte {
	if s.closed.Load() {
		return nil
	}
	return s.region
}

// File returns the segment's file, for exec.Cmd.ExtraFiles. It is owned by
// the Segment: do not close it; Close does.
func (s *Segment) File() *os.File { return s.f }

// Lock takes the exclusive, non-blocking OFD write lock on lock byte i
// (0 <= i < MaxLocks) through a new open file description of the segment, so
// that two endpoints of one process, or a child that inherited the descriptor,
// never share its ownership. It returns an error wrapping ErrLocked when any
// other description holds the byte. The kernel drops the lock when its holder
// dies; a stopped holder keeps it. Close releases the locks still held. On
// Linux the new description is opened read-write through /proc/self/fd, so
// Lock needs /proc and write permission on the file; the portable backend
// locks a lock file per index instead (flock), and only for the segment
// file's owner (otherwise the error wraps ErrNotSupported). A segment from
// OpenReadOnly never locks: the error wraps os.ErrPermission.
func (s *Segment) Lock(i int) (*Lock, error) {
	if err := checkLockIndex(i); err != nil {
		return nil, fmt.Errorf("shm: lock %q: %w", s.name, err)
	}
	if s.readOnly {
		return nil, fmt.Errorf("shm: lock %q: segment opened read-only: %w", s.name, os.ErrPermission)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, fmt.Errorf("shm: lock %q: %w", s.name, os.ErrClosed)
	}
	f, err := s.lockByte(i)
	if err != nil {
		return nil, fmt.Errorf("shm: lock %q byte %d: %w", s.name, i, err)
	}
	l := &Lock{seg: s, f: f}
	s.locks[l] = struct{}{}
	return l, nil
}

// Locked reports whether some open file description, in any process including
// this one, holds lock byte i. It asks through a probe description that never
// locks, opened on first use and closed by Close.
func (s *Segment) Locked(i int) (bool, error) {
	if err := checkLockIndex(i); err != nil {
		return false, fmt.Errorf("shm: probe lock %q: %w", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false, fmt.Errorf("shm: probe lock %q: %w", s.name, os.ErrClosed)
	}
	held, err := s.probeByte(i)
	if err != nil {
		return false, fmt.Errorf("shm: probe lock %q byte %d: %w", s.name, i, err)
	}
	return held, nil
}

// checkLockIndex returns an error wrapping os.ErrInvalid unless
// 0 <= i < MaxLocks.
func checkLockIndex(i int) error {
	if i < 0 || i >= MaxLocks {
		return fmt.Errorf("lock index %d outside [0, %d): %w", i, MaxLocks, os.ErrInvalid)
	}
	return nil
}

// Flush writes the mapping back to the file (msync, MS_SYNC). It matters only
// for segments backed by a real file system.
func (s *Segment) Flush() error {
	if s.closed.Load() {
		return fmt.Errorf("shm: flush %q: %w", s.name, os.ErrClosed)
	}
	if err := s.mm.Flush(); err != nil {
		return fmt.Errorf("shm: flush %q: %w", s.name, err)
	}
	return nil
}

// Unlink removes the segment's name; the mapping stays valid. An anonymous
// segment has no name: Unlink returns nil.
func (s *Segment) Unlink() error {
	if s.anon {
		return nil
	}
	if err := unlinkPath(s.name); err != nil {
		return fmt.Errorf("shm: unlink %q: %w", s.name, err)
	}
	return nil
}

// Close releases the locks still held, closes the probe, removes the lock
// files nobody holds when the file has no name left (portable backend), unmaps
// the segment and closes its file. While pins are held, it replaces the shared mapping
// with a private copy-on-write one instead of unmapping (see Pin). Only the
// first call does anything; it reports every failure (errors.Join).
func (s *Segment) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.mu.Lock()
	probe, locks := s.probe, s.locks
	s.probe, s.locks = nil, nil
	var unmap error
	if s.pins > 0 {
		unmap = s.privatize()
		s.privatized = unmap == nil
	} else {
		unmap = s.mm.Unmap()
	}
	s.mu.Unlock()

	var errs []error
	for l := range locks {
		errs = append(errs, l.release())
	}
	if probe != nil {
		errs = append(errs, probe.Close())
	}
	if !s.readOnly {
		errs = append(errs, s.closeLocks())
	}
	errs = append(errs, unmap, s.f.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shm: close %q: %w", s.name, err)
	}
	return nil
}

// Pin keeps the segment's memory addressable past Close, for a caller that
// handed out slices of it (a zero-copy lease) and cannot take them back:
// Close then maps a private copy-on-write view of the file over the same
// addresses instead of unmapping, so the slices can still be read and
// written without a fault, but what is written no longer reaches any other
// process. The last Unpin after Close unmaps it. Pin after Close does
// nothing and returns false.
func (s *Segment) Pin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.pins++
	return true
}

// Unpin gives up a pin that Pin returned true for, unmapping the private copy
// when it is the last one after Close.
func (s *Segment) Unpin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pins--
	if s.pins > 0 || !s.privatized {
		return nil
	}
	s.privatized = false
	if err := s.mm.Unmap(); err != nil {
		return fmt.Errorf("shm: unmap %q: %w", s.name, err)
	}
	return nil
}

// CanShrink reports whether another process may shrink the segment's file
// under the mapping, so that an access past the new end faults (SIGBUS): a
// named segment's file can be truncated by any process allowed to write it;
// an anonymous segment is sealed against it where the system can seal files
// (anonSealed: Linux memfds), and otherwise can be truncated by any process
// that holds its descriptor.
func (s *Segment) CanShrink() bool { return !s.anon || !anonSealed }

// Lock is a held lock byte (see Segment.Lock).
type Lock struct {
	seg      *Segment
	f        *os.File // the lock's own open file description
	released atomic.Bool
}

// Release drops the lock. Only the first call does anything.
func (l *Lock) Release() error {
	l.seg.mu.Lock()
	delete(l.seg.locks, l)
	l.seg.mu.Unlock()
	if err := l.release(); err != nil {
		return fmt.Errorf("shm: release lock on %q: %w", l.seg.name, err)
	}
	return nil
}

// release closes the lock's description, which drops the lock, once.
func (l *Lock) release() error {
	if !l.released.CompareAndSwap(false, true) {
		return nil
	}
	return l.f.Close()
}
