package shmring_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// inspectSize is the data capacity of the inspected rings.
const inspectSize = 4096

// recordBytes returns the bytes a message of n bytes takes in the ring.
func recordBytes(n int) int { return 8 + (n+7)&^7 }

// untouched returns a check that the file of the named ring still has the
// contents and modification time it has now.
func untouched(t *testing.T, name string) func() {
	t.Helper()
	p := filepath.Join(shmDir, name)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	require.NoError(t, os.Chtimes(p, old, old))
	before, err := os.ReadFile(p)
	require.NoError(t, err)
	return func() {
		t.Helper()
		after, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, before, after, "contents untouched")
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, old, fi.ModTime().UTC(), "mtime untouched")
	}
}

func TestInspect(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Size: inspectSize, Mode: 0o640})

	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, &shmring.Info{
		Name:       filepath.Join(shmDir, name),
		Kind:       "spsc",
		FileSize:   shm.HeaderSize + ring.ControlSize + inspectSize,
		Mode:       0o640,
		Capacity:   inspectSize,
		MaxMessage: inspectSize - 16,
		Settled:    true,
		SPSC:       &shmring.SPSCInfo{},
	}, info, "a fresh ring")
	assert.Equal(t, "none", info.SPSC.Producer.String())

	p, err := r.Producer()
	require.NoError(t, err)
	msgs := []string{"", "one", "a longer message"}
	depth := 0
	for _, m := range msgs {
		require.NoError(t, p.Send(ctx, []byte(m)))
		depth += recordBytes(len(m))
	}
	r.Event(2).Set()

	check := untouched(t, name)
	info, err = shmring.Inspect(name)
	require.NoError(t, err)
	check()
	assert.Equal(t, uint64(0), info.SPSC.Head)
	assert.Equal(t, uint64(depth), info.SPSC.Tail)
	assert.Equal(t, depth, info.Depth)
	assert.Equal(t, len(msgs), info.Messages)
	assert.True(t, info.Settled)
	assert.False(t, info.Closed)
	assert.Equal(t, shmring.EndpointInfo{Attached: true, Alive: true, Pid: uint32(os.Getpid())}, info.SPSC.Producer)
	assert.Equal(t, "alive", info.SPSC.Producer.String())
	assert.Equal(t, shmring.EndpointInfo{}, info.SPSC.Consumer)
	for i, ev := range info.Events {
		assert.Equal(t, i == 2, ev.Set, "event %d", i)
	}

	c, err := r.Consumer()
	require.NoError(t, err)
	buf := make([]byte, 64)
	_, err = c.Recv(ctx, buf)
	require.NoError(t, err)
	require.NoError(t, p.Close())

	info, err = shmring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, uint64(recordBytes(0)), info.SPSC.Head)
	assert.Equal(t, depth-recordBytes(0), info.Depth)
	assert.Equal(t, len(msgs)-1, info.Messages)
	assert.True(t, info.Closed, "Producer.Close ends the stream")
	assert.Equal(t, "none", info.SPSC.Producer.String())
	assert.Equal(t, "alive", info.SPSC.Consumer.String())

	problems, err := shmring.Check(name)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestInspectEndpointStates(t *testing.T) {
	r, name := createNamed(t, &shmring.Options{Size: inspectSize})
	ctl := shmring.Control(r)

	// A process that died attached leaves its flag set and its lock free.
	ctl.ProducerAttached.Store(1)
	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, "dead", info.SPSC.Producer.String())
	assert.Equal(t, "none", info.SPSC.Consumer.String())

	// The lock taken, the flag not yet set: attaching.
	ctl.ProducerAttached.Store(0)
	c, err := r.Consumer()
	require.NoError(t, err)
	ctl.ConsumerAttached.Store(0)
	info, err = shmring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, "changing", info.SPSC.Consumer.String())
	ctl.ConsumerAttached.Store(1)
	require.NoError(t, c.Close())

	for e, want := range map[shmring.EndpointInfo]string{
		{}:                            "none",
		{Attached: true}:              "dead",
		{Alive: true}:                 "changing",
		{Attached: true, Alive: true}: "alive",
	} {
		assert.Equal(t, want, e.String(), "%+v", e)
	}
}

func TestInspectWaiters(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Size: inspectSize, Wait: shmring.Block})
	c, err := r.Consumer()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := c.Recv(ctx, make([]byte, 16))
		done <- err
	}()
	pollUntil(t, ctx, "a sleeping consumer", func() bool {
		info, err := shmring.Inspect(name)
		require.NoError(t, err)
		return info.Waiters.Data == 1
	})
	before, err := shmring.Inspect(name)
	require.NoError(t, err)

	p, err := r.Producer()
	require.NoError(t, err)
	require.NoError(t, p.Send(ctx, []byte("wake")))
	require.NoError(t, <-done)

	after, err := shmring.Inspect(name)
	require.NoError(t, err)
	assert.Zero(t, after.Waiters.Data)
	assert.NotEqual(t, before.Wakeups.Data, after.Wakeups.Data, "the wake-up bumped the sequence")
	assert.Equal(t, before.Wakeups.Space, after.Wakeups.Space)
}

func TestCloseStream(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Size: inspectSize, Wait: shmring.Block})
	c, err := r.Consumer()
	require.NoError(t, err)
	p, err := r.Producer()
	require.NoError(t, err)
	buf := make([]byte, 16)

	t.Run("wakes a sleeping consumer", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := c.Recv(ctx, buf)
			done <- err
		}()
		pollUntil(t, ctx, "a sleeping consumer", func() bool {
			info, err := shmring.Inspect(name)
			require.NoError(t, err)
			return info.Waiters.Data == 1
		})
		// A second handle, as the shmring command opens one.
		other := openNamed(t, name, nil)
		require.NoError(t, other.CloseStream())
		select {
		case err := <-done:
			assert.ErrorIs(t, err, io.EOF, "CloseStream ends the consumer's wait")
		case <-ctx.Done():
			require.FailNow(t, "Recv did not end after CloseStream")
		}
		info, err := shmring.Inspect(name)
		require.NoError(t, err)
		assert.True(t, info.Closed)
		require.NoError(t, other.Close())
		assert.ErrorIs(t, other.CloseStream(), shmring.ErrClosed)
	})

	t.Run("the consumer drains first", func(t *testing.T) {
		require.NoError(t, p.Close())
		p, err = r.Producer()
		require.NoError(t, err)
		info, err := shmring.Inspect(name)
		require.NoError(t, err)
		require.False(t, info.Closed, "attaching a producer reopens the stream")
		for _, m := range []string{"a", "b"} {
			require.NoError(t, p.Send(ctx, []byte(m)))
		}
		require.NoError(t, r.CloseStream())
		for _, want := range []string{"a", "b"} {
			n, err := c.Recv(ctx, buf)
			require.NoError(t, err)
			assert.Equal(t, want, string(buf[:n]))
		}
		_, err = c.Recv(ctx, buf)
		assert.ErrorIs(t, err, io.EOF)
		require.NoError(t, p.Close())
	})
}

func TestInspectAndCheckCorruption(t *testing.T) {
	const (
		controlOff = shm.HeaderSize                    // file offset of the control area
		dataOff    = shm.HeaderSize + ring.ControlSize // file offset of the data area
	)
	tests := []struct {
		name    string
		corrupt func(t *testing.T, r *shmring.Ring, name string)
		offset  int64
		message string
	}{
		{"record length beyond the tail", func(t *testing.T, r *shmring.Ring, _ string) {
			h := newHostilePeer(r)
			tail := h.commit(3)
			h.record(16, 1000, recMessage)
			require.Equal(t, uint64(48), tail)
		}, dataOff + 16, "record at position 16 of length 1000"},
		{"unknown record kind", func(t *testing.T, r *shmring.Ring, _ string) {
			h := newHostilePeer(r)
			h.commit(2)
			h.record(0, 8, 9)
		}, dataOff, "record at position 0 has kind 9"},
		{"tail beyond a lap", func(t *testing.T, r *shmring.Ring, _ string) {
			shmring.Control(r).Tail.Store(2 * inspectSize)
		}, controlOff, "head 0 and tail 8192 out of range"},
		{"header checksum", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, hdrOffKind, []byte{0x40})
		}, 0, "crc-32c"},
		{"header kind", func(t *testing.T, _ *shmring.Ring, name string) {
			img, err := os.ReadFile(filepath.Join(shmDir, name))
			require.NoError(t, err)
			binary.NativeEndian.PutUint32(img[hdrOffKind:], 9)
			reseal(img)
			writeAt(t, name, 0, img[:hdrSize])
		}, 0, "kind 9 is not a ring kind"},
		{"header parameters", func(t *testing.T, _ *shmring.Ring, name string) {
			img, err := os.ReadFile(filepath.Join(shmDir, name))
			require.NoError(t, err)
			binary.NativeEndian.PutUint64(img[hdrOffParams+8:], 1)
			reseal(img)
			writeAt(t, name, 0, img[:hdrSize])
		}, 0, "header parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, name := createNamed(t, &shmring.Options{Size: inspectSize})
			// Remove through the Ring still open, which also removes the
			// semaphore fallback's set whatever the damage.
			t.Cleanup(func() { assert.NoError(t, r.Unlink()) })
			tt.corrupt(t, r, name)
			check := untouched(t, name)

			_, err := shmring.Inspect(name)
			assert.ErrorIs(t, err, shmring.ErrCorrupt)

			problems, err := shmring.Check(name)
			require.NoError(t, err)
			require.Len(t, problems, 1)
			assert.Equal(t, tt.offset, problems[0].Offset)
			assert.Contains(t, problems[0].Message, tt.message)
			assert.Contains(t, problems[0].String(), "offset ")
			check()
		})
	}
}

// writeAt writes b into the file of the named ring at offset off.
func writeAt(t *testing.T, name string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(shmDir, name), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, errors.Join(err, f.Close()))
}

func TestInspectNotRings(t *testing.T) {
	notRing := testFileName(t)
	p := filepath.Join(shmDir, notRing)
	require.NoError(t, os.WriteFile(p, []byte("not a ring\n"), 0o644))
	oldVersion := testFileName(t)
	img := validImage(t, inspectSize)
	binary.NativeEndian.PutUint32(img[hdrOffVersion:], 99)
	require.NoError(t, os.WriteFile(filepath.Join(shmDir, oldVersion), img, 0o600))

	tests := []struct {
		name string
		want error
	}{
		{notRing, shmring.ErrNotRing},
		{oldVersion, shmring.ErrVersion},
		{testFileName(t), os.ErrNotExist},
		{"", shmring.ErrName},
	}
	for _, tt := range tests {
		t.Run(tt.want.Error(), func(t *testing.T) {
			_, err := shmring.Inspect(tt.name)
			assert.ErrorIs(t, err, tt.want)
			problems, err := shmring.Check(tt.name)
			assert.ErrorIs(t, err, tt.want)
			assert.Empty(t, problems)
		})
	}
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "not a ring\n", string(got))
}

func TestInspectJSON(t *testing.T) {
	_, name := createNamed(t, &shmring.Options{Size: inspectSize})
	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	b, err := json.Marshal(info)
	require.NoError(t, err)
	for _, field := range []string{`"name":`, `"kind":"spsc"`, `"capacity":4096`,
		`"spsc":{"head":0,"tail":0,"producer":{"attached":false,"alive":false,"pid":0,"stats":{"msgs_sent":0,"bytes_sent":0,`,
		`"waiters":{"data":0,"space":0}`, `"events":[{"set":false,"waiters":0}`} {
		assert.Contains(t, string(b), field)
	}
	assert.NotContains(t, string(b), `"mpmc"`)

	_, name = createNamed(t, &shmring.Options{Kind: shmring.MPMC, Size: inspectSize, SlotSize: 64})
	info, err = shmring.Inspect(name)
	require.NoError(t, err)
	b, err = json.Marshal(info)
	require.NoError(t, err)
	for _, field := range []string{`"kind":"mpmc"`, `"mpmc":{"slots":64,"slot_size":64,`} {
		assert.Contains(t, string(b), field)
	}
	for _, field := range []string{`"spsc"`, `"head"`, `"tail"`, `"producer"`, `"consumer"`} {
		assert.NotContains(t, string(b), field, "an MPMC ring's JSON has no SPSC fields")
	}
}

func TestInspectSPSCStats(t *testing.T) {
	r, name := createNamed(t, &shmring.Options{Size: inspectSize})
	p, c := pair(t, r)
	require.NoError(t, p.TrySend([]byte("abc")))
	require.NoError(t, p.TrySend([]byte("de")))
	buf := make([]byte, 8)
	_, err := c.TryRecv(buf)
	require.NoError(t, err)
	assert.Equal(t, shmring.Stats{MsgsSent: 2, BytesSent: 5}, p.Stats())
	assert.Equal(t, shmring.Stats{MsgsReceived: 1, BytesReceived: 3}, c.Stats())

	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, shmring.Stats{MsgsSent: 2, BytesSent: 5}, info.SPSC.Producer.Stats, "Stats flushed to the segment")
	assert.Equal(t, shmring.Stats{MsgsReceived: 1, BytesReceived: 3}, info.SPSC.Consumer.Stats)
}

func TestLen(t *testing.T) {
	ctx := watchdog(t)
	for _, opts := range []*shmring.Options{{Size: inspectSize}, {Kind: shmring.MPMC, Size: inspectSize, SlotSize: 64}} {
		t.Run(opts.Kind.String(), func(t *testing.T) {
			r, err := shmring.CreateAnonymous(opts)
			require.NoError(t, err)
			n, err := r.Len()
			require.NoError(t, err)
			assert.Equal(t, 0, n)
			p, err := r.Producer()
			require.NoError(t, err)
			c, err := r.Consumer()
			require.NoError(t, err)
			for _, m := range []string{"", "one", "two"} {
				require.NoError(t, p.Send(ctx, []byte(m)))
			}
			n, err = r.Len()
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			_, err = c.Recv(ctx, make([]byte, 64))
			require.NoError(t, err)
			n, err = r.Len()
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			require.NoError(t, r.Close())
			_, err = r.Len()
			assert.ErrorIs(t, err, shmring.ErrClosed)
		})
	}
}

func TestLenCorrupt(t *testing.T) {
	r, err := shmring.CreateAnonymous(&shmring.Options{Size: inspectSize})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	shmring.Control(r).Tail.Store(2 * inspectSize)
	_, err = r.Len()
	assert.ErrorIs(t, err, shmring.ErrCorrupt)
}

func TestRingInfo(t *testing.T) {
	ctx := watchdog(t)
	for _, opts := range []*shmring.Options{{Size: inspectSize}, {Kind: shmring.MPMC, Size: inspectSize, SlotSize: 64}} {
		t.Run(opts.Kind.String(), func(t *testing.T) {
			r, err := shmring.CreateAnonymous(opts)
			require.NoError(t, err)
			p, err := r.Producer()
			require.NoError(t, err)
			require.NoError(t, p.Send(ctx, []byte("one")))
			require.NoError(t, p.Send(ctx, []byte("two")))
			p.Stats() // flushes the counters to the segment

			info, err := r.Info()
			require.NoError(t, err)
			assert.Equal(t, opts.Kind.String(), info.Kind)
			assert.Equal(t, 2, info.Messages)
			assert.True(t, info.Settled)
			if info.SPSC != nil {
				assert.Equal(t, "alive", info.SPSC.Producer.String(), "this process's own endpoint is seen alive")
				assert.Equal(t, "none", info.SPSC.Consumer.String())
				assert.Equal(t, shmring.Stats{MsgsSent: 2, BytesSent: 6}, info.SPSC.Producer.Stats)
			} else {
				require.Len(t, info.MPMC.Participants, 1)
				assert.True(t, info.MPMC.Participants[0].Alive, "this process's own endpoint is seen alive")
				assert.Equal(t, shmring.Stats{MsgsSent: 2, BytesSent: 6}, info.MPMC.Participants[0].Stats)
			}
			require.NoError(t, r.Close())
			_, err = r.Info()
			assert.ErrorIs(t, err, shmring.ErrClosed)
		})
	}
}
