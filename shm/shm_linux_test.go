//go:build linux && !shmring_portable

package shm

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// dupName is the Name of a descriptor of anonymous segment "shmtest-dup"
// attached with FromFile: the memfd keeps its label.
const dupName = "memfd:shmtest-dup"

func TestAnonymousSealed(t *testing.T) {
	s, err := CreateAnonymous("shmtest-anon", testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)
	assert.Equal(t, "memfd:shmtest-anon", s.Name())

	fd := int(s.File().Fd())
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	require.NoError(t, err)
	assert.Equal(t, memfdSeals, seals)
	size := int64(HeaderSize) + testConfig().RegionSize
	assert.ErrorIs(t, unix.Ftruncate(fd, size-pageSize), unix.EPERM, "sealed against shrinking")
	assert.ErrorIs(t, unix.Ftruncate(fd, size+pageSize), unix.EPERM, "sealed against growing")
	_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
	assert.ErrorIs(t, err, unix.EPERM, "seals are sealed")
}

func TestFromFileRejectsUnsealedMemfd(t *testing.T) {
	cases := []struct {
		name  string
		flags int
		seals int
	}{
		{"sealing not allowed", unix.MFD_CLOEXEC, 0},
		{"no seals", unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING, 0},
		{"grow sealed only", unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING, unix.F_SEAL_GROW},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := unix.MemfdCreate("shmtest-unsealed", tc.flags)
			require.NoError(t, err)
			f := os.NewFile(uintptr(fd), "unsealed")
			_, err = f.WriteAt(validImage(), 0)
			require.NoError(t, err, "a valid segment, only the seal is missing")
			if tc.seals != 0 {
				_, err = unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, tc.seals)
				require.NoError(t, err)
			}
			_, err = FromFile(f)
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), "sealed")
			assert.ErrorIs(t, f.Close(), os.ErrClosed, "FromFile closes f on error")
		})
	}
}

func TestFitsInMemory(t *testing.T) {
	avail, err := availableMemory()
	require.NoError(t, err)
	assert.NotZero(t, avail)
	require.NoError(t, fitsInMemory(pageSize, "memfd"))

	// Never tried end to end: if the check broke, the test would summon the
	// OOM killer on a shared machine.
	err = fitsInMemory(math.MaxInt64, "memfd")
	require.ErrorIs(t, err, ErrNoSpace)
	assert.Contains(t, err.Error(), "need "+strconv.FormatInt(math.MaxInt64, 10)+" bytes")
	assert.Contains(t, err.Error(), "available for memfd")
}

func TestCreateNoSpace(t *testing.T) {
	dir := smallTmpfs(t)

	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	free := uint64(st.Bavail) * uint64(st.Bsize)
	const regionSize = 4 << 20
	need := strconv.Itoa(HeaderSize + regionSize)

	for _, tmpfile := range []bool{true, false} {
		t.Run(fmt.Sprintf("tmpfile=%t", tmpfile), func(t *testing.T) {
			p := filepath.Join(dir, "big")
			_, err := createPath(p, Config{Kind: testKind, RegionSize: regionSize}, tmpfile)
			requireNoSpace(t, dir, err, "need "+need+" bytes", strconv.FormatUint(free, 10)+" free on "+dir)
		})
	}
	requireFits(t, dir)
}
