//go:build linux

package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring"
)

// pair makes an anonymous ring of size bytes with a producer and a consumer.
func pair(t *testing.T, b *Bridge, o *Options) (r, p, c uint64) {
	t.Helper()
	r, err := b.CreateAnonymous(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(r) })
	p, err = b.ProducerOpen(r)
	require.NoError(t, err)
	c, err = b.ConsumerOpen(r)
	require.NoError(t, err)
	return r, p, c
}

func code(err error) int { return Code(err) }

func TestHandles(t *testing.T) {
	var b Bridge
	r, p, c := pair(t, &b, &Options{Size: 4096})
	assert.NotZero(t, r)
	assert.Equal(t, EInval, code(b.ProducerClose(0)), "0 is never a handle")
	assert.Equal(t, EInval, code(b.ProducerClose(c+100)), "never given out")
	assert.Equal(t, EInval, code(b.ConsumerClose(p)), "a producer is not a consumer")
	_, err := b.Kind(p)
	assert.Equal(t, EInval, code(err), "a producer is not a ring")
	require.NoError(t, b.ProducerClose(p))
	assert.Equal(t, EClosed, code(b.ProducerClose(p)), "closed twice")
	assert.Equal(t, EClosed, code(b.TrySend(p, []byte("x"))))
	p2, err := b.ProducerOpen(r)
	require.NoError(t, err)
	assert.Greater(t, p2, c, "handles are never reused")
	require.NoError(t, b.Close(r))
	assert.Equal(t, EClosed, code(b.Close(r)))
	assert.Equal(t, EClosed, code(b.TrySend(p2, []byte("x"))), "the ring's close closed its endpoints")
	require.NoError(t, b.ProducerClose(p2), "closed by its ring, it closes again without error")
	_, err = lookup[*producer](&b.handles, p2)
	assert.Equal(t, EClosed, code(err))
	require.NoError(t, b.ConsumerClose(c))
}

func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, OK},
		{shmring.ErrFull, EFull},
		{shmring.ErrEmpty, EEmpty},
		{shmring.ErrTooLarge, ETooLarge},
		{io.ErrShortBuffer, ETooLarge},
		{shmring.ErrCorrupt, ECorrupt},
		{shmring.ErrClosed, EClosed},
		{shmring.ErrBusy, EBusy},
		{shmring.ErrPeerDead, EPeerDead},
		{shmring.ErrParentDead, EParentDead},
		{shmring.ErrMismatch, EMismatch},
		{shmring.ErrNotRing, ENotRing},
		{shmring.ErrVersion, EVersion},
		{shmring.ErrName, EName},
		{shmring.ErrNoSpace, ENoSpace},
		{shmring.ErrNotSupported, ENotSupported},
		{io.EOF, EEOF},
		{context.DeadlineExceeded, ETimeout},
		{os.ErrExist, EExist},
		{os.ErrNotExist, ENoEnt},
		{os.ErrPermission, EPerm},
		{ErrInvalid, EInval},
		{&shmring.AbortError{Code: 3}, EAborted},
		{errors.New("something else"), EOther},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			assert.Equal(t, tt.want, Code(tt.err))
			if tt.err != nil {
				assert.Equal(t, tt.want, Code(fmt.Errorf("wrapped: %w", tt.err)))
			}
			assert.NotEmpty(t, Messages()[tt.want])
		})
	}
	assert.Equal(t, EInval, Code(fmt.Errorf("wrapped: %w", os.ErrInvalid)), "os.ErrInvalid is a bad argument too")
	assert.Len(t, Messages(), len(tests)-1, "one message per code")
}

func TestOptions(t *testing.T) {
	var none *Options
	o, err := none.options()
	require.NoError(t, err)
	assert.Nil(t, o)
	o, err = (&Options{Kind: 1, Wait: 2, Size: 8192, Mode: 0o640, SlotSize: 64, Participants: 4,
		WatchParent: 1, SpinBudgetNs: 5000, Lanes: 2}).options()
	require.NoError(t, err)
	assert.Equal(t, &shmring.Options{Kind: shmring.MPMC, Wait: shmring.Block, Size: 8192, Mode: 0o640,
		SlotSize: 64, Participants: 4, WatchParent: true, SpinBudget: 5 * time.Microsecond, Lanes: 2}, o)
	for _, bad := range []Options{{Kind: 2}, {Kind: -1}, {Wait: 3}, {Size: -1}, {Size: 1<<32 + 1}, {Mode: 0o1000},
		{SlotSize: -8}, {SlotSize: 1<<24 + 1}, {Participants: -1}, {Participants: 65}, {SpinBudgetNs: -1},
		{Lanes: -1}, {Lanes: 65}} {
		_, err := bad.options()
		assert.ErrorIs(t, err, ErrInvalid, "%+v", bad)
	}
	var b Bridge
	_, err = b.CreateAnonymous(&Options{Wait: 7})
	assert.Equal(t, EInval, code(err))
}

func TestSendRecv(t *testing.T) {
	var b Bridge
	r, p, c := pair(t, &b, &Options{Size: 4096})
	max, err := b.MaxMessage(r)
	require.NoError(t, err)
	capacity, err := b.Capacity(r)
	require.NoError(t, err)
	assert.Equal(t, 4096, capacity)
	kind, err := b.Kind(r)
	require.NoError(t, err)
	assert.Equal(t, shmring.SPSC, kind)

	buf := make([]byte, max)
	_, err = b.TryRecv(c, buf)
	assert.Equal(t, EEmpty, code(err))
	_, err = b.Recv(c, buf, 0)
	assert.Equal(t, EEmpty, code(err), "a timeout of 0 is a try")
	start := time.Now()
	_, err = b.Recv(c, buf, int64(20*time.Millisecond))
	assert.Equal(t, ETimeout, code(err))
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)

	require.NoError(t, b.Send(p, []byte("hello"), -1))
	require.NoError(t, b.TrySend(p, []byte("world")))
	_, err = b.TryRecv(c, buf[:3])
	assert.Equal(t, ETooLarge, code(err), "a short buffer")
	n, err := b.Recv(c, buf, -1)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]), "the message stayed in the ring")
	n, err = b.TryRecv(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "world", string(buf[:n]))

	assert.Equal(t, ETooLarge, code(b.TrySend(p, make([]byte, max+1))))
	for code(b.TrySend(p, make([]byte, 100))) == OK {
	}
	assert.Equal(t, EFull, code(b.TrySend(p, make([]byte, 100))))
	assert.Equal(t, EFull, code(b.Send(p, make([]byte, 100), 0)))
	assert.Equal(t, ETimeout, code(b.Send(p, make([]byte, 100), int64(time.Millisecond))))

	st, err := b.ProducerStats(p)
	require.NoError(t, err)
	assert.NotZero(t, st.MsgsSent)
	assert.NotZero(t, st.FullWaits)
	require.NoError(t, b.ProducerClose(p))
	for {
		_, err = b.TryRecv(c, buf)
		if err != nil {
			break
		}
	}
	assert.Equal(t, EEOF, code(err), "the producer's close ends the stream")
	st, err = b.ConsumerStats(c)
	require.NoError(t, err)
	assert.NotZero(t, st.MsgsReceived)
}

// TestCloseEndsBlockedRecv: a consumer's close from another goroutine ends
// its Recv with ErrClosed.
func TestCloseEndsBlockedRecv(t *testing.T) {
	var b Bridge
	_, _, c := pair(t, &b, &Options{Size: 4096})
	done := make(chan error, 1)
	go func() {
		_, err := b.Recv(c, make([]byte, 64), -1)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, b.ConsumerClose(c))
	select {
	case err := <-done:
		assert.Equal(t, EClosed, code(err))
	case <-time.After(5 * time.Second):
		t.Fatal("Recv still blocked after the consumer's close")
	}
}

func TestBatches(t *testing.T) {
	var b Bridge
	r, p, c := pair(t, &b, &Options{Size: 4096})
	max, err := b.MaxMessage(r)
	require.NoError(t, err)
	msgs := [][]byte{[]byte("a"), []byte("bb"), make([]byte, max+1), []byte("dddd")}
	at := func(i int) []byte { return msgs[i] }
	n, err := b.SendBatch(p, len(msgs), at, -1)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the batch stops at the message too large")
	assert.Equal(t, ETooLarge, code(b.TrySend(p, []byte("x"))), "the next call reports it")
	n, err = b.SendBatch(p, 1, func(int) []byte { return msgs[3] }, -1)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "reported once")

	buf := make([]byte, 4)
	lens := make([]uintptr, 8)
	n, err = b.RecvBatch(c, buf, lens, -1)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "dddd does not fit after a and bb")
	assert.Equal(t, []uintptr{1, 2}, lens[:n])
	assert.Equal(t, "abb", string(buf[:3]))
	_, err = b.RecvBatch(c, buf[:3], lens, 0)
	assert.Equal(t, ETooLarge, code(err), "the first message does not fit")
	n, err = b.RecvBatch(c, buf, lens[:1], 0)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, "dddd", string(buf[:lens[0]]), "it stayed in the ring")
	_, err = b.RecvBatch(c, buf, lens, 0)
	assert.Equal(t, EEmpty, code(err))
	_, err = b.RecvBatch(c, buf, lens, int64(time.Millisecond))
	assert.Equal(t, ETimeout, code(err))
	_, err = b.RecvBatch(c, buf, nil, 0)
	assert.Equal(t, EInval, code(err))

	big := make([]byte, 1000)
	n, err = b.SendBatch(p, 8, func(int) []byte { return big }, 0)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "a try sends what fits (4 KiB: four records of 8+1000 bytes)")
	_, err = b.SendBatch(p, 1, func(int) []byte { return big }, 0)
	assert.Equal(t, EFull, code(err), "nothing fits")
	_, err = b.SendBatch(p, 1, func(int) []byte { return big }, int64(time.Millisecond))
	assert.Equal(t, ETimeout, code(err))
	require.NoError(t, b.ProducerClose(p))
	buf = make([]byte, 4096)
	n, err = b.RecvBatch(c, buf, lens, -1)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	_, err = b.RecvBatch(c, buf, lens, -1)
	assert.Equal(t, EEOF, code(err))
}

// readable polls fd for up to wait and reports whether it is readable.
func readable(t *testing.T, fd int, wait time.Duration) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(wait.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		return n == 1 && fds[0].Revents&unix.POLLIN != 0
	}
}

// openFDs counts this process's descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// noLeaks checks at the end of the test that the descriptors and goroutines
// are back to what they are now.
func noLeaks(t *testing.T) {
	t.Helper()
	fds, gs := openFDs(t), runtime.NumGoroutine()
	t.Cleanup(func() {
		assert.Equal(t, fds, openFDs(t), "descriptors")
		// A goroutine that closed its done channel may not have
		// returned yet.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > gs && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		assert.LessOrEqual(t, runtime.NumGoroutine(), gs, "goroutines")
	})
}

func TestConsumerFD(t *testing.T) {
	noLeaks(t)
	var b Bridge
	r, err := b.CreateAnonymous(&Options{Size: 4096})
	require.NoError(t, err)
	p, err := b.ProducerOpen(r)
	require.NoError(t, err)
	c, err := b.ConsumerOpen(r)
	require.NoError(t, err)
	fd, err := b.ConsumerFD(c)
	require.NoError(t, err)
	again, err := b.ConsumerFD(c)
	require.NoError(t, err)
	assert.Equal(t, fd, again, "one descriptor per consumer")
	assert.False(t, readable(t, fd, 20*time.Millisecond), "empty ring")

	require.NoError(t, b.TrySend(p, []byte("one")))
	assert.True(t, readable(t, fd, 5000*time.Millisecond), "a message")
	buf := make([]byte, 64)
	_, err = b.TryRecv(c, buf)
	require.NoError(t, err)
	assert.True(t, readable(t, fd, 0), "stays readable until a try-recv finds the ring empty")
	_, err = b.TryRecv(c, buf)
	assert.Equal(t, EEmpty, code(err))
	assert.False(t, readable(t, fd, 20*time.Millisecond), "re-armed")
	require.NoError(t, b.TrySend(p, []byte("two")))
	assert.True(t, readable(t, fd, 5000*time.Millisecond), "readable again")
	_, err = b.TryRecv(c, buf)
	require.NoError(t, err)
	_, err = b.TryRecv(c, buf)
	assert.Equal(t, EEmpty, code(err))

	require.NoError(t, b.ProducerClose(p))
	assert.True(t, readable(t, fd, 5000*time.Millisecond), "end of stream")
	_, err = b.TryRecv(c, buf)
	assert.Equal(t, EEOF, code(err))
	require.NoError(t, b.Close(r))
	assert.True(t, readable(t, fd, 5000*time.Millisecond), "closed ring")
	_, err = b.TryRecv(c, buf)
	assert.Equal(t, EClosed, code(err))
	require.NoError(t, b.ConsumerClose(c))
	_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	assert.ErrorIs(t, err, unix.EBADF, "the consumer's close closed the descriptor")
}

// TestConsumerFDNoLostWakeup streams messages with pauses of random length
// to a consumer that waits only on its descriptor and drains with
// try-recv: a lost wake-up leaves it waiting with messages in the ring.
func TestConsumerFDNoLostWakeup(t *testing.T) {
	noLeaks(t)
	const n = 20000
	var b Bridge
	r, p, c := pair(t, &b, &Options{Size: 4096})
	fd, err := b.ConsumerFD(c)
	require.NoError(t, err)
	go func() {
		msg := make([]byte, 8)
		for i := range n {
			if i%64 == 0 {
				time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
			}
			for code(b.TrySend(p, msg)) == EFull {
				runtime.Gosched()
			}
		}
		_ = b.ProducerClose(p)
	}()
	buf := make([]byte, 64)
	got := 0
	for {
		if !readable(t, fd, 5*time.Second) {
			require.Failf(t, "lost wake-up", "descriptor not readable for 5 s after %d of %d messages", got, n)
		}
		for {
			_, err = b.TryRecv(c, buf)
			if err != nil {
				break
			}
			got++
		}
		if code(err) == EEOF {
			break
		}
		require.Equal(t, EEmpty, code(err))
	}
	assert.Equal(t, n, got)
	require.NoError(t, b.ConsumerClose(c))
	require.NoError(t, b.Close(r))
}

func TestProducerFD(t *testing.T) {
	noLeaks(t)
	for _, kind := range []int32{int32(shmring.SPSC), int32(shmring.MPMC)} {
		t.Run(shmring.Kind(kind).String(), func(t *testing.T) {
			var b Bridge
			r, err := b.CreateAnonymous(&Options{Kind: kind, Size: 4096, SlotSize: 64})
			require.NoError(t, err)
			p, err := b.ProducerOpen(r)
			require.NoError(t, err)
			c, err := b.ConsumerOpen(r)
			require.NoError(t, err)
			_, err = b.ProducerFD(c)
			assert.Equal(t, EInval, code(err), "a consumer")
			fd, err := b.ProducerFD(p)
			require.NoError(t, err)
			again, err := b.ProducerFD(p)
			require.NoError(t, err)
			assert.Equal(t, fd, again)
			assert.True(t, readable(t, fd, 5000*time.Millisecond), "room, nothing refused yet")

			msg := make([]byte, 64)
			for err == nil {
				err = b.TrySend(p, msg)
			}
			require.Equal(t, EFull, code(err))
			assert.False(t, readable(t, fd, 20*time.Millisecond), "full")
			buf := make([]byte, 64)
			for range 3 {
				_, err = b.TryRecv(c, buf)
				require.NoError(t, err)
			}
			assert.True(t, readable(t, fd, 5000*time.Millisecond), "room was freed")
			require.NoError(t, b.TrySend(p, msg))
			require.NoError(t, b.ProducerClose(p))
			_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			assert.ErrorIs(t, err, unix.EBADF, "the producer's close closed the descriptor")
			require.NoError(t, b.ConsumerClose(c))
			require.NoError(t, b.Close(r))
		})
	}
}

// TestProducerFDNoLostWakeup fills the ring with try-send and waits only on
// the producer's descriptor, against a consumer that pauses at random: a
// lost wake-up leaves the producer waiting on a ring with room.
func TestProducerFDNoLostWakeup(t *testing.T) {
	noLeaks(t)
	const n = 20000
	var b Bridge
	_, p, c := pair(t, &b, &Options{Size: 4096})
	fd, err := b.ProducerFD(p)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for i := range n {
			if i%64 == 0 {
				time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
			}
			if _, err := b.Recv(c, buf, int64(10*time.Second)); err != nil {
				done <- fmt.Errorf("message %d: %w", i, err)
				return
			}
		}
		done <- b.ConsumerClose(c)
	}()
	msg := make([]byte, 24)
	for sent := 0; sent < n; {
		err := b.TrySend(p, msg)
		if err == nil {
			sent++
			continue
		}
		require.Equal(t, EFull, code(err))
		if !readable(t, fd, 5*time.Second) {
			require.Failf(t, "lost wake-up", "descriptor not readable for 5 s after %d of %d messages", sent, n)
		}
	}
	require.NoError(t, <-done)
	require.NoError(t, b.ProducerClose(p))
}

func TestEvents(t *testing.T) {
	noLeaks(t)
	var b Bridge
	r, err := b.CreateAnonymous(nil)
	require.NoError(t, err)
	assert.Equal(t, EInval, code(b.EventSet(r, shmring.NumEvents)))
	assert.Equal(t, EInval, code(b.EventSet(r, -1)))
	set, err := b.EventIsSet(r, 3)
	require.NoError(t, err)
	assert.False(t, set)
	assert.Equal(t, ETimeout, code(b.EventWait(r, 3, 0)))
	assert.Equal(t, ETimeout, code(b.EventWait(r, 3, int64(time.Millisecond))))

	fd, err := b.EventFD(r, 3)
	require.NoError(t, err)
	other, err := b.EventFD(r, 4)
	require.NoError(t, err)
	assert.False(t, readable(t, fd, 20*time.Millisecond))
	require.NoError(t, b.EventSet(r, 3))
	assert.True(t, readable(t, fd, 5*time.Second), "set")
	require.NoError(t, b.EventWait(r, 3, -1))
	set, err = b.EventIsSet(r, 3)
	require.NoError(t, err)
	assert.True(t, set)
	require.NoError(t, b.EventClear(r, 3))
	assert.Equal(t, EInval, code(b.EventFDClose(r+1, fd)), "another ring's")
	assert.Equal(t, EInval, code(b.EventFDClose(r, 0)), "not an event descriptor")
	require.NoError(t, b.EventFDClose(r, fd))
	assert.Equal(t, EInval, code(b.EventFDClose(r, fd)), "closed already")

	assert.False(t, readable(t, other, 0))
	require.NoError(t, b.Close(r))
	assert.True(t, readable(t, other, 5*time.Second), "the ring's close")
	require.NoError(t, b.EventFDClose(r, other), "after the ring's close")
	_, err = b.EventFD(r, 0)
	assert.Equal(t, EClosed, code(err))
}

func TestPassFD(t *testing.T) {
	var b Bridge
	r, err := b.CreateAnonymous(&Options{Size: 4096})
	require.NoError(t, err)
	defer b.Close(r)
	_, _, err = b.PassFD(r, "bad key", 64)
	assert.Equal(t, EName, code(err))
	_, _, err = b.PassFD(r, "CAPI_TEST", len("CAPI_TEST")+PassEnvSlack-1)
	assert.Equal(t, EInval, code(err), "no room for the entry")
	fd, env, err := b.PassFD(r, "CAPI_TEST", len("CAPI_TEST")+PassEnvSlack)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, fd, 3)
	assert.Equal(t, fmt.Sprintf("SHMRING_FD_CAPI_TEST=%d", fd), env)
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	require.NoError(t, err)
	assert.Zero(t, flags&unix.FD_CLOEXEC, "a child inherits it")

	// This process plays the child: Inherit takes the descriptor over.
	name, value, _ := strings.Cut(env, "=")
	t.Setenv(name, value)
	child, err := b.Inherit("CAPI_TEST", nil)
	require.NoError(t, err)
	defer b.Close(child)
	p, err := b.ProducerOpen(r)
	require.NoError(t, err)
	c, err := b.ConsumerOpen(child)
	require.NoError(t, err)
	require.NoError(t, b.TrySend(p, []byte("through the passed descriptor")))
	buf := make([]byte, 64)
	n, err := b.Recv(c, buf, int64(5*time.Second))
	require.NoError(t, err)
	assert.Equal(t, "through the passed descriptor", string(buf[:n]))
}

func TestNamed(t *testing.T) {
	var b Bridge
	name := fmt.Sprintf("shmring-capi-test-%d", os.Getpid())
	r, err := b.Create(name, &Options{Size: 4096})
	require.NoError(t, err)
	defer func() { _ = shmring.Unlink(name) }()
	_, err = b.Create(name, nil)
	assert.Equal(t, EExist, code(err))
	o, err := b.Open(name, nil)
	require.NoError(t, err)
	_, err = b.Open(name, &Options{Size: 1 << 20})
	assert.Equal(t, EMismatch, code(err))
	oc, err := b.OpenOrCreate(name, nil)
	require.NoError(t, err)
	for _, h := range []uint64{r, o, oc} {
		require.NoError(t, b.Close(h))
	}
	require.NoError(t, shmring.Unlink(name))
	_, err = b.Open(name, nil)
	assert.Equal(t, ENoEnt, code(err))
	_, err = b.Open("bad/../name/", nil)
	assert.NotEqual(t, OK, code(err))
}

func TestLastError(t *testing.T) {
	var b Bridge
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	assert.Empty(t, b.LastError())
	assert.Equal(t, EClosed, b.Result(fmt.Errorf("detail here: %w", shmring.ErrClosed)))
	assert.Equal(t, "detail here: file already closed", b.LastError())
	assert.Equal(t, OK, b.Result(nil))
	assert.Equal(t, "detail here: file already closed", b.LastError(), "a success leaves it")
	other := make(chan string)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		other <- b.LastError()
	}()
	assert.Empty(t, <-other, "another thread's")
}

func TestLastErrorBounded(t *testing.T) {
	var l lastErrors
	for tid := range 2 * maxThreads {
		l.set(tid, ErrInvalid)
	}
	assert.Len(t, l.m, maxThreads)
	assert.NotEmpty(t, l.get(2*maxThreads-1), "the newest is kept")
}
