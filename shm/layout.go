package shm

// The segment file layout. It is written here once; every other file uses the
// constants below.
//
// A segment is one header page followed by the region handed to the upper
// layer. Every field is native-endian (a segment never leaves its host), every
// 64-bit field is 8-byte aligned, and the offsets are the same on every
// architecture.
//
//	offset  size  field
//	     0     8  magic "SHMRING\x00"
//	     8     4  format version (formatVersion)
//	    12     4  kind: opaque to shm, non-zero (upper layer: 1 = SPSC, 2 = MPMC)
//	    16     4  header size (4096)
//	    20     4  flags (reserved, 0)
//	    24     8  segment size: equals the real file size
//	    32     8  region offset (4096)
//	    40     8  region size: segment size - 4096, > 0, multiple of 4096, <= MaxRegionSize
//	    48    32  params: [4]uint64, opaque geometry of the upper layer
//	    80     4  CRC-32C (Castagnoli) of bytes [0, 80)
//	    84  4012  reserved: zero
//	  4096     -  region: [region offset, segment size), page aligned
//
// The header is written once, before the segment gets its name (or, for a
// memfd, before it is sealed and handed out), and never changes afterwards:
// upper layers keep their mutable words in the region. Openers read it once,
// validate it completely (validateHeader) and keep the geometry in private
// fields.
//
// Lock bytes: liveness locks (OFD write locks, see Segment.Lock) sit on the
// single bytes at file offsets LockBase+i, 0 <= i < MaxLocks. They lie far
// past the end of any segment: advisory locks beyond EOF are allowed and never
// touch data.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

const (
	// HeaderSize is the size of the header page at the start of every segment;
	// the region starts at this offset.
	HeaderSize = 4096

	// MaxRegionSize is the largest region a segment may hold (1 TiB).
	MaxRegionSize = 1 << 40

	// LockBase is the file offset of lock byte 0 (see Segment.Lock).
	LockBase = 1 << 32

	// MaxLocks is the number of lock bytes: valid indexes are [0, MaxLocks).
	MaxLocks = 4096
)

// Header field offsets and fixed values.
const (
	offMagic        = 0
	offVersion      = 8
	offKind         = 12
	offHeaderSize   = 16
	offFlags        = 20
	offSegmentSize  = 24
	offRegionOffset = 32
	offRegionSize   = 40
	offParams       = 48
	offCRC          = 80
	offReserved     = 84

	// formatVersion 2: MPMC participant entries may be in state
	// EntryAdopted (4), which version 1 reads as corrupt.
	//
	// formatVersion 3: an SPSC side may publish its cursor with a plain
	// store, and a sleeper pays the barrier or sets its noBarrier word; an
	// SPSC record's header is its commit word, and the one past the last
	// record stays zero (ring/spsc.go). An MPMC participant entry names a
	// range of positions (intent and end, ring/mpmc_layout.go), which
	// version 2 would read as the range's first position alone, and so
	// reap a dead batch claimer wrongly.
	//
	// formatVersion 4: the SPSC closed word moved off the tail's line
	// (ring/layout.go), where version 3 has it.
	//
	// formatVersion 5: MPMC slot seqs may be published with a plain store,
	// and an entry whose sleeps do not pay the barrier sets its bit in the
	// NoBarrier word (ring/mpmc.go), which version 4 neither sets nor
	// reads.
	//
	// formatVersion 6: a sleeper arms its condition once per round (the
	// armed words of ring/layout.go and ring/mpmc_layout.go), and a waker
	// wakes only when it takes the arming back; version 5 neither arms nor
	// takes, so its sleepers would be left asleep by version 6 wakers.
	//
	// formatVersion 7: an MPMC ring may be split into lanes (the fourth
	// header parameter, ring/mpmc_layout.go), whose positions carry the
	// lane in their top bits, and each participant entry has a home lane
	// that Join picks. Version 6 reads a ring of lanes as corrupt (the
	// parameter was reserved) and gives every producer lane 0.
	//
	// formatVersion 8: an attaching SPSC endpoint stores its process id and
	// pid namespace (ring/layout.go), then wakes the other side's sleepers,
	// which watch that process's exit and sleep longer slices meanwhile.
	// Version 7 stores neither and wakes nobody: a version 8 sleeper would
	// watch whichever process attached before it.
	//
	// formatVersion 9: an MPMC participant entry holds its owner's pid
	// namespace beside its pid (ring/mpmc_layout.go), and a joining
	// endpoint wakes the sleepers, which watch every other participant's
	// process. Version 8 stores no namespace and wakes nobody at Join.
	formatVersion = 9
	pageSize      = 4096
)

// magic opens every segment file.
var magic = [8]byte{'S', 'H', 'M', 'R', 'I', 'N', 'G', 0}

// castagnoli is the CRC-32C table of the header checksum.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the validated, process-private copy of a segment header.
type header struct {
	kind         uint32
	segmentSize  uint64
	regionOffset uint64
	regionSize   uint64
	params       [4]uint64
}

// newHeader returns the header of a new segment with a region of regionSize
// bytes. The caller has validated its arguments (Config.validate).
func newHeader(kind uint32, regionSize int64, params [4]uint64) header {
	return header{
		kind:         kind,
		segmentSize:  HeaderSize + uint64(regionSize),
		regionOffset: HeaderSize,
		regionSize:   uint64(regionSize),
		params:       params,
	}
}

// encode returns the HeaderSize bytes of h, checksum included.
func (h header) encode() []byte {
	b := make([]byte, HeaderSize)
	ne := binary.NativeEndian
	copy(b[offMagic:], magic[:])
	ne.PutUint32(b[offVersion:], formatVersion)
	ne.PutUint32(b[offKind:], h.kind)
	ne.PutUint32(b[offHeaderSize:], HeaderSize)
	ne.PutUint32(b[offFlags:], 0)
	ne.PutUint64(b[offSegmentSize:], h.segmentSize)
	ne.PutUint64(b[offRegionOffset:], h.regionOffset)
	ne.PutUint64(b[offRegionSize:], h.regionSize)
	for i, p := range h.params {
		ne.PutUint64(b[offParams+8*i:], p)
	}
	ne.PutUint32(b[offCRC:], crc32.Checksum(b[:offCRC], castagnoli))
	return b
}

// checkMagic checks the first bytes b of a segment file for the magic
// (ErrNotRing) and this format version (ErrVersion), the two fields every
// format version shares.
func checkMagic(b []byte) error {
	if len(b) < offKind || [8]byte(b[offMagic:offVersion]) != magic {
		return ErrNotRing
	}
	if v := binary.NativeEndian.Uint32(b[offVersion:]); v != formatVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrVersion, v, formatVersion)
	}
	return nil
}

// validateHeader decodes and completely validates the header bytes b of a
// segment file whose real size is fileSize. b holds the first bytes of the
// file, at most HeaderSize of which are looked at. It is a pure function of
// its arguments and never panics, whatever they hold.
//
// Errors: ErrNotRing when b is too short to hold a magic and a version or the
// magic is wrong; ErrVersion for any other format version; ErrCorrupt for
// everything else (short header, checksum, header size, flags, kind 0,
// reserved bytes, sizes against fileSize, region rules).
func validateHeader(b []byte, fileSize int64) (header, error) {
	ne := binary.NativeEndian
	if err := checkMagic(b); err != nil {
		return header{}, err
	}
	if len(b) < HeaderSize {
		return header{}, fmt.Errorf("%w: header truncated to %d of %d bytes", ErrCorrupt, len(b), HeaderSize)
	}
	b = b[:HeaderSize]
	if got, want := ne.Uint32(b[offCRC:]), crc32.Checksum(b[:offCRC], castagnoli); got != want {
		return header{}, fmt.Errorf("%w: header crc-32c %#08x, computed %#08x", ErrCorrupt, got, want)
	}
	if hs := ne.Uint32(b[offHeaderSize:]); hs != HeaderSize {
		return header{}, fmt.Errorf("%w: header size %d, want %d", ErrCorrupt, hs, HeaderSize)
	}
	if fl := ne.Uint32(b[offFlags:]); fl != 0 {
		return header{}, fmt.Errorf("%w: flags %#x, want 0", ErrCorrupt, fl)
	}
	for i, c := range b[offReserved:] {
		if c != 0 {
			return header{}, fmt.Errorf("%w: reserved header byte %d is %#02x", ErrCorrupt, offReserved+i, c)
		}
	}
	h := header{
		kind:         ne.Uint32(b[offKind:]),
		segmentSize:  ne.Uint64(b[offSegmentSize:]),
		regionOffset: ne.Uint64(b[offRegionOffset:]),
		regionSize:   ne.Uint64(b[offRegionSize:]),
	}
	for i := range h.params {
		h.params[i] = ne.Uint64(b[offParams+8*i:])
	}
	switch {
	case h.kind == 0:
		return header{}, fmt.Errorf("%w: kind 0", ErrCorrupt)
	case fileSize < 0 || h.segmentSize != uint64(fileSize):
		return header{}, fmt.Errorf("%w: segment size %d, file size %d", ErrCorrupt, h.segmentSize, fileSize)
	case h.regionOffset != HeaderSize:
		return header{}, fmt.Errorf("%w: region offset %d, want %d", ErrCorrupt, h.regionOffset, HeaderSize)
	case h.regionSize == 0 || h.regionSize%pageSize != 0 || h.regionSize > MaxRegionSize:
		return header{}, fmt.Errorf("%w: region size %d is not a positive multiple of %d up to %d",
			ErrCorrupt, h.regionSize, pageSize, uint64(MaxRegionSize))
	case h.regionOffset+h.regionSize != h.segmentSize:
		// No overflow: both terms are bounded above (offset 4096, size 1<<40).
		return header{}, fmt.Errorf("%w: region [%d, +%d) does not end at segment size %d",
			ErrCorrupt, h.regionOffset, h.regionSize, h.segmentSize)
	}
	return h, nil
}
