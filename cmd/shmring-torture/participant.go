package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// Environment of a participant process.
const (
	// participantEnv marks a participant; its value is the spec, in JSON.
	participantEnv = "SHMRING_TORTURE_PARTICIPANT"
	// faultEnv makes producers misbehave on purpose ("duplicate" or
	// "corrupt"), so that a test can see the checker catch it.
	faultEnv = "SHMRING_TORTURE_FAULT"
	// ringKey is the key the ring is passed under (Ring.Pass).
	ringKey = "TORTURE"
)

// faultSeq is the sequence number of the message a faulty producer
// duplicates or damages.
const faultSeq = 50

// finalEvent is the ring event the parent sets once every producer of the
// round has gone: an io.EOF seen after it is the end of the round.
const finalEvent = 0

// Roles, APIs and close races a participant may be given.
const (
	roleProducer = "producer"
	roleConsumer = "consumer"

	modeSend    = "send"    // Send
	modeTrySend = "trysend" // TrySend, retried
	modeBatch   = "batch"   // SendBatch, or ReadBatch
	modeReserve = "reserve" // Reserve and Commit in place
	modeRecv    = "recv"    // Recv
	modeTryRecv = "tryrecv" // TryRecv, retried
	modePeek    = "peek"    // Peek and Release in place
	modeReady   = "ready"   // the Ready channel, then TryRecv

	raceEndpoint = "endpoint" // a goroutine closes the endpoint under a call
	raceRing     = "ring"     // a goroutine closes the Ring under a call
)

var (
	producerModes = []string{modeSend, modeTrySend, modeBatch, modeReserve}
	consumerModes = []string{modeRecv, modeTryRecv, modePeek, modeBatch, modeReady}
)

// spec is what the parent tells a participant.
type spec struct {
	Role       string
	ID         uint32 // producer id (from 1), or consumer number
	Round      uint32
	MPMC       bool
	Mode       string
	Wait       string
	Seed       uint64
	Lifetime   time.Duration // leave cleanly after this long; 0: stay
	CloseRace  string        // "", raceEndpoint or raceRing
	CloseAfter time.Duration // when the close race fires
	Cancel     float64       // probability that a call gets a short deadline
	Bound      time.Duration // no call may wait longer
	MaxMsg     int           // largest message to send
}

// errHang is the cause of a call's context when the call ran past the
// bound; the participant then fails with it, after writing its goroutines'
// stacks to stderr.
var errHang = errors.New("past the bound")

// participantMain runs a participant process and returns its exit status.
// Standard input is the parent's line: at its end a producer finishes and
// leaves, and a consumer (whose input ends only if the parent died) stops.
func participantMain(encoded string) int {
	var s spec
	if err := json.Unmarshal([]byte(encoded), &s); err != nil {
		fmt.Fprintf(os.Stderr, "shmring-torture: participant: bad spec: %v\n", err)
		return cli.ExitUsage
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	if err := participate(ctx, s); err != nil {
		fmt.Fprintf(os.Stderr, "shmring-torture: round %d %s %d (pid %d, %s): %v\n",
			s.Round, s.Role, s.ID, os.Getpid(), s.Mode, err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// participant is the state of a participant process.
type participant struct {
	spec
	r       *shmring.Ring
	rep     *report
	rng     *rand.Rand
	fault   string
	closing atomic.Bool // a close race has fired
	stats   func() shmring.Stats
}

// participate inherits the ring and plays the role s gives, until ctx ends
// or the role is over. Its random choices come from s.Seed.
func participate(ctx context.Context, s spec) (err error) {
	rep, err := mapReport(os.NewFile(3, "report"))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rep.close()) }()
	wait, err := cli.ParseWait(s.Wait)
	if err != nil {
		return err
	}
	r, err := shmring.Inherit(ringKey, &shmring.Options{Wait: wait})
	if err != nil {
		return err
	}
	rep.state.Store(stateReady)
	pt := &participant{spec: s, r: r, rep: rep, rng: rand.New(rand.NewPCG(s.Seed, 0)),
		fault: os.Getenv(faultEnv)}
	defer func() {
		rep.lost.Store(r.LostWakeups())
		err = errors.Join(err, r.Close())
	}()
	if s.Lifetime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Lifetime)
		defer cancel()
	}
	if s.Role == roleProducer {
		return pt.produce(ctx)
	}
	return pt.consume(ctx)
}

// race starts the close race, if the participant has one: after CloseAfter,
// a goroutine closes the endpoint (closeEndpoint) or the ring while the main
// goroutine is busy with it. The returned function, which the main goroutine
// calls when it is done, cancels the race or waits for it and reports it.
func (pt *participant) race(closeEndpoint func() error) (wait func()) {
	if pt.CloseRace == "" {
		return func() {}
	}
	done := make(chan struct{})
	t := time.AfterFunc(pt.CloseAfter, func() {
		defer close(done)
		pt.closing.Store(true)
		if pt.CloseRace == raceRing {
			_ = pt.r.Close()
			return
		}
		_ = closeEndpoint()
	})
	return func() {
		if t.Stop() {
			return
		}
		<-done
		// The report is the main goroutine's to write.
		ring := uint32(0)
		if pt.CloseRace == raceRing {
			ring = 1
		}
		pt.rep.add(recCloseRace, ring, 0)
	}
}

// refresh copies the endpoint's counters to the report.
func (pt *participant) refresh() {
	pt.rep.lost.Store(pt.r.LostWakeups())
	if pt.stats != nil {
		pt.rep.reaped.Store(pt.stats().Reaped)
	}
}

// call runs one blocking call under the bound, and sometimes a short
// deadline, and records a long wait. It returns the call's error and whether
// the participant should stop (its context ended).
func (pt *participant) call(ctx context.Context, f func(ctx context.Context) error) (error, bool) {
	cctx, cancel := context.WithTimeoutCause(ctx, pt.Bound, errHang)
	defer cancel()
	if pt.rng.Float64() < pt.Cancel {
		var c2 context.CancelFunc
		cctx, c2 = context.WithTimeout(cctx, time.Duration(pt.rng.IntN(2000))*time.Microsecond)
		defer c2()
	}
	start := time.Now()
	err := f(cctx)
	if d := time.Since(start); d >= waitRecordMin {
		pt.rep.add(recWait, uint32(d.Milliseconds()), uint64(time.Now().UnixNano()))
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return err, true
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		if context.Cause(cctx) == errHang {
			// Show where every goroutine is, the library's included.
			buf := make([]byte, 1<<20)
			os.Stderr.Write(buf[:runtime.Stack(buf, true)])
			return fmt.Errorf("a call waited %v, %w", time.Since(start).Round(time.Millisecond), errHang), false
		}
		pt.rep.add(recCancel, 0, 0)
		return nil, false
	case errors.Is(err, shmring.ErrPeerDead):
		pt.rep.add(recPeerDead, 0, 0)
		time.Sleep(time.Millisecond)
		return nil, false
	}
	return err, false
}

// retry calls try until it stops returning again (ErrFull or ErrEmpty),
// yielding in between, or until ctx ends.
func retry(ctx context.Context, again error, try func() error) error {
	for i := 0; ; i++ {
		err := try()
		if err != again {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if i < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// attach calls attach until it does not fail with ErrBusy (another endpoint
// of the role holds the SPSC ring), or ctx ends or quit says so (both: nil,
// nil).
func attach[E any](ctx context.Context, quit func() bool, attach func() (E, error)) (e E, err error) {
	for {
		e, err = attach()
		if !errors.Is(err, shmring.ErrBusy) {
			return e, err
		}
		if quit() {
			var none E
			return none, nil
		}
		select {
		case <-ctx.Done():
			var none E
			return none, nil
		case <-time.After(time.Millisecond):
		}
	}
}

// size picks a message size: mostly small, sometimes up to 64 KiB, rarely
// up to the largest message.
func (pt *participant) size() int {
	hi := pt.MaxMsg
	switch x := pt.rng.IntN(100); {
	case x < 70:
		hi = min(hi, 256)
	case x < 98:
		hi = min(hi, 64<<10)
	}
	if hi <= msgHeader {
		return msgHeader
	}
	// Log-uniform in [msgHeader, hi].
	lo := float64(msgHeader)
	n := int(lo * math.Pow(float64(hi)/lo, pt.rng.Float64()))
	return min(max(n, msgHeader), hi)
}

// wrap returns nil for nil, and err prefixed with what otherwise.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
