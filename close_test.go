package shmring_test

// Close at every edge: calls that come after Close, Close racing calls from
// another goroutine, zero-copy leases that outlive their ring, and a segment
// whose file is shrunk under the mapping.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// TestReleaseAfterCloseMPMC: a closed MPMC consumer's message goes to an
// adopter; the closed consumer's late Release must neither free the slot
// under the adopter nor lose a message.
func TestReleaseAfterCloseMPMC(t *testing.T) {
	ctx := watchdog(t)
	r := createAnon(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 2048, Size: 4096}) // two slots
	p, c1 := pair(t, r)
	require.NoError(t, p.Send(ctx, []byte("a")))
	msg, err := c1.Peek(ctx)
	require.NoError(t, err)
	require.Equal(t, "a", string(msg))
	require.NoError(t, c1.Close())

	c2, err := r.Consumer()
	require.NoError(t, err)
	adopted, err := c2.Peek(ctx)
	require.NoError(t, err)
	require.Equal(t, "a", string(adopted), "the closed consumer's message is adopted")

	assert.ErrorIs(t, c1.Release(), shmring.ErrClosed)
	var pending []string
	for _, m := range []string{"w", "x", "y", "z"} {
		if err := p.TrySend([]byte(m)); errors.Is(err, shmring.ErrFull) {
			pending = append(pending, m)
		} else {
			require.NoError(t, err)
		}
	}
	assert.Equal(t, "a", string(adopted), "the adopter's bytes were overwritten")
	require.NoError(t, c2.Release())
	sent := make(chan error, 1)
	go func() {
		for _, m := range pending {
			if err := p.Send(ctx, []byte(m)); err != nil {
				sent <- err
				return
			}
		}
		sent <- r.CloseStream()
	}()
	var got []string
	buf := make([]byte, 64)
	for {
		n, err := c2.Recv(ctx, buf)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, string(buf[:n]))
	}
	require.NoError(t, <-sent)
	assert.Equal(t, []string{"w", "x", "y", "z"}, got)
}

// spscRecord is the payload size whose record is exactly 64 bytes.
const spscRecord = 56

// TestReleaseAfterCloseSPSC: the late Release of a closed SPSC consumer must
// not publish its head over its successor's, which lets the producer
// overwrite records the successor has not read.
func TestReleaseAfterCloseSPSC(t *testing.T) {
	ctx := watchdog(t)
	r := createAnon(t, &shmring.Options{Size: 4096})
	p, c1 := pair(t, r)
	msg := make([]byte, spscRecord)
	sent := uint64(0)
	for ; ; sent++ {
		binary.LittleEndian.PutUint64(msg, sent)
		if err := p.TrySend(msg); errors.Is(err, shmring.ErrFull) {
			break
		} else {
			require.NoError(t, err)
		}
	}
	first, err := c1.Peek(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(0), binary.LittleEndian.Uint64(first))
	require.NoError(t, c1.Close())
	c2, err := r.Consumer()
	require.NoError(t, err)

	assert.ErrorIs(t, c1.Release(), shmring.ErrClosed)
	binary.LittleEndian.PutUint64(msg, sent)
	if err := p.TrySend(msg); err == nil {
		sent++
	} else {
		require.ErrorIs(t, err, shmring.ErrFull, "the ring is as full as before the late Release")
	}
	require.NoError(t, p.Close())
	buf := make([]byte, spscRecord)
	for want := uint64(0); ; want++ {
		n, err := c2.Recv(ctx, buf)
		if err == io.EOF {
			assert.Equal(t, sent, want, "messages received")
			break
		}
		require.NoError(t, err)
		require.Equal(t, spscRecord, n)
		require.Equal(t, want, binary.LittleEndian.Uint64(buf), "message order")
	}
}

// TestCallsAfterClose: every method of a closed endpoint returns ErrClosed
// (or its zero value) without panicking, and an outstanding lease ends with
// the Close: Commit and Release report ErrClosed.
func TestCallsAfterClose(t *testing.T) {
	for _, kind := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			ctx := watchdog(t)
			r := createAnon(t, &shmring.Options{Kind: kind, SlotSize: 64, Size: 4096})
			p, c := pair(t, r)
			require.NoError(t, p.Send(ctx, []byte("m")))
			_, err := p.Reserve(ctx, 4)
			require.NoError(t, err)
			_, err = c.Peek(ctx)
			require.NoError(t, err)
			require.NoError(t, p.Close())
			require.NoError(t, c.Close())

			assert.NotPanics(t, func() { err = p.Commit(4) }, "Commit after Close")
			assert.ErrorIs(t, err, shmring.ErrClosed)
			assert.NotPanics(t, func() { err = c.Release() }, "Release after Close")
			assert.ErrorIs(t, err, shmring.ErrClosed)
			assert.ErrorIs(t, p.Send(ctx, []byte("m")), shmring.ErrClosed)
			assert.ErrorIs(t, p.TrySend([]byte("m")), shmring.ErrClosed)
			_, err = p.SendBatch(ctx, [][]byte{[]byte("m")})
			assert.ErrorIs(t, err, shmring.ErrClosed)
			_, err = p.Reserve(ctx, 1)
			assert.ErrorIs(t, err, shmring.ErrClosed)
			_, err = p.TryReserve(1)
			assert.ErrorIs(t, err, shmring.ErrClosed)
			buf := make([]byte, 64)
			_, err = c.Recv(ctx, buf)
			assert.ErrorIs(t, err, shmring.ErrClosed)
			_, err = c.TryRecv(buf)
			assert.ErrorIs(t, err, shmring.ErrClosed)
			_, err = c.Peek(ctx)
			assert.ErrorIs(t, err, shmring.ErrClosed)
			_, err = c.TryPeek()
			assert.ErrorIs(t, err, shmring.ErrClosed)
			_, err = c.ReadBatch(ctx, 0, func([]byte) {})
			assert.ErrorIs(t, err, shmring.ErrClosed)
			select {
			case <-c.Ready():
			default:
				t.Error("Ready after Close is not ready")
			}
			assert.Equal(t, uint64(1), p.Stats().MsgsSent, "Stats after Close")
			assert.Equal(t, uint64(0), c.Stats().MsgsReceived, "Stats after Close")

			c2, err := r.Consumer()
			require.NoError(t, err)
			n, err := c2.Recv(ctx, buf)
			require.NoError(t, err, "the closed consumer's message is still there")
			assert.Equal(t, "m", string(buf[:n]))
		})
	}
}

// TestRingCallsAfterClose: the Ring's own methods after its Close.
func TestRingCallsAfterClose(t *testing.T) {
	r, err := shmring.CreateAnonymous(nil)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	_, err = r.Producer()
	assert.ErrorIs(t, err, shmring.ErrClosed)
	_, err = r.Consumer()
	assert.ErrorIs(t, err, shmring.ErrClosed)
	assert.ErrorIs(t, r.CloseStream(), shmring.ErrClosed)
	assert.ErrorIs(t, r.Pass(exec.Command("true"), "K"), shmring.ErrClosed)
	assert.ErrorIs(t, r.Flush(), shmring.ErrClosed)
	ev := r.Event(0)
	ev.Set()
	assert.False(t, ev.IsSet())
	assert.ErrorIs(t, ev.Wait(context.Background()), shmring.ErrClosed)
	assert.NoError(t, r.Close(), "Close is idempotent")
}

// TestLeaseOutlivesRingClose: the bytes of a reservation and of a peeked
// message stay addressable after Ring.Close from another goroutine, as a
// private copy: writing them reaches no other mapping, and the lease ends
// with ErrClosed.
func TestLeaseOutlivesRingClose(t *testing.T) {
	ctx := watchdog(t)
	r1, name := createNamed(t, &shmring.Options{Size: 4096})
	r2 := openNamed(t, name, nil)
	p, err := r1.Producer()
	require.NoError(t, err)
	c, err := r2.Consumer()
	require.NoError(t, err)

	require.NoError(t, p.Send(ctx, []byte("before the close")))
	buf, err := p.Reserve(ctx, 32)
	require.NoError(t, err)
	closed := make(chan error)
	go func() { closed <- r1.Close() }()
	require.NoError(t, <-closed)
	copy(buf, "written after the close")
	assert.False(t, bytes.Contains(shmring.Region(r2), []byte("written after the close")),
		"a write into a lease after Ring.Close reached the ring")
	assert.ErrorIs(t, p.Commit(len("written after the close")), shmring.ErrClosed)

	msg, err := c.Peek(ctx)
	require.NoError(t, err)
	go func() { closed <- r2.Close() }()
	require.NoError(t, <-closed)
	assert.Equal(t, "before the close", string(msg), "a peeked message after Ring.Close")
	assert.ErrorIs(t, c.Release(), shmring.ErrClosed)
}

// raceRounds is how many times each Close race runs: each round closes a
// ring at a random moment of a burst of calls.
const raceRounds = 100

// closeSoon closes r after a random pause of up to 200 µs, while other
// goroutines call it.
func closeSoon(t *testing.T, r *shmring.Ring) {
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	assert.NoError(t, r.Close())
}

// TestRingCloseRacesProducer: Ring.Close racing a producer's calls never
// faults, and every call that returned nil did send: the consumer, on
// another mapping of the ring, receives exactly those messages, in order.
func TestRingCloseRacesProducer(t *testing.T) {
	for _, kind := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			ctx := watchdog(t)
			for range raceRounds {
				opts := &shmring.Options{Kind: kind, SlotSize: 64, Size: 1 << 16}
				name := testRingName(t)
				rp, err := shmring.Create(name, opts)
				require.NoError(t, err)
				rc, err := shmring.Open(name, nil)
				require.NoError(t, err)
				p, err := rp.Producer()
				require.NoError(t, err)
				c, err := rc.Consumer()
				require.NoError(t, err)

				var sent atomic.Uint64
				var wg sync.WaitGroup
				wg.Go(func() {
					msg := make([]byte, 16)
					for seq := uint64(0); ; {
						binary.LittleEndian.PutUint64(msg, seq)
						var err error
						switch seq % 3 {
						case 0:
							err = p.TrySend(msg)
						case 1:
							err = p.Send(ctx, msg)
						default:
							var buf []byte
							if buf, err = p.Reserve(ctx, len(msg)); err == nil {
								err = p.Commit(copy(buf, msg))
							}
						}
						if errors.Is(err, shmring.ErrClosed) {
							return
						}
						if err == nil {
							seq++
							sent.Store(seq)
						}
					}
				})
				wg.Go(func() { raceRingCalls(rp) })
				closeSoon(t, rp)
				wg.Wait()

				if kind == shmring.MPMC {
					require.NoError(t, rc.CloseStream())
				}
				buf := make([]byte, 64)
				got := uint64(0)
				for {
					n, err := c.TryRecv(buf)
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					require.Equal(t, 16, n)
					require.Equal(t, got, binary.LittleEndian.Uint64(buf), "message order")
					got++
				}
				require.Equal(t, sent.Load(), got, "a call that returned nil did not send, or one that failed did")
				require.NoError(t, rc.Close())
			}
		})
	}
}

// raceRingCalls calls what touches r's segment outside the endpoints until r
// is closed: events and attaching.
func raceRingCalls(r *shmring.Ring) {
	ev := r.Event(0)
	for i := 0; ; i++ {
		ev.Set()
		ev.Clear()
		_ = ev.IsSet()
		if _, err := r.Consumer(); errors.Is(err, shmring.ErrClosed) {
			return
		}
		if err := r.CloseStream(); errors.Is(err, shmring.ErrClosed) {
			return
		}
		if i%2 == 0 {
			// Reopens an SPSC stream that the CloseStream above ended.
			if p, err := r.Producer(); err == nil {
				_ = p.Close()
			}
		}
	}
}

// TestRingCloseRacesConsumer: Ring.Close racing a consumer's calls never
// faults, and every call that returned a message consumed it: a consumer
// that attaches afterwards, on another mapping, receives exactly the rest.
func TestRingCloseRacesConsumer(t *testing.T) {
	for _, kind := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			ctx := watchdog(t)
			const msgs = 2000
			for range raceRounds {
				opts := &shmring.Options{Kind: kind, SlotSize: 16, Size: 1 << 16}
				name := testRingName(t)
				rp, err := shmring.Create(name, opts)
				require.NoError(t, err)
				p, err := rp.Producer()
				require.NoError(t, err)
				msg := make([]byte, 16)
				for seq := range uint64(msgs) {
					binary.LittleEndian.PutUint64(msg, seq)
					require.NoError(t, p.Send(ctx, msg))
				}
				require.NoError(t, rp.CloseStream())
				rc, err := shmring.Open(name, nil)
				require.NoError(t, err)
				c, err := rc.Consumer()
				require.NoError(t, err)

				var got atomic.Uint64
				var wg sync.WaitGroup
				wg.Go(func() {
					buf := make([]byte, 16)
					for i := 0; ; i++ {
						var seq uint64
						var err error
						switch i % 4 {
						case 0:
							_, err = c.TryRecv(buf)
							seq = binary.LittleEndian.Uint64(buf)
						case 1:
							_, err = c.Recv(ctx, buf)
							seq = binary.LittleEndian.Uint64(buf)
						case 2:
							var m []byte
							if m, err = c.Peek(ctx); err == nil {
								seq = binary.LittleEndian.Uint64(m)
								err = c.Release()
							}
						default:
							_, err = c.ReadBatch(ctx, 1, func(m []byte) { seq = binary.LittleEndian.Uint64(m) })
						}
						if err != nil {
							return // ErrClosed, or io.EOF if the race is lost
						}
						if !assert.Equal(t, got.Load(), seq, "message order") {
							return
						}
						got.Add(1)
					}
				})
				wg.Go(func() { raceRingCalls(rc) })
				closeSoon(t, rc)
				wg.Wait()

				r2, err := shmring.Open(name, nil)
				require.NoError(t, err)
				c2, err := r2.Consumer()
				require.NoError(t, err)
				buf := make([]byte, 16)
				var rest []uint64
				for {
					_, err := c2.Recv(ctx, buf)
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					rest = append(rest, binary.LittleEndian.Uint64(buf))
				}
				if kind == shmring.MPMC {
					// A message peeked before the close and not
					// released is adopted when the ring is empty,
					// after later ones (README, MPMC guarantees).
					slices.Sort(rest)
				}
				want := make([]uint64, 0, msgs)
				for seq := got.Load(); seq < msgs; seq++ {
					want = append(want, seq)
				}
				require.Equal(t, want, append([]uint64{}, rest...), "after %d consumed before the close", got.Load())
				require.NoError(t, r2.Close())
				require.NoError(t, rp.Close())
			}
		})
	}
}

// TestProducerCloseRacesSend: Producer.Close from another goroutine racing
// the producer's calls is no data race (go test -race), and nothing is
// published after the end of the stream: the consumer's io.EOF comes after
// exactly the messages whose calls returned nil.
func TestProducerCloseRacesSend(t *testing.T) {
	ctx := watchdog(t)
	for range raceRounds {
		r := createAnon(t, &shmring.Options{Size: 4096})
		p, c := pair(t, r)
		var sent atomic.Uint64
		var wg sync.WaitGroup
		wg.Go(func() {
			msg := make([]byte, 8)
			for seq := uint64(0); ; {
				binary.LittleEndian.PutUint64(msg, seq)
				err := p.TrySend(msg)
				if errors.Is(err, shmring.ErrClosed) {
					return
				}
				if err == nil {
					seq++
					sent.Store(seq)
				}
			}
		})
		got := uint64(0)
		wg.Go(func() {
			buf := make([]byte, 8)
			for {
				_, err := c.Recv(ctx, buf)
				if err == io.EOF {
					return
				}
				if !assert.NoError(t, err) || !assert.Equal(t, got, binary.LittleEndian.Uint64(buf)) {
					return
				}
				got++
			}
		})
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		require.NoError(t, p.Close())
		wg.Wait()
		require.Equal(t, sent.Load(), got, "messages before io.EOF")
	}
}

// TestShrunkSegment: a named ring whose file another process truncates gives
// ErrCorrupt, never a SIGBUS, from every call that touches it, and still
// closes. (A zero-copy slice handed out before is the caller's to touch:
// README's failure model says it faults.)
func TestShrunkSegment(t *testing.T) {
	ctx := watchdog(t)
	path := filepath.Join(shmDir, ringName(t))
	r, err := shmring.Create(path, &shmring.Options{Size: 4096})
	require.NoError(t, err)
	p, c := pair(t, r)
	require.NoError(t, p.Send(ctx, []byte("m")))
	ready := c.Ready()
	require.NoError(t, os.Truncate(path, 0))

	assert.ErrorIs(t, p.TrySend([]byte("m")), shmring.ErrCorrupt)
	assert.ErrorIs(t, p.Send(ctx, []byte("m")), shmring.ErrCorrupt)
	buf := make([]byte, 16)
	_, err = c.TryRecv(buf)
	assert.ErrorIs(t, err, shmring.ErrCorrupt)
	_, err = c.Recv(ctx, buf)
	assert.ErrorIs(t, err, shmring.ErrCorrupt)
	_, err = c.Peek(ctx)
	assert.ErrorIs(t, err, shmring.ErrCorrupt)
	<-ready
	_ = p.Stats()
	ev := r.Event(0)
	ev.Set()
	assert.False(t, ev.IsSet())
	assert.ErrorIs(t, ev.Wait(ctx), shmring.ErrCorrupt)
	assert.ErrorIs(t, r.CloseStream(), shmring.ErrCorrupt)
	// The name's cleanup could not find the wake-up state of the
	// semaphore fallback through a file shrunk to nothing; the handle can.
	assert.NoError(t, r.Unlink())
	assert.ErrorIs(t, r.Close(), shmring.ErrCorrupt, "Close reports what its last words could not write")
}

// TestPanickingCallsEnd: a call that panics (a broken precondition, or the
// callback of ReadBatch) still ends, so that Close does not wait for it for
// ever; on a named ring too, whose calls recover faults.
func TestPanickingCallsEnd(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "anonymous", true: "named"}[named], func(t *testing.T) {
			ctx := watchdog(t)
			var r *shmring.Ring
			if named {
				r, _ = createNamed(t, nil)
			} else {
				r = createAnon(t, nil)
			}
			p, c := pair(t, r)
			assert.Panics(t, func() { _ = p.Commit(1) }, "Commit without Reserve")
			assert.Panics(t, func() { _ = c.Release() }, "Release without Peek")
			require.NoError(t, p.Send(ctx, []byte("m")))
			assert.PanicsWithValue(t, "callback", func() {
				_, _ = c.ReadBatch(ctx, 0, func([]byte) { panic("callback") })
			})
			closed := make(chan error)
			go func() { closed <- r.Close() }()
			select {
			case err := <-closed:
				assert.NoError(t, err)
			case <-ctx.Done():
				t.Fatal("Close waits for a call that panicked")
			}
			// The callback's message is still out: its lease ends here,
			// unmapping the private copy Close left for it.
			assert.ErrorIs(t, c.Release(), shmring.ErrClosed)
		})
	}
}
