package shmring_test

// MPMC rings: options, limits, end of stream, the channel poller and the
// counters in one process; then producers and consumers in separate processes
// (the helper roles at the end of the file) moving checked messages, killed
// with SIGKILL at random points, or stopped with SIGSTOP.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// Environment of the MPMC helper roles, besides envRing, envWait, envCount
// and envMode.
const (
	envID  = "SHMRING_TEST_ID"  // producer id stamped in every message
	envOut = "SHMRING_TEST_OUT" // file the helper appends its reports to
)

const (
	// mpmcSlot and mpmcSlots shape the rings of the cross-process tests: a
	// lap of 64 slots, so that the ring wraps, fills and empties all the
	// time.
	mpmcSlot  = 256
	mpmcSlots = 64
	// mpmcVictims is how many helpers the fault test keeps running at once,
	// waiting to be killed.
	mpmcVictims = 4
	// mpmcFaultLimit bounds the fault test: a watchdog for the survivors'
	// calls, far above the few seconds it takes.
	mpmcFaultLimit = 90 * time.Second
)

// mpmcOptions returns the options of a cross-process MPMC ring.
func mpmcOptions(w shmring.WaitStrategy) *shmring.Options {
	return &shmring.Options{Kind: shmring.MPMC, SlotSize: mpmcSlot, Size: mpmcSlot * mpmcSlots, Wait: w}
}

// MPMC messages: the producer's id (4 bytes, little endian), the CRC-32
// (IEEE) of the body (4 bytes), the producer's sequence number (8 bytes),
// then a body whose length (up to the slot size) and contents come from a
// PRNG seeded by id and sequence number, so that any consumer regenerates the
// message it should have got.
const mpmcHeader = 16

// msgID names a message: its producer and sequence number.
type msgID struct {
	id  uint32
	seq uint64
}

func (m msgID) String() string { return fmt.Sprintf("message %d of producer %d", m.seq, m.id) }

// badID is the producer id of the record a consumer helper writes when it
// received a damaged message.
const badID = ^uint32(0)

// mpmcMessage writes message m for slots of max bytes over dst's storage
// (growing it if needed) and returns it.
func mpmcMessage(dst []byte, m msgID, max int) []byte {
	pcg := rand.NewPCG(uint64(m.id), m.seq)
	n := int(pcg.Uint64() % uint64(max-mpmcHeader+1))
	msg := slices.Grow(dst[:0], mpmcHeader+n)[:mpmcHeader+n]
	body := msg[mpmcHeader:]
	var w [8]byte
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(w[:], pcg.Uint64())
		copy(body[i:], w[:])
	}
	binary.LittleEndian.PutUint32(msg, m.id)
	binary.LittleEndian.PutUint32(msg[4:], crc32.ChecksumIEEE(body))
	binary.LittleEndian.PutUint64(msg[8:], m.seq)
	return msg
}

// mpmcChecker checks received messages.
type mpmcChecker struct {
	max  int // slot size of the ring
	want []byte
}

// check returns the id of msg, and an error unless msg is exactly the message
// its id names: anything else is torn.
func (c *mpmcChecker) check(msg []byte) (msgID, error) {
	if len(msg) < mpmcHeader {
		return msgID{}, fmt.Errorf("%d-byte message, shorter than its header: torn", len(msg))
	}
	m := msgID{binary.LittleEndian.Uint32(msg), binary.LittleEndian.Uint64(msg[8:])}
	if sum, body := binary.LittleEndian.Uint32(msg[4:]), crc32.ChecksumIEEE(msg[mpmcHeader:]); sum != body {
		return m, fmt.Errorf("%v: checksum %#08x, body's is %#08x: torn", m, sum, body)
	}
	c.want = mpmcMessage(c.want, m, c.max)
	if !bytes.Equal(msg, c.want) {
		return m, fmt.Errorf("%v: %d bytes differ from the %d bytes sent: torn", m, len(msg), len(c.want))
	}
	return m, nil
}

// Report files. A consumer appends one 12-byte record per message (producer
// id, then sequence number, little endian); a producer one 8-byte sequence
// number per message sent. A helper killed in the middle of a write may leave
// a partial record at the end, which readers ignore.
const (
	mpmcRecordSize = 12
	mpmcSeqSize    = 8
)

func appendRecord(b []byte, m msgID) []byte {
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint32(b, m.id), m.seq)
}

// readRecords returns the whole records of a consumer's report file.
func readRecords(t *testing.T, path string) []msgID {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // killed before it created the file
	}
	require.NoError(t, err)
	ids := make([]msgID, 0, len(b)/mpmcRecordSize)
	for ; len(b) >= mpmcRecordSize; b = b[mpmcRecordSize:] {
		ids = append(ids, msgID{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint64(b[4:])})
	}
	return ids
}

// readSent returns how many messages a producer's report file says were
// sent: one more than the last whole sequence number in it.
func readSent(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	require.NoError(t, err)
	if len(b) < mpmcSeqSize {
		return 0
	}
	last := len(b) / mpmcSeqSize * mpmcSeqSize
	return binary.LittleEndian.Uint64(b[last-mpmcSeqSize:]) + 1
}

func TestMPMCOptions(t *testing.T) {
	tests := []struct {
		name                   string
		opts                   shmring.Options
		slotSize, slots, parts int
	}{
		{"defaults", shmring.Options{}, shmring.DefaultSlotSize, shmring.DefaultSize / shmring.DefaultSlotSize, shmring.MaxParticipants},
		{"slot size rounded up to 8", shmring.Options{SlotSize: 1, Size: 4096}, 8, 512, shmring.MaxParticipants},
		{"slot count rounded up to a power of two", shmring.Options{SlotSize: 100, Size: 4096}, 104, 64, shmring.MaxParticipants},
		{"two slots at least", shmring.Options{SlotSize: 8192, Size: 4096}, 8192, 2, shmring.MaxParticipants},
		{"one participant", shmring.Options{Size: 4096, Participants: 1}, shmring.DefaultSlotSize, 4, 1},
		{"three participants", shmring.Options{Size: 4096, Participants: 3}, shmring.DefaultSlotSize, 4, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Kind = shmring.MPMC
			r := anonRing(t, &opts)
			assert.Equal(t, shmring.MPMC, r.Kind())
			assert.Equal(t, tt.slotSize, r.MaxMessage())
			assert.Equal(t, tt.slots*tt.slotSize, r.Capacity())

			// Every participant entry takes one endpoint, of either role.
			for i := range tt.parts {
				var err error
				if i%2 == 0 {
					_, err = r.Consumer()
				} else {
					_, err = r.Producer()
				}
				require.NoError(t, err, "endpoint %d of %d", i+1, tt.parts)
			}
			_, err := r.Producer()
			assert.ErrorIs(t, err, shmring.ErrBusy)
			_, err = r.Consumer()
			assert.ErrorIs(t, err, shmring.ErrBusy)
		})
	}

	for _, bad := range []shmring.Options{
		{Kind: shmring.MPMC, SlotSize: -1},
		{Kind: shmring.MPMC, SlotSize: 1<<24 + 1},
		{Kind: shmring.MPMC, Participants: -1},
		{Kind: shmring.MPMC, Participants: shmring.MaxParticipants + 1},
		{Kind: shmring.MPMC + 1},
	} {
		_, err := shmring.CreateAnonymous(&bad)
		assert.Error(t, err, "%+v", bad)
	}
}

// TestMPMCLanes checks Options.Lanes: rounded up to a power of two,
// recorded in the segment and matched on open, refused outside its bounds;
// producers take lanes of their own, and every message arrives, each
// producer's in order, counted and copied across the lanes by Len and Peek,
// and checked by Check.
func TestMPMCLanes(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 4096, Lanes: 3})
	require.Equal(t, 4, r.Lanes())
	assert.Equal(t, 64*64, r.Capacity())
	assert.Equal(t, 4, openNamed(t, name, &shmring.Options{Lanes: 4}).Lanes())
	assert.Equal(t, 4, openNamed(t, name, &shmring.Options{Lanes: 3}).Lanes(), "3 rounds to the ring's 4")
	_, err := shmring.Open(name, &shmring.Options{Lanes: 2})
	require.ErrorIs(t, err, shmring.ErrMismatch)
	assert.Contains(t, err.Error(), "2 lanes asked, the ring has 4")

	var ps []*shmring.Producer
	for range 4 {
		p, err := r.Producer()
		require.NoError(t, err)
		ps = append(ps, p)
	}
	c, err := r.Consumer()
	require.NoError(t, err)
	for seq := range 3 {
		for i, p := range ps {
			require.NoError(t, p.Send(ctx, []byte(fmt.Sprintf("%d/%d", i, seq))))
		}
	}
	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, 4, info.MPMC.Lanes)
	assert.Equal(t, uint64(12), info.MPMC.Enq, "positions claimed, summed over the lanes")
	assert.Equal(t, 12, info.Depth)
	lanes := map[int]bool{}
	for _, p := range info.MPMC.Participants {
		if p.Role == "producer" {
			lanes[p.Lane] = true
		}
	}
	assert.Len(t, lanes, 4, "a lane per producer")
	n, err := r.Len()
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	msgs, err := shmring.Peek(name, 0)
	require.NoError(t, err)
	assert.Len(t, msgs, 12)
	problems, err := shmring.Check(name)
	require.NoError(t, err)
	assert.Empty(t, problems, "every lane's slots are where its positions say")

	next := map[byte]int{}
	buf := make([]byte, 64)
	for range 12 {
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%c/%d", buf[0], next[buf[0]]), string(buf[:n]))
		next[buf[0]]++
	}
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, shmring.ErrEmpty)

	for _, bad := range []shmring.Options{
		{Kind: shmring.MPMC, Lanes: -1},
		{Kind: shmring.MPMC, Lanes: shmring.MaxLanes + 1},
		{Kind: shmring.MPMC, Size: 4096, SlotSize: 1024, Lanes: 4}, // 4 slots: lanes of one
	} {
		_, err := shmring.CreateAnonymous(&bad)
		assert.Error(t, err, "%+v", bad)
	}
}

func TestMPMCKindRecorded(t *testing.T) {
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 100, Size: 8192})
	require.Equal(t, shmring.MPMC, r.Kind())
	o := openNamed(t, name, nil)
	assert.Equal(t, shmring.MPMC, o.Kind(), "opening takes the kind from the segment")
	assert.Equal(t, 104, o.MaxMessage())
	assert.Equal(t, 104*128, o.Capacity())
	_, err := shmring.Open(name, &shmring.Options{Kind: shmring.SPSC, SlotSize: 8, Size: 1 << 20})
	assert.ErrorIs(t, err, shmring.ErrMismatch, "an explicit slot size and size that differ")

	// And the other way round: an SPSC ring stays one.
	_, spsc := createNamed(t, &shmring.Options{Size: 4096})
	o = openNamed(t, spsc, nil)
	assert.Equal(t, shmring.SPSC, o.Kind())
	assert.Equal(t, 4096-16, o.MaxMessage())
	_, err = shmring.Open(spsc, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64})
	assert.ErrorIs(t, err, shmring.ErrMismatch)
}

func TestMPMCLimits(t *testing.T) {
	ctx := watchdog(t)
	r := anonRing(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 512, Size: 4096})
	p, c := pair(t, r)
	require.Equal(t, 512, r.MaxMessage())

	tooLarge := make([]byte, 513)
	assert.ErrorIs(t, p.TrySend(tooLarge), shmring.ErrTooLarge)
	assert.ErrorIs(t, p.Send(ctx, tooLarge), shmring.ErrTooLarge)
	_, err := p.TryReserve(513)
	assert.ErrorIs(t, err, shmring.ErrTooLarge)
	_, err = p.Reserve(ctx, 513)
	assert.ErrorIs(t, err, shmring.ErrTooLarge)
	n, err := p.SendBatch(ctx, [][]byte{{1}, tooLarge})
	assert.ErrorIs(t, err, shmring.ErrTooLarge)
	assert.Equal(t, 1, n)

	sent := 1
	for {
		msg := make([]byte, 8+8*sent)
		fill(msg, uint64(sent))
		err := p.TrySend(msg)
		if errors.Is(err, shmring.ErrFull) {
			break
		}
		require.NoError(t, err)
		sent++
	}
	assert.Equal(t, 8, sent, "4096 bytes of 512-byte slots: one message a slot, whatever its size")

	buf := make([]byte, 512)
	k, err := c.TryRecv(buf)
	require.NoError(t, err)
	assert.Equal(t, []byte{1}, buf[:k])
	_, err = c.TryRecv(buf[:15])
	assert.ErrorIs(t, err, io.ErrShortBuffer)
	for i := 1; i < sent; i++ {
		k, err := c.TryRecv(buf)
		require.NoError(t, err)
		assert.NoError(t, check(buf[:k], uint64(i)))
	}
	_, err = c.TryRecv(buf)
	assert.ErrorIs(t, err, shmring.ErrEmpty)

	// A reservation given up (by a second Reserve) is passed over.
	w, err := p.Reserve(ctx, 8)
	require.NoError(t, err)
	copy(w, "dropped!")
	w, err = p.Reserve(ctx, 4)
	require.NoError(t, err)
	copy(w, "kept")
	p.Commit(4)
	assert.Equal(t, "kept", recvString(t, ctx, c))
	_, err = c.TryRecv(buf)
	assert.ErrorIs(t, err, shmring.ErrEmpty)
}

// TestMPMCBatch sends batches larger than the ring with SendBatch, which
// claims as many slots as are free at a time and waits for room, to a
// consumer reading with ReadBatch, which claims no more positions than it
// has left to take: every message arrives once and in order, and a
// ReadBatch of max messages leaves nothing claimed behind.
func TestMPMCBatch(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 64 * 16})
	p, c := pair(t, r)
	const total = 1000
	msgs := make([][]byte, total)
	for i := range msgs {
		msgs[i] = []byte(strconv.Itoa(i))
	}
	sent := make(chan error, 1)
	go func() {
		for rest := msgs; len(rest) > 0; {
			k := min(len(rest), 100)
			n, err := p.SendBatch(ctx, rest[:k])
			if err != nil {
				sent <- err
				return
			}
			rest = rest[n:]
		}
		sent <- nil
	}()
	var got []string
	for i := 0; len(got) < total; i++ {
		max := []int{1, 3, 0, 70}[i%4]
		n, err := c.ReadBatch(ctx, max, func(msg []byte) { got = append(got, string(msg)) })
		require.NoError(t, err)
		if max > 0 {
			require.LessOrEqual(t, n, max)
		}
		info, err := shmring.Inspect(name)
		require.NoError(t, err)
		for _, e := range info.MPMC.Participants {
			if e.Role == "consumer" {
				require.Nil(t, e.Intent, "a ReadBatch leaves nothing claimed")
			}
		}
	}
	require.NoError(t, <-sent)
	for i, s := range got {
		require.Equal(t, strconv.Itoa(i), s)
	}
	st := p.Stats()
	assert.Equal(t, uint64(total), st.MsgsSent)
	require.NoError(t, r.CloseStream())
	n, err := p.SendBatch(ctx, msgs[:5])
	assert.ErrorIs(t, err, shmring.ErrClosed)
	assert.Zero(t, n)
	n, err = c.ReadBatch(ctx, 0, func([]byte) {})
	assert.ErrorIs(t, err, io.EOF)
	assert.Zero(t, n)
}

func TestMPMCBusy(t *testing.T) {
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, Size: 4096, Participants: 2})
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)

	_, err = r.Producer()
	assert.ErrorIs(t, err, shmring.ErrBusy)
	_, err = r.Consumer()
	assert.ErrorIs(t, err, shmring.ErrBusy)
	other := openNamed(t, name, nil)
	_, err = other.Consumer()
	assert.ErrorIs(t, err, shmring.ErrBusy, "the table is in the segment, not in the Ring")

	require.NoError(t, p.Close())
	c2, err := other.Consumer()
	require.NoError(t, err, "a closed endpoint frees its entry")
	require.NoError(t, c2.Close())
	require.NoError(t, c.Close())
	p2, err := other.Producer()
	require.NoError(t, err)
	require.NoError(t, p2.Close())
}

func TestMPMCProducerDetach(t *testing.T) {
	ctx := watchdog(t)
	r := anonRing(t, &shmring.Options{Kind: shmring.MPMC, Size: 4096})
	p1, c := pair(t, r)
	p2, err := r.Producer()
	require.NoError(t, err)

	require.NoError(t, p1.Send(ctx, []byte("from p1")))
	require.NoError(t, p1.Close())
	assert.Equal(t, "from p1", recvString(t, ctx, c))
	_, err = c.TryRecv(make([]byte, 64))
	assert.ErrorIs(t, err, shmring.ErrEmpty, "a producer that detaches does not end the stream")

	require.NoError(t, p2.Send(ctx, []byte("from p2")))
	assert.Equal(t, "from p2", recvString(t, ctx, c))
	p3, err := r.Producer()
	require.NoError(t, err)
	require.NoError(t, p3.Send(ctx, []byte("from p3")))
	assert.Equal(t, "from p3", recvString(t, ctx, c))
}

func TestMPMCCloseStream(t *testing.T) {
	ctx := watchdog(t)
	r := anonRing(t, &shmring.Options{Kind: shmring.MPMC, Size: 4096, SlotSize: 64})
	p1, c1 := pair(t, r)
	p2, c2 := pair(t, r)

	const each = 10
	for i := range each {
		require.NoError(t, p1.Send(ctx, []byte{1, byte(i)}))
		require.NoError(t, p2.Send(ctx, []byte{2, byte(i)}))
	}
	require.NoError(t, r.CloseStream())
	require.NoError(t, r.CloseStream(), "idempotent")

	assert.ErrorIs(t, p1.Send(ctx, []byte("late")), shmring.ErrClosed)
	assert.ErrorIs(t, p2.TrySend([]byte("late")), shmring.ErrClosed)
	_, err := p2.Reserve(ctx, 4)
	assert.ErrorIs(t, err, shmring.ErrClosed)
	p3, err := r.Producer()
	require.NoError(t, err)
	assert.ErrorIs(t, p3.Send(ctx, []byte("late")), shmring.ErrClosed, "a producer attaching later does not reopen an MPMC stream")

	// c1 and c2 drain the ring in turns, then each gets io.EOF, and keeps
	// getting it.
	got := map[[2]byte]int{}
	buf := make([]byte, 64)
	for done := 0; done < 2; {
		done = 0
		for _, c := range []*shmring.Consumer{c1, c2} {
			n, err := c.Recv(ctx, buf)
			if errors.Is(err, io.EOF) {
				done++
				continue
			}
			require.NoError(t, err)
			require.Equal(t, 2, n)
			got[[2]byte(buf[:2])]++
		}
	}
	assert.Len(t, got, 2*each, "every message committed before the close")
	for k, n := range got {
		assert.Equal(t, 1, n, "message %v, once", k)
	}
	for _, c := range []*shmring.Consumer{c1, c2} {
		_, err := c.TryRecv(buf)
		assert.ErrorIs(t, err, io.EOF, "io.EOF is sticky")
	}
}

func TestMPMCCloseStreamWakesSleepers(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, Size: 4096, SlotSize: 64, Wait: shmring.Block})
	var ends []chan error
	for range 2 {
		c, err := r.Consumer()
		require.NoError(t, err)
		end := make(chan error, 1)
		ends = append(ends, end)
		go func() {
			_, err := c.Recv(ctx, make([]byte, 64))
			end <- err
		}()
	}
	waitFor(t, "both consumers to sleep", func() bool {
		info, err := shmring.Inspect(name)
		return err == nil && info.Waiters.Data == 2
	})
	require.NoError(t, r.CloseStream())
	for _, end := range ends {
		assert.ErrorIs(t, <-end, io.EOF)
	}
}

func TestMPMCReady(t *testing.T) {
	ctx := watchdog(t)
	r := anonRing(t, &shmring.Options{Kind: shmring.MPMC, Size: 4096, SlotSize: 64})
	p, c := pair(t, r)
	const n = 200
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := p.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
				sent <- err
				return
			}
		}
		sent <- r.CloseStream()
	}()
	buf := make([]byte, 64)
	next := 0
	for {
		select {
		case <-c.Ready():
		case <-ctx.Done():
			t.Fatalf("watchdog: %d messages received", next)
		}
		var err error
		for err == nil {
			var k int
			k, err = c.TryRecv(buf)
			if err == nil {
				require.Equal(t, strconv.Itoa(next), string(buf[:k]), "one producer, one consumer: in order")
				next++
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		require.ErrorIs(t, err, shmring.ErrEmpty)
	}
	assert.Equal(t, n, next)
	require.NoError(t, <-sent)
}

func TestMPMCStats(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, Size: 4096, SlotSize: 512, Wait: shmring.Block})
	p, c := pair(t, r)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	buf := make([]byte, 64)

	_, err := c.Recv(short(), buf)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	cs := c.Stats()
	assert.Equal(t, uint64(1), cs.EmptyWaits)
	assert.GreaterOrEqual(t, cs.Sleeps, uint64(1), "Block sleeps at once")

	for range 8 {
		require.NoError(t, p.TrySend(make([]byte, 10)))
	}
	require.ErrorIs(t, p.Send(short(), make([]byte, 10)), context.DeadlineExceeded)
	ps := p.Stats()
	assert.Equal(t, uint64(8), ps.MsgsSent)
	assert.Equal(t, uint64(80), ps.BytesSent)
	assert.Equal(t, uint64(1), ps.FullWaits)
	assert.GreaterOrEqual(t, ps.Sleeps, uint64(1))
	for range 8 {
		_, err := c.TryRecv(buf)
		require.NoError(t, err)
	}

	// A consumer asleep for data gets one wake-up from the next Send.
	got := make(chan error, 1)
	go func() {
		_, err := c.Recv(ctx, buf)
		got <- err
	}()
	waitFor(t, "the consumer to sleep", func() bool {
		info, err := shmring.Inspect(name)
		return err == nil && info.Waiters.Data == 1
	})
	require.NoError(t, p.Send(ctx, make([]byte, 7)))
	require.NoError(t, <-got)

	ps, cs = p.Stats(), c.Stats()
	assert.Equal(t, shmring.Stats{MsgsSent: 9, BytesSent: 87, FullWaits: 1, Sleeps: ps.Sleeps, Wakes: ps.Wakes}, ps)
	assert.GreaterOrEqual(t, ps.Wakes, uint64(1))
	assert.Equal(t, shmring.Stats{MsgsReceived: 9, BytesReceived: 87, EmptyWaits: 2, Sleeps: cs.Sleeps, Wakes: cs.Wakes}, cs)
	assert.GreaterOrEqual(t, cs.Sleeps, uint64(2))

	// Stats flushed them to the participant entries, where Inspect reads
	// them.
	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	require.NotNil(t, info.MPMC)
	require.Len(t, info.MPMC.Participants, 2)
	for _, pi := range info.MPMC.Participants {
		want := ps
		if pi.Role == "consumer" {
			want = cs
		}
		assert.Equal(t, want, pi.Stats, "entry %d (%s)", pi.Entry, pi.Role)
		assert.True(t, pi.Alive)
		assert.Equal(t, uint32(os.Getpid()), pi.Pid)
	}
}

// waitFor polls cond every millisecond until it holds, failing the test after
// helperTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(helperTimeout)
	for !cond() {
		require.False(t, time.Now().After(deadline), "watchdog: waiting for %s", what)
		time.Sleep(time.Millisecond)
	}
}

// startMPMC starts helper role (mpmc-produce or mpmc-consume) on the named
// ring with env added to its environment.
func startMPMC(t *testing.T, role, name string, env map[string]string, stdin bool) *helper {
	t.Helper()
	cfg := helperConfig{env: map[string]string{envRing: name}, stdin: stdin}
	for k, v := range env {
		cfg.env[k] = v
	}
	return startHelper(t, role, cfg)
}

// hasLine reports whether the helper printed line.
func (h *helper) hasLine(line string) bool { return slices.Contains(h.lines(), line) }

// TestMPMCCrossProcess moves mpmcMessages messages from 4 producer processes
// to 4 consumer processes through one named ring: every message arrives
// exactly once, intact, and each consumer sees each producer's messages in
// the order they were sent. It runs on a ring of one lane and on one of a
// lane per producer.
func TestMPMCCrossProcess(t *testing.T) {
	for _, lanes := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d lanes", lanes), func(t *testing.T) { mpmcCrossProcess(t, lanes) })
	}
}

// mpmcCrossProcess is TestMPMCCrossProcess on a ring of lanes.
func mpmcCrossProcess(t *testing.T, lanes int) {
	const producers, consumers = 4, 4
	opts := mpmcOptions(shmring.Adaptive)
	opts.Lanes = lanes
	r, name := createNamed(t, opts)
	dir := t.TempDir()
	per := mpmcMessages / producers
	produceModes := []string{"send", "batch", "zero-copy", "send"}
	consumeModes := []string{"recv", "peek", "batch", "recv"}
	waits := []shmring.WaitStrategy{shmring.Adaptive, shmring.Block}

	var outs []string
	var cs, ps []*helper
	for i := range consumers {
		out := filepath.Join(dir, fmt.Sprintf("consumer-%d", i))
		outs = append(outs, out)
		cs = append(cs, startMPMC(t, "mpmc-consume", name, map[string]string{
			envMode: consumeModes[i], envOut: out, envWait: waits[i%2].String(),
		}, false))
	}
	for i := range producers {
		ps = append(ps, startMPMC(t, "mpmc-produce", name, map[string]string{
			envMode: produceModes[i], envID: strconv.Itoa(i + 1), envCount: strconv.Itoa(per),
			envWait: waits[i%2].String(),
		}, false))
	}
	for _, h := range ps {
		require.NoError(t, h.wait(), "producer")
	}
	require.NoError(t, r.CloseStream())
	for _, h := range cs {
		require.NoError(t, h.wait(), "consumer: it checks every message and ends on io.EOF")
	}

	seen := make(map[msgID]int, mpmcMessages)
	for i, out := range outs {
		last := map[uint32]uint64{}
		recs := readRecords(t, out)
		t.Logf("consumer %d (%s) received %d messages", i, consumeModes[i], len(recs))
		for _, m := range recs {
			if prev, ok := last[m.id]; ok && m.seq <= prev {
				require.Failf(t, "out of order", "consumer %d: %v after message %d", i, m, prev)
			}
			last[m.id] = m.seq
			if seen[m]++; seen[m] > 1 || m.id < 1 || m.id > producers || m.seq >= uint64(per) {
				require.Failf(t, "unexpected message", "consumer %d: %v (seen %d times)", i, m, seen[m])
			}
		}
	}
	assert.Len(t, seen, producers*per, "every message delivered")
}

// produceUntil sends the messages of producer id on p until stop is closed,
// and returns how many it sent (each Send returned nil).
func produceUntil(ctx context.Context, p *shmring.Producer, id uint32, max int, stop <-chan struct{}) (uint64, error) {
	var buf []byte
	for seq := uint64(0); ; seq++ {
		select {
		case <-stop:
			return seq, nil
		default:
		}
		buf = mpmcMessage(buf, msgID{id, seq}, max)
		if err := p.Send(ctx, buf); err != nil {
			return seq, fmt.Errorf("send %v: %w", msgID{id, seq}, err)
		}
	}
}

// drained is what drainMPMC returns.
type drained struct {
	ids     []msgID
	longest time.Duration // the longest a single call waited
	err     error
}

// drainMPMC receives from c until io.EOF, with Recv, or with Peek and Release
// when peek is set, and checks every message.
func drainMPMC(ctx context.Context, c *shmring.Consumer, slot int, peek bool) drained {
	var d drained
	chk := mpmcChecker{max: slot}
	buf := make([]byte, slot)
	for {
		start := time.Now()
		var msg []byte
		var err error
		if peek {
			msg, err = c.Peek(ctx)
		} else {
			var n int
			n, err = c.Recv(ctx, buf)
			msg = buf[:n]
		}
		d.longest = max(d.longest, time.Since(start))
		if errors.Is(err, io.EOF) {
			return d
		}
		if err != nil {
			d.err = fmt.Errorf("receive after %d messages: %w", len(d.ids), err)
			return d
		}
		m, err := chk.check(msg)
		if err != nil {
			d.err = err
			return d
		}
		d.ids = append(d.ids, m)
		if peek {
			c.Release()
		}
	}
}

// victim is a helper process of the fault test, to be killed.
type victim struct {
	h        *helper
	producer bool
	hold     bool   // holds a reservation (producer) or a lease (consumer) when killed
	id       uint32 // producer id
	out      string // report file
	killAt   time.Time
}

// ready reports whether v reached the point after which it may be killed:
// attached, or holding.
func (v *victim) ready() bool {
	switch {
	case !v.hold:
		return v.h.hasLine("attached")
	case v.producer:
		return v.h.hasLine("reserved")
	}
	return v.h.hasLine("peeked")
}

// TestMPMCKill kills producer and consumer processes with SIGKILL at random
// points, mpmcKills of each at least, while a producer and two consumers in
// the test process keep going: half the victims are killed while they send
// or receive (claiming, copying, committing, asleep on the futex), half while
// they hold a reservation (a claimed, half-written slot) or a lease (a
// message peeked and not released). Then the stream is closed and the
// survivors drain it. Every message a producer reported sent arrives; no
// message arrives twice, except the last one a killed consumer reported,
// which it may have reported without releasing it; no message arrives torn;
// a half-written message never arrives; and the survivors reaped dead
// participants. It runs on a ring of one lane and on one of four.
func TestMPMCKill(t *testing.T) {
	for _, lanes := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d lanes", lanes), func(t *testing.T) { mpmcKill(t, lanes) })
	}
}

// mpmcKill is TestMPMCKill on a ring of lanes.
func mpmcKill(t *testing.T, lanes int) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(watchdog(t), mpmcFaultLimit)
	defer cancel()
	opts := mpmcOptions(shmring.Adaptive)
	opts.Lanes = lanes
	r, name := createNamed(t, opts)
	dir := t.TempDir()
	max := r.MaxMessage()

	p, err := r.Producer()
	require.NoError(t, err)
	stop := make(chan struct{})
	type result struct {
		n   uint64
		err error
	}
	sent := make(chan result, 1)
	go func() {
		n, err := produceUntil(ctx, p, 0, max, stop)
		sent <- result{n, err}
	}()
	var survivors []*shmring.Consumer
	drains := make(chan drained, 2)
	for i := range 2 {
		c, err := r.Consumer()
		require.NoError(t, err)
		survivors = append(survivors, c)
		go func() { drains <- drainMPMC(ctx, c, max, i == 1) }()
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (the victims' kinds, holds and kill times)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var all, pool []*victim
	kills := map[bool]int{} // by producer
	launch := func(producer, hold bool) {
		v := &victim{producer: producer, hold: hold, out: filepath.Join(dir, fmt.Sprintf("victim-%d", len(all)))}
		env := map[string]string{envOut: v.out, envMode: "fault", envCount: "0"}
		role := "mpmc-consume"
		if hold {
			env[envMode], env[envCount] = "hold", strconv.Itoa(rng.IntN(8))
		}
		if producer {
			role, v.id = "mpmc-produce", uint32(len(all)+1)
			env[envID] = strconv.Itoa(int(v.id))
			if !hold {
				env[envMode] = "send"
			}
		}
		v.h = startMPMC(t, role, name, env, hold)
		all, pool = append(all, v), append(pool, v)
	}
	// kill ends v at its kill time, or when the pool is to be emptied; it
	// reports whether v is gone.
	kill := func(v *victim, now bool) bool {
		select {
		case <-v.h.done:
			require.Failf(t, "victim exited by itself", "helper %s: %v", v.h.role, v.h.err)
		default:
		}
		if v.killAt.IsZero() {
			if !v.ready() {
				return false
			}
			delay := time.Duration(rng.IntN(10_000)) * time.Microsecond
			if v.hold {
				delay /= 4
			}
			v.killAt = time.Now().Add(delay)
		}
		if !now && time.Now().Before(v.killAt) {
			return false
		}
		v.h.kill()
		requireKilled(t, v.h.wait())
		kills[v.producer]++
		return true
	}
	for kills[true] < mpmcKills || kills[false] < mpmcKills {
		for len(pool) < mpmcVictims {
			producer := kills[true] < mpmcKills && (kills[false] >= mpmcKills || rng.IntN(2) == 0)
			launch(producer, rng.IntN(2) == 0)
		}
		pool = slices.DeleteFunc(pool, func(v *victim) bool { return kill(v, false) })
		require.NoError(t, ctx.Err(), "watchdog")
		time.Sleep(500 * time.Microsecond)
	}
	// killPool kills the victims left, each once it is ready.
	killPool := func() {
		for len(pool) > 0 {
			pool = slices.DeleteFunc(pool, func(v *victim) bool { return v.ready() && kill(v, true) })
			require.NoError(t, ctx.Err(), "watchdog")
			time.Sleep(500 * time.Microsecond)
		}
	}
	killPool()
	// Last, with no helper left to join (and reap on the way), a producer
	// killed while it holds a reservation, which only the survivors can
	// reap; once they have reaped every dead entry, a consumer killed while
	// it holds a lease, right before the end of the stream: the survivors
	// must adopt its message before they take the stream for drained.
	launch(true, true)
	killPool()
	waitFor(t, "the survivors to reap every victim", func() bool {
		info, err := shmring.Inspect(name)
		return err == nil && len(info.MPMC.Participants) == 3
	})
	close(stop)
	res := <-sent
	require.NoError(t, res.err)
	launch(false, true)
	// Its lease is on a message from this goroutine: the survivors take
	// most of them, but not all. The lease holds its slot until the kill,
	// so once the producer has lapped its lane (16 slots in a ring of four
	// lanes) the lane is full until then: TrySend, so that the loop keeps
	// looking for the victim's lease instead of waiting for room.
	var buf []byte
	for v := pool[0]; !v.ready(); {
		select {
		case <-v.h.done:
			require.Failf(t, "victim exited by itself", "helper %s: %v", v.h.role, v.h.err)
		default:
		}
		buf = mpmcMessage(buf, msgID{0, res.n}, max)
		if err := p.TrySend(buf); !errors.Is(err, shmring.ErrFull) {
			require.NoError(t, err)
			res.n++
		}
		time.Sleep(100 * time.Microsecond)
	}
	killPool()
	require.NoError(t, r.CloseStream())
	t.Logf("%d producers and %d consumers killed in %v", kills[true], kills[false], time.Since(began).Round(time.Millisecond))

	var got []drained
	for range survivors {
		d := <-drains
		require.NoError(t, d.err)
		got = append(got, d)
	}
	require.NoError(t, p.Close())

	// Copies of each message: among all records, and among those that are
	// not the last record of a killed consumer.
	total, firm := map[msgID]int{}, map[msgID]int{}
	for i, d := range got {
		t.Logf("survivor %d received %d messages; its longest wait %v", i, len(d.ids), d.longest)
		assert.Less(t, d.longest, 2*peerDeathBound, "survivor %d waited too long for a message", i)
		for _, m := range d.ids {
			total[m]++
			firm[m]++
		}
	}
	// sent[id] is how many messages producer id reported sent; held[id] the
	// sequence number a holding producer reserved and never committed.
	sentBy := map[uint32]uint64{0: res.n}
	held := map[uint32]uint64{}
	for _, v := range all {
		if v.producer {
			sentBy[v.id] = readSent(t, v.out)
			if v.hold {
				held[v.id] = sentBy[v.id]
			}
			continue
		}
		recs := readRecords(t, v.out)
		for i, m := range recs {
			require.NotEqual(t, badID, m.id, "consumer helper %s received a damaged message (its stderr says which)", v.out)
			total[m]++
			if i < len(recs)-1 {
				firm[m]++
			}
		}
	}
	var problems []string
	for m, n := range total {
		s, known := sentBy[m.id]
		h, holding := held[m.id]
		switch {
		case !known:
			problems = append(problems, fmt.Sprintf("%v: no such producer", m))
		case holding && m.seq >= h:
			problems = append(problems, fmt.Sprintf("%v: reserved, never committed, delivered %d times", m, n))
		case m.seq > s:
			// s is the first not reported; it may have been committed.
			problems = append(problems, fmt.Sprintf("%v: never sent (%d reported), delivered %d times", m, s, n))
		case firm[m] > 1:
			problems = append(problems, fmt.Sprintf("%v: delivered %d times", m, firm[m]))
		}
	}
	for id, s := range sentBy {
		for seq := range s {
			if total[msgID{id, seq}] == 0 {
				problems = append(problems, fmt.Sprintf("%v: sent, never delivered", msgID{id, seq}))
			}
		}
	}
	slices.Sort(problems)
	assert.Empty(t, problems[:min(len(problems), 20)], "%d problems", len(problems))
	t.Logf("%d messages delivered from %d producers", len(total), len(sentBy))

	var reaped uint64
	for _, s := range []shmring.Stats{p.Stats(), survivors[0].Stats(), survivors[1].Stats()} {
		reaped += s.Reaped
	}
	assert.GreaterOrEqual(t, reaped, uint64(2), "the survivors reaped the last victims")
	assert.Less(t, time.Since(began), mpmcFaultLimit)
}

// TestMPMCStoppedProducer stops a producer process with SIGSTOP while it
// holds a reservation: a stopped process is alive, so the consumer waits for
// its slot instead of skipping it; after SIGCONT the producer commits and the
// message is delivered, before what was sent after it.
func TestMPMCStoppedProducer(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, mpmcOptions(shmring.Adaptive))
	max := r.MaxMessage()
	p, c := pair(t, r)
	h := startMPMC(t, "mpmc-produce", name, map[string]string{envID: "1", envCount: "3", envMode: "hold"}, true)
	h.await(t, "the reservation", func() bool { return h.hasLine("reserved") })
	require.NoError(t, h.signal(syscall.SIGSTOP))
	h.await(t, "the helper to stop", h.stopped)
	require.NoError(t, p.Send(ctx, mpmcMessage(nil, msgID{0, 0}, max)))

	chk := mpmcChecker{max: max}
	buf := make([]byte, max)
	recv := func(ctx context.Context) (msgID, error) {
		n, err := c.Recv(ctx, buf)
		if err != nil {
			return msgID{}, err
		}
		return chk.check(buf[:n])
	}
	for seq := range uint64(3) {
		m, err := recv(ctx)
		require.NoError(t, err)
		assert.Equal(t, msgID{1, seq}, m)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := recv(stopCtx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the stopped producer's slot is neither skipped nor passed")
	assert.Zero(t, c.Stats().Reaped)

	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	i := slices.IndexFunc(info.MPMC.Participants, func(pi shmring.ParticipantInfo) bool { return pi.Pid == uint32(h.cmd.Process.Pid) })
	require.GreaterOrEqual(t, i, 0, "the helper's entry: %+v", info.MPMC.Participants)
	helperEntry := info.MPMC.Participants[i]
	assert.True(t, helperEntry.Alive, "a stopped process holds its lock")
	require.NotNil(t, helperEntry.Intent)
	assert.Equal(t, uint64(3), *helperEntry.Intent, "it holds position 3")

	require.NoError(t, h.closeStdin())
	require.NoError(t, h.signal(syscall.SIGCONT))
	for _, want := range []msgID{{1, 3}, {0, 0}} {
		m, err := recv(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, m)
	}
	require.NoError(t, h.wait())
	assert.Zero(t, c.Stats().Reaped)
}

// TestMPMCDeadConsumerLease kills a consumer process that holds a message it
// peeked: another consumer adopts the message and delivers it, once, after
// the messages that went past meanwhile.
func TestMPMCDeadConsumerLease(t *testing.T) {
	tests := []struct {
		name        string
		attachAfter bool // the survivor attaches after the death (and its join reaps)
		closeStream bool // the stream is closed right after the death
	}{
		{"survivor waits", false, false},
		{"survivor attaches after the death", true, false},
		{"stream closed after the death", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := watchdog(t)
			r, name := createNamed(t, mpmcOptions(shmring.Block))
			max := r.MaxMessage()
			p, err := r.Producer()
			require.NoError(t, err)
			for seq := range uint64(3) {
				require.NoError(t, p.Send(ctx, mpmcMessage(nil, msgID{0, seq}, max)))
			}
			var c *shmring.Consumer
			if !tt.attachAfter {
				c, err = r.Consumer()
				require.NoError(t, err)
			}
			out := filepath.Join(t.TempDir(), "records")
			h := startMPMC(t, "mpmc-consume", name, map[string]string{envMode: "hold", envCount: "0", envOut: out}, true)
			h.await(t, "the lease", func() bool { return h.hasLine("peeked") })
			h.kill()
			requireKilled(t, h.wait())
			assert.Empty(t, readRecords(t, out), "the helper reported nothing")
			if tt.closeStream {
				require.NoError(t, r.CloseStream())
			}
			if tt.attachAfter {
				c, err = r.Consumer()
				require.NoError(t, err)
			}

			chk := mpmcChecker{max: max}
			buf := make([]byte, max)
			var got []msgID
			for range 3 {
				n, err := c.Recv(ctx, buf)
				require.NoError(t, err, "after %v", got)
				m, err := chk.check(buf[:n])
				require.NoError(t, err)
				got = append(got, m)
			}
			assert.Equal(t, []msgID{{0, 1}, {0, 2}, {0, 0}}, got, "the adopted message comes after those that went past")

			if tt.closeStream {
				_, err = c.Recv(ctx, buf)
				assert.ErrorIs(t, err, io.EOF)
			} else {
				short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
				_, err = c.Recv(short, buf)
				assert.ErrorIs(t, err, context.DeadlineExceeded, "adopted once")
			}
			if !tt.attachAfter {
				assert.Equal(t, uint64(1), c.Stats().Reaped, "the survivor reaped the dead consumer")
			}
			info, err := shmring.Inspect(name)
			require.NoError(t, err)
			assert.Empty(t, info.MPMC.Orphans)
			assert.Len(t, info.MPMC.Participants, 2, "the dead consumer's entry is free: %+v", info.MPMC.Participants)
		})
	}
}

// TestMPMCReapBound kills a producer process that holds a reservation while
// another producer keeps sending, a message every 2 ms, into a ring of 4096
// slots: the consumer, woken by every message behind the dead one's slot,
// must still reap it within the bound, not once the ring has filled up
// (8 seconds later).
func TestMPMCReapBound(t *testing.T) {
	for _, w := range []shmring.WaitStrategy{shmring.Block, shmring.Adaptive} {
		t.Run(w.String(), func(t *testing.T) {
			ctx := watchdog(t)
			r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 64 * 4096, Wait: w})
			max := r.MaxMessage()
			p, c := pair(t, r)
			h := startMPMC(t, "mpmc-produce", name, map[string]string{envID: "1", envCount: "0", envMode: "hold"}, true)
			h.await(t, "the reservation", func() bool { return h.hasLine("reserved") })
			h.kill()
			requireKilled(t, h.wait())
			killed := time.Now()

			stop := make(chan struct{})
			sent := make(chan error, 1)
			go func() {
				var buf []byte
				for seq := uint64(0); ; seq++ {
					buf = mpmcMessage(buf, msgID{0, seq}, max)
					if err := p.Send(ctx, buf); err != nil {
						sent <- err
						return
					}
					select {
					case <-stop:
						sent <- nil
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
			}()
			buf := make([]byte, max)
			n, err := c.Recv(ctx, buf)
			elapsed := time.Since(killed)
			close(stop)
			require.NoError(t, <-sent)
			require.NoError(t, err)
			chk := mpmcChecker{max: max}
			m, err := chk.check(buf[:n])
			require.NoError(t, err)
			assert.Equal(t, msgID{0, 0}, m, "the dead producer's half-written slot is skipped")
			assert.Less(t, elapsed, peerDeathBound, "time to skip the dead producer's slot")
			assert.Equal(t, uint64(1), c.Stats().Reaped)
		})
	}
}

// mpmcFileOffset returns the file offset of the slot of position pos in an
// MPMC ring of the given geometry, as ring/mpmc_layout.go lays it out: the
// header page, the control area and the participant table (256 bytes an
// entry) rounded up to a page, then slots of a 16-byte header (seq, length,
// flags) and the payload, 64-byte aligned. Inspect and Check compute the same
// offsets on their own; these tests pin both to the bytes the API writes.
func mpmcFileOffset(participants, slotSize, slots int, pos uint64) int64 {
	align := func(x, a int) int { return (x + a - 1) &^ (a - 1) }
	slot := int(pos % uint64(slots))
	return int64(shm.HeaderSize + align(ring.ControlSize+participants*256, 4096) + slot*align(16+slotSize, 64))
}

func TestInspectMPMC(t *testing.T) {
	ctx := watchdog(t)
	const parts, slotSize, slots = 4, 104, 128
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 100, Size: 8192, Participants: parts, Mode: 0o640})

	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, &shmring.Info{
		Name:       filepath.Join(shmDir, name),
		Kind:       "mpmc",
		FileSize:   mpmcFileOffset(parts, slotSize, slots, 0) + slots*128,
		Mode:       0o640,
		Capacity:   slots * slotSize,
		MaxMessage: slotSize,
		Settled:    true,
		MPMC: &shmring.MPMCInfo{
			Slots: slots, SlotSize: slotSize, Lanes: 1, Entries: parts,
			Participants: []shmring.ParticipantInfo{}, Orphans: []int{},
		},
	}, info, "a fresh ring")

	// Three messages; a reservation given up (a skip record) and one held;
	// one message peeked and held by the consumer.
	p, c := pair(t, r)
	msgs := []string{"a", "bb", "ccc"}
	for _, m := range msgs {
		require.NoError(t, p.Send(ctx, []byte(m)))
	}
	p2, err := r.Producer()
	require.NoError(t, err)
	_, err = p2.Reserve(ctx, 4)
	require.NoError(t, err)
	_, err = p2.Reserve(ctx, 4)
	require.NoError(t, err)
	peeked, err := c.Peek(ctx)
	require.NoError(t, err)
	require.Equal(t, "a", string(peeked))
	r.Event(1).Set()

	check := untouched(t, name)
	info, err = shmring.Inspect(name)
	require.NoError(t, err)
	problems, err := shmring.Check(name)
	require.NoError(t, err)
	assert.Empty(t, problems)
	check()

	assert.Equal(t, 4, info.Depth, "positions 1 to 4 claimed by producers, not by consumers")
	assert.Equal(t, 2, info.Messages, "the skip record and the reservation are not messages")
	assert.True(t, info.Settled)
	assert.False(t, info.Closed)
	assert.Equal(t, uint64(5), info.MPMC.Enq)
	assert.Equal(t, uint64(1), info.MPMC.Deq)
	assert.True(t, info.Events[1].Set)
	pos := func(p uint64) *uint64 { return &p }
	pid := uint32(os.Getpid())
	assert.Equal(t, []shmring.ParticipantInfo{
		{Entry: 0, Role: "producer", Pid: pid, Generation: 1, Alive: true},
		{Entry: 1, Role: "consumer", Pid: pid, Generation: 1, Alive: true, Intent: pos(0), IntentEnd: pos(1)},
		{Entry: 2, Role: "producer", Pid: pid, Generation: 1, Alive: true, Intent: pos(4), IntentEnd: pos(5)},
	}, info.MPMC.Participants, "counters as last flushed: none yet")
	p.Stats()
	info, err = shmring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, shmring.Stats{MsgsSent: 3, BytesSent: 6}, info.MPMC.Participants[0].Stats, "Stats flushes them")
	assert.Equal(t, "alive", info.MPMC.Participants[0].State())

	// The slots are where Check looks for them: seq, length, payload.
	img, err := os.ReadFile(filepath.Join(shmDir, name))
	require.NoError(t, err)
	for i, m := range msgs {
		off := mpmcFileOffset(parts, slotSize, slots, uint64(i))
		assert.Equal(t, uint64(i+1), binary.NativeEndian.Uint64(img[off:]), "seq of position %d", i)
		assert.Equal(t, uint64(len(m)), binary.LittleEndian.Uint64(img[off+8:]), "length and flags of position %d", i)
		assert.Equal(t, m, string(img[off+16:off+16+int64(len(m))]), "payload of position %d", i)
	}

	// Closed, released, detached: an empty table; the entries' generations
	// count the attaches.
	c.Release()
	require.NoError(t, r.CloseStream())
	for _, e := range []io.Closer{p, p2, c} {
		require.NoError(t, e.Close())
	}
	info, err = shmring.Inspect(name)
	require.NoError(t, err)
	assert.True(t, info.Closed)
	assert.Equal(t, 4, info.Depth, "two messages, the skip, and the reservation given up at Close")
	assert.Equal(t, 2, info.Messages)
	assert.Empty(t, info.MPMC.Participants)
}

func TestCheckMPMC(t *testing.T) {
	const parts, slotSize, slots = 4, 64, 64
	slot := func(pos uint64) int64 { return mpmcFileOffset(parts, slotSize, slots, pos) }
	tests := []struct {
		name    string
		corrupt func(t *testing.T, r *shmring.Ring, name string)
		offset  int64
		message string
		inspect bool // Inspect, which looks only between deq and enq, fails too
	}{
		{"free slot seq", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, slot(10), binary.NativeEndian.AppendUint64(nil, 12345))
		}, slot(10), "slot of position 10 (free, enq 3) has seq 12345, want 10", false},
		{"released slot seq", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, slot(63), binary.NativeEndian.AppendUint64(nil, 0))
		}, slot(63), "slot of position 63 (free, enq 3) has seq 0, want 63", false},
		{"free slot of the next lap", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, slot(0), binary.NativeEndian.AppendUint64(nil, 7))
		}, slot(0), "slot of position 64 (free, enq 3) has seq 7, want 64 or 1", false},
		{"claimed slot seq", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, slot(2), binary.NativeEndian.AppendUint64(nil, 999))
		}, slot(2), "slot of position 2 (claimed, enq 3) has seq 999, want 2 or 3", true},
		{"committed slot flags", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, slot(1)+12, []byte{7, 0, 0, 0})
		}, slot(1) + 8, "slot of position 1 has length 2 and flags 0x7; a slot holds at most 64 bytes, flags 0 or 1", true},
		{"committed slot length", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, slot(2)+8, []byte{65, 0, 0, 0})
		}, slot(2) + 8, "slot of position 2 has length 65 and flags 0x0; a slot holds at most 64 bytes, flags 0 or 1", true},
		{"enq a lap ahead of deq", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, shm.HeaderSize, binary.NativeEndian.AppendUint64(nil, 100))
		}, shm.HeaderSize, "enq 100 is 99 positions past deq 1, more than the 64 slots", true},
		{"orphan bit outside the table", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, shm.HeaderSize+768, binary.NativeEndian.AppendUint64(nil, 1<<63))
		}, shm.HeaderSize + 768, "orphans bitmap 0x8000000000000000 has bits 0x8000000000000000 for no participant of 4", false},
		{"sleeper bit outside the table", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, shm.HeaderSize+520, binary.NativeEndian.AppendUint64(nil, 1<<4|1))
		}, shm.HeaderSize + 520, "space sleepers bitmap 0x11 has bits 0x10 for no participant of 4", false},
		{"participant state", func(t *testing.T, _ *shmring.Ring, name string) {
			writeAt(t, name, shm.HeaderSize+ring.ControlSize+3*256, []byte{9})
		}, shm.HeaderSize + ring.ControlSize + 3*256, "participant 3 is in state 9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Position 0 released (its slot free for position 64), 1 and
			// 2 committed.
			r, name := releasedAndCommitted(t, slotSize, slots, parts)
			tt.corrupt(t, r, name)
			check := untouched(t, name)

			_, err := shmring.Inspect(name)
			if tt.inspect {
				assert.ErrorIs(t, err, shmring.ErrCorrupt)
			} else {
				assert.NoError(t, err)
			}
			problems, err := shmring.Check(name)
			require.NoError(t, err)
			require.NotEmpty(t, problems)
			assert.Equal(t, tt.offset, problems[0].Offset, "%v", problems)
			assert.Equal(t, "corrupt ring: "+tt.message, problems[0].Message)
			check()
		})
	}
}

// TestInspectMPMCInUse inspects and checks a ring while producers and
// consumers move through it: Inspect always answers, with bounded figures;
// Check finds nothing wrong, or says the ring kept moving.
func TestInspectMPMCInUse(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, mpmcOptions(shmring.Adaptive))
	stop := make(chan struct{})
	produced, consumed := make(chan error, 2), make(chan error, 2)
	for i := range 2 {
		p, c := pair(t, r)
		go func() {
			_, err := produceUntil(ctx, p, uint32(i), r.MaxMessage(), stop)
			produced <- err
		}()
		go func() { consumed <- drainMPMC(ctx, c, r.MaxMessage(), false).err }()
	}
	moved := 0
	for range 200 {
		info, err := shmring.Inspect(name)
		require.NoError(t, err)
		require.LessOrEqual(t, info.Depth, mpmcSlots)
		require.LessOrEqual(t, info.Messages, info.Depth)
		problems, err := shmring.Check(name)
		if err != nil {
			require.ErrorContains(t, err, "moved during each of")
			moved++
			continue
		}
		require.Empty(t, problems)
	}
	t.Logf("%d of 200 checks found the ring moving", moved)
	close(stop)
	for range 2 {
		require.NoError(t, <-produced)
	}
	require.NoError(t, r.CloseStream())
	for range 2 {
		require.NoError(t, <-consumed)
	}
}

// Helper roles of the MPMC tests.

// reportFile opens the report file named by envOut for appending.
func reportFile() (*os.File, error) {
	return os.OpenFile(os.Getenv(envOut), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

// roleMPMCProduce sends the messages of producer envID (sequence numbers 0,
// 1, ...) on the MPMC ring envRing: envCount of them, or with envCount 0
// until the stream is closed (or the test kills it). envMode says how: with
// Send ("send"), SendBatch ("batch", 1 to 16 messages at a time), Reserve and
// Commit ("zero-copy"); or "hold": Send envCount messages, then Reserve the
// next one, write half of it, print "reserved" and wait for the end of stdin;
// then write the rest, Commit it, and close. It prints "attached" once its
// producer is attached. With envOut set, it appends the sequence number of
// each message to that file once its call has returned, one write each, so
// that a producer killed at any point has reported every message it
// committed but the last one.
func roleMPMCProduce(ctx context.Context, r *shmring.Ring) (err error) {
	id, err := envUint(envID)
	if err != nil {
		return err
	}
	n, err := envUint(envCount)
	if err != nil {
		return err
	}
	p, err := r.Producer()
	if err != nil {
		return err
	}
	fmt.Println("attached")
	var out *os.File
	if os.Getenv(envOut) != "" {
		if out, err = reportFile(); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, out.Close()) }()
	}
	report := func(from, to uint64) error {
		if out == nil {
			return nil
		}
		var b []byte
		for seq := from; seq < to; seq++ {
			b = binary.LittleEndian.AppendUint64(b, seq)
		}
		_, err := out.Write(b)
		return err
	}

	max := r.MaxMessage()
	mode := os.Getenv(envMode)
	batch := make([][]byte, 16)
	var buf []byte
	seq := uint64(0)
	for n == 0 && mode != "hold" || seq < n {
		k := 0 // messages sent by this turn
		switch mode {
		case "send", "hold":
			buf = mpmcMessage(buf, msgID{uint32(id), seq}, max)
			if err = p.Send(ctx, buf); err == nil {
				k = 1
			}
		case "zero-copy":
			buf = mpmcMessage(buf, msgID{uint32(id), seq}, max)
			var w []byte
			if w, err = p.Reserve(ctx, len(buf)); err == nil {
				copy(w, buf)
				p.Commit(len(buf))
				k = 1
			}
		case "batch":
			k = 1 + rand.IntN(len(batch))
			if n != 0 {
				k = min(k, int(n-seq))
			}
			for j := range k {
				batch[j] = mpmcMessage(batch[j], msgID{uint32(id), seq + uint64(j)}, max)
			}
			k, err = p.SendBatch(ctx, batch[:k])
		default:
			return fmt.Errorf("%s: unknown mode %q", envMode, mode)
		}
		if rerr := report(seq, seq+uint64(k)); rerr != nil {
			return rerr
		}
		seq += uint64(k)
		if n == 0 && errors.Is(err, shmring.ErrClosed) {
			return p.Close()
		}
		if err != nil {
			return fmt.Errorf("send message %d: %w", seq, err)
		}
	}
	if mode == "hold" {
		buf = mpmcMessage(buf, msgID{uint32(id), seq}, max)
		w, err := p.Reserve(ctx, len(buf))
		if err != nil {
			return fmt.Errorf("reserve message %d: %w", seq, err)
		}
		copy(w[:len(buf)/2], buf)
		fmt.Println("reserved")
		if err := waitForStdin(); err != nil {
			return err
		}
		copy(w, buf)
		p.Commit(len(buf))
		if err := report(seq, seq+1); err != nil {
			return err
		}
	}
	return p.Close()
}

// roleMPMCConsume receives from the MPMC ring envRing until io.EOF, checks
// every message and appends its id to the file envOut (see readRecords).
// envMode says how: with Recv ("recv"), Peek and Release ("peek") or
// ReadBatch ("batch"), the records buffered and written at the end; or
// ("fault") with Peek, writing each record, unbuffered, before Release, so
// that a consumer killed at any point has reported every message it
// released, and at most one more; or "hold": as "fault", but after envCount
// messages it holds the next one it peeks, prints "peeked", and waits for the
// end of stdin before it goes on. A damaged message makes it write a record
// of producer badID and fail. It prints "attached" once its consumer is
// attached.
func roleMPMCConsume(ctx context.Context, r *shmring.Ring) (err error) {
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	fmt.Println("attached")
	out, err := reportFile()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	chk := mpmcChecker{max: r.MaxMessage()}
	mode := os.Getenv(envMode)
	switch mode {
	case "recv", "peek", "batch":
		bw := bufio.NewWriter(out)
		if err := consumeBuffered(ctx, c, mode, &chk, bw); err != nil {
			return errors.Join(err, bw.Flush())
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	case "fault", "hold":
		hold := -1
		if mode == "hold" {
			n, err := envUint(envCount)
			if err != nil {
				return err
			}
			hold = int(n)
		}
		for i := 0; ; i++ {
			msg, err := c.Peek(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("peek after %d messages: %w", i, err)
			}
			m, err := chk.check(msg)
			if err != nil {
				_, werr := out.Write(appendRecord(nil, msgID{badID, 0}))
				return errors.Join(err, werr)
			}
			if i == hold {
				fmt.Println("peeked")
				if err := waitForStdin(); err != nil {
					return err
				}
			}
			if _, err := out.Write(appendRecord(nil, m)); err != nil {
				return err
			}
			c.Release()
		}
	default:
		return fmt.Errorf("%s: unknown mode %q", envMode, mode)
	}
	return c.Close()
}

// consumeBuffered is roleMPMCConsume in the modes recv, peek and batch.
func consumeBuffered(ctx context.Context, c *shmring.Consumer, mode string, chk *mpmcChecker, w io.Writer) error {
	var rec []byte
	var bad error
	take := func(msg []byte) {
		m, err := chk.check(msg)
		if err != nil && bad == nil {
			bad = err
		}
		rec = appendRecord(rec[:0], m)
		if _, err := w.Write(rec); err != nil && bad == nil {
			bad = err
		}
	}
	buf := make([]byte, chk.max)
	for bad == nil {
		var err error
		switch mode {
		case "recv":
			var n int
			if n, err = c.Recv(ctx, buf); err == nil {
				take(buf[:n])
			}
		case "peek":
			var msg []byte
			if msg, err = c.Peek(ctx); err == nil {
				take(msg)
				c.Release()
			}
		case "batch":
			_, err = c.ReadBatch(ctx, 32, take)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return bad
}

// TestMPMCPollingReaps: endpoints that only poll (TryRecv, TrySend), never
// waiting, still get past a dead producer's half-written slot: their try
// calls look for dead participants as often as a wait does.
func TestMPMCPollingReaps(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 64 * 64})
	p, c := pair(t, r)
	h := startMPMC(t, "mpmc-produce", name, map[string]string{envID: "1", envCount: "0", envMode: "hold"}, true)
	h.await(t, "the reservation", func() bool { return h.hasLine("reserved") })
	h.kill()
	requireKilled(t, h.wait())

	require.NoError(t, p.TrySend([]byte("after the dead producer's slot")))
	buf := make([]byte, r.MaxMessage())
	for {
		n, err := c.TryRecv(buf)
		if errors.Is(err, shmring.ErrEmpty) {
			select {
			case <-ctx.Done():
				t.Fatal("TryRecv stayed empty behind the dead producer's slot")
			case <-time.After(time.Millisecond):
			}
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, "after the dead producer's slot", string(buf[:n]))
		break
	}
	assert.Equal(t, uint64(1), c.Stats().Reaped)
}

// releasedAndCommitted returns a named MPMC ring of slots slots of slotSize
// bytes for parts participants, and its name, in which a message was sent
// and received at position 0 and the messages "bb" and "ccc" are committed
// at positions 1 and 2; no endpoint is attached.
func releasedAndCommitted(t *testing.T, slotSize, slots, parts int) (*shmring.Ring, string) {
	t.Helper()
	ctx := watchdog(t)
	r, name := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: slotSize, Size: int64(slotSize * slots), Participants: parts})
	p, c := pair(t, r)
	for _, m := range []string{"a", "bb", "ccc"} {
		require.NoError(t, p.Send(ctx, []byte(m)))
	}
	assert.Equal(t, "a", recvString(t, ctx, c))
	require.NoError(t, errors.Join(p.Close(), c.Close()))
	return r, name
}
