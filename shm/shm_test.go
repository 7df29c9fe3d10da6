//go:build linux

package shm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const (
	// helperEnv makes the test binary act as a helper child (TestHelperProcess).
	helperEnv = "SHMRING_SHM_TEST_HELPER"
	// helperLifetime bounds a helper child: it exits by itself after this.
	helperLifetime = 60 * time.Second
	// watchdog bounds every wait of the parent on a child.
	watchdog = 30 * time.Second
	// testKind is the kind of every test segment.
	testKind = 7
)

var (
	// testPrefix starts every bare name the tests create; TestMain fails
	// if any is left behind.
	testPrefix = fmt.Sprintf("shmring-shmtest-%d-", os.Getpid())
	nameSeq    atomic.Int64
	testParams = [4]uint64{11, 22, 1 << 40, ^uint64(0)}
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run())
	}
	// Start the runtime's poller now so its descriptors count as a baseline.
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(2)
	}
	_, _ = r.Close(), w.Close()

	fdsBefore, mapsBefore := openFDs(), sharedMappings()
	code := m.Run()
	if fds := openFDs(); len(fds) != len(fdsBefore) {
		fmt.Fprintf(os.Stderr, "descriptors leaked:\nbefore %q\nafter  %q\n", fdsBefore, fds)
		code = 1
	}
	if maps := sharedMappings(); len(maps) != len(mapsBefore) {
		fmt.Fprintf(os.Stderr, "shared mappings leaked:\nbefore %q\nafter  %q\n", mapsBefore, maps)
		code = 1
	}
	leftovers, _ := filepath.Glob(filepath.Join(segmentDir(), testPrefix+"*"))
	if len(leftovers) > 0 {
		fmt.Fprintf(os.Stderr, "files left in %s: %q\n", segmentDir(), leftovers)
		for _, p := range leftovers {
			_ = os.Remove(p)
		}
		code = 1
	}
	os.Exit(code)
}

// openFDs lists this process's descriptors with what they point to.
func openFDs() []string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		panic(err)
	}
	var fds []string
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds = append(fds, e.Name()+" -> "+target)
	}
	return fds
}

// sharedMappings lists this process's shared mappings.
func sharedMappings() []string {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		panic(err)
	}
	var maps []string
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1], "s") {
			maps = append(maps, strings.TrimSpace(line))
		}
	}
	return maps
}

// uniqueName returns a fresh bare name in segmentDir, removed at cleanup
// (with Unlink, which removes the portable backend's lock files too).
func uniqueName(t *testing.T) string {
	name := testPrefix + strconv.FormatInt(nameSeq.Add(1), 10)
	t.Cleanup(func() { _ = Unlink(name) })
	return name
}

// testConfig describes a small test segment.
func testConfig() Config {
	return Config{Kind: testKind, RegionSize: 2 * pageSize, Params: testParams}
}

// closeAtCleanup closes s when the test ends.
func closeAtCleanup(t *testing.T, s *Segment) {
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
}

// createOpened creates a test segment under a fresh name and opens it a
// second time, as another process would; both are closed when the test
// ends.
func createOpened(t *testing.T) (s, o *Segment) {
	name := uniqueName(t)
	s, err := Create(name, testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)
	o, err = Open(name)
	require.NoError(t, err)
	closeAtCleanup(t, o)
	return s, o
}

// smallTmpfs mounts a 1 MiB tmpfs on a temporary directory for the test,
// and returns the directory; the test is skipped without the privilege.
func smallTmpfs(t *testing.T) string {
	dir := t.TempDir()
	err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m")
	if errors.Is(err, unix.EPERM) {
		t.Skipf("mounting a tmpfs needs privilege: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, unix.Unmount(dir, 0)) })
	return dir
}

// requireNoSpace checks what a create in dir that did not fit returned:
// ErrNoSpace with ENOSPC, a message that holds each of want, and nothing
// left in dir. Then a small segment must fit.
func requireNoSpace(t *testing.T, dir string, err error, want ...string) {
	t.Helper()
	require.ErrorIs(t, err, ErrNoSpace)
	assert.ErrorIs(t, err, unix.ENOSPC)
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a failed create leaves nothing behind")
}

// requireFits checks that a 64 KiB segment can be created in dir.
func requireFits(t *testing.T, dir string) {
	t.Helper()
	s, err := Create(filepath.Join(dir, "small"), Config{Kind: testKind, RegionSize: 64 << 10})
	require.NoError(t, err, "a segment that fits")
	require.NoError(t, s.Close())
}

// validImage returns the bytes of a valid segment file with a 4096-byte region.
func validImage() []byte {
	img := make([]byte, HeaderSize+pageSize)
	copy(img, newHeader(testKind, pageSize, testParams).encode())
	return img
}

func TestPath(t *testing.T) {
	long := strings.Repeat("a", nameMax)
	valid := []struct{ name, want string }{
		{"ring", segmentDir() + "/ring"},
		{"a.b-c_d", segmentDir() + "/a.b-c_d"},
		{long, segmentDir() + "/" + long},
		{"/tmp//x/", "/tmp/x"},
		{"./seg", "seg"},
		{"./dir/../seg", "seg"},
		{"./../seg", "../seg"},
		{"/dev/shm/../tmp/seg", "/dev/tmp/seg"},
	}
	for _, tc := range valid {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			got, err := Path(tc.name)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	invalid := []string{"", ".", "..", "a\x00b", long + "a", "/tmp/a\x00b", "../etc/x", "dir/seg", "dir/../seg", ".x/y"}
	for _, name := range invalid {
		t.Run(fmt.Sprintf("invalid/%q", name), func(t *testing.T) {
			_, err := Path(name)
			require.ErrorIs(t, err, ErrName)
			assert.Contains(t, err.Error(), strconv.Quote(name))
			_, err = Create(name, testConfig())
			assert.ErrorIs(t, err, ErrName)
			_, err = Open(name)
			assert.ErrorIs(t, err, ErrName)
			assert.ErrorIs(t, Unlink(name), ErrName)
		})
	}
}

func TestCreateOpenRoundTrip(t *testing.T) {
	name := uniqueName(t)
	cfg := testConfig()
	s, err := Create(name, cfg)
	require.NoError(t, err)
	closeAtCleanup(t, s)
	o, err := Open(name)
	require.NoError(t, err)
	closeAtCleanup(t, o)

	for _, seg := range []*Segment{s, o} {
		assert.Equal(t, segmentDir()+"/"+name, seg.Name())
		assert.False(t, seg.Anonymous())
		assert.Equal(t, uint32(testKind), seg.Kind())
		assert.Equal(t, testParams, seg.Params())
		r := seg.Region()
		assert.Len(t, r, int(cfg.RegionSize))
		assert.Equal(t, len(r), cap(r), "the region cannot be resliced past its end")
		assert.Zero(t, reflect.ValueOf(r).Pointer()%pageSize, "region is page aligned")
		require.NotNil(t, seg.File())
	}
	fi, err := os.Stat(s.Name())
	require.NoError(t, err)
	assert.Equal(t, int64(HeaderSize)+cfg.RegionSize, fi.Size())

	// Writes through one mapping are seen through the other, both ways.
	copy(s.Region(), "through s")
	copy(o.Region()[pageSize:], "through o")
	assert.Equal(t, "through s", string(o.Region()[:9]))
	assert.Equal(t, "through o", string(s.Region()[pageSize:pageSize+9]))

	require.NoError(t, s.Unlink())
	_, err = Open(name)
	assert.ErrorIs(t, err, os.ErrNotExist)
	copy(s.Region(), "still mapped")
	assert.Equal(t, "still mapped", string(o.Region()[:12]))
}

func TestCreateExclusive(t *testing.T) {
	name := uniqueName(t)
	s, err := Create(name, testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)
	copy(s.Region(), "first")

	other := testConfig()
	other.Kind = testKind + 1
	_, err = Create(name, other)
	require.ErrorIs(t, err, os.ErrExist)

	o, err := Open(name)
	require.NoError(t, err)
	closeAtCleanup(t, o)
	assert.Equal(t, uint32(testKind), o.Kind(), "the existing segment is untouched")
	assert.Equal(t, "first", string(o.Region()[:5]))
}

func TestCreateRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	const precious = "precious data"
	cases := []struct {
		name string
		path func(t *testing.T, target string) string // plants the symlink, returns the segment name
	}{
		{"path", func(t *testing.T, target string) string {
			p := filepath.Join(dir, "seg-path")
			require.NoError(t, os.Symlink(target, p))
			return p
		}},
		{"bare name in the segment directory", func(t *testing.T, target string) string {
			name := uniqueName(t)
			require.NoError(t, os.Symlink(target, filepath.Join(segmentDir(), name)))
			return name
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(dir, "target-"+strconv.Itoa(i))
			require.NoError(t, os.WriteFile(target, []byte(precious), 0o600))
			name := tc.path(t, target)

			_, err := Create(name, testConfig())
			require.ErrorIs(t, err, os.ErrExist)
			_, err = Open(name)
			require.ErrorIs(t, err, unix.ELOOP)

			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.Equal(t, precious, string(got), "the symlink target is untouched")
		})
	}
	t.Run("dangling", func(t *testing.T) {
		target := filepath.Join(dir, "absent")
		p := filepath.Join(dir, "seg-dangling")
		require.NoError(t, os.Symlink(target, p))
		_, err := Create(p, testConfig())
		require.ErrorIs(t, err, os.ErrExist)
		assert.NoFileExists(t, target, "Create never creates the symlink's target")
	})
}

func TestCreateFallbackWithoutTmpfile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "seg")
	s, err := createPath(p, testConfig(), false)
	require.NoError(t, err)
	closeAtCleanup(t, s)
	copy(s.Region(), "fallback")

	o, err := Open(p)
	require.NoError(t, err)
	closeAtCleanup(t, o)
	assert.Equal(t, "fallback", string(o.Region()[:8]))

	_, err = createPath(p, testConfig(), false)
	require.ErrorIs(t, err, os.ErrExist)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary name is left behind")
	assert.Equal(t, "seg", entries[0].Name())
}

func TestCreateInvalidConfig(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"kind 0", func(c *Config) { c.Kind = 0 }},
		{"region 0", func(c *Config) { c.RegionSize = 0 }},
		{"region negative", func(c *Config) { c.RegionSize = -pageSize }},
		{"region not page multiple", func(c *Config) { c.RegionSize = pageSize + 8 }},
		{"region too large", func(c *Config) { c.RegionSize = MaxRegionSize + pageSize }},
		{"mode beyond permissions", func(c *Config) { c.Mode = os.ModeSetuid | 0o600 }},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.edit(&cfg)
			_, err := Create(filepath.Join(dir, "seg"), cfg)
			require.ErrorIs(t, err, os.ErrInvalid)
			_, err = CreateAnonymous("invalid", cfg)
			require.ErrorIs(t, err, os.ErrInvalid)
			assert.NoFileExists(t, filepath.Join(dir, "seg"))
		})
	}
}

func TestCreateModeIgnoresUmask(t *testing.T) {
	old := unix.Umask(0o077)
	t.Cleanup(func() { unix.Umask(old) })
	dir := t.TempDir()
	cases := []struct {
		mode, want os.FileMode
	}{
		{0, 0o600},
		{0o640, 0o640},
		{0o666, 0o666},
	}
	for _, tc := range cases {
		t.Run(tc.want.String(), func(t *testing.T) {
			cfg := testConfig()
			cfg.Mode = tc.mode
			for _, tmpfile := range []bool{true, false} {
				p := filepath.Join(dir, fmt.Sprintf("seg-%o-%t", tc.mode, tmpfile))
				s, err := createPath(p, cfg, tmpfile)
				require.NoError(t, err)
				require.NoError(t, s.Close())
				fi, err := os.Stat(p)
				require.NoError(t, err)
				assert.Equal(t, tc.want, fi.Mode(), "tmpfile=%t", tmpfile)
			}
		})
	}
	t.Run("default in the segment directory", func(t *testing.T) {
		name := uniqueName(t)
		s, err := Create(name, testConfig())
		require.NoError(t, err)
		require.NoError(t, s.Close())
		fi, err := os.Stat(filepath.Join(segmentDir(), name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode())
	})
}

func TestCloseIdempotent(t *testing.T) {
	s, err := Create(uniqueName(t), testConfig())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.NoError(t, s.Close())
	assert.Nil(t, s.Region())
	assert.ErrorIs(t, s.Flush(), os.ErrClosed)
	_, err = s.Lock(0)
	assert.ErrorIs(t, err, os.ErrClosed)
	_, err = s.Locked(0)
	assert.ErrorIs(t, err, os.ErrClosed)
	assert.Equal(t, uint32(testKind), s.Kind(), "geometry stays readable")
	assert.NoError(t, s.Unlink(), "the name can still be removed")
}

func TestUnlink(t *testing.T) {
	name := uniqueName(t)
	s, err := Create(name, testConfig())
	require.NoError(t, err)
	require.NoError(t, s.Close())

	require.NoError(t, Unlink(name))
	assert.NoFileExists(t, filepath.Join(segmentDir(), name))
	assert.ErrorIs(t, Unlink(name), os.ErrNotExist)
	assert.Error(t, Unlink(t.TempDir()), "Unlink never removes a directory")
}

func TestRegionWord(t *testing.T) {
	word := func(img []byte) []byte {
		binary.NativeEndian.PutUint32(img[HeaderSize+640:], 0xC0FFEE)
		return img
	}
	corrupt := word(validImage())
	corrupt[offRegionSize] ^= 0xff // the checksum fails: Open refuses it
	version := word(validImage())
	binary.NativeEndian.PutUint32(version[offVersion:], formatVersion+1)
	for _, tt := range []struct {
		name string
		img  []byte
		want error
	}{
		{"sound", word(validImage()), nil},
		{"corrupt header", corrupt, nil},
		{"no magic", word(make([]byte, HeaderSize+pageSize)), ErrNotRing},
		{"empty", nil, ErrNotRing},
		{"other version", version, ErrVersion},
		{"ends before the word", validImage()[:HeaderSize+640], io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "seg")
			require.NoError(t, os.WriteFile(p, tt.img, 0o400))
			w, err := RegionWord(p, 640)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, uint32(0xC0FFEE), w)
		})
	}
	_, err := RegionWord(t.TempDir(), 0)
	assert.ErrorIs(t, err, ErrNotRing, "a directory")
	_, err = RegionWord(filepath.Join(t.TempDir(), "missing"), 0)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = RegionWord(filepath.Join(t.TempDir(), "seg"), -1)
	assert.ErrorIs(t, err, os.ErrInvalid)
}

func TestFlush(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seg")
	s, err := Create(p, testConfig())
	require.NoError(t, err)
	copy(s.Region(), "durable")
	require.NoError(t, s.Flush())
	require.NoError(t, s.Close())

	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "durable", string(b[HeaderSize:HeaderSize+7]))
}

func TestOpenHostileFiles(t *testing.T) {
	dir := t.TempDir()
	writeImage := func(edit func(img []byte) []byte) func(t *testing.T, p string) {
		return func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, edit(validImage()), 0o600))
		}
	}
	truncatedAfterCreate := func(size int64) func(t *testing.T, p string) {
		return func(t *testing.T, p string) {
			s, err := Create(p, testConfig())
			require.NoError(t, err)
			require.NoError(t, s.Close())
			require.NoError(t, os.Truncate(p, size))
		}
	}
	flip := func(off int) func(t *testing.T, p string) {
		return writeImage(func(img []byte) []byte { img[off] ^= 0x40; return img })
	}
	resealed := func(edit func(img []byte)) func(t *testing.T, p string) {
		return writeImage(func(img []byte) []byte { edit(img); reseal(img); return img })
	}
	ne := binary.NativeEndian
	cases := []struct {
		name string
		make func(t *testing.T, p string)
		want error
	}{
		{"empty file", writeImage(func([]byte) []byte { return nil }), ErrNotRing},
		{"random bytes", writeImage(func(img []byte) []byte {
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range img {
				img[i] = byte(rng.Uint32())
			}
			return img
		}), ErrNotRing},
		{"shorter than the version", writeImage(func(img []byte) []byte { return img[:offVersion+2] }), ErrNotRing},
		{"truncated to 5 bytes after create", truncatedAfterCreate(5), ErrNotRing},
		{"truncated to 100 bytes after create", truncatedAfterCreate(100), ErrCorrupt},
		{"truncated to the header after create", truncatedAfterCreate(HeaderSize), ErrCorrupt},
		{"truncated mid-region after create", truncatedAfterCreate(HeaderSize + pageSize), ErrCorrupt},
		{"grown after create", truncatedAfterCreate(HeaderSize + 4*pageSize), ErrCorrupt},
		{"file longer than the segment", writeImage(func(img []byte) []byte { return append(img, make([]byte, pageSize)...) }), ErrCorrupt},
		{"wrong version", resealed(func(img []byte) { ne.PutUint32(img[offVersion:], formatVersion+1) }), ErrVersion},
		{"version 0", resealed(func(img []byte) { ne.PutUint32(img[offVersion:], 0) }), ErrVersion},
		{"flipped magic", flip(offMagic + 3), ErrNotRing},
		{"flipped version", flip(offVersion), ErrVersion},
		{"flipped kind", flip(offKind), ErrCorrupt},
		{"flipped header size", flip(offHeaderSize + 1), ErrCorrupt},
		{"flipped flags", flip(offFlags), ErrCorrupt},
		{"flipped segment size", flip(offSegmentSize + 2), ErrCorrupt},
		{"flipped region offset", flip(offRegionOffset + 1), ErrCorrupt},
		{"flipped region size", flip(offRegionSize + 7), ErrCorrupt},
		{"flipped params", flip(offParams + 17), ErrCorrupt},
		{"flipped crc", flip(offCRC + 3), ErrCorrupt},
		{"flipped reserved byte", flip(offReserved + 1000), ErrCorrupt},
		{"segment size vs file size", resealed(func(img []byte) {
			ne.PutUint64(img[offSegmentSize:], HeaderSize+2*pageSize)
			ne.PutUint64(img[offRegionSize:], 2*pageSize)
		}), ErrCorrupt},
		{"directory", func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }, ErrNotRing},
		{"fifo", func(t *testing.T, p string) { require.NoError(t, unix.Mkfifo(p, 0o600)) }, ErrNotRing},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "hostile-"+strconv.Itoa(i))
			tc.make(t, p)
			s, err := Open(p)
			if !assert.ErrorIs(t, err, tc.want) {
				if s != nil {
					require.NoError(t, s.Close())
				}
				return
			}
			assert.Contains(t, err.Error(), strconv.Quote(p), "errors name the file")

			f, err := os.OpenFile(p, os.O_RDWR|unix.O_NONBLOCK, 0)
			if err != nil {
				return // a directory cannot be opened for writing
			}
			_, err = FromFile(f)
			assert.ErrorIs(t, err, tc.want, "FromFile validates as Open does")
			assert.ErrorIs(t, f.Close(), os.ErrClosed, "FromFile closes f on error")
		})
	}
	t.Run("character device", func(t *testing.T) {
		_, err := Open("/dev/null")
		assert.ErrorIs(t, err, ErrNotRing)
	})
	t.Run("missing", func(t *testing.T) {
		_, err := Open(filepath.Join(dir, "absent"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestValidateHeader(t *testing.T) {
	ne := binary.NativeEndian
	size := int64(HeaderSize + pageSize)
	cases := []struct {
		name string
		edit func(b []byte) []byte
		size int64
		want error
	}{
		{"valid", func(b []byte) []byte { return b }, size, nil},
		{"longer buffer", func(b []byte) []byte { return append(b, 1, 2, 3) }, size, nil},
		{"nil", func([]byte) []byte { return nil }, 0, ErrNotRing},
		{"magic only", func(b []byte) []byte { return b[:offVersion] }, size, ErrNotRing},
		{"no version", func(b []byte) []byte { return b[:offVersion+3] }, size, ErrNotRing},
		{"short header", func(b []byte) []byte { return b[:HeaderSize-1] }, size, ErrCorrupt},
		{"negative file size", func(b []byte) []byte { return b }, -1, ErrCorrupt},
		{"file size mismatch", func(b []byte) []byte { return b }, size + pageSize, ErrCorrupt},
		{"header size", func(b []byte) []byte { ne.PutUint32(b[offHeaderSize:], 8192); return reseal(b) }, size, ErrCorrupt},
		{"flags", func(b []byte) []byte { ne.PutUint32(b[offFlags:], 1); return reseal(b) }, size, ErrCorrupt},
		{"kind 0", func(b []byte) []byte { ne.PutUint32(b[offKind:], 0); return reseal(b) }, size, ErrCorrupt},
		{"region offset", func(b []byte) []byte {
			ne.PutUint64(b[offRegionOffset:], 2*pageSize)
			ne.PutUint64(b[offSegmentSize:], 3*pageSize)
			return reseal(b)
		}, 3 * pageSize, ErrCorrupt},
		{"region size 0", func(b []byte) []byte {
			ne.PutUint64(b[offRegionSize:], 0)
			ne.PutUint64(b[offSegmentSize:], HeaderSize)
			return reseal(b)
		}, HeaderSize, ErrCorrupt},
		{"region size not page multiple", func(b []byte) []byte {
			ne.PutUint64(b[offRegionSize:], pageSize+8)
			ne.PutUint64(b[offSegmentSize:], HeaderSize+pageSize+8)
			return reseal(b)
		}, HeaderSize + pageSize + 8, ErrCorrupt},
		{"region size too large", func(b []byte) []byte {
			ne.PutUint64(b[offRegionSize:], MaxRegionSize+pageSize)
			ne.PutUint64(b[offSegmentSize:], HeaderSize+MaxRegionSize+pageSize)
			return reseal(b)
		}, HeaderSize + MaxRegionSize + pageSize, ErrCorrupt},
		{"region does not end at segment end", func(b []byte) []byte {
			ne.PutUint64(b[offSegmentSize:], HeaderSize+2*pageSize)
			return reseal(b)
		}, HeaderSize + 2*pageSize, ErrCorrupt},
		{"overflowing sizes", func(b []byte) []byte {
			ne.PutUint64(b[offRegionSize:], ^uint64(0)-pageSize+1)
			ne.PutUint64(b[offSegmentSize:], 0)
			return reseal(b)
		}, 0, ErrCorrupt},
		{"reserved byte", func(b []byte) []byte { b[HeaderSize-1] = 1; return reseal(b) }, size, ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(validImage()[:HeaderSize])
			h, err := validateHeader(b, tc.size)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, newHeader(testKind, pageSize, testParams), h)
		})
	}
}

func TestAnonymous(t *testing.T) {
	s, err := CreateAnonymous("shmtest-anon", testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)
	assert.True(t, s.Anonymous())
	assert.Equal(t, anonPrefix+"shmtest-anon", s.Name())
	assert.Equal(t, uint32(testKind), s.Kind())
	assert.Equal(t, testParams, s.Params())
	assert.Len(t, s.Region(), int(testConfig().RegionSize))
	assert.NoError(t, s.Unlink(), "nothing to remove")
	assert.Equal(t, !anonSealed, s.CanShrink())

	cfg := testConfig()
	cfg.Mode = 0o640
	o, err := CreateAnonymous("", cfg)
	require.NoError(t, err)
	closeAtCleanup(t, o)
	assert.Equal(t, anonPrefix, o.Name())
	fi, err := o.File().Stat()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())

	for _, bad := range []string{"a\x00b", strings.Repeat("m", debugNameMax+1)} {
		_, err := CreateAnonymous(bad, testConfig())
		assert.ErrorIs(t, err, ErrName)
	}
}

func TestFromFileInProcess(t *testing.T) {
	t.Run("named", func(t *testing.T) {
		name := uniqueName(t)
		s, err := Create(name, testConfig())
		require.NoError(t, err)
		closeAtCleanup(t, s)
		f, err := os.OpenFile(s.Name(), os.O_RDWR, 0)
		require.NoError(t, err)
		o, err := FromFile(f)
		require.NoError(t, err)
		closeAtCleanup(t, o)
		assert.Equal(t, s.Name(), o.Name())
		assert.False(t, o.Anonymous())
		copy(s.Region(), "named")
		assert.Equal(t, "named", string(o.Region()[:5]))
	})
	t.Run("anonymous", func(t *testing.T) {
		s, err := CreateAnonymous("shmtest-dup", testConfig())
		require.NoError(t, err)
		closeAtCleanup(t, s)
		fd, err := unix.FcntlInt(s.File().Fd(), unix.F_DUPFD_CLOEXEC, 0)
		require.NoError(t, err)
		o, err := FromFile(os.NewFile(uintptr(fd), "dup"))
		require.NoError(t, err)
		closeAtCleanup(t, o)
		assert.Equal(t, dupName, o.Name())
		assert.True(t, o.Anonymous())
		copy(o.Region(), "memfd")
		assert.Equal(t, "memfd", string(s.Region()[:5]))
	})
	t.Run("nil", func(t *testing.T) {
		_, err := FromFile(nil)
		assert.ErrorIs(t, err, os.ErrInvalid)
	})
}

// fillPattern is what the helper child writes into the region.
func fillPattern(b []byte) {
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
}

// TestHelperProcess is the child side of the cross-process tests: it runs
// only when helperEnv names a mode, attaches to the segment inherited as
// descriptor 3, and acts.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper child of the cross-process tests")
	}
	time.AfterFunc(helperLifetime, func() {
		fmt.Fprintln(os.Stderr, "helper: lifetime exceeded")
		os.Exit(3)
	})
	s, err := FromFile(os.NewFile(3, "inherited"))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.Equal(t, uint32(testKind), s.Kind())
	require.Equal(t, testParams, s.Params())
	switch mode {
	case "write":
		require.True(t, s.Anonymous())
		fillPattern(s.Region())
	case "lock":
		_, err := s.Lock(3)
		require.NoError(t, err)
		fmt.Println("locked")
		time.Sleep(helperLifetime) // until the parent kills us
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
}

// startHelper starts the test binary as a helper child in mode, with f as its
// descriptor 3, and returns it with its stdout. The child is killed and
// reaped at cleanup at the latest.
func startHelper(t *testing.T, mode string, f *os.File) (*exec.Cmd, io.Reader) {
	ctx, cancel := context.WithTimeout(context.Background(), helperLifetime)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.ExtraFiles = []*os.File{f}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("helper stderr:\n%s", stderr.String())
		}
	})
	return cmd, stdout
}

// readLine reads one line from r, failing the test after the watchdog.
func readLine(t *testing.T, r io.Reader) string {
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case line := <-lines:
		return line
	case <-time.After(watchdog):
		t.Fatal("helper did not answer before the watchdog")
		return ""
	}
}

// waitFor polls cond until it holds, failing the test after the watchdog.
func waitFor(t *testing.T, what string, cond func() bool) {
	deadline := time.Now().Add(watchdog)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("watchdog: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFromFileInChild(t *testing.T) {
	s, err := CreateAnonymous("shmtest-child", testConfig())
	require.NoError(t, err)
	closeAtCleanup(t, s)

	cmd, _ := startHelper(t, "write", s.File())
	require.NoError(t, cmd.Wait(), "the helper attached and wrote")

	want := make([]byte, len(s.Region()))
	fillPattern(want)
	assert.Equal(t, want, s.Region(), "the child's writes are seen by the parent")
}

func TestLocksInProcess(t *testing.T) {
	s, o := createOpened(t)

	l0, err := s.Lock(0)
	require.NoError(t, err)
	_, err = s.Lock(0)
	assert.ErrorIs(t, err, ErrLocked, "two locks of one segment conflict")
	_, err = o.Lock(0)
	assert.ErrorIs(t, err, ErrLocked, "two segments of one process conflict")
	l1, err := o.Lock(1)
	require.NoError(t, err, "different bytes do not conflict")
	last, err := s.Lock(MaxLocks - 1)
	require.NoError(t, err)

	for _, seg := range []*Segment{s, o} {
		for i, want := range map[int]bool{0: true, 1: true, 2: false, MaxLocks - 1: true} {
			held, err := seg.Locked(i)
			require.NoError(t, err)
			assert.Equal(t, want, held, "Locked(%d) through %p", i, seg)
		}
	}

	require.NoError(t, l0.Release())
	assert.NoError(t, l0.Release(), "Release is idempotent")
	held, err := s.Locked(0)
	require.NoError(t, err)
	assert.False(t, held)
	l0, err = o.Lock(0)
	require.NoError(t, err, "a released byte can be taken again")
	require.NoError(t, l0.Release())
	require.NoError(t, last.Release())

	fi, err := os.Stat(s.Name())
	require.NoError(t, err)
	assert.Equal(t, int64(HeaderSize)+testConfig().RegionSize, fi.Size(), "lock bytes never touch the file")

	for _, i := range []int{-1, MaxLocks} {
		_, err := s.Lock(i)
		assert.ErrorIs(t, err, os.ErrInvalid)
		_, err = s.Locked(i)
		assert.ErrorIs(t, err, os.ErrInvalid)
	}

	// Close releases the locks still held.
	require.NoError(t, o.Close())
	assert.NoError(t, l1.Release(), "releasing after Close is harmless")
	held, err = s.Locked(1)
	require.NoError(t, err)
	assert.False(t, held)
}

func TestLocksAcrossProcesses(t *testing.T) {
	t.Run("named", func(t *testing.T) {
		s, err := Create(uniqueName(t), testConfig())
		require.NoError(t, err)
		testLocksAcrossProcesses(t, s)
	})
	t.Run("anonymous", func(t *testing.T) {
		s, err := CreateAnonymous("shmtest-locks", testConfig())
		require.NoError(t, err)
		testLocksAcrossProcesses(t, s)
	})
}

// testLocksAcrossProcesses has a child lock byte 3 of s, checks that the lock
// shows and conflicts while the child runs and while it is stopped, and that
// kill -9 drops it. It closes s at cleanup.
func testLocksAcrossProcesses(t *testing.T, s *Segment) {
	closeAtCleanup(t, s)
	cmd, stdout := startHelper(t, "lock", s.File())
	require.Equal(t, "locked", readLine(t, stdout))
	assertHeld := func(state string) {
		held, err := s.Locked(3)
		require.NoError(t, err)
		assert.True(t, held, "a %s child holds its lock", state)
		_, err = s.Lock(3)
		assert.ErrorIs(t, err, ErrLocked, "a %s child's lock conflicts, although the descriptor is shared", state)
		held, err = s.Locked(4)
		require.NoError(t, err)
		assert.False(t, held)
	}
	assertHeld("running")

	require.NoError(t, cmd.Process.Signal(syscall.SIGSTOP))
	waitFor(t, "child stopped", func() bool { return processState(t, cmd.Process.Pid) == "T" })
	assertHeld("stopped")

	require.NoError(t, cmd.Process.Kill())
	waitFor(t, "lock dropped after kill -9", func() bool {
		held, err := s.Locked(3)
		require.NoError(t, err)
		return !held
	})
	assert.Error(t, cmd.Wait(), "the child was killed")
	l, err := s.Lock(3)
	require.NoError(t, err, "the dead child's lock byte is free")
	require.NoError(t, l.Release())
}

// processState returns the state letter of process pid (/proc/PID/stat).
func processState(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	require.NotEmpty(t, fields)
	return fields[0]
}
