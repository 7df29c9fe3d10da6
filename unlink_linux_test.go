package shmring_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/futex"
)

// semGETVAL is GETVAL, the semctl command that reads one semaphore.
const semGETVAL = 12

// semaphoreSet reports whether the System V semaphore set that a cookie of
// the semaphore fallback names (its id plus one) exists.
func semaphoreSet(cookie uint32) bool {
	_, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(cookie-1), 0, semGETVAL, 0, 0, 0)
	return errno == 0
}

// TestUnlinkDamaged checks that a ring whose header is damaged is removed by
// Unlink, with the semaphore set the fallback keeps outside it, and that a
// file without the shmring magic is left alone.
func TestUnlinkDamaged(t *testing.T) {
	sem := futex.Mechanism == "sysv-semaphore"
	for _, tt := range []struct {
		name    string
		kind    shmring.Kind
		damage  func(img []byte)
		keepSet bool // another format version: its cookie is not looked for
	}{
		{"header checksum", shmring.SPSC, func(img []byte) { img[hdrOffRegionSize] ^= 0xff }, false},
		{"mpmc header checksum", shmring.MPMC, func(img []byte) { img[hdrOffRegionSize] ^= 0xff }, false},
		{"header parameters", shmring.SPSC, func(img []byte) {
			binary.NativeEndian.PutUint64(img[hdrOffParams+8:], 1)
			reseal(img)
		}, false},
		{"segment size", shmring.SPSC, func(img []byte) {
			binary.NativeEndian.PutUint64(img[hdrOffSegSize:], 1<<30)
			reseal(img)
		}, false},
		{"format version", shmring.SPSC, func(img []byte) {
			binary.NativeEndian.PutUint32(img[hdrOffVersion:], 99)
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, name := createNamed(t, &shmring.Options{Kind: tt.kind, Size: 8192})
			// Attach once, so that the semaphore fallback has its set.
			p, err := r.Producer()
			require.NoError(t, err)
			require.NoError(t, p.Close())
			cookie := shmring.Cookie(r)
			require.NoError(t, r.Close())
			if sem {
				require.True(t, semaphoreSet(cookie), "the ring has its semaphore set")
			}
			img := make([]byte, hdrSize)
			f, err := os.OpenFile(filepath.Join(shmDir, name), os.O_RDWR, 0)
			require.NoError(t, err)
			_, err = f.ReadAt(img, 0)
			require.NoError(t, err)
			tt.damage(img)
			_, err = f.WriteAt(img, 0)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			_, err = shmring.Open(name, nil)
			require.Error(t, err, "the damage makes the ring unusable")

			require.NoError(t, shmring.Unlink(name))
			assert.NoFileExists(t, filepath.Join(shmDir, name))
			if !sem {
				return
			}
			if tt.keepSet {
				require.True(t, semaphoreSet(cookie), "another format's layout is not guessed at")
				_, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(cookie-1), 0, unix.IPC_RMID, 0, 0, 0)
				require.Zero(t, errno)
				return
			}
			assert.False(t, semaphoreSet(cookie), "the semaphore set went with the ring")
		})
	}

	t.Run("not a ring", func(t *testing.T) {
		name := testFileName(t)
		p := filepath.Join(shmDir, name)
		require.NoError(t, os.WriteFile(p, make([]byte, 2*hdrSize), 0o600))
		assert.ErrorIs(t, shmring.Unlink(name), shmring.ErrNotRing)
		assert.FileExists(t, p)
	})
}
