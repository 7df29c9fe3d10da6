package shmring_test

// Hostile input: files that are not sound rings, names that are not valid,
// and a peer that writes garbage into the cursors and records of a live ring
// through its own mapping. Each must give an error (ErrCorrupt for a live
// ring), never a panic or a wait that does not end.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/ring"
)

// The segment header, as shm/layout.go lays it out: native-endian fields at
// these offsets, and a CRC-32C of the bytes before offCRC.
const (
	hdrSize          = 4096
	hdrOffVersion    = 8
	hdrOffKind       = 12
	hdrOffSegSize    = 24
	hdrOffRegionSize = 40
	hdrOffParams     = 48
	hdrOffCRC        = 80
)

// A record header, as ring/layout.go lays it out: the payload length in bits
// 0-31 and the kind in bits 32-63 of a little-endian word at the record's
// position modulo the capacity in the data area.
const (
	recMessage = 1
	recPadding = 2
)

// hostileBound bounds every call on hostile input; it only catches a call
// that never ends.
const hostileBound = 10 * time.Second

// validImage returns the bytes of a fresh named ring of the given size whose
// name and wake-up state are gone again.
func validImage(t *testing.T, size int64) []byte {
	t.Helper()
	name := testRingName(t)
	r, err := shmring.Create(name, &shmring.Options{Size: size})
	require.NoError(t, err)
	img, err := os.ReadFile(filepath.Join(shmDir, name))
	require.NoError(t, err)
	require.NoError(t, r.Unlink())
	require.NoError(t, r.Close())
	return img
}

// edit returns a copy of img changed by fn.
func edit(img []byte, fn func(b []byte)) []byte {
	b := bytes.Clone(img)
	fn(b)
	return b
}

// reseal recomputes the header checksum of b, so that only the change made
// before is wrong.
func reseal(b []byte) {
	binary.NativeEndian.PutUint32(b[hdrOffCRC:], crc32.Checksum(b[:hdrOffCRC], crc32.MakeTable(crc32.Castagnoli)))
}

// randomBytes returns n bytes from a seeded PRNG.
func randomBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// openBounded opens name and returns Open's error, closing the ring if Open
// accepted the file. It fails the test if Open does not return within
// hostileBound.
func openBounded(t *testing.T, name string) error {
	t.Helper()
	type result struct {
		r   *shmring.Ring
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := shmring.Open(name, nil)
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		if res.err == nil {
			assert.NoError(t, res.r.Close())
		}
		return res.err
	case <-time.After(hostileBound):
		require.FailNow(t, "Open did not return", "after %v", hostileBound)
		return nil
	}
}

func TestOpenHostileFiles(t *testing.T) {
	const size = 1 << 16
	img := validImage(t, size)
	segSize := int64(len(img))
	writes := func(b []byte) func(*testing.T, string) {
		return func(t *testing.T, path string) { require.NoError(t, os.WriteFile(path, b, 0o600)) }
	}
	truncates := func(n int64) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, img, 0o600))
			require.NoError(t, os.Truncate(path, n))
		}
	}
	flips := func(off int) func(*testing.T, string) {
		return writes(edit(img, func(b []byte) { b[off] ^= 0x40 }))
	}
	// describes returns img cut to a data area of capacity bytes, with a
	// header that describes the new sizes coherently (checksum included) but
	// keeps the original capacity parameter.
	describes := func(capacity int64) func(*testing.T, string) {
		seg := hdrSize + ring.ControlSize + capacity
		return writes(edit(img[:seg], func(b []byte) {
			binary.NativeEndian.PutUint64(b[hdrOffSegSize:], uint64(seg))
			binary.NativeEndian.PutUint64(b[hdrOffRegionSize:], uint64(seg-hdrSize))
			reseal(b)
		}))
	}

	tests := []struct {
		name string
		make func(t *testing.T, path string) // nil: nothing has the name
		want error                           // nil: any error
	}{
		{"no such file", nil, os.ErrNotExist},
		{"empty file", writes(nil), shmring.ErrNotRing},
		{"five random bytes", writes(randomBytes(5)), shmring.ErrNotRing},
		{"random bytes", writes(randomBytes(len(img))), shmring.ErrNotRing},
		{"magic damaged", flips(0), shmring.ErrNotRing},
		{"version changed", writes(edit(img, func(b []byte) {
			binary.NativeEndian.PutUint32(b[hdrOffVersion:], 99)
		})), shmring.ErrVersion},
		{"version changed, checksum fixed", writes(edit(img, func(b []byte) {
			binary.NativeEndian.PutUint32(b[hdrOffVersion:], 99)
			reseal(b)
		})), shmring.ErrVersion},
		{"kind byte flipped", flips(hdrOffKind), shmring.ErrCorrupt},
		{"segment size byte flipped", flips(hdrOffSegSize), shmring.ErrCorrupt},
		{"region size byte flipped", flips(hdrOffRegionSize + 1), shmring.ErrCorrupt},
		{"capacity parameter byte flipped", flips(hdrOffParams + 2), shmring.ErrCorrupt},
		{"checksum byte flipped", flips(hdrOffCRC), shmring.ErrCorrupt},
		{"reserved header byte set", flips(2000), shmring.ErrCorrupt},
		{"truncated inside the header", truncates(100), shmring.ErrCorrupt},
		{"truncated to the header", truncates(hdrSize), shmring.ErrCorrupt},
		{"truncated by a page", truncates(segSize - 4096), shmring.ErrCorrupt},
		{"grown by a page", truncates(segSize + 4096), shmring.ErrCorrupt},
		{"capacity parameter doubled, checksum fixed", writes(edit(img, func(b []byte) {
			binary.NativeEndian.PutUint64(b[hdrOffParams:], 2*size)
			reseal(b)
		})), shmring.ErrCorrupt},
		{"unknown parameter set, checksum fixed", writes(edit(img, func(b []byte) {
			binary.NativeEndian.PutUint64(b[hdrOffParams+8:], 1)
			reseal(b)
		})), shmring.ErrCorrupt},
		{"another kind, checksum fixed", writes(edit(img, func(b []byte) {
			binary.NativeEndian.PutUint32(b[hdrOffKind:], 2)
			reseal(b)
		})), shmring.ErrCorrupt},
		{"smaller ring described coherently, capacity parameter kept", describes(size / 8), shmring.ErrCorrupt},
		{"data area not a power of two, described coherently", describes(3 * 4096), shmring.ErrCorrupt},
		{"symlink to a valid ring", func(t *testing.T, path string) {
			_, target := createNamed(t, &shmring.Options{Size: 4096})
			require.NoError(t, os.Symlink(filepath.Join(shmDir, target), path))
		}, nil},
		{"directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) }, shmring.ErrNotRing},
		{"fifo", func(t *testing.T, path string) { require.NoError(t, syscall.Mkfifo(path, 0o600)) }, shmring.ErrNotRing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := testFileName(t)
			if tt.make != nil {
				tt.make(t, filepath.Join(shmDir, name))
			}
			err := openBounded(t, name)
			require.Error(t, err, "Open accepted a file that is not a sound ring")
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
			assert.Contains(t, err.Error(), name, "the error names the file")
		})
	}
}

func TestCreateNeverThroughSymlink(t *testing.T) {
	t.Run("to a ring", func(t *testing.T) {
		target, targetName := createNamed(t, &shmring.Options{Size: 4096})
		link := testFileName(t)
		require.NoError(t, os.Symlink(filepath.Join(shmDir, targetName), filepath.Join(shmDir, link)))
		_, err := shmring.Create(link, &shmring.Options{Size: 1 << 16})
		require.ErrorIs(t, err, os.ErrExist)
		r := openNamed(t, targetName, nil)
		assert.Equal(t, target.Capacity(), r.Capacity(), "the target is untouched")
	})
	t.Run("dangling", func(t *testing.T) {
		target, link := testFileName(t), testFileName(t)
		require.NoError(t, os.Symlink(filepath.Join(shmDir, target), filepath.Join(shmDir, link)))
		_, err := shmring.Create(link, nil)
		require.ErrorIs(t, err, os.ErrExist)
		_, err = os.Lstat(filepath.Join(shmDir, target))
		assert.ErrorIs(t, err, os.ErrNotExist, "nothing was created at the link's target")
	})
}

func TestBadNames(t *testing.T) {
	tests := []struct{ label, name string }{
		{"empty", ""},
		{"dot", "."},
		{"dot-dot", ".."},
		{"NUL", "a\x00b"},
		{"300 bytes", strings.Repeat("n", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			r, err := shmring.Create(tt.name, nil)
			assert.ErrorIs(t, err, shmring.ErrName)
			assert.Nil(t, r)
			_, err = shmring.Open(tt.name, nil)
			assert.ErrorIs(t, err, shmring.ErrName)
			_, err = shmring.OpenOrCreate(tt.name, nil)
			assert.ErrorIs(t, err, shmring.ErrName)
			assert.ErrorIs(t, shmring.Unlink(tt.name), shmring.ErrName)
		})
	}
}

// hostilePeer writes into a live ring through its own mapping, as a buggy or
// malicious peer process would, and never wakes anybody.
type hostilePeer struct {
	ctl      *ring.Control
	data     []byte
	capacity uint64
}

func newHostilePeer(r *shmring.Ring) *hostilePeer {
	data := shmring.Region(r)[ring.ControlSize:]
	return &hostilePeer{ctl: shmring.Control(r), data: data, capacity: uint64(len(data))}
}

// record writes a record header (its commit word, native-endian) for an
// n-byte payload of the given kind at position pos.
func (h *hostilePeer) record(pos, n uint64, kind uint32) {
	binary.NativeEndian.PutUint64(h.data[pos%h.capacity:], n|uint64(kind)<<32)
}

// commit writes well-formed 8-byte messages "good <i>" for i < n from
// position 0, publishes them, and returns the tail after them.
func (h *hostilePeer) commit(n int) uint64 {
	var tail uint64
	for i := range n {
		h.record(tail, 8, recMessage)
		copy(h.data[tail+8:tail+16], fmt.Sprintf("good %3d", i))
		tail += 16
	}
	h.ctl.Tail.Store(tail)
	return tail
}

// pollUntil waits until cond holds, failing the test when ctx ends first.
func pollUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			require.FailNow(t, "timed out", "waiting for %s: %v", what, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// blockModes run a call on corrupt state either after the corruption (ready)
// or while the call already sleeps, which the hostile peer never wakes.
var blockModes = []string{"ready", "while blocked"}

func TestCorruptStateReachesConsumer(t *testing.T) {
	const capacity = 4096
	tests := []struct {
		name    string
		good    int // well-formed messages the consumer reads first
		corrupt func(h *hostilePeer, tail uint64)
	}{
		{"record length 2^32-1", 0, func(h *hostilePeer, tail uint64) {
			h.record(tail, 1<<32-1, recMessage)
		}},
		{"record across the end of the lap", 1, func(h *hostilePeer, tail uint64) {
			h.record(tail, capacity-8, recMessage)
		}},
		{"unknown record kind", 1, func(h *hostilePeer, tail uint64) {
			h.record(tail, 8, 7)
		}},
		{"padding short of the end of the lap", 1, func(h *hostilePeer, tail uint64) {
			h.record(tail, 8, recPadding)
		}},
		{"padding starting the lap", 0, func(h *hostilePeer, tail uint64) {
			h.record(tail, capacity-8, recPadding)
		}},
	}
	for _, tt := range tests {
		for _, mode := range blockModes {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				r, name := createNamed(t, &shmring.Options{Size: capacity, Wait: shmring.Block})
				peer := openNamed(t, name, nil)
				c, err := r.Consumer()
				require.NoError(t, err)
				h := newHostilePeer(peer)
				tail := h.commit(tt.good)
				buf := make([]byte, capacity)
				for i := range tt.good {
					n, err := c.Recv(context.Background(), buf)
					require.NoError(t, err)
					require.Equal(t, fmt.Sprintf("good %3d", i), string(buf[:n]))
				}

				ctx, cancel := context.WithTimeout(context.Background(), hostileBound)
				defer cancel()
				if mode == "ready" {
					tt.corrupt(h, tail)
					_, err = c.Recv(ctx, buf)
				} else {
					errc := make(chan error, 1)
					go func() {
						_, err := c.Recv(ctx, buf)
						errc <- err
					}()
					pollUntil(t, ctx, "the consumer to sleep", func() bool { return h.ctl.DataWaiters.Load() != 0 })
					tt.corrupt(h, tail)
					err = <-errc
				}
				require.ErrorIs(t, err, shmring.ErrCorrupt)
			})
		}
	}
}

func TestCorruptStateReachesProducer(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(h *hostilePeer, tail uint64)
	}{
		{"head beyond the tail", func(h *hostilePeer, tail uint64) { h.ctl.Head.Store(tail + 8) }},
		{"head not aligned", func(h *hostilePeer, tail uint64) { h.ctl.Head.Store(4) }},
	}
	for _, tt := range tests {
		for _, mode := range blockModes {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				r, name := createNamed(t, &shmring.Options{Size: 4096, Wait: shmring.Block})
				peer := openNamed(t, name, nil)
				p, err := r.Producer()
				require.NoError(t, err)
				msg := make([]byte, 100)
				for p.TrySend(msg) == nil {
				}
				h := newHostilePeer(peer)
				tail := h.ctl.Tail.Load()

				ctx, cancel := context.WithTimeout(context.Background(), hostileBound)
				defer cancel()
				if mode == "ready" {
					tt.corrupt(h, tail)
					err = p.Send(ctx, msg)
				} else {
					errc := make(chan error, 1)
					go func() { errc <- p.Send(ctx, msg) }()
					pollUntil(t, ctx, "the producer to sleep", func() bool { return h.ctl.SpaceWaiters.Load() != 0 })
					tt.corrupt(h, tail)
					err = <-errc
				}
				require.ErrorIs(t, err, shmring.ErrCorrupt)
			})
		}
	}
}

func TestAttachToCorruptCursors(t *testing.T) {
	const capacity = 4096
	cursors := []struct {
		name       string
		head, tail uint64
	}{
		{"head beyond the tail", 64, 0},
		{"tail a lap ahead", 0, capacity + 8},
		{"cursors not aligned", 4, 4},
	}
	for _, role := range []string{"producer", "consumer"} {
		for _, cur := range cursors {
			t.Run(role+"/"+cur.name, func(t *testing.T) {
				r, name := createNamed(t, &shmring.Options{Size: capacity})
				attach := func() (io.Closer, error) { return r.Consumer() }
				if role == "producer" {
					attach = func() (io.Closer, error) { return r.Producer() }
				}
				h := newHostilePeer(openNamed(t, name, nil))
				h.ctl.Head.Store(cur.head)
				h.ctl.Tail.Store(cur.tail)
				_, err := attach()
				require.ErrorIs(t, err, shmring.ErrCorrupt)

				h.ctl.Head.Store(0)
				h.ctl.Tail.Store(0)
				e, err := attach()
				require.NoError(t, err, "the failed attach released the %s's lock", role)
				require.NoError(t, e.Close())
			})
		}
	}
}

// TestTwoMappingsInOneProcess moves a stream between two goroutines that each
// open the named ring themselves, so that producer and consumer touch it
// through different mappings, as two processes do. Under the race detector it
// checks that nothing but the shared memory is shared.
func TestTwoMappingsInOneProcess(t *testing.T) {
	const n = 100_000
	for _, w := range waitStrategies {
		t.Run(w.String(), func(t *testing.T) {
			ctx := watchdog(t)
			opts := &shmring.Options{Size: streamSize, Wait: w}
			rp, name := createNamed(t, opts)
			rc := openNamed(t, name, opts)
			p, err := rp.Producer()
			require.NoError(t, err)
			c, err := rc.Consumer()
			require.NoError(t, err)
			errc := make(chan error, 1)
			go func() {
				gen := newStreamGen(42)
				buf := make([]byte, streamMaxMsg)
				for i := range n {
					if err := p.Send(ctx, gen.next(buf)); err != nil {
						errc <- fmt.Errorf("send message %d: %w", i, err)
						return
					}
				}
				errc <- p.Close()
			}()
			recvStream(t, ctx, c, 42, n)
			require.NoError(t, <-errc)
		})
	}
}
