package shm

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"
)

// reseal recomputes the checksum of the header bytes b in place and returns b.
func reseal(b []byte) []byte {
	binary.NativeEndian.PutUint32(b[offCRC:], crc32.Checksum(b[:offCRC], castagnoli))
	return b
}

// FuzzValidateHeader feeds arbitrary bytes and file sizes to the validator:
// it must never panic, must return only typed errors, and whatever it accepts
// must satisfy every layout invariant and encode back to the same bytes.
func FuzzValidateHeader(f *testing.F) {
	const regionSize = 3 * pageSize
	size := int64(HeaderSize + regionSize)
	valid := newHeader(2, regionSize, [4]uint64{1, 2, 3, 4}).encode()
	wrongVersion := append([]byte(nil), valid...)
	binary.NativeEndian.PutUint32(wrongVersion[offVersion:], formatVersion+1)
	f.Add(valid, size)
	f.Add(valid, size+pageSize)
	f.Add(valid[:offCRC], size)
	f.Add(valid[:offKind], size)
	f.Add([]byte{}, int64(0))
	f.Add(make([]byte, HeaderSize), size)
	f.Add(reseal(wrongVersion), size)

	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		h, err := validateHeader(b, size)
		if err != nil {
			require.True(t, errors.Is(err, ErrNotRing) || errors.Is(err, ErrVersion) || errors.Is(err, ErrCorrupt),
				"untyped error %v", err)
			require.Equal(t, header{}, h)
			return
		}
		require.GreaterOrEqual(t, len(b), HeaderSize)
		require.NotZero(t, h.kind)
		require.Equal(t, uint64(HeaderSize), h.regionOffset)
		require.NotZero(t, h.regionSize)
		require.Zero(t, h.regionSize%pageSize)
		require.LessOrEqual(t, h.regionSize, uint64(MaxRegionSize))
		require.Equal(t, h.segmentSize, h.regionOffset+h.regionSize)
		require.Equal(t, uint64(size), h.segmentSize)
		require.Equal(t, b[:HeaderSize], h.encode(), "an accepted header re-encodes to the same bytes")
	})
}
