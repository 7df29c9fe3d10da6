package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shmring/shmring"
)

// torture is a run: rounds one after the other until the duration is over.
type torture struct {
	cfg       config
	stdout    io.Writer
	stderr    io.Writer
	tally     tally
	start     time.Time
	lastTally time.Time
	firstBad  int // the first round with a violation
}

// run runs the rounds. Violations go to the tally and stderr; an error is a
// run that could not go on.
func (t *torture) run(ctx context.Context) error {
	t.start = time.Now()
	t.lastTally = t.start
	for n := t.cfg.round; ; n++ {
		left := t.cfg.duration - time.Since(t.start)
		if left <= 0 {
			break
		}
		if err := t.round(ctx, n, left); err != nil {
			return fmt.Errorf("round %d: %w", n, err)
		}
	}
	t.tally.elapsed = time.Since(t.start)
	return nil
}

// Chaos, per tick of the round's loop.
const (
	tickMin   = 2 * time.Millisecond
	tickMax   = 20 * time.Millisecond
	killOdds  = 0.04 // that a tick kills a participant
	stopOdds  = 0.06 // that a tick stops one
	joinOdds  = 0.02 // that a tick starts one beyond the round's population
	stopMax   = 100 * time.Millisecond
	extraMax  = 2 // participants per role beyond the population
	roundMin  = time.Second
	roundSpan = 3 * time.Second
)

// roundRun is one round: a ring, its participants and its checker.
type roundRun struct {
	t        *torture
	n        int
	rng      *rand.Rand
	mpmc     bool
	size     int64
	slot     int
	lanes    int // of an MPMC ring: 1, 2 or 4, at most half its slots
	dur      time.Duration
	want     map[string]int // population by role
	r        *shmring.Ring
	maxMsg   int
	members  []*member
	producer uint32 // the last producer id given
	consumer int    // the last consumer number given
	check    *roundCheck
	kills    []time.Time
	recs     []record
}

// member is one participant process.
type member struct {
	spec    spec
	cmd     *exec.Cmd
	rep     *report
	stdin   io.WriteCloser
	stderr  *tailWriter
	done    chan struct{} // closed when the process was waited for
	killed  bool
	stopped bool
	contAt  time.Time
	stops   [][2]time.Time // when it was stopped: its own waits then are no one's fault
	torn    bool
	hung    string // why it was sent SIGQUIT
	gone    bool   // its end was processed
}

// describe names the round for a violation: enough to replay it.
func (rr *roundRun) describe() string {
	kind := "spsc"
	if rr.mpmc {
		kind = fmt.Sprintf("mpmc slot %d, %d lanes", rr.slot, rr.lanes)
	}
	return fmt.Sprintf("round %d (seed %d, %s, size %s, %v)", rr.n, rr.t.cfg.seed, kind, formatSize(rr.size), rr.dur.Round(time.Millisecond))
}

// round runs round n for at most left.
func (t *torture) round(ctx context.Context, n int, left time.Duration) (err error) {
	rng := rand.New(rand.NewPCG(t.cfg.seed, uint64(n)))
	rr := &roundRun{t: t, n: n, rng: rng}
	rr.mpmc = t.cfg.kinds[rng.IntN(len(t.cfg.kinds))] == "mpmc"
	rr.size = 1 << (log2(minSize) + rng.IntN(log2(t.cfg.maxSize)-log2(minSize)+1))
	opts := &shmring.Options{Size: rr.size}
	rr.want = map[string]int{roleProducer: 1, roleConsumer: 1}
	if rr.mpmc {
		opts.Kind = shmring.MPMC
		rr.slot = 1 << (5 + rng.IntN(min(log2(rr.size)-1, 24)-5+1))
		opts.SlotSize = rr.slot
		slots := max(int(rr.size)/rr.slot, 2)
		rr.lanes = min(1<<rng.IntN(3), slots/2)
		opts.Lanes = rr.lanes
		rr.want[roleProducer] = 1 + rng.IntN(3)
		rr.want[roleConsumer] = 1 + rng.IntN(3)
	}
	rr.dur = min(roundMin+time.Duration(rng.Int64N(int64(roundSpan))), left)
	rr.check = newRoundCheck(rr.mpmc)
	if rr.r, err = shmring.CreateAnonymous(opts); err != nil {
		return err
	}
	rr.maxMsg = rr.r.MaxMessage()
	if t.cfg.verbose {
		fmt.Fprintf(t.stdout, "shmring-torture: %s: %d producers, %d consumers\n",
			rr.describe(), rr.want[roleProducer], rr.want[roleConsumer])
	}
	defer func() {
		rr.abort()
		err = errors.Join(err, rr.r.Close())
		t.tally.rounds++
		t.tally.lostWakeups += rr.r.LostWakeups()
	}()

	if err := rr.chaos(ctx); err != nil {
		return err
	}
	if err := rr.finish(ctx); err != nil {
		return err
	}
	violations := rr.check.judge()
	for _, v := range violations {
		fmt.Fprintf(t.stderr, "shmring-torture: VIOLATION in %s: %s\n", rr.describe(), v)
	}
	if len(violations) > 0 && t.tally.violations == 0 {
		t.firstBad = n
	}
	t.tally.violations += len(violations)
	if t.cfg.verbose {
		fmt.Fprintf(t.stdout, "shmring-torture: round %d: %d messages, %d violations\n", n, rr.check.received, len(violations))
	}
	return nil
}

// chaos runs the round's main phase: participants come and go, are killed
// and stopped, until the round's time is over.
func (rr *roundRun) chaos(ctx context.Context) error {
	end := time.Now().Add(rr.dur)
	for time.Now().Before(end) {
		if err := rr.tick(ctx); err != nil {
			return err
		}
		now := time.Now()
		for _, m := range rr.members {
			if m.stopped && now.After(m.contAt) {
				rr.cont(m)
			}
		}
		live := rr.live()
		for _, role := range []string{roleProducer, roleConsumer} {
			if live[role] < rr.want[role] || live[role] < rr.want[role]+extraMax && rr.rng.Float64() < joinOdds {
				if err := rr.spawn(role); err != nil {
					return err
				}
			}
		}
		if rr.rng.Float64() < killOdds {
			if m := rr.pick(); m != nil {
				rr.kill(m)
			}
		}
		if rr.rng.Float64() < stopOdds {
			if m := rr.pick(); m != nil && !m.stopped {
				rr.stop(m, time.Duration(1+rr.rng.Int64N(int64(stopMax))))
			}
		}
	}
	return nil
}

// tick sleeps a random tick, then takes what the participants reported and
// ends those that exited. It prints the tally when it is due.
func (rr *roundRun) tick(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(tickMin + time.Duration(rr.rng.Int64N(int64(tickMax-tickMin)))):
	}
	for _, m := range rr.members {
		if m.gone {
			continue
		}
		select {
		case <-m.done:
			rr.take(m)
			rr.end(m)
		default:
			rr.take(m)
		}
	}
	t := rr.t
	if time.Since(t.lastTally) >= t.cfg.tally {
		t.lastTally = time.Now()
		t.tally.elapsed = time.Since(t.start)
		fmt.Fprintf(t.stdout, "shmring-torture: %v\n", &t.tally)
	}
	return nil
}

// live counts the participants of each role that run and were not killed.
func (rr *roundRun) live() map[string]int {
	n := map[string]int{}
	for _, m := range rr.members {
		if !m.gone && !m.killed {
			n[m.spec.Role]++
		}
	}
	return n
}

// pick returns a random participant that may be killed or stopped: it has
// inherited the ring (so that nothing it was passed leaks), runs and was not
// killed. Nil if there is none.
func (rr *roundRun) pick() *member {
	var ms []*member
	for _, m := range rr.members {
		if !m.gone && !m.killed && m.rep.state.Load() == stateReady {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return nil
	}
	return ms[rr.rng.IntN(len(ms))]
}

func (rr *roundRun) kill(m *member) {
	if m.cmd.Process.Signal(syscall.SIGKILL) == nil {
		m.killed = true
		rr.kills = append(rr.kills, time.Now())
		rr.t.tally.kills++
	}
}

func (rr *roundRun) stop(m *member, d time.Duration) {
	if m.cmd.Process.Signal(syscall.SIGSTOP) == nil {
		m.stopped, m.contAt = true, time.Now().Add(d)
		m.stops = append(m.stops, [2]time.Time{time.Now(), m.contAt})
		rr.t.tally.stops++
	}
}

func (rr *roundRun) cont(m *member) {
	_ = m.cmd.Process.Signal(syscall.SIGCONT)
	m.stopped = false
	m.stops[len(m.stops)-1][1] = time.Now()
}

// spawn starts a participant of role with random parameters.
func (rr *roundRun) spawn(role string) (err error) {
	rng := rr.rng
	s := spec{
		Role: role, Round: uint32(rr.n), MPMC: rr.mpmc, Seed: rng.Uint64(),
		Wait:  []string{"adaptive", "adaptive", "adaptive", "block", "block", "block", "spin"}[rng.IntN(7)],
		Bound: rr.t.cfg.bound, MaxMsg: rr.maxMsg,
		Cancel: []float64{0, 0.01, 0.1}[rng.IntN(3)],
	}
	bufSize := rr.maxMsg
	if role == roleProducer {
		rr.producer++
		s.ID, s.Mode = rr.producer, producerModes[rng.IntN(len(producerModes))]
		bufSize = 0
	} else {
		rr.consumer++
		modes := consumerModes
		if !rr.t.cfg.poll {
			modes = slices.DeleteFunc(slices.Clone(modes), func(m string) bool { return m == modeTryRecv })
		}
		s.ID, s.Mode = uint32(rr.consumer), modes[rng.IntN(len(modes))]
	}
	if rng.IntN(2) == 0 {
		s.Lifetime = time.Duration(50+rng.IntN(2000)) * time.Millisecond
	}
	if rr.t.cfg.closeRaces && rng.IntN(4) == 0 {
		s.CloseRace = []string{raceEndpoint, raceEndpoint, raceRing}[rng.IntN(3)]
		s.CloseAfter = time.Duration(rng.IntN(300)) * time.Millisecond
	}
	encoded, err := json.Marshal(s)
	if err != nil {
		return err
	}
	m := &member{spec: s, stderr: &tailWriter{}, done: make(chan struct{})}
	if m.rep, err = newReport(bufSize); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.rep.close())
		}
	}()
	m.cmd = exec.Command(rr.t.cfg.exe)
	m.cmd.Env = append(os.Environ(), participantEnv+"="+string(encoded))
	m.cmd.ExtraFiles = []*os.File{m.rep.f} // descriptor 3
	m.cmd.Stderr = m.stderr
	if m.stdin, err = m.cmd.StdinPipe(); err != nil {
		return err
	}
	if err := rr.r.Pass(m.cmd, ringKey); err != nil {
		return err
	}
	if err := m.cmd.Start(); err != nil {
		return err
	}
	go func() {
		_ = m.cmd.Wait() // the exit status is in cmd.ProcessState
		close(m.done)
	}()
	rr.members = append(rr.members, m)
	rr.t.tally.participants++
	return nil
}

// take processes the records m appended since the last take.
func (rr *roundRun) take(m *member) {
	rr.recs = m.rep.take(rr.recs[:0])
	t := &rr.t.tally
	for _, rec := range rr.recs {
		id := msgID{rec.a, rec.b}
		switch rec.kind {
		case recCommit:
			rr.check.commit(rec.a, rec.b)
		case recRecv, recMaybe:
			rr.check.receive(int(m.spec.ID), id, rec.kind == recRecv)
			t.msgs++
		case recTorn:
			rr.check.torn++
			m.torn = true
		case recWait:
			rr.wait(m, time.Duration(rec.a)*time.Millisecond, time.Unix(0, int64(rec.b)))
		case recCancel:
			t.cancels++
		case recPeerDead:
			t.peerDead++
		case recCloseRace:
			t.closeRaces++
			if m.spec.Role == roleConsumer {
				rr.check.orphans++
			}
		}
	}
}

// wait accounts for a long wait of m's that ended at end: the longest wait,
// and the longest a wait lasted after a death, unless m itself was stopped
// meanwhile.
func (rr *roundRun) wait(m *member, d time.Duration, end time.Time) {
	start := end.Add(-d)
	for _, s := range m.stops {
		if s[0].Before(end) && s[1].After(start) {
			return
		}
	}
	t := &rr.t.tally
	t.longestWait = max(t.longestWait, d)
	for _, k := range rr.kills {
		if !k.Before(start) && k.Before(end) {
			t.afterDeath = max(t.afterDeath, end.Sub(k))
			return
		}
	}
}

func (m *member) String() string {
	return fmt.Sprintf("%s %d (pid %d, %s, wait %s)", m.spec.Role, m.spec.ID, m.cmd.Process.Pid, m.spec.Mode, m.spec.Wait)
}

// end processes the exit of m, whose process was waited for: its status,
// and for a consumer that did not exit cleanly, the messages it may have
// taken along.
func (rr *roundRun) end(m *member) {
	m.gone = true
	t := &rr.t.tally
	t.reaps += m.rep.reaped.Load()
	t.lostWakeups += m.rep.lost.Load()
	st := m.cmd.ProcessState
	ws, _ := st.Sys().(syscall.WaitStatus)
	killed := m.killed && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	if m.spec.Role == roleConsumer && !st.Success() {
		// Killed, or died of a violation (reported below): either way
		// what it held may be gone with it or go to another consumer.
		rr.check.orphans++
		for _, id := range m.rep.pendingList() {
			rr.check.maybeConsumed(id)
		}
		if id, ok := messageIn(m.rep.buffer(), uint32(rr.n)); ok {
			if last, any := rr.check.lastReceived(int(m.spec.ID)); !any || last != id {
				rr.check.maybeConsumed(id)
			}
		}
	}
	switch {
	case m.hung != "":
		rr.check.hangs = append(rr.check.hangs, fmt.Sprintf("hang: %s %s; its stderr after SIGQUIT:\n%s",
			m, m.hung, indent(m.stderr.String())))
	case killed:
	case st.Success():
		if m.spec.Role == roleProducer {
			rr.check.producer(m.spec.ID).finished = true
		}
	default:
		rr.check.violations = append(rr.check.violations,
			fmt.Sprintf("%s: %s %s:\n%s", exitKind(m.stderr.String()), m, st, indent(m.stderr.String())))
	}
	if rr.t.cfg.verbose {
		race := ""
		if m.spec.CloseRace != "" {
			race = fmt.Sprintf(", %s close race after %v", m.spec.CloseRace, m.spec.CloseAfter)
		}
		fmt.Fprintf(rr.t.stdout, "shmring-torture: round %d: %s%s: %s\n", rr.n, m, race, st)
	}
	if m.torn && st.Success() {
		fmt.Fprintf(rr.t.stderr, "%s", m.stderr.String())
	}
	if err := m.rep.close(); err != nil {
		rr.check.violations = append(rr.check.violations, fmt.Sprintf("report of %s: %v", m, err))
	}
}

// exitKind names what ended a participant, from its stderr.
func exitKind(stderr string) string {
	switch {
	case strings.Contains(stderr, errHang.Error()):
		return "hang"
	case strings.Contains(stderr, "WARNING: DATA RACE"):
		return "data race"
	case strings.Contains(stderr, "panic:"):
		return "panic"
	case strings.Contains(stderr, "fatal error:"), strings.Contains(stderr, "unexpected signal"):
		return "fault"
	}
	return "participant failed"
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "\t(no output)"
	}
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}

// finish ends the round: producers are told to stop and must leave within
// the bound; then the stream is closed, and the consumers must drain it
// without a pause as long as the bound, and leave; the parent drains what is
// left.
func (rr *roundRun) finish(ctx context.Context) error {
	for _, m := range rr.members {
		if m.stopped {
			rr.cont(m)
		}
		if m.spec.Role == roleProducer && !m.gone {
			_ = m.stdin.Close()
		}
	}
	if err := rr.await(ctx, roleProducer, "stop sending", false); err != nil {
		return err
	}
	rr.r.Event(finalEvent).Set()
	if err := rr.r.CloseStream(); err != nil {
		return err
	}
	if err := rr.await(ctx, roleConsumer, "drain the stream (with no progress)", true); err != nil {
		return err
	}
	return rr.drain(ctx)
}

// endAgain ends the stream again while the round finishes: a consumer that
// attaches to an empty SPSC ring after another read its end waits for the
// next stream (README, SPSC end of stream), and the parent, knowing that
// every producer is gone, says there is none.
func (rr *roundRun) endAgain() error {
	if rr.mpmc {
		return nil
	}
	return rr.r.CloseStream()
}

// await waits, processing reports, until every participant of role has
// exited, for at most the bound; with progressive, draining a large ring
// takes a while, and the bound is on the time without progress (no message
// committed or received). Those still running then hang: each is sent
// SIGQUIT, so that its goroutines' stacks go to its stderr and into the
// violation, and killed if it does not exit within quitGrace.
func (rr *roundRun) await(ctx context.Context, role, what string, progressive bool) error {
	deadline := time.Now().Add(rr.t.cfg.bound)
	quit := false
	progress := rr.check.progress()
	for {
		running := 0
		for _, m := range rr.members {
			if m.spec.Role == role && !m.gone {
				running++
			}
		}
		if running == 0 {
			return nil
		}
		if p := rr.check.progress(); progressive && p != progress && !quit {
			progress, deadline = p, time.Now().Add(rr.t.cfg.bound)
		}
		if time.Now().After(deadline) {
			for _, m := range rr.members {
				if m.spec.Role != role || m.gone {
					continue
				}
				if !quit {
					m.hung = fmt.Sprintf("did not %s within %v", what, rr.t.cfg.bound)
					_ = m.cmd.Process.Signal(syscall.SIGQUIT)
				} else {
					rr.kill(m)
				}
			}
			quit, deadline = true, time.Now().Add(quitGrace)
		}
		if role == roleConsumer {
			if err := rr.endAgain(); err != nil {
				return err
			}
		}
		if err := rr.tick(ctx); err != nil {
			return err
		}
	}
}

// quitGrace is how long a hung participant has to exit after SIGQUIT.
const quitGrace = 2 * time.Second

// drain receives what is left in the ring, as consumer 0.
func (rr *roundRun) drain(ctx context.Context) (err error) {
	if err := rr.endAgain(); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	c, err := rr.r.Consumer()
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	defer func() {
		rr.t.tally.reaps += c.Stats().Reaped
		err = errors.Join(err, c.Close())
	}()
	buf := make([]byte, rr.maxMsg)
	for {
		n, err := recvWithin(ctx, c, buf, rr.t.cfg.bound)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			rr.check.hangs = append(rr.check.hangs, fmt.Sprintf("hang: the parent's drain did not reach the end of the stream within %v", rr.t.cfg.bound))
			return nil
		case err != nil:
			rr.check.violations = append(rr.check.violations, fmt.Sprintf("the parent's drain: %v", err))
			return nil
		}
		m, err := checkMessage(buf[:n], uint32(rr.n))
		if err != nil {
			rr.check.torn++
			fmt.Fprintf(rr.t.stderr, "shmring-torture: round %d parent drain: damaged message: %v\n", rr.n, err)
			continue
		}
		rr.check.receive(0, m, true)
		rr.t.tally.msgs++
	}
}

// recvWithin is c.Recv under a timeout.
func recvWithin(ctx context.Context, c *shmring.Consumer, buf []byte, d time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return c.Recv(ctx, buf)
}

// abort kills the participants still running, waits for them and closes
// their reports: the end of a round that stopped early. After a full round
// there is nothing left to do.
func (rr *roundRun) abort() {
	for _, m := range rr.members {
		if m.gone {
			continue
		}
		_ = m.cmd.Process.Signal(syscall.SIGKILL)
		<-m.done
		m.gone = true
		_ = m.rep.close()
	}
}

// tailWriter keeps the last tailSize bytes written to it: enough for the
// stacks of a participant's goroutines.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 64 << 10

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > tailSize {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
