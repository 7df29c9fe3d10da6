//go:build linux

package shm

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// accessMode returns the O_ACCMODE bits of f's open file description, from
// /proc/self/fdinfo.
func accessMode(t *testing.T, f *os.File) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(int(f.Fd())))
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			require.NoError(t, err)
			return int(flags) & unix.O_ACCMODE
		}
	}
	t.Fatalf("no flags in fdinfo of %s", f.Name())
	return -1
}

// mappingPerms returns the permissions column of this process's mappings of
// the file p.
func mappingPerms(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	var perms []string
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 6 && f[5] == p {
			perms = append(perms, f[1])
		}
	}
	return perms
}

func TestOpenReadOnly(t *testing.T) {
	name := uniqueName(t)
	s, err := Create(name, testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)
	fillPattern(s.Region())

	ro, err := OpenReadOnly(name)
	require.NoError(t, err)
	closeAtCleanup(t, ro)

	assert.Equal(t, s.Name(), ro.Name())
	assert.Equal(t, s.Kind(), ro.Kind())
	assert.Equal(t, s.Params(), ro.Params())
	assert.Equal(t, s.Region(), ro.Region(), "the read-only view sees the region")
	s.Region()[100] ^= 0xff
	assert.Equal(t, s.Region()[100], ro.Region()[100], "the mapping is shared")

	assert.Equal(t, unix.O_RDONLY, accessMode(t, ro.File()), "the file is opened read-only")
	// The creator mapped the file before it had its name, so only the
	// read-only mapping shows under the name.
	assert.Equal(t, []string{"r--s"}, mappingPerms(t, ro.Name()), "the read-only mapping is PROT_READ")

	_, err = ro.Lock(0)
	assert.ErrorIs(t, err, os.ErrPermission, "a read-only segment never locks")
	l, err := s.Lock(3)
	require.NoError(t, err)
	held, err := ro.Locked(3)
	require.NoError(t, err)
	assert.True(t, held, "Locked works on a read-only segment")
	require.NoError(t, l.Release())
	held, err = ro.Locked(3)
	require.NoError(t, err)
	assert.False(t, held)
}

func TestOpenReadOnlyLeavesFilesAlone(t *testing.T) {
	dir := t.TempDir()
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	cases := []struct {
		name string
		make func(t *testing.T, p string)
		want error
	}{
		{"valid segment", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, validImage(), 0o400))
		}, nil},
		{"not a ring", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, []byte("hello, world\n"), 0o644))
		}, ErrNotRing},
		{"truncated header", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, validImage()[:100], 0o644))
		}, ErrCorrupt},
		{"empty", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, nil, 0o644))
		}, ErrNotRing},
		{"fifo", func(t *testing.T, p string) { require.NoError(t, unix.Mkfifo(p, 0o600)) }, ErrNotRing},
		{"directory", func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }, ErrNotRing},
		{"symlink", func(t *testing.T, p string) {
			target := p + ".target"
			require.NoError(t, os.WriteFile(target, validImage(), 0o600))
			require.NoError(t, os.Symlink(target, p))
		}, unix.ELOOP},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "file-"+strconv.Itoa(i))
			tc.make(t, p)
			require.NoError(t, os.Chtimes(p, old, old))
			before, err := os.Lstat(p)
			require.NoError(t, err)
			var content []byte
			if before.Mode().IsRegular() {
				content, err = os.ReadFile(p)
				require.NoError(t, err)
			}

			s, err := OpenReadOnly(p)
			if tc.want == nil {
				require.NoError(t, err)
				require.NoError(t, s.Close())
			} else {
				assert.ErrorIs(t, err, tc.want)
				assert.Nil(t, s)
				if err != nil {
					assert.Contains(t, err.Error(), strconv.Quote(p), "errors name the file")
				}
			}

			after, err := os.Lstat(p)
			require.NoError(t, err)
			assert.Equal(t, before.ModTime(), after.ModTime(), "mtime untouched")
			assert.Equal(t, before.Mode(), after.Mode(), "mode untouched")
			if before.Mode().IsRegular() {
				got, err := os.ReadFile(p)
				require.NoError(t, err)
				assert.Equal(t, content, got, "contents untouched")
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := OpenReadOnly(filepath.Join(dir, "absent"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("bad name", func(t *testing.T) {
		_, err := OpenReadOnly("")
		assert.ErrorIs(t, err, ErrName)
	})
}
