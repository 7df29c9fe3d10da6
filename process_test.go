package shmring_test

// Cross-process tests: the test process on one side of a ring, a helper
// process (see main_test.go) on the other. The helper roles are at the end of
// the file; each takes its parameters from the environment (env* below).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/futex"
)

// Environment of the helper roles.
const (
	envRing  = "SHMRING_TEST_RING"  // ring name; unset: the ring is inherited under ringKey
	envOpen  = "SHMRING_TEST_OPEN"  // "or-create": open the named ring with OpenOrCreate
	envWait  = "SHMRING_TEST_WAIT"  // wait strategy (WaitStrategy.String)
	envSpin  = "SHMRING_TEST_SPIN"  // spin budget (time.ParseDuration)
	envSize  = "SHMRING_TEST_SIZE"  // size of the ring the helper creates or opens
	envCount = "SHMRING_TEST_COUNT" // number of messages
	envSeed  = "SHMRING_TEST_SEED"  // seed of the stream's PRNG
	envMode  = "SHMRING_TEST_MODE"  // variant of the role

	// Keys of rings passed with Ring.Pass.
	ringKey = "RING"
	reqKey  = "REQ"
	respKey = "RESP"
)

// helperRoles are the roles a helper process can run (see TestMain).
var helperRoles = map[string]func(context.Context) error{
	"produce":        ringRole(roleProduce),
	"consume":        ringRole(roleConsume),
	"echo":           roleEcho,
	"produce-hang":   ringRole(roleProduceHang),
	"consume-hang":   ringRole(roleConsumeHang),
	"lease-hang":     ringRole(roleLeaseHang),
	"produce-twice":  ringRole(roleProduceTwice),
	"hold":           ringRole(roleHold),
	"event-wait":     ringRole(roleEventWait),
	"event-set":      ringRole(roleEventSet),
	"inherit-twice":  roleInheritTwice,
	"mpmc-produce":   ringRole(roleMPMCProduce),
	"mpmc-consume":   ringRole(roleMPMCConsume),
	"mpmc-half-reap": roleMPMCHalfReap,
}

var waitStrategies = []shmring.WaitStrategy{shmring.Adaptive, shmring.Block, shmring.Spin}

const (
	// streamSize is the ring size of the stream tests: a lap holds a few
	// hundred messages, so the ring wraps, fills and empties all the time.
	streamSize = 1 << 16
	// peerDeathBound is how soon a wait must report a dead peer. The design
	// bound is one sleep slice (about 50 ms); this one only catches a wait
	// that does not notice at all.
	peerDeathBound = 5 * time.Second
)

// Stream messages: message i is the sequence number i (8 bytes, little
// endian), the CRC-32 (IEEE) of the body (4 bytes), then a body of 0 to
// streamMaxBody bytes whose length and contents come from a PRNG seeded by
// the test, so that the receiver regenerates each message it expects.
const (
	streamHeader  = 12
	streamMaxBody = 512
	streamMaxMsg  = streamHeader + streamMaxBody
)

// streamGen generates the messages of one stream in order.
type streamGen struct {
	rng *rand.Rand
	seq uint64 // sequence number of the next message
}

func newStreamGen(seed uint64) *streamGen {
	return &streamGen{rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// next writes the next message over dst's storage (growing it if needed) and
// returns it.
func (g *streamGen) next(dst []byte) []byte {
	n := g.rng.IntN(streamMaxBody + 1)
	m := slices.Grow(dst[:0], streamHeader+n)[:streamHeader+n]
	body := m[streamHeader:]
	var w [8]byte
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(w[:], g.rng.Uint64())
		copy(body[i:], w[:])
	}
	binary.LittleEndian.PutUint64(m, g.seq)
	binary.LittleEndian.PutUint32(m[8:], crc32.ChecksumIEEE(body))
	g.seq++
	return m
}

// streamCheck checks received messages against the regenerated stream.
type streamCheck struct {
	gen  *streamGen
	want []byte
}

func newStreamCheck(seed uint64) *streamCheck {
	return &streamCheck{gen: newStreamGen(seed)}
}

// check verifies that got is the next message of the stream, and otherwise
// says how it is wrong: lost, duplicated or reordered (its sequence number),
// or torn (its checksum or contents).
func (c *streamCheck) check(got []byte) error {
	seq := c.gen.seq
	c.want = c.gen.next(c.want)
	if len(got) < streamHeader {
		return fmt.Errorf("message %d: %d bytes, shorter than its header: torn", seq, len(got))
	}
	switch s := binary.LittleEndian.Uint64(got); {
	case s < seq:
		return fmt.Errorf("message %d: sequence number %d again: duplicated or reordered", seq, s)
	case s > seq:
		return fmt.Errorf("message %d: sequence number %d: lost or reordered", seq, s)
	}
	if sum, want := binary.LittleEndian.Uint32(got[8:]), crc32.ChecksumIEEE(got[streamHeader:]); sum != want {
		return fmt.Errorf("message %d: checksum %#08x, body's is %#08x: torn", seq, sum, want)
	}
	if !bytes.Equal(got, c.want) {
		return fmt.Errorf("message %d: %d bytes differ from the %d bytes sent: torn", seq, len(got), len(c.want))
	}
	return nil
}

// count returns how many messages were checked.
func (c *streamCheck) count() uint64 { return c.gen.seq }

// recvStream receives the n messages of the stream seed with Recv, then
// io.EOF. Checks are guarded by ifs: require's helpers cost a stack walk per
// call, which a million calls would feel.
func recvStream(t *testing.T, ctx context.Context, c *shmring.Consumer, seed uint64, n int) {
	t.Helper()
	chk := newStreamCheck(seed)
	buf := make([]byte, streamMaxMsg)
	for i := range n {
		k, err := c.Recv(ctx, buf)
		if err != nil {
			require.NoError(t, err, "receiving message %d of %d", i, n)
		}
		if err := chk.check(buf[:k]); err != nil {
			require.NoError(t, err)
		}
	}
	_, err := c.Recv(ctx, buf)
	require.ErrorIs(t, err, io.EOF, "after the last of %d messages", n)
}

// sendStreamBatches sends the n messages of the stream seed with SendBatch, in
// batches of 1 to 64 messages.
func sendStreamBatches(t *testing.T, ctx context.Context, p *shmring.Producer, seed uint64, n int) {
	t.Helper()
	gen := newStreamGen(seed)
	sizes := rand.New(rand.NewPCG(seed, 1))
	batch := make([][]byte, 64)
	for sent := 0; sent < n; {
		k := min(1+sizes.IntN(len(batch)), n-sent)
		for j := range k {
			batch[j] = gen.next(batch[j])
		}
		got, err := p.SendBatch(ctx, batch[:k])
		if err != nil || got != k {
			require.NoError(t, err, "batch at message %d", sent)
			require.Equal(t, k, got, "batch at message %d", sent)
		}
		sent += k
	}
}

func TestCrossProcessStream(t *testing.T) {
	tests := []struct {
		name  string
		wait  shmring.WaitStrategy
		named bool // a named ring; otherwise an anonymous one passed to the helper
		n     int
		// consume is empty when the helper produces (Send) and the test
		// consumes (Recv); otherwise the test produces (SendBatch) and the
		// helper consumes in this mode of roleConsume.
		consume string
	}{
		{"adaptive/named", shmring.Adaptive, true, streamLong, ""},
		{"adaptive/anonymous", shmring.Adaptive, false, streamShort, ""},
		{"block/named", shmring.Block, true, streamShort, ""},
		{"block/anonymous", shmring.Block, false, streamShort, ""},
		{"spin/named", shmring.Spin, true, streamShort, ""},
		{"spin/anonymous", shmring.Spin, false, streamShort, ""},
		{"helper consumes/peek", shmring.Adaptive, false, streamShort, "peek"},
		{"helper consumes/batch", shmring.Block, true, streamShort, "batch"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := watchdog(t)
			seed := uint64(i + 1)
			opts := &shmring.Options{Size: streamSize, Wait: tt.wait}
			cfg := helperConfig{env: map[string]string{
				envWait:  tt.wait.String(),
				envCount: strconv.Itoa(tt.n),
				envSeed:  strconv.FormatUint(seed, 10),
				envMode:  tt.consume,
			}}
			var r *shmring.Ring
			if tt.named {
				var name string
				r, name = createNamed(t, opts)
				cfg.env[envRing] = name
			} else {
				r = createAnon(t, opts)
				cfg.rings = map[string]*shmring.Ring{ringKey: r}
			}

			if tt.consume == "" {
				c, err := r.Consumer()
				require.NoError(t, err)
				h := startHelper(t, "produce", cfg)
				recvStream(t, ctx, c, seed, tt.n)
				require.NoError(t, h.wait())
				return
			}
			p, err := r.Producer()
			require.NoError(t, err)
			h := startHelper(t, "consume", cfg)
			sendStreamBatches(t, ctx, p, seed, tt.n)
			require.NoError(t, p.Close())
			require.NoError(t, h.wait(), "the helper checks what it received")
		})
	}
}

// TestAnonymousRingOutlivesCreator hands an anonymous ring to a producer and a
// consumer process and closes the creator's handle at once: the ring, wake-ups
// included, must keep working for the two processes that still have it.
func TestAnonymousRingOutlivesCreator(t *testing.T) {
	r, err := shmring.CreateAnonymous(&shmring.Options{Size: 4096, Wait: shmring.Block})
	require.NoError(t, err)
	defer r.Close()
	cfg := helperConfig{
		env: map[string]string{
			envWait:  shmring.Block.String(),
			envCount: strconv.Itoa(streamShort / 10),
			envSeed:  "11",
			envMode:  "peek",
		},
		rings: map[string]*shmring.Ring{ringKey: r},
	}
	consumer := startHelper(t, "consume", cfg)
	producer := startHelper(t, "produce", cfg)
	require.NoError(t, r.Close())
	require.NoError(t, producer.wait())
	require.NoError(t, consumer.wait())
}

// TestPassFile hands an anonymous ring to a helper with Ring.PassFile, the
// descriptor at its own number as a C or Python parent would pass it, and
// receives the helper's stream through it.
func TestPassFile(t *testing.T) {
	ctx := watchdog(t)
	r := createAnon(t, &shmring.Options{Size: streamSize})
	c, err := r.Consumer()
	require.NoError(t, err)
	h := startHelper(t, "produce", helperConfig{
		env:   map[string]string{envCount: strconv.Itoa(streamShort / 10), envSeed: "12"},
		files: map[string]*shmring.Ring{ringKey: r},
	})
	recvStream(t, ctx, c, 12, streamShort/10)
	require.NoError(t, h.wait())
}

// TestPassFileErrors: a bad key, and a closed ring.
func TestPassFileErrors(t *testing.T) {
	r, err := shmring.CreateAnonymous(&shmring.Options{Size: 4096})
	require.NoError(t, err)
	_, _, err = r.PassFile("no-dashes")
	assert.ErrorIs(t, err, shmring.ErrName)
	require.NoError(t, r.Close())
	_, _, err = r.PassFile(ringKey)
	assert.ErrorIs(t, err, shmring.ErrClosed)
}

// TestInheritTwice inherits one passed ring twice in a helper: either the
// second Inherit fails, or both rings work; in no case may two rings own one
// descriptor, so that closing one closes the other's, or whatever reuses its
// number.
func TestInheritTwice(t *testing.T) {
	r := createAnon(t, nil)
	h := startHelper(t, "inherit-twice", helperConfig{rings: map[string]*shmring.Ring{ringKey: r}})
	require.NoError(t, h.wait())
}

// envRounds, when set in the test's own environment, replaces
// pingPongRounds: .ci/run asks for millions of round trips.
const envRounds = "SHMRING_TEST_PINGPONG_ROUNDS"

// pollPingPongRounds bounds pingPongRounds where wake-ups poll (the portable
// build): a sleeper there notices a message up to a millisecond late, so a
// round trip with both sides asleep costs about a millisecond, and 200,000 of
// them would outlast the watchdog. The protocol above the mechanism (waiter
// counts, announce and re-check) is exercised all the same.
const pollPingPongRounds = 5_000

// TestPingPongNoLostWakeups ping-pongs between two processes with sleeping
// on both sides and counts lost wake-ups on both (a sleep slice that ended
// with the condition true and no wake-up). The jittered runs delay each send
// by a pseudo-random 0-8 µs, past the spin budget, so that publications land
// at every point of the peer's announce, barrier and re-check; the plain
// runs are the tight hand-off.
func TestPingPongNoLostWakeups(t *testing.T) {
	rounds := pingPongRounds
	if futex.Mechanism == "poll" {
		rounds = min(rounds, pollPingPongRounds)
	}
	if s := os.Getenv(envRounds); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, envRounds)
		rounds = n
	}
	block := shmring.Options{Size: 4096, Wait: shmring.Block}
	adaptive := shmring.Options{Size: 4096, Wait: shmring.Adaptive, SpinBudget: time.Microsecond}
	mpmc := func(o shmring.Options) shmring.Options {
		o.Kind, o.SlotSize = shmring.MPMC, 64
		return o
	}
	// In the mixed rows the helper sleeps with Block, whose sleeps pay no
	// barrier, and the test process with Adaptive, whose sleeps do (package
	// fence, "Publication across processes"). On SPSC rings the helper's
	// peers then publish with a full barrier and the helper with a plain
	// store; on MPMC rings the helper's entries make every publication pay
	// the full barrier, a CAS on a seq that the other side may already
	// have moved on (ring/mpmc.go, publishSeq).
	tests := []struct {
		name   string
		opts   shmring.Options
		jitter bool
		// helperBlock: the helper sleeps with Block, whatever opts.Wait
		helperBlock bool
	}{
		{"block", block, false, false},
		{"block, jittered", block, true, false},
		{"adaptive with a 1µs spin budget", adaptive, false, false},
		{"adaptive with a 1µs spin budget, jittered", adaptive, true, false},
		{"adaptive here, block in the helper, jittered", adaptive, true, true},
		{"mpmc, block, jittered", mpmc(block), true, false},
		{"mpmc, adaptive with a 1µs spin budget, jittered", mpmc(adaptive), true, false},
		{"mpmc, adaptive here, block in the helper, jittered", mpmc(adaptive), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := watchdog(t)
			req, resp := createAnon(t, &tt.opts), createAnon(t, &tt.opts)
			p, err := req.Producer()
			require.NoError(t, err)
			c, err := resp.Consumer()
			require.NoError(t, err)
			helperWait := tt.opts.Wait
			if tt.helperBlock {
				helperWait = shmring.Block
			}
			env := map[string]string{
				envWait: helperWait.String(),
				envSpin: tt.opts.SpinBudget.String(),
			}
			if tt.jitter {
				env[envMode] = "jitter"
			}
			h := startHelper(t, "echo", helperConfig{
				env:   env,
				rings: map[string]*shmring.Ring{reqKey: req, respKey: resp},
			})

			var msg [8]byte
			buf := make([]byte, 64)
			for i := range rounds {
				if tt.jitter {
					jitter(uint64(i))
				}
				binary.LittleEndian.PutUint64(msg[:], uint64(i))
				if err := p.Send(ctx, msg[:]); err != nil {
					require.NoError(t, err, "round trip %d", i)
				}
				n, err := c.Recv(ctx, buf)
				if err != nil || !bytes.Equal(buf[:n], msg[:]) {
					require.NoError(t, err, "round trip %d", i)
					require.Equal(t, msg[:], buf[:n], "round trip %d", i)
				}
			}
			sleeps := c.Stats().Sleeps
			t.Logf("%d round trips, %d sleeps of the test's consumer", rounds, sleeps)
			assert.NotZero(t, sleeps, "the consumer slept: the wake-up protocol was exercised")
			require.NoError(t, endStream(req, p))
			_, err = c.Recv(ctx, buf)
			require.ErrorIs(t, err, io.EOF, "the helper closes its side after ours")
			require.NoError(t, h.wait())

			assert.Zero(t, req.LostWakeups(), "lost wake-ups on the request ring in the test process")
			assert.Zero(t, resp.LostWakeups(), "lost wake-ups on the response ring in the test process")
			assert.Contains(t, h.lines(), "lost-wakeups 0 0", "the helper's count on the request and response rings")
		})
	}
}

// endStream closes p, the producer of r, and ends r's stream: Close does on
// an SPSC ring, CloseStream on an MPMC ring, whose producers come and go.
func endStream(r *shmring.Ring, p *shmring.Producer) error {
	err := p.Close()
	if err == nil && r.Kind() == shmring.MPMC {
		err = r.CloseStream()
	}
	return err
}

// jitter spins for a pseudo-random 0 to 8 µs that i decides.
func jitter(i uint64) {
	d := time.Duration((i * 0x9e3779b97f4a7c15) >> 51)
	for start := time.Now(); time.Since(start) < d; {
	}
}

// requireKilled checks that a helper's wait error says SIGKILL ended it.
func requireKilled(t *testing.T, err error) {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "helper ended with %v, want SIGKILL", err)
}

// recvString receives one message and returns it as a string.
func recvString(t *testing.T, ctx context.Context, c *shmring.Consumer) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	return string(buf[:n])
}

func TestPeerDeath(t *testing.T) {
	t.Run("producer killed", func(t *testing.T) {
		ctx := watchdog(t)
		r := createAnon(t, &shmring.Options{Size: 4096})
		c, err := r.Consumer()
		require.NoError(t, err)
		h := startHelper(t, "produce-hang", helperConfig{
			env:   map[string]string{envCount: "10"},
			rings: map[string]*shmring.Ring{ringKey: r},
			stdin: true,
		})
		for i := range 10 {
			require.Equal(t, fmt.Sprintf("message %d", i), recvString(t, ctx, c))
		}

		deathCtx, cancel := context.WithTimeout(ctx, 2*peerDeathBound)
		defer cancel()
		recvErr := make(chan error, 1)
		go func() {
			_, err := c.Recv(deathCtx, make([]byte, 64))
			recvErr <- err
		}()
		h.kill()
		killed := time.Now()
		err = <-recvErr
		elapsed := time.Since(killed)
		require.ErrorIs(t, err, shmring.ErrPeerDead)
		assert.Less(t, elapsed, peerDeathBound, "time to notice the dead producer")
		requireKilled(t, h.wait())

		// The kernel dropped the dead producer's lock: a new producer
		// attaches, and the stream goes on.
		p, err := r.Producer()
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, []byte("after the death")))
		assert.Equal(t, "after the death", recvString(t, ctx, c))
		require.NoError(t, p.Close())
		_, err = c.Recv(ctx, make([]byte, 64))
		assert.ErrorIs(t, err, io.EOF)
	})

	t.Run("consumer killed", func(t *testing.T) {
		ctx := watchdog(t)
		r := createAnon(t, &shmring.Options{Size: 4096})
		p, err := r.Producer()
		require.NoError(t, err)
		h := startHelper(t, "consume-hang", helperConfig{
			rings: map[string]*shmring.Ring{ringKey: r},
			stdin: true,
		})
		h.awaitEvent(t, r.Event(0))
		sent := 0
		for {
			err := p.TrySend(fmt.Appendf(nil, "message %d", sent))
			if errors.Is(err, shmring.ErrFull) {
				break
			}
			require.NoError(t, err)
			sent++
		}

		h.kill()
		killed := time.Now()
		deathCtx, cancel := context.WithTimeout(ctx, 2*peerDeathBound)
		defer cancel()
		err = p.Send(deathCtx, []byte("one too many"))
		elapsed := time.Since(killed)
		require.ErrorIs(t, err, shmring.ErrPeerDead)
		assert.Less(t, elapsed, peerDeathBound, "time to notice the dead consumer")
		requireKilled(t, h.wait())

		c, err := r.Consumer()
		require.NoError(t, err, "the dead consumer's lock is free")
		for i := range sent {
			require.Equal(t, fmt.Sprintf("message %d", i), recvString(t, ctx, c))
		}
		_, err = c.TryRecv(make([]byte, 64))
		require.ErrorIs(t, err, shmring.ErrEmpty, "the failed Send left nothing behind")
		require.NoError(t, p.Send(ctx, []byte("after the death")))
		assert.Equal(t, "after the death", recvString(t, ctx, c))
	})

	t.Run("lease of a killed consumer", func(t *testing.T) {
		ctx := watchdog(t)
		r := createAnon(t, &shmring.Options{Size: 4096})
		p, err := r.Producer()
		require.NoError(t, err)
		for _, m := range []string{"released", "leased", "next"} {
			require.NoError(t, p.TrySend([]byte(m)))
		}
		h := startHelper(t, "lease-hang", helperConfig{
			rings: map[string]*shmring.Ring{ringKey: r},
			stdin: true,
		})
		h.awaitEvent(t, r.Event(0))
		h.kill()
		requireKilled(t, h.wait())
		require.Equal(t, []string{"received released", "peeked leased"}, h.lines())

		c, err := r.Consumer()
		require.NoError(t, err)
		assert.Equal(t, "leased", recvString(t, ctx, c), "the dead consumer's lease goes to its successor")
		assert.Equal(t, "next", recvString(t, ctx, c))
		_, err = c.TryRecv(make([]byte, 64))
		assert.ErrorIs(t, err, shmring.ErrEmpty, "the released message is not delivered again")
	})

	t.Run("stopped producer is not dead", func(t *testing.T) {
		ctx := watchdog(t)
		r := createAnon(t, &shmring.Options{Size: 4096})
		c, err := r.Consumer()
		require.NoError(t, err)
		h := startHelper(t, "produce-twice", helperConfig{
			env:   map[string]string{envCount: "10"},
			rings: map[string]*shmring.Ring{ringKey: r},
		})
		for i := range 10 {
			require.Equal(t, fmt.Sprintf("message %d", i), recvString(t, ctx, c))
		}

		require.NoError(t, h.signal(syscall.SIGSTOP))
		h.await(t, "the helper to stop", h.stopped)
		stopCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err = c.Recv(stopCtx, make([]byte, 64))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, shmring.ErrPeerDead, "a stopped process holds its lock")

		r.Event(0).Set()
		require.NoError(t, h.signal(syscall.SIGCONT))
		for i := range 10 {
			require.Equal(t, fmt.Sprintf("message %d", 10+i), recvString(t, ctx, c))
		}
		_, err = c.Recv(ctx, make([]byte, 64))
		require.ErrorIs(t, err, io.EOF)
		require.NoError(t, h.wait())
	})
}

func TestSecondAttachBusy(t *testing.T) {
	for _, role := range []string{"producer", "consumer"} {
		t.Run(role, func(t *testing.T) {
			r := createAnon(t, nil)
			attach := map[string]func() (io.Closer, error){
				"producer": func() (io.Closer, error) { return r.Producer() },
				"consumer": func() (io.Closer, error) { return r.Consumer() },
			}
			other := "consumer"
			if role == other {
				other = "producer"
			}
			h := startHelper(t, "hold", helperConfig{
				env:   map[string]string{envMode: role},
				rings: map[string]*shmring.Ring{ringKey: r},
				stdin: true,
			})
			h.awaitEvent(t, r.Event(0))

			_, err := attach[role]()
			require.ErrorIs(t, err, shmring.ErrBusy, "the helper holds the %s", role)
			e, err := attach[other]()
			require.NoError(t, err, "the %s is free", other)
			require.NoError(t, e.Close())

			require.NoError(t, h.closeStdin())
			require.NoError(t, h.wait())
			e, err = attach[role]()
			require.NoError(t, err, "the helper closed the %s", role)
			require.NoError(t, e.Close())
		})
	}
}

func TestEventAcrossProcesses(t *testing.T) {
	t.Run("helper waits", func(t *testing.T) {
		for _, w := range waitStrategies {
			t.Run(w.String(), func(t *testing.T) {
				r := createAnon(t, &shmring.Options{Wait: w})
				h := startHelper(t, "event-wait", helperConfig{
					env:   map[string]string{envWait: w.String()},
					rings: map[string]*shmring.Ring{ringKey: r},
				})
				h.awaitEvent(t, r.Event(1))
				if w == shmring.Block {
					waiters := shmring.Control(r).Events[0].Waiters
					h.await(t, "the helper to sleep on event 0", func() bool { return waiters.Load() != 0 })
				}
				r.Event(0).Set()
				require.NoError(t, h.wait())
			})
		}
	})

	t.Run("test waits with C", func(t *testing.T) {
		ctx := watchdog(t)
		r := createAnon(t, &shmring.Options{Wait: shmring.Block})
		ch := r.Event(2).C(ctx)
		h := startHelper(t, "event-set", helperConfig{rings: map[string]*shmring.Ring{ringKey: r}})
		require.NoError(t, <-ch)
		require.NoError(t, h.wait())
		assert.True(t, r.Event(2).IsSet())
	})
}

func TestNamedRingAnyOrder(t *testing.T) {
	const few = 50 // messages that fit in the ring: the helper exits before anyone reads
	n := streamShort / 10
	// openOrCreate opens name asking for the helper's Size: whichever side
	// comes first creates the ring, and the other finds what it asked for.
	openOrCreate := func(t *testing.T, name string) *shmring.Ring {
		r, err := shmring.OpenOrCreate(name, &shmring.Options{Size: streamSize})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, r.Close()) })
		return r
	}
	produce := func(t *testing.T, name string, count int) *helper {
		return startHelper(t, "produce", helperConfig{env: map[string]string{
			envRing:  name,
			envOpen:  "or-create",
			envSize:  strconv.Itoa(streamSize),
			envCount: strconv.Itoa(count),
			envSeed:  "7",
		}})
	}

	t.Run("consumer first", func(t *testing.T) {
		ctx := watchdog(t)
		name := testRingName(t)
		r := openOrCreate(t, name)
		c, err := r.Consumer()
		require.NoError(t, err)
		h := produce(t, name, n)
		recvStream(t, ctx, c, 7, n)
		require.NoError(t, h.wait())
	})

	t.Run("producer gone before the consumer", func(t *testing.T) {
		ctx := watchdog(t)
		name := testRingName(t)
		require.NoError(t, produce(t, name, few).wait())
		r := openOrCreate(t, name)
		c, err := r.Consumer()
		require.NoError(t, err)
		recvStream(t, ctx, c, 7, few)
	})

	t.Run("both at once", func(t *testing.T) {
		ctx := watchdog(t)
		name := testRingName(t)
		h := produce(t, name, n)
		r := openOrCreate(t, name)
		c, err := r.Consumer()
		require.NoError(t, err)
		recvStream(t, ctx, c, 7, n)
		require.NoError(t, h.wait())
	})
}

// Helper roles. Each runs in a helper process, returns nil for success, and
// closes what it opened; a role on one ring gets it from ringRole, which
// closes it.

// helperOptions returns the ring options the test put in the environment.
func helperOptions() (*shmring.Options, error) {
	o := &shmring.Options{}
	if s := os.Getenv(envWait); s != "" {
		i := slices.IndexFunc(waitStrategies, func(w shmring.WaitStrategy) bool { return w.String() == s })
		if i < 0 {
			return nil, fmt.Errorf("%s: unknown wait strategy %q", envWait, s)
		}
		o.Wait = waitStrategies[i]
	}
	if s := os.Getenv(envSpin); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envSpin, err)
		}
		o.SpinBudget = d
	}
	if s := os.Getenv(envSize); s != "" {
		size, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envSize, err)
		}
		o.Size = size
	}
	return o, nil
}

// helperRing opens the ring the test gave under key: by name for ringKey when
// envRing is set, else inherited.
func helperRing(key string) (*shmring.Ring, error) {
	opts, err := helperOptions()
	if err != nil {
		return nil, err
	}
	name := os.Getenv(envRing)
	switch {
	case key != ringKey || name == "":
		return shmring.Inherit(key, opts)
	case os.Getenv(envOpen) == "or-create":
		return shmring.OpenOrCreate(name, opts)
	default:
		return shmring.Open(name, opts)
	}
}

// ringRole makes a helper role of a role on the ring the test gave under
// ringKey: it opens the ring, runs role on it, and closes it.
func ringRole(role func(context.Context, *shmring.Ring) error) func(context.Context) error {
	return func(ctx context.Context) (err error) {
		r, err := helperRing(ringKey)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, r.Close()) }()
		return role(ctx, r)
	}
}

// envUint returns the unsigned integer in the environment variable key.
func envUint(key string) (uint64, error) {
	v, err := strconv.ParseUint(os.Getenv(key), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return v, nil
}

// streamParams returns the message count and the seed of a stream role.
func streamParams() (int, uint64, error) {
	n, err := envUint(envCount)
	if err != nil {
		return 0, 0, err
	}
	seed, err := envUint(envSeed)
	return int(n), seed, err
}

// waitForStdin blocks until stdin reaches its end: the test closes it, or
// kills the helper first.
func waitForStdin() error {
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}

// sendNumbered sends "message i" for i in [from, to).
func sendNumbered(ctx context.Context, p *shmring.Producer, from, to int) error {
	for i := from; i < to; i++ {
		if err := p.Send(ctx, fmt.Appendf(nil, "message %d", i)); err != nil {
			return fmt.Errorf("send message %d: %w", i, err)
		}
	}
	return nil
}

// roleProduce sends the stream of envCount messages seeded by envSeed with
// Send, then closes the producer.
func roleProduce(ctx context.Context, r *shmring.Ring) error {
	n, seed, err := streamParams()
	if err != nil {
		return err
	}
	p, err := r.Producer()
	if err != nil {
		return err
	}
	gen := newStreamGen(seed)
	buf := make([]byte, streamMaxMsg)
	for i := range n {
		if err := p.Send(ctx, gen.next(buf)); err != nil {
			return fmt.Errorf("send message %d of %d: %w", i, n, err)
		}
	}
	return p.Close()
}

// roleConsume receives and checks the stream of envCount messages seeded by
// envSeed, then io.EOF: with Peek and Release when envMode is "peek", with
// ReadBatch when it is "batch".
func roleConsume(ctx context.Context, r *shmring.Ring) error {
	n, seed, err := streamParams()
	if err != nil {
		return err
	}
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	chk := newStreamCheck(seed)
	switch mode := os.Getenv(envMode); mode {
	case "peek":
		for {
			msg, err := c.Peek(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("peek after %d messages: %w", chk.count(), err)
			}
			if err := chk.check(msg); err != nil {
				return err
			}
			c.Release()
		}
	case "batch":
		for {
			var bad error
			_, err := c.ReadBatch(ctx, 64, func(msg []byte) {
				if bad == nil {
					bad = chk.check(msg)
				}
			})
			if bad != nil {
				return bad
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("read batch after %d messages: %w", chk.count(), err)
			}
		}
	default:
		return fmt.Errorf("%s: unknown mode %q", envMode, mode)
	}
	if chk.count() != uint64(n) {
		return fmt.Errorf("io.EOF after %d messages, want %d", chk.count(), n)
	}
	return c.Close()
}

// roleEcho sends every message of the ring reqKey back on the ring respKey
// until the request stream ends, closes the response stream, and prints its
// lost wake-ups on both rings: "lost-wakeups <req> <resp>". In envMode
// "jitter" it delays each send as the test does (jitter).
func roleEcho(ctx context.Context) (err error) {
	req, err := helperRing(reqKey)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, req.Close()) }()
	resp, err := helperRing(respKey)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, resp.Close()) }()
	c, err := req.Consumer()
	if err != nil {
		return err
	}
	p, err := resp.Producer()
	if err != nil {
		return err
	}
	jittered := os.Getenv(envMode) == "jitter"
	buf := make([]byte, 64)
	for i := uint64(0); ; i++ {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if jittered {
			jitter(^i)
		}
		if err := p.Send(ctx, buf[:n]); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	if err := endStream(resp, p); err != nil {
		return err
	}
	fmt.Printf("lost-wakeups %d %d\n", req.LostWakeups(), resp.LostWakeups())
	return nil
}

// roleProduceHang attaches the producer, sends envCount numbered messages and
// waits for the end of stdin (the test kills it first).
func roleProduceHang(ctx context.Context, r *shmring.Ring) error {
	if _, _, err := produceNumbered(ctx, r); err != nil {
		return err
	}
	return waitForStdin()
}

// produceNumbered attaches the producer of r and sends envCount numbered
// messages; it returns the producer and envCount.
func produceNumbered(ctx context.Context, r *shmring.Ring) (*shmring.Producer, int, error) {
	n, err := envUint(envCount)
	if err != nil {
		return nil, 0, err
	}
	p, err := r.Producer()
	if err != nil {
		return nil, 0, err
	}
	return p, int(n), sendNumbered(ctx, p, 0, int(n))
}

// roleConsumeHang attaches the consumer, sets event 0 and waits for the end of
// stdin (the test kills it first).
func roleConsumeHang(_ context.Context, r *shmring.Ring) error {
	if _, err := r.Consumer(); err != nil {
		return err
	}
	r.Event(0).Set()
	return waitForStdin()
}

// roleLeaseHang receives one message, peeks the next without releasing it,
// prints both ("received <m>", "peeked <m>"), sets event 0 and waits for the
// end of stdin (the test kills it first).
func roleLeaseHang(ctx context.Context, r *shmring.Ring) error {
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Recv(ctx, buf)
	if err != nil {
		return err
	}
	fmt.Printf("received %s\n", buf[:n])
	msg, err := c.Peek(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("peeked %s\n", msg)
	r.Event(0).Set()
	return waitForStdin()
}

// roleProduceTwice sends envCount numbered messages, waits for event 0, sends
// envCount more and closes the producer.
func roleProduceTwice(ctx context.Context, r *shmring.Ring) error {
	p, n, err := produceNumbered(ctx, r)
	if err != nil {
		return err
	}
	if err := r.Event(0).Wait(ctx); err != nil {
		return fmt.Errorf("wait for event 0: %w", err)
	}
	if err := sendNumbered(ctx, p, n, 2*n); err != nil {
		return err
	}
	return p.Close()
}

// roleHold attaches the role named by envMode ("producer" or "consumer"),
// sets event 0, waits for the end of stdin, and closes the endpoint.
func roleHold(_ context.Context, r *shmring.Ring) (err error) {
	var e io.Closer
	switch mode := os.Getenv(envMode); mode {
	case "producer":
		e, err = r.Producer()
	case "consumer":
		e, err = r.Consumer()
	default:
		err = fmt.Errorf("%s: unknown role %q", envMode, mode)
	}
	if err != nil {
		return err
	}
	r.Event(0).Set()
	if err := waitForStdin(); err != nil {
		return err
	}
	return e.Close()
}

// roleEventWait sets event 1 (about to wait), then waits for event 0.
func roleEventWait(ctx context.Context, r *shmring.Ring) error {
	r.Event(1).Set()
	if err := r.Event(0).Wait(ctx); err != nil {
		return fmt.Errorf("wait for event 0: %w", err)
	}
	return nil
}

// roleEventSet waits until somebody waits on event 2 (its waiter count is
// announced before a sleep), then sets it.
func roleEventSet(ctx context.Context, r *shmring.Ring) error {
	waiters := shmring.Control(r).Events[2].Waiters
	for waiters.Load() == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("nobody waits on event 2: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	r.Event(2).Set()
	return nil
}

// roleInheritTwice inherits ringKey twice. When the second Inherit succeeds,
// both rings must move a message and close cleanly; when it fails, the first
// ring must still close cleanly.
func roleInheritTwice(ctx context.Context) error {
	r1, err := shmring.Inherit(ringKey, nil)
	if err != nil {
		return err
	}
	r2, err := shmring.Inherit(ringKey, nil)
	if err != nil {
		fmt.Printf("second inherit: %v\n", err)
		return r1.Close()
	}
	if err := moveOne(ctx, r1, r2); err != nil {
		return errors.Join(err, r1.Close(), r2.Close())
	}
	if err := r1.Close(); err != nil {
		return fmt.Errorf("close the first ring: %w", errors.Join(err, r2.Close()))
	}
	if err := moveOne(ctx, r2, r2); err != nil {
		return fmt.Errorf("the second ring after the first was closed: %w", errors.Join(err, r2.Close()))
	}
	if err := r2.Close(); err != nil {
		return fmt.Errorf("close the second ring: %w", err)
	}
	return nil
}

// moveOne sends a message through a producer on from and receives it through
// a consumer on to.
func moveOne(ctx context.Context, from, to *shmring.Ring) (err error) {
	p, err := from.Producer()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	c, err := to.Consumer()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	if err := p.Send(ctx, []byte("one")); err != nil {
		return err
	}
	buf := make([]byte, 8)
	n, err := c.Recv(ctx, buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "one" {
		return fmt.Errorf("received %q, want %q", buf[:n], "one")
	}
	return nil
}
