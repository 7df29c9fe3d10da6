package shmring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// anonRing creates an anonymous ring closed at the end of the test.
func anonRing(t testing.TB, opts *shmring.Options) *shmring.Ring {
	t.Helper()
	r, err := shmring.CreateAnonymous(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

var ringSeq atomic.Int64

// ringName returns a bare name unique to this test process, removed at
// the end of the test if it exists.
func ringName(t testing.TB) string {
	name := fmt.Sprintf("shmring-test-%d-u%d", os.Getpid(), ringSeq.Add(1))
	t.Cleanup(func() { _ = os.Remove(filepath.Join(shmDir, name)) })
	return name
}

// pair attaches both ends of r.
func pair(t testing.TB, r *shmring.Ring) (*shmring.Producer, *shmring.Consumer) {
	t.Helper()
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	return p, c
}

func TestOptionsRoundSize(t *testing.T) {
	for _, tc := range []struct {
		size, want int64
	}{
		{0, shmring.DefaultSize},
		{1, 4096},
		{4096, 4096},
		{4097, 8192},
		{100_000, 131072},
	} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			r := anonRing(t, &shmring.Options{Size: tc.size})
			assert.Equal(t, int(tc.want), r.Capacity())
			assert.Equal(t, int(tc.want)-16, r.MaxMessage())
		})
	}
	for _, bad := range []shmring.Options{
		{Size: -1},
		{Size: 1 << 33},
		{Mode: os.ModeDir | 0o600},
		{Wait: shmring.Block + 1},
		{SpinBudget: -time.Second},
	} {
		_, err := shmring.CreateAnonymous(&bad)
		assert.Error(t, err, "%+v", bad)
	}
}

func TestSendRecvInOrder(t *testing.T) {
	for _, strategy := range []shmring.WaitStrategy{shmring.Adaptive, shmring.Spin, shmring.Block} {
		t.Run(strategy.String(), func(t *testing.T) {
			r := anonRing(t, &shmring.Options{Size: 8192, Wait: strategy})
			p, c := pair(t, r)
			const n = 20000
			ctx := context.Background()
			errc := make(chan error, 1)
			go func() {
				rng := rand.New(rand.NewPCG(1, 2))
				msg := make([]byte, 600)
				for i := range n {
					m := msg[:8+rng.IntN(len(msg)-8)]
					fill(m, uint64(i))
					if err := p.Send(ctx, m); err != nil {
						errc <- err
						return
					}
				}
				errc <- p.Close()
			}()
			buf := make([]byte, 1024)
			for i := range n {
				k, err := c.Recv(ctx, buf)
				require.NoError(t, err)
				require.NoError(t, check(buf[:k], uint64(i)))
			}
			_, err := c.Recv(ctx, buf)
			assert.ErrorIs(t, err, io.EOF)
			_, err = c.TryRecv(buf)
			assert.ErrorIs(t, err, io.EOF, "EOF is sticky")
			require.NoError(t, <-errc)
		})
	}
}

// fill writes seq into m[:8] and a pattern derived from it after.
func fill(m []byte, seq uint64) {
	for i := range m {
		m[i] = byte(seq>>(8*(i%8))) ^ byte(i/8)
	}
}

// check verifies a message written by fill.
func check(m []byte, seq uint64) error {
	want := make([]byte, len(m))
	fill(want, seq)
	if !bytes.Equal(m, want) {
		return fmt.Errorf("message %d of %d bytes is damaged", seq, len(m))
	}
	return nil
}

func TestTryAndLimits(t *testing.T) {
	r := anonRing(t, &shmring.Options{Size: 4096})
	p, c := pair(t, r)
	buf := make([]byte, 4096)

	_, err := c.TryRecv(buf)
	assert.ErrorIs(t, err, shmring.ErrEmpty)
	assert.ErrorIs(t, p.TrySend(make([]byte, r.MaxMessage()+1)), shmring.ErrTooLarge)
	assert.ErrorIs(t, p.Send(context.Background(), make([]byte, r.MaxMessage()+1)), shmring.ErrTooLarge)

	sent := 0
	for {
		err := p.TrySend(make([]byte, 100))
		if errors.Is(err, shmring.ErrFull) {
			break
		}
		require.NoError(t, err)
		sent++
	}
	assert.Equal(t, 4096/112, sent, "each 100-byte message takes 112 bytes")
	n, err := c.TryRecv(buf[:10])
	assert.ErrorIs(t, err, io.ErrShortBuffer)
	assert.Zero(t, n)
	for range sent {
		n, err := c.TryRecv(buf)
		require.NoError(t, err)
		assert.Equal(t, 100, n)
	}
	_, err = c.TryRecv(buf)
	assert.ErrorIs(t, err, shmring.ErrEmpty)

	// A message as large as the ring fits once the ring is empty, even with
	// the tail in the middle of a lap: padding goes first.
	require.NoError(t, p.TrySend(make([]byte, 100)))
	_, err = c.TryRecv(buf)
	require.NoError(t, err)
	big := make([]byte, r.MaxMessage())
	fill(big, 7)
	require.ErrorIs(t, p.TrySend(big), shmring.ErrFull, "padding is published, the record waits")
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, shmring.ErrEmpty, "the consumer skips the padding")
	require.NoError(t, p.TrySend(big))
	n, err = c.TryRecv(buf)
	require.NoError(t, err)
	assert.NoError(t, check(buf[:n], 7))
}

func TestZeroCopyAndBatch(t *testing.T) {
	r := anonRing(t, &shmring.Options{Size: 1 << 16})
	p, c := pair(t, r)
	ctx := context.Background()

	w, err := p.Reserve(ctx, 64)
	require.NoError(t, err)
	require.Len(t, w, 64)
	copy(w, "hello, ring")
	p.Commit(len("hello, ring"))

	m, err := c.Peek(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hello, ring", string(m))
	again, err := c.TryPeek()
	require.NoError(t, err)
	assert.Equal(t, "hello, ring", string(again), "peek without release sees the same message")
	c.Release()
	_, err = c.TryPeek()
	assert.ErrorIs(t, err, shmring.ErrEmpty)

	msgs := make([][]byte, 100)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprintf("message %d", i))
	}
	n, err := p.SendBatch(ctx, msgs)
	require.NoError(t, err)
	require.Equal(t, 100, n)

	var got []string
	for len(got) < 100 {
		k, err := c.ReadBatch(ctx, 30, func(msg []byte) { got = append(got, string(msg)) })
		require.NoError(t, err)
		assert.LessOrEqual(t, k, 30)
	}
	for i, g := range got {
		assert.Equal(t, fmt.Sprintf("message %d", i), g)
	}

	assert.Panics(t, func() { c.Release() }, "Release without Peek")
	assert.Panics(t, func() { p.Commit(1) }, "Commit without Reserve")
}

// TestSendBatchStopsAtTooLarge checks that an SPSC SendBatch stops at a
// message over MaxMessage with ErrTooLarge, having sent, and published, the
// ones before it.
func TestSendBatchStopsAtTooLarge(t *testing.T) {
	r := anonRing(t, &shmring.Options{Size: 4096})
	p, c := pair(t, r)
	tooLarge := make([]byte, r.MaxMessage()+1)
	n, err := p.SendBatch(context.Background(), [][]byte{[]byte("one"), []byte("two"), tooLarge, []byte("three")})
	require.ErrorIs(t, err, shmring.ErrTooLarge)
	assert.Equal(t, 2, n)
	buf := make([]byte, 16)
	for _, want := range []string{"one", "two"} {
		k, err := c.TryRecv(buf)
		require.NoError(t, err)
		assert.Equal(t, want, string(buf[:k]))
	}
	_, err = c.TryRecv(buf)
	assert.ErrorIs(t, err, shmring.ErrEmpty)
}

func TestBatchLargerThanRing(t *testing.T) {
	r := anonRing(t, &shmring.Options{Size: 4096})
	p, c := pair(t, r)
	ctx := context.Background()
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = make([]byte, 40)
		fill(msgs[i], uint64(i))
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.SendBatch(ctx, msgs)
		done <- errors.Join(err, p.Close())
	}()
	seq := uint64(0)
	for {
		_, err := c.ReadBatch(ctx, 0, func(msg []byte) {
			assert.NoError(t, check(msg, seq))
			seq++
		})
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
	}
	assert.Equal(t, uint64(len(msgs)), seq)
	require.NoError(t, <-done)
}

func TestSecondEndpointBusy(t *testing.T) {
	r := anonRing(t, nil)
	p, c := pair(t, r)
	_, err := r.Producer()
	assert.ErrorIs(t, err, shmring.ErrBusy)
	_, err = r.Consumer()
	assert.ErrorIs(t, err, shmring.ErrBusy)

	require.NoError(t, p.Close())
	require.NoError(t, c.Close())
	p2, err := r.Producer()
	require.NoError(t, err, "the role is free after Close")
	c2, err := r.Consumer()
	require.NoError(t, err)
	require.NoError(t, p2.TrySend([]byte("x")), "a new producer reopens the stream")
	buf := make([]byte, 8)
	n, err := c2.TryRecv(buf)
	require.NoError(t, err)
	assert.Equal(t, "x", string(buf[:n]))
}

func TestWaitsEnd(t *testing.T) {
	for _, strategy := range []shmring.WaitStrategy{shmring.Adaptive, shmring.Spin, shmring.Block} {
		t.Run(strategy.String(), func(t *testing.T) {
			buf := make([]byte, 64)

			t.Run("context cancel", func(t *testing.T) {
				r := anonRing(t, &shmring.Options{Wait: strategy})
				_, c := pair(t, r)
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(20*time.Millisecond, cancel)
				_, err := c.Recv(ctx, buf)
				assert.ErrorIs(t, err, context.Canceled)
			})
			t.Run("deadline", func(t *testing.T) {
				r := anonRing(t, &shmring.Options{Wait: strategy})
				_, c := pair(t, r)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				_, err := c.Recv(ctx, buf)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
			t.Run("close consumer", func(t *testing.T) {
				r := anonRing(t, &shmring.Options{Wait: strategy})
				_, c := pair(t, r)
				time.AfterFunc(20*time.Millisecond, func() { assert.NoError(t, c.Close()) })
				_, err := c.Recv(context.Background(), buf)
				assert.ErrorIs(t, err, shmring.ErrClosed)
				assert.NoError(t, c.Close(), "Close is idempotent")
				_, err = c.TryRecv(buf)
				assert.ErrorIs(t, err, shmring.ErrClosed)
			})
			t.Run("close ring under a full send", func(t *testing.T) {
				r, err := shmring.CreateAnonymous(&shmring.Options{Size: 4096, Wait: strategy})
				require.NoError(t, err)
				p, _ := pair(t, r)
				for p.TrySend(make([]byte, 1000)) == nil {
				}
				time.AfterFunc(20*time.Millisecond, func() { assert.NoError(t, r.Close()) })
				err = p.Send(context.Background(), make([]byte, 1000))
				assert.ErrorIs(t, err, shmring.ErrClosed)
				assert.NoError(t, r.Close())
			})
			t.Run("event", func(t *testing.T) {
				r := anonRing(t, &shmring.Options{Wait: strategy})
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				assert.ErrorIs(t, r.Event(1).Wait(ctx), context.DeadlineExceeded)
			})
		})
	}
}

func TestCancelLeavesStateUnchanged(t *testing.T) {
	r := anonRing(t, &shmring.Options{Size: 4096, Wait: shmring.Block})
	p, c := pair(t, r)
	// Seven 512-byte records and one of 496 fill the ring but the header
	// word that stays zero.
	for p.TrySend(make([]byte, 500)) == nil {
	}
	require.NoError(t, p.TrySend(make([]byte, 488)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Send(ctx, []byte("late")), context.DeadlineExceeded)
	buf := make([]byte, 600)
	count := 0
	for {
		n, err := c.TryRecv(buf)
		if errors.Is(err, shmring.ErrEmpty) {
			break
		}
		require.NoError(t, err)
		if count < 7 {
			require.Equal(t, 500, n, "the cancelled Send left nothing behind")
		} else {
			require.Equal(t, 488, n, "the cancelled Send left nothing behind")
		}
		count++
	}
	assert.Equal(t, 8, count)
}

func TestReadyChannel(t *testing.T) {
	r := anonRing(t, &shmring.Options{Size: 1 << 16})
	p, c := pair(t, r)
	const n = 50000
	go func() {
		ctx := context.Background()
		for i := range n {
			var b [8]byte
			fill(b[:], uint64(i))
			if err := p.Send(ctx, b[:]); err != nil {
				t.Error(err)
				return
			}
		}
		assert.NoError(t, p.Close())
	}()

	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	timeout := time.After(60 * time.Second)
	buf := make([]byte, 16)
	next := uint64(0)
	for {
		select {
		case <-c.Ready():
		drain:
			for {
				k, err := c.TryRecv(buf)
				switch {
				case errors.Is(err, shmring.ErrEmpty):
					break drain
				case errors.Is(err, io.EOF):
					assert.Equal(t, uint64(n), next)
					return
				}
				require.NoError(t, err)
				require.NoError(t, check(buf[:k], next))
				next++
			}
		case <-ticker.C:
		case <-timeout:
			t.Fatalf("stuck after %d messages", next)
		}
	}
}

func TestReadyStopsOnClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		send bool // the poller delivered readiness and waits to be re-armed
	}{{"waiting for a message", false}, {"waiting to be re-armed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := anonRing(t, nil)
			p, c := pair(t, r)
			ready := c.Ready()
			require.Eventually(t, func() bool { return pollers() == 1 }, 10*time.Second, time.Millisecond,
				"Ready starts one poller")
			if tc.send {
				require.NoError(t, p.TrySend([]byte("x")))
				select {
				case <-ready:
				case <-time.After(10 * time.Second):
					t.Fatal("no readiness for a committed message")
				}
			} else {
				select {
				case <-ready:
					t.Fatal("ready on an empty ring")
				case <-time.After(10 * time.Millisecond):
				}
			}
			// A select blocked on the channel wakes when Close
			// closes it.
			woke := make(chan bool)
			go func() {
				_, ok := <-ready
				woke <- ok
			}()
			require.NoError(t, c.Close())
			select {
			case ok := <-woke:
				assert.False(t, ok, "Close closes the channel")
			case <-time.After(10 * time.Second):
				t.Fatal("a receive blocked on Ready did not wake on Close")
			}
			// Close waits until the poller has signalled its end; the
			// goroutine itself may take a moment more to return from its
			// deferred calls, but must not stay parked.
			assert.Eventually(t, func() bool { return pollers() == 0 }, 2*time.Second, time.Millisecond,
				"Close stopped the poller")
			_, err := c.TryRecv(make([]byte, 8))
			assert.ErrorIs(t, err, shmring.ErrClosed)
		})
	}
}

// pollers counts the goroutines running a Ready poller. Earlier tests
// closed their rings in their cleanups, so only this test's can be left.
func pollers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "(*poller).run(")
}

func TestEvent(t *testing.T) {
	r := anonRing(t, nil)
	ev := r.Event(0)
	assert.False(t, ev.IsSet())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, ev.Wait(ctx))
		}()
	}
	ch := ev.C(ctx)
	time.Sleep(5 * time.Millisecond)
	ev.Set()
	wg.Wait()
	assert.NoError(t, <-ch)
	_, open := <-ch
	assert.False(t, open, "C is closed after its one result")
	assert.True(t, ev.IsSet())
	assert.False(t, r.Event(1).IsSet(), "events are independent")
	ev.Clear()
	assert.False(t, ev.IsSet())
	assert.Panics(t, func() { r.Event(shmring.NumEvents) })
}

func TestNamedRing(t *testing.T) {
	name := ringName(t)
	r, err := shmring.Create(name, &shmring.Options{Size: 4096})
	require.NoError(t, err)
	defer r.Close()
	fi, err := os.Stat(filepath.Join(shmDir, name))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	_, err = shmring.Create(name, nil)
	assert.ErrorIs(t, err, os.ErrExist)

	r2, err := shmring.OpenOrCreate(name, nil)
	require.NoError(t, err)
	defer r2.Close()
	assert.Equal(t, 4096, r2.Capacity(), "an existing ring keeps its size")

	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r2.Consumer()
	require.NoError(t, err)
	require.NoError(t, p.TrySend([]byte("through two mappings")))
	buf := make([]byte, 64)
	n, err := c.Recv(context.Background(), buf)
	require.NoError(t, err)
	assert.Equal(t, "through two mappings", string(buf[:n]))

	require.NoError(t, shmring.Unlink(name))
	_, err = shmring.Open(name, nil)
	assert.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, p.TrySend([]byte("still mapped")), "an unlinked ring works for those who have it")
}

func TestModeOption(t *testing.T) {
	name := ringName(t)
	r, err := shmring.Create(name, &shmring.Options{Size: 4096, Mode: 0o640})
	require.NoError(t, err)
	defer r.Close()
	defer shmring.Unlink(name)
	fi, err := os.Stat(filepath.Join(shmDir, name))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
}

func TestRingCloseIdempotent(t *testing.T) {
	r, err := shmring.CreateAnonymous(nil)
	require.NoError(t, err)
	p, c := pair(t, r)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	assert.ErrorIs(t, p.TrySend([]byte("x")), shmring.ErrClosed)
	_, err = c.TryRecv(make([]byte, 8))
	assert.ErrorIs(t, err, shmring.ErrClosed)
	_, err = r.Producer()
	assert.ErrorIs(t, err, shmring.ErrClosed)
}

func TestInheritErrors(t *testing.T) {
	_, err := shmring.Inherit("bad key", nil)
	assert.ErrorIs(t, err, shmring.ErrName)
	_, err = shmring.Inherit("SHMRING_NOT_SET_FOR_TEST", nil)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// BenchmarkSendRecv moves messages between two goroutines of one process:
// the copy API's cost per message, with the cache-line traffic of two cores.
func BenchmarkSendRecv(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			r := anonRing(b, nil)
			p, c := pair(b, r)
			ctx := context.Background()
			msg := make([]byte, size)
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, size)
				for range b.N {
					if _, err := c.Recv(ctx, buf); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
		})
	}
}

func TestNoAllocsPerMessage(t *testing.T) {
	for _, kind := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			r := anonRing(t, &shmring.Options{Kind: kind, SlotSize: 64})
			p, c := pair(t, r)
			ctx := context.Background()
			msg, buf := make([]byte, 64), make([]byte, 64)
			// Plain checks: testify would box its arguments and allocate.
			// AllocsPerRun counts every goroutine's allocations: many runs
			// dilute a stray one from a goroutine of an earlier test.
			var failed error
			fail := func(err error) {
				if err != nil && failed == nil {
					failed = err
				}
			}
			allocs := testing.AllocsPerRun(10000, func() {
				fail(p.Send(ctx, msg))
				fail(p.TrySend(msg))
				_, err := c.Recv(ctx, buf)
				fail(err)
				_, err = c.TryRecv(buf)
				fail(err)
				w, err := p.Reserve(ctx, 64)
				fail(err)
				copy(w, msg)
				p.Commit(64)
				_, err = c.Peek(ctx)
				fail(err)
				c.Release()
				if _, err = c.TryRecv(buf); err != shmring.ErrEmpty {
					fail(fmt.Errorf("TryRecv on an empty ring: %v", err))
				}
			})
			require.NoError(t, failed)
			assert.Zero(t, allocs, "Send, TrySend, Recv, TryRecv, Reserve, Commit, Peek, Release allocate nothing")
		})
	}
}

// twoGoroutines runs produce and consume on two goroutines and reports the
// figures of b.N messages of size bytes.
func twoGoroutines(b *testing.B, size int, produce, consume func(n int)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		consume(b.N)
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	produce(b.N)
	<-done
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
}

// BenchmarkZeroCopy writes in place with Reserve/Commit and reads in place
// with Peek/Release, between two goroutines.
func BenchmarkZeroCopy(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			r := anonRing(b, nil)
			p, c := pair(b, r)
			ctx := context.Background()
			twoGoroutines(b, size, func(n int) {
				for range n {
					w, err := p.Reserve(ctx, size)
					if err != nil {
						b.Fatal(err)
					}
					w[0] = 1
					p.Commit(size)
				}
			}, func(n int) {
				for range n {
					m, err := c.Peek(ctx)
					if err != nil || len(m) != size {
						b.Error(err)
						return
					}
					c.Release()
				}
			})
		})
	}
}

// BenchmarkBatch sends batches of 256 with SendBatch and drains with
// ReadBatch: one publication of each cursor per batch.
func BenchmarkBatch(b *testing.B) {
	const batch = 256
	r := anonRing(b, nil)
	p, c := pair(b, r)
	ctx := context.Background()
	msgs := make([][]byte, batch)
	for i := range msgs {
		msgs[i] = make([]byte, 64)
	}
	twoGoroutines(b, 64, func(n int) {
		for sent := 0; sent < n; {
			k, err := p.SendBatch(ctx, msgs[:min(batch, n-sent)])
			if err != nil {
				b.Fatal(err)
			}
			sent += k
		}
	}, func(n int) {
		for got := 0; got < n; {
			k, err := c.ReadBatch(ctx, 0, func([]byte) {})
			if err != nil {
				b.Error(err)
				return
			}
			got += k
		}
	})
}

// BenchmarkChannel consumes through the Ready channel and TryRecv, as an
// event loop that selects on the ring and other channels would.
func BenchmarkChannel(b *testing.B) {
	r := anonRing(b, nil)
	p, c := pair(b, r)
	ctx := context.Background()
	msg := make([]byte, 64)
	twoGoroutines(b, 64, func(n int) {
		for range n {
			if err := p.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	}, func(n int) {
		buf := make([]byte, 64)
		for got := 0; got < n; {
			select {
			case <-c.Ready():
			case <-ctx.Done():
				return
			}
			for {
				_, err := c.TryRecv(buf)
				if err != nil {
					break
				}
				got++
			}
		}
	})
}

// BenchmarkMPMC moves messages from P producer goroutines to C consumer
// goroutines through one MPMC ring.
func BenchmarkMPMC(b *testing.B) {
	for _, pc := range []int{1, 2} {
		b.Run(fmt.Sprintf("%dP%dC", pc, pc), func(b *testing.B) {
			r := anonRing(b, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64})
			ctx := context.Background()
			var got atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range pc {
				p, err := r.Producer()
				require.NoError(b, err)
				c, err := r.Consumer()
				require.NoError(b, err)
				wg.Add(2)
				go func() {
					defer wg.Done()
					msg := make([]byte, 64)
					for range b.N/pc + boolInt(i < b.N%pc) {
						if err := p.Send(ctx, msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					buf := make([]byte, 64)
					for got.Load() < int64(b.N) {
						if _, err := c.TryRecv(buf); err == nil {
							got.Add(1)
						} else {
							runtime.Gosched()
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
