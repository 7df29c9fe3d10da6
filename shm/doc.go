// Package shm creates, opens, validates, maps, locks and unlinks shared-memory
// segments. It knows files and mappings, not messages: the layers above keep
// their data and all their mutable words in the region a Segment hands out.
//
// # Layout
//
// A segment is one header page (HeaderSize = 4096 bytes) followed by the
// region. The header holds a magic ("SHMRING\x00"), the format version
// (formatVersion), a kind (non-zero, opaque to shm), the header, segment and
// region sizes, the region offset, four opaque parameters of the upper layer
// and a CRC-32C of its first 80 bytes; the rest of the page is zero.
// layout.go draws it byte by byte. The region is [4096, segment size): page
// aligned, a positive multiple of 4096 bytes, at most MaxRegionSize.
//
// # Names
//
// A bare name (no '/') is a file in the segment directory: /dev/shm on Linux,
// $TMPDIR/shmring-UID (or /tmp/shmring-UID) with the portable backend. It is
// non-empty, at most 255 bytes, no NUL, not "." or "..". A file path is
// absolute or starts with "./" and is used as given (after filepath.Clean), so
// a segment can live on a real file system and be Flushed; any other name with
// a '/' is refused (ErrName), so a name never leaves the segment directory by
// accident (see Path).
// Anonymous segments (CreateAnonymous) have no name at all: memfds on Linux,
// files unlinked as soon as they are created with the portable backend. Hand
// File to a child through exec.Cmd.ExtraFiles and attach there with FromFile;
// nothing is left behind when the processes exit.
//
// # Creating
//
// Create is exclusive and never follows a symlink: the file is built with no
// name (O_TMPFILE, or a temporary name where that is not supported), given its
// exact mode (0600 unless Config.Mode says otherwise; the umask does not
// apply), sized, reserved with fallocate (a full /dev/shm fails here with
// ErrNoSpace, not later with SIGBUS; on tmpfs, memfds included, a segment
// larger than the memory and swap left fails with ErrNoSpace before any page
// is allocated, rather than waking the OOM killer), given its header, and
// only then linked to its name, which fails with os.ErrExist if anything has
// it. An opener therefore never sees a half-written header. A memfd is sealed
// against shrinking and growing before anyone else can see it.
//
// # Opening
//
// Open and FromFile treat the file as hostile input: the header is read with
// pread, validated completely against the real file size (ErrNotRing,
// ErrVersion, ErrCorrupt), and only then is the size it names mapped. FromFile
// refuses a memfd that is not sealed against shrinking. A named segment trusts
// the processes that may write its file not to truncate it. OpenReadOnly
// follows Open's steps for tools that only look: the file is opened O_RDONLY
// and mapped PROT_READ, and such a segment never locks.
//
// # Ownership of the header
//
// The header is written once, by the creator, before the segment is visible,
// and is never changed afterwards. Openers read it once and keep kind, sizes
// and params in private fields; nothing in shm reads the header page again.
//
// # Liveness locks
//
// Segment.Lock takes an OFD write lock on one lock byte (file offset
// LockBase+i, beyond any data) through its own open file description, so the
// kernel drops it when the holder dies, a stopped holder keeps it, and two
// endpoints of one process never share it. Segment.Locked tests a byte from
// any process. The portable backend gives the same guarantees with flock(2)
// on one lock file per index (locks_portable.go), which only the segment
// file's owner can take or test.
//
// # Backends
//
// Linux (shm_linux.go): /dev/shm, O_TMPFILE, fallocate, sealed memfds, OFD
// locks. Portable (shm_portable.go, locks_portable.go: macOS, FreeBSD and
// other Unix systems, and Linux with the build tag shmring_portable, which is
// how CI tests it): a per-user directory, temporary names, pages reserved by
// writing zeros, unlinked files for anonymous segments (not sealed: CanShrink
// is true), flock on lock files. shm_unix.go holds what both share. On
// systems that are not Unix every constructor returns an error wrapping
// ErrNotSupported.
//
// This package is a building block of the root package shmring, not a stable
// API: its names and signatures may change in any release (the segment's
// format is versioned separately, see formatVersion). Programs should use the
// root package.
package shm
