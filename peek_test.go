package shmring_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/shm"
)

// strs returns msgs as strings, for readable comparisons.
func strs(msgs [][]byte) []string {
	s := make([]string, len(msgs))
	for i, m := range msgs {
		s[i] = string(m)
	}
	return s
}

func TestPeek(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Size: inspectSize})
	msgs, err := shmring.Peek(name, 0)
	require.NoError(t, err)
	assert.Empty(t, msgs, "a fresh ring")

	p, c := pair(t, r)
	// Move the positions close to the end of the data area, so that the
	// messages wrap (a padding record, then the data area's start).
	filler := make([]byte, 1000)
	for range 4 {
		require.NoError(t, p.Send(ctx, filler))
		_, err := c.Recv(ctx, make([]byte, len(filler)))
		require.NoError(t, err)
	}
	want := []string{"", "one", strings.Repeat("x", 300), "a longer message", "last"}
	for _, m := range want {
		require.NoError(t, p.Send(ctx, []byte(m)))
	}

	check := untouched(t, name)
	before, err := shmring.Inspect(name)
	require.NoError(t, err)
	msgs, err = shmring.Peek(name, 0)
	require.NoError(t, err)
	assert.Equal(t, want, strs(msgs), "every message, oldest first")
	assert.NotNil(t, msgs[0], "an empty message is an empty slice")
	msgs, err = shmring.Peek(name, 2)
	require.NoError(t, err)
	assert.Equal(t, want[:2], strs(msgs))
	msgs, err = shmring.Peek(name, 100)
	require.NoError(t, err)
	assert.Equal(t, want, strs(msgs))
	after, err := shmring.Inspect(name)
	require.NoError(t, err)
	check()
	assert.Equal(t, before, after, "nothing moved, no endpoint attached")

	// A copy, not the ring's memory: changing it changes nothing.
	msgs[1][0] = 'X'
	assert.Equal(t, "one", string(peekAll(t, name)[1]))

	// The consumer holds the first message (Peek, no Release): it is still
	// in the ring, and shown; once released, it is not.
	held, err := c.Peek(ctx)
	require.NoError(t, err)
	assert.Empty(t, held)
	assert.Equal(t, want, strs(peekAll(t, name)))
	require.NoError(t, c.Release())
	assert.Equal(t, want[1:], strs(peekAll(t, name)))
	buf := make([]byte, r.MaxMessage())
	for _, m := range want[1:] {
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		assert.Equal(t, m, string(buf[:n]), "Peek consumed nothing")
	}
	assert.Empty(t, peekAll(t, name))

	assert.Panics(t, func() { _, _ = shmring.Peek(name, -1) })
}

// peekAll peeks at every message of the ring name, failing the test on error.
func peekAll(t *testing.T, name string) [][]byte {
	t.Helper()
	msgs, err := shmring.Peek(name, 0)
	require.NoError(t, err)
	return msgs
}

func TestPeekNotRings(t *testing.T) {
	_, err := shmring.Peek(testRingName(t), 1)
	assert.ErrorIs(t, err, os.ErrNotExist)
	notRing := testFileName(t)
	require.NoError(t, os.WriteFile(filepath.Join(shmDir, notRing), []byte("hello"), 0o600))
	_, err = shmring.Peek(notRing, 1)
	assert.ErrorIs(t, err, shmring.ErrNotRing)
}

func TestPeekCorrupt(t *testing.T) {
	r, name := createNamed(t, &shmring.Options{Size: inspectSize})
	t.Cleanup(func() { assert.NoError(t, r.Unlink()) })
	// Three records of 16 bytes committed, the second of which claims a
	// payload far beyond the tail.
	h := newHostilePeer(r)
	h.commit(3)
	h.record(16, 1000, recMessage)
	check := untouched(t, name)
	msgs, err := shmring.Peek(name, 0)
	assert.ErrorIs(t, err, shmring.ErrCorrupt)
	assert.ErrorContains(t, err, "record at position 16 of length 1000")
	assert.Len(t, msgs, 1, "the message before the bad record")
	msgs, err = shmring.Peek(name, 1)
	assert.NoError(t, err, "the bad record is past the messages asked for")
	assert.Len(t, msgs, 1)
	check()

	writeAt(t, name, hdrOffKind, []byte{0x40})
	_, err = shmring.Peek(name, 0)
	assert.ErrorIs(t, err, shmring.ErrCorrupt, "a corrupt header")
}

func TestPeekMPMC(t *testing.T) {
	ctx := watchdog(t)
	const parts, slotSize, slots = 4, 104, 4
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: slotSize, Size: slotSize * slots, Participants: parts})
	p, c := pair(t, r)
	// Wrap once: positions 0 to 2 sent and received.
	for _, m := range []string{"old", "older", "oldest"} {
		require.NoError(t, p.Send(ctx, []byte(m)))
		recvString(t, ctx, c)
	}
	full := bytes.Repeat([]byte{0xa5}, slotSize)
	require.NoError(t, p.Send(ctx, []byte("a")))
	require.NoError(t, p.Send(ctx, full))
	// A reservation given up (a skip record), then one held.
	p2, err := r.Producer()
	require.NoError(t, err)
	_, err = p2.Reserve(ctx, 4)
	require.NoError(t, err)
	_, err = p2.Reserve(ctx, 4)
	require.NoError(t, err)

	check := untouched(t, name)
	msgs, err := shmring.Peek(name, 0)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("a"), full}, msgs, "skip records and slots being written are passed over")
	msgs, err = shmring.Peek(name, 1)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("a")}, msgs)
	check()

	// A message a consumer claimed is no longer shown.
	held, err := c.Peek(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a", string(held))
	msgs, err = shmring.Peek(name, 0)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{full}, msgs)
	require.NoError(t, c.Release())
	require.NoError(t, errors.Join(p.Close(), p2.Close()))
	assert.Equal(t, full, []byte(recvString(t, ctx, c)), "Peek consumed nothing")
}

func TestPeekMPMCCorrupt(t *testing.T) {
	const parts, slotSize, slots = 4, 64, 64
	slot := func(pos uint64) int64 { return mpmcFileOffset(parts, slotSize, slots, pos) }
	tests := []struct {
		name    string
		corrupt func(t *testing.T, name string)
		message string
		before  int // messages returned with the error
	}{
		{"claimed slot seq", func(t *testing.T, name string) {
			writeAt(t, name, slot(2), binary.NativeEndian.AppendUint64(nil, 999))
		}, "slot of position 2 (claimed, enq 3) has seq 999, want 2 or 3", 1},
		{"committed slot flags", func(t *testing.T, name string) {
			writeAt(t, name, slot(1)+12, []byte{7, 0, 0, 0})
		}, "slot of position 1 has length 2 and flags 0x7", 0},
		{"committed slot length", func(t *testing.T, name string) {
			writeAt(t, name, slot(2)+8, []byte{65, 0, 0, 0})
		}, "slot of position 2 has length 65 and flags 0x0; a slot holds at most 64 bytes", 1},
		{"enq a lap ahead of deq", func(t *testing.T, name string) {
			writeAt(t, name, shm.HeaderSize, binary.NativeEndian.AppendUint64(nil, 100))
		}, "enq 100 is 99 positions past deq 1, more than the 64 slots", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, name := releasedAndCommitted(t, slotSize, slots, parts)
			msgs, err := shmring.Peek(name, 0)
			require.NoError(t, err)
			require.Equal(t, []string{"bb", "ccc"}, strs(msgs))

			tt.corrupt(t, name)
			check := untouched(t, name)
			msgs, err = shmring.Peek(name, 0)
			assert.ErrorIs(t, err, shmring.ErrCorrupt)
			assert.ErrorContains(t, err, tt.message)
			assert.Len(t, msgs, tt.before)
			check()
		})
	}
}

// TestPeekInUse peeks at rings whose producers and consumers, in other
// processes, move all the time: every message Peek returns is one that was
// sent, whole, and the messages of one peek are consecutive; a peek fails
// only by saying that the consumers kept moving.
func TestPeekInUse(t *testing.T) {
	t.Run("spsc", func(t *testing.T) {
		n := streamShort
		_, name := createNamed(t, &shmring.Options{Size: streamSize})
		env := map[string]string{envRing: name, envCount: strconv.Itoa(n), envSeed: "11", envMode: "peek"}
		cons := startHelper(t, "consume", helperConfig{env: env})
		prod := startHelper(t, "produce", helperConfig{env: env})
		var peeks, moved, seen int
		for done := false; !done; {
			select {
			case <-cons.done:
				done = true
			case <-prod.done:
				// A consumer that stopped early is seen below.
				done = prod.err != nil
			default:
			}
			msgs, err := shmring.Peek(name, 16)
			if err != nil {
				require.ErrorContains(t, err, "moved during each of")
				moved++
				continue
			}
			peeks++
			for i, m := range msgs {
				require.GreaterOrEqual(t, len(m), streamHeader)
				require.Equal(t, crc32.ChecksumIEEE(m[streamHeader:]), binary.LittleEndian.Uint32(m[8:]), "torn")
				if i > 0 {
					require.Equal(t, binary.LittleEndian.Uint64(msgs[i-1])+1, binary.LittleEndian.Uint64(m), "consecutive")
				}
				seen++
			}
		}
		require.NoError(t, cons.wait(), "the consumer received the whole stream, intact")
		require.NoError(t, prod.wait())
		t.Logf("%d peeks showed %d messages; %d found the consumer moving", peeks, seen, moved)
		assert.NotZero(t, peeks)
	})
	t.Run("mpmc", func(t *testing.T) {
		r, name := createNamed(t, mpmcOptions(shmring.Adaptive))
		per := mpmcMessages / 2
		dir := t.TempDir()
		var ps, cs []*helper
		for i := range 2 {
			cs = append(cs, startMPMC(t, "mpmc-consume", name, map[string]string{
				envMode: "recv", envOut: filepath.Join(dir, strconv.Itoa(i)),
			}, false))
			ps = append(ps, startMPMC(t, "mpmc-produce", name, map[string]string{
				envMode: "send", envID: strconv.Itoa(i + 1), envCount: strconv.Itoa(per),
			}, false))
		}
		var peeks, moved, seen int
		var want []byte
		// Until the producers are done, or a consumer stopped early.
		stopped := func(hs []*helper, all bool) bool {
			n := 0
			for _, h := range hs {
				select {
				case <-h.done:
					n++
				default:
				}
			}
			return n == len(hs) || !all && n > 0
		}
		for done := false; !done; {
			done = stopped(ps, true) || stopped(cs, false)
			msgs, err := shmring.Peek(name, 16)
			if err != nil {
				require.ErrorContains(t, err, "moved during each of")
				moved++
				continue
			}
			peeks++
			for _, m := range msgs {
				require.GreaterOrEqual(t, len(m), mpmcHeader)
				id := msgID{binary.LittleEndian.Uint32(m), binary.LittleEndian.Uint64(m[8:])}
				want = mpmcMessage(want, id, r.MaxMessage())
				require.Equal(t, want, m, "%v, whole", id)
				seen++
			}
		}
		require.False(t, stopped(cs, false), "a consumer stopped early (its stderr is logged above)")
		for _, h := range ps {
			require.NoError(t, h.wait())
		}
		require.NoError(t, r.CloseStream())
		for _, h := range cs {
			require.NoError(t, h.wait())
		}
		t.Logf("%d peeks showed %d messages; %d found the consumers moving", peeks, seen, moved)
		assert.NotZero(t, peeks)
	})
}
