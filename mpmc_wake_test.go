package shmring_test

// MPMC state changes that make a sleeper's condition true: each must wake
// the sleeper (the wake rule of wait.go), so that it returns without a
// lost wake-up counted, rather than at the end of its sleep slice. And the
// Ready poller, which must signal only when its consumer can make progress.

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/ring"
)

// wakeOpts shapes the rings of the wake-up tests: slots slots in the
// smallest ring (4 KiB), and endpoints that sleep at once.
func wakeOpts(slots int) *shmring.Options {
	return &shmring.Options{Kind: shmring.MPMC, SlotSize: 4096 / slots, Size: 4096, Participants: 8, Wait: shmring.Block}
}

// asleep waits until n entries of the named ring sleep for data (space
// false) or for room (space true).
func asleep(t *testing.T, name string, space bool, n uint32) {
	t.Helper()
	waitFor(t, "the waiter to sleep", func() bool {
		info, err := shmring.Inspect(name)
		if err != nil {
			return false
		}
		if space {
			return info.Waiters.Space == n
		}
		return info.Waiters.Data == n
	})
}

// recvAsync starts a Recv on c and returns the channel of its outcome.
func recvAsync(ctx context.Context, c *shmring.Consumer) <-chan string {
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := c.Recv(ctx, buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	return got
}

// TestMPMCSkipWakesConsumers leaves a reservation at deq with a message
// behind it and a consumer asleep; the reservation then becomes a skip
// record, and the consumer must be woken to pass it.
func TestMPMCSkipWakesConsumers(t *testing.T) {
	for _, how := range []string{"producer Close", "second Reserve", "join reaps a dead producer"} {
		t.Run(how, func(t *testing.T) {
			ctx := watchdog(t)
			r, name := createNamed(t, wakeOpts(8))
			m := shmring.MPMCView(r)
			p, c := pair(t, r) // entries 0 and 1
			var abandon func()
			switch how {
			case "join reaps a dead producer":
				// Entry 2: a producer that claimed position 0 and
				// died before committing it.
				require.NoError(t, m.Join(2, ring.EntryProducer, 1, 0))
				pos := m.Enq.Load()
				m.Entry(2).End.Store(pos + 1)
				m.Entry(2).Intent.Store(pos + 1)
				require.True(t, m.Enq.CompareAndSwap(pos, pos+1))
				abandon = func() {
					p2, err := r.Producer() // takes entry 2, reaping it
					require.NoError(t, err)
					require.NoError(t, p2.Close())
				}
			default:
				p2, err := r.Producer()
				require.NoError(t, err)
				_, err = p2.Reserve(ctx, 8)
				require.NoError(t, err)
				abandon = func() {
					if how == "producer Close" {
						require.NoError(t, p2.Close())
						return
					}
					_, err := p2.Reserve(ctx, 8)
					require.NoError(t, err)
				}
			}
			require.NoError(t, p.Send(ctx, []byte("behind")))
			got := recvAsync(ctx, c)
			asleep(t, name, false, 1)
			abandon()
			assert.Equal(t, "behind", <-got)
			assert.Zero(t, r.LostWakeups(), "the skip record woke the consumer")
		})
	}
}

// TestMPMCCloseStreamWakesProducers closes the stream while a producer
// sleeps for room in a full ring: it must be woken, and fail with
// ErrClosed.
func TestMPMCCloseStreamWakesProducers(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, wakeOpts(2))
	p, _ := pair(t, r)
	for range 2 {
		require.NoError(t, p.TrySend([]byte("full")))
	}
	sent := make(chan error, 1)
	go func() { sent <- p.Send(ctx, []byte("late")) }()
	asleep(t, name, true, 1)
	require.NoError(t, r.CloseStream())
	assert.ErrorIs(t, <-sent, shmring.ErrClosed)
	assert.Zero(t, r.LostWakeups(), "the close woke the producer")
}

// TestMPMCPassedSkipWakesProducers fills a ring of two slots with a skip
// record and a reservation, and puts a producer to sleep for room; a
// consumer that passes the skip frees its slot, finds nothing else, and must
// wake the producer.
func TestMPMCPassedSkipWakesProducers(t *testing.T) {
	ctx := watchdog(t)
	r, name := createNamed(t, wakeOpts(2))
	p, c := pair(t, r)
	p2, err := r.Producer()
	require.NoError(t, err)
	_, err = p2.Reserve(ctx, 8) // position 0
	require.NoError(t, err)
	_, err = p2.Reserve(ctx, 8) // position 1; position 0 is a skip record
	require.NoError(t, err)
	sent := make(chan error, 1)
	go func() { sent <- p.Send(ctx, []byte("room")) }()
	asleep(t, name, true, 1)
	_, err = c.TryRecv(make([]byte, 64))
	require.ErrorIs(t, err, shmring.ErrEmpty, "the skip is passed, the reservation is not committed")
	assert.NoError(t, <-sent)
	assert.Zero(t, r.LostWakeups(), "passing the skip woke the producer")
}

// TestMPMCReadyQuietWhileOrphanAdopted has one consumer adopt the message of
// a dead one and hold it, while another consumer waits on Ready: the ring
// has nothing the second can take, so Ready must not fire.
func TestMPMCReadyQuietWhileOrphanAdopted(t *testing.T) {
	ctx := watchdog(t)
	r := anonRing(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 64 * 8, Participants: 4})
	p, a := pair(t, r) // entries 0 and 1
	m := shmring.MPMCView(r)
	require.NoError(t, p.Send(ctx, []byte("orphaned")))
	claimDead(t, m, 3)
	msg, err := a.Peek(ctx) // reaps entry 3 and adopts its message
	require.NoError(t, err)
	require.Equal(t, "orphaned", string(msg))
	require.Equal(t, uint32(ring.EntryAdopted), m.Entry(3).State.Load())

	b, err := r.Consumer()
	require.NoError(t, err)
	defer b.Close()
	signals := 0
	quiet := time.After(300 * time.Millisecond)
	buf := make([]byte, 64)
	for done := false; !done; {
		select {
		case <-b.Ready():
			signals++
			_, err := b.TryRecv(buf)
			require.ErrorIs(t, err, shmring.ErrEmpty)
		case <-quiet:
			done = true
		}
	}
	assert.LessOrEqual(t, signals, 1, "Ready fired while only another consumer could make progress")

	a.Release()
	require.NoError(t, p.Send(ctx, []byte("next")))
	select {
	case <-b.Ready():
	case <-ctx.Done():
		t.Fatal("watchdog: Ready did not fire for a message")
	}
	n, err := b.TryRecv(buf)
	require.NoError(t, err)
	assert.Equal(t, "next", string(buf[:n]))
}

// TestMPMCWakesOnlyArmedSleepers streams messages from one producer to
// consumers that sleep at once, and from consumers that release slots to a
// producer that sleeps for room: a sleeper stays announced from the moment it
// is woken until it runs again, and the commits and releases in between must
// not issue a wake-up each. Every wake-up consumes a sleeper's arming, and a
// wait arms once per round: once per sleep, and at most once more in the
// round that ends it. So the wake-ups issued never exceed the sleeps plus the
// waits.
func TestMPMCWakesOnlyArmedSleepers(t *testing.T) {
	const msgs, consumers = 20000, 3
	ctx := watchdog(t)
	r, _ := createNamed(t, &shmring.Options{Kind: shmring.MPMC, SlotSize: 64, Size: 4096, Wait: shmring.Block})
	p, err := r.Producer()
	require.NoError(t, err)
	stats := make(chan shmring.Stats, consumers)
	for range consumers {
		c, err := r.Consumer()
		require.NoError(t, err)
		go func() {
			buf := make([]byte, 64)
			for {
				if _, err := c.Recv(ctx, buf); err != nil {
					assert.ErrorIs(t, err, io.EOF)
					break
				}
			}
			stats <- c.Stats()
		}()
	}
	for i := range msgs {
		require.NoError(t, p.Send(ctx, []byte{byte(i)}))
	}
	require.NoError(t, r.CloseStream())
	total := p.Stats()
	for range consumers {
		s := <-stats
		total.MsgsReceived += s.MsgsReceived
		total.EmptyWaits += s.EmptyWaits
		total.Sleeps += s.Sleeps
		total.Wakes += s.Wakes
	}
	assert.Equal(t, uint64(msgs), total.MsgsReceived)
	assert.LessOrEqual(t, total.Wakes, total.Sleeps+total.EmptyWaits+total.FullWaits,
		"wake-ups issued (%+v)", total)
	assert.Zero(t, r.LostWakeups())
}
