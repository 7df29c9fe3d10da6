//go:build linux

package main

// The MPMC throughput rows: producers and consumers, each in a process of
// its own, on one anonymous MPMC ring that every child inherits.
//
// A run: the harness creates the ring and starts P producer and C consumer
// children, handing the ring to each (Ring.Pass; the child's Inherit). A
// child attaches its endpoint and prints "ready". Once all are ready, the
// harness closes the write end of the pipe that is every producer's
// standard input: they all see end of file at once and send their share of
// the run, n/P messages each, then exit (Producer.Close does not end an
// MPMC stream). Once every producer has exited, the harness ends the stream
// with Ring.CloseStream; the consumers drain it, get io.EOF and print their
// tallies.
//
// Timing: each consumer notes the time of its first message, and the time
// each read returns (the last such is right after its last message), as
// CLOCK_MONOTONIC nanoseconds, a clock every process on the host reads
// alike. The run lasts from the earliest first message of any consumer to
// the latest last one, so neither the processes' start-up nor the
// end-of-stream hand-shake is counted; the rate is messages delivered to all
// consumers over that span. Go's monotonic clock is CLOCK_MONOTONIC less a
// constant of the process: a consumer measures it once, bracketing one
// clock_gettime system call between two time.Now calls, so that the message
// path reads only the vDSO clock, and only once per read (a read takes
// whatever is committed, up to a batch).
//
// Checks: every message carries its producer's sequence number (bytes 0-7)
// and the producer's id (bytes 8-15). A consumer fails on a message of the
// wrong size, from a producer that does not exist, with a sequence number
// past what its producer sends, or not above the last it took from that
// producer: the ring keeps each producer's order, so every consumer sees a
// producer's messages in increasing order, and a message it gets twice
// fails here. The harness then checks, per producer, that the consumers'
// counts add up to what the producer sent, and that the sums of the
// sequence numbers taken add up to those sent: a message two consumers took,
// with another lost to make up the count, changes the sum.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// mpmcHeader is how many bytes of a message the MPMC rows stamp: the
// sequence number, then the producer's id, little endian.
const mpmcHeader = 16

// mpmcCrews are the MPMC rows' numbers of producers, each with as many
// consumers.
var mpmcCrews = []int{1, 2, 4, 8}

// mpmcScaling is the least crew that runs only on a machine with a CPU for
// each of its processes: the scaling target reads the 8P8C row, and with
// fewer CPUs its figure would measure the scheduler rather than the ring.
// The smaller crews run everywhere.
const mpmcScaling = 8

// clockTries is how many brackets newMonoClock takes the tightest of.
const clockTries = 5

// mpmcTally is what an MPMC consumer reports, as one JSON line.
type mpmcTally struct {
	Counts  []int    `json:"counts"`   // messages taken from each producer
	SeqSums []uint64 `json:"seq_sums"` // sum of their sequence numbers, per producer
	FirstNs int64    `json:"first_ns"` // CLOCK_MONOTONIC at the first message; 0 without one
	LastNs  int64    `json:"last_ns"`  // CLOCK_MONOTONIC after the read of the last
}

// taken is how many messages the tally counts.
func (t mpmcTally) taken() int {
	n := 0
	for _, c := range t.Counts {
		n += c
	}
	return n
}

// mpmcRun has b.producers producer processes send n messages in all, n/P
// each, to b.consumers consumer processes over one MPMC ring, and returns
// the time from the first message taken to the last.
func (h *harness) mpmcRun(b bench, n int) (el time.Duration, err error) {
	if b.producers < 1 || b.consumers < 1 || n%b.producers != 0 {
		return 0, fmt.Errorf("bench: %s: %d messages for %d producers and %d consumers", b.name(), n, b.producers, b.consumers)
	}
	if b.size < mpmcHeader {
		return 0, fmt.Errorf("bench: %s: a message of %d bytes has no room for its %d-byte stamp", b.name(), b.size, mpmcHeader)
	}
	t, err := newTransport(b.kind)
	if err != nil {
		return 0, err
	}
	// Cancelled by the first peer that fails.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	per := n / b.producers
	peers := func(role string, k int) ([]*peer, error) {
		ps := make([]*peer, k)
		for i := range ps {
			j := b.job(role, per)
			j.ID, j.Producers = i, b.producers
			p, err := newPeer(h.exe, j, t.inProcess(), h.timeout, cancel)
			if err != nil {
				return nil, err
			}
			ps[i] = p
		}
		return ps, nil
	}
	producers, err := peers(roleMPMCProduce, b.producers)
	if err != nil {
		return 0, err
	}
	consumers, err := peers(roleMPMCConsume, b.consumers)
	if err != nil {
		return 0, err
	}
	all := slices.Concat(producers, consumers)

	// The producers' standard input: its end is their start signal.
	goR, goW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("bench: start pipe: %w", err)
	}
	defer func() {
		// Closed on the way, unless the run failed first: a second Close
		// only reports os.ErrClosed.
		_ = goR.Close()
		_ = goW.Close()
	}()
	for _, p := range producers {
		if err := p.passStdin(goR); err != nil {
			return 0, err
		}
	}

	key := streamKey(0)
	j := b.job(roleMPMCProduce, per)
	j.Producers = b.producers
	s, err := t.open(j.spec(ctx, receiving), all[0], key)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, s.close()) }()
	shared, ok := s.(sharedStream)
	if !ok {
		return 0, fmt.Errorf("bench: %s: the %s stream is not one processes share", b.name(), b.kind.Transport)
	}
	for _, p := range all[1:] {
		if err := shared.join(p, key); err != nil {
			return 0, err
		}
	}

	c := &crew{}
	for i, p := range all {
		if err := p.start(nil); err != nil {
			for _, q := range all[i+1:] {
				q.discard()
			}
			return 0, c.fail(err)
		}
		c.started = append(c.started, p)
	}
	if err := goR.Close(); err != nil {
		return 0, c.fail(fmt.Errorf("bench: start pipe: %w", err))
	}
	for _, p := range all {
		l, err := p.line()
		if err == nil && l != "ready" {
			err = fmt.Errorf("bench: peer %s said %q, not ready", p.j.who(), l)
		}
		if err != nil {
			return 0, c.fail(err)
		}
	}
	if err := goW.Close(); err != nil {
		return 0, c.fail(fmt.Errorf("bench: start pipe: %w", err))
	}

	// Every producer ends by itself; a consumer that fails first would
	// leave them blocked on a full ring, so any failure ends the wait.
	for _, p := range producers {
		select {
		case <-p.exited:
		case <-ctx.Done():
			return 0, c.fail(errors.New("bench: a peer failed while the producers sent"))
		}
		if err := c.wait(p); err != nil {
			return 0, c.fail(err)
		}
	}
	if err := shared.end(); err != nil {
		return 0, c.fail(err)
	}
	tallies := make([]mpmcTally, len(consumers))
	for i, p := range consumers {
		l, err := p.line()
		if err == nil {
			err = json.Unmarshal([]byte(l), &tallies[i])
		}
		if err != nil {
			return 0, c.fail(fmt.Errorf("bench: peer %s's tally %q: %w", p.j.who(), l, err))
		}
		if err := c.wait(p); err != nil {
			return 0, c.fail(err)
		}
	}
	return mpmcSpan(tallies, b.producers, per)
}

// crew is the started peers of an MPMC run; each is waited for once.
type crew struct {
	started []*peer
	waited  []*peer
}

// wait waits for p, which has not been waited for.
func (c *crew) wait(p *peer) error {
	c.waited = append(c.waited, p)
	return p.wait()
}

// fail abandons the peers not waited for yet, waits for them and returns
// err with what they said. A peer that has already ended by itself is not
// abandoned: how it ended counts.
func (c *crew) fail(err error) error {
	var left []*peer
	for _, p := range c.started {
		if slices.Contains(c.waited, p) {
			continue
		}
		left = append(left, p)
		select {
		case <-p.exited:
		default:
			p.abandon()
		}
	}
	for _, p := range left {
		err = errors.Join(err, c.wait(p))
	}
	return err
}

// mpmcSpan checks the consumers' tallies against per messages from each of
// producers, and returns the time from the first message taken to the
// last.
func mpmcSpan(tallies []mpmcTally, producers, per int) (time.Duration, error) {
	counts := make([]int, producers)
	sums := make([]uint64, producers)
	var first, last int64
	for i, t := range tallies {
		if len(t.Counts) != producers || len(t.SeqSums) != producers {
			return 0, fmt.Errorf("bench: consumer %d tallied %d counts and %d sums for %d producers", i, len(t.Counts), len(t.SeqSums), producers)
		}
		for p := range producers {
			counts[p] += t.Counts[p]
			sums[p] += t.SeqSums[p]
		}
		if t.taken() == 0 {
			continue
		}
		if t.FirstNs <= 0 || t.LastNs < t.FirstNs {
			return 0, fmt.Errorf("bench: consumer %d took messages from %d ns to %d ns", i, t.FirstNs, t.LastNs)
		}
		if first == 0 || t.FirstNs < first {
			first = t.FirstNs
		}
		last = max(last, t.LastNs)
	}
	// 0+1+...+(per-1), in the consumers' wrapping arithmetic.
	want := uint64(per) * uint64(per-1) / 2
	for p := range producers {
		switch {
		case counts[p] != per:
			return 0, fmt.Errorf("bench: producer %d sent %d messages, the consumers took %d", p, per, counts[p])
		case sums[p] != want:
			return 0, fmt.Errorf("bench: producer %d: the sequence numbers taken add up to %d, not %d: a message was taken twice and another lost", p, sums[p], want)
		}
	}
	// Clock offsets are exact to a microsecond or so: a tiny run may show
	// no time at all.
	return time.Duration(max(last-first, 1)), nil
}

// mpmcProduce attaches a producer, says it is ready, waits for in to end
// and sends j.Count messages stamped with j.ID, in batches of j.Batch (the
// MPMC producer of a throughput row).
func mpmcProduce(s stream, j job, in io.Reader, out io.Writer) error {
	snd, err := s.sender()
	if err != nil {
		return err
	}
	msgs := make([][]byte, j.Batch)
	for i := range msgs {
		msgs[i] = make([]byte, j.Size)
		binary.LittleEndian.PutUint64(msgs[i][8:], uint64(j.ID))
	}
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fmt.Errorf("bench: producer %d: start signal: %w", j.ID, err)
	}
	for i := 0; i < j.Count; {
		k := min(j.Batch, j.Count-i)
		for m := range k {
			stamp(msgs[m], i+m)
		}
		if err := snd.send(msgs[:k]); err != nil {
			return fmt.Errorf("bench: producer %d: message %d: %w", j.ID, i, err)
		}
		i += k
	}
	return snd.close()
}

// mpmcConsume attaches a consumer, says it is ready, takes messages until
// the stream ends, checking each, and prints its tally (the MPMC consumer
// of a throughput row).
func mpmcConsume(s stream, j job, out io.Writer) error {
	rcv, err := s.receiver()
	if err != nil {
		return err
	}
	clock, err := newMonoClock()
	if err != nil {
		return err
	}
	c := newChecker(j.Size, j.Producers, j.Count)
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	var last time.Time
	for c.bad == nil {
		k, err := rcv.read(c.add)
		if k > 0 {
			last = time.Now()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("bench: consumer %d: after %d messages: %w", j.ID, c.taken, err)
		}
	}
	if c.bad != nil {
		return fmt.Errorf("bench: consumer %d: %w", j.ID, c.bad)
	}
	if c.taken > 0 {
		c.tally.FirstNs, c.tally.LastNs = clock.ns(c.first), clock.ns(last)
	}
	return json.NewEncoder(out).Encode(c.tally)
}

// checker checks and counts the messages one MPMC consumer takes.
type checker struct {
	size  int
	per   int   // messages each producer sends
	next  []int // per producer, the least sequence number its next message may carry
	tally mpmcTally
	taken int
	first time.Time // when the first message came
	bad   error     // the first check that failed
}

func newChecker(size, producers, per int) *checker {
	return &checker{
		size: size, per: per, next: make([]int, producers),
		tally: mpmcTally{Counts: make([]int, producers), SeqSums: make([]uint64, producers)},
	}
}

// add checks and counts msg.
func (c *checker) add(msg []byte) {
	touch(msg)
	if c.taken == 0 {
		c.first = time.Now()
	}
	i := c.taken
	c.taken++
	if c.bad != nil {
		return
	}
	if len(msg) != c.size {
		c.bad = fmt.Errorf("message %d has %d bytes, want %d", i, len(msg), c.size)
		return
	}
	seq, id := binary.LittleEndian.Uint64(msg), binary.LittleEndian.Uint64(msg[8:])
	switch {
	case id >= uint64(len(c.next)):
		c.bad = fmt.Errorf("message %d comes from producer %d of %d", i, id, len(c.next))
	case seq >= uint64(c.per):
		c.bad = fmt.Errorf("message %d: producer %d's sequence number %d, past the %d it sends", i, id, seq, c.per)
	case seq < uint64(c.next[id]):
		c.bad = fmt.Errorf("message %d: producer %d's sequence number %d after %d", i, id, seq, c.next[id]-1)
	default:
		c.next[id] = int(seq) + 1
		c.tally.Counts[id]++
		c.tally.SeqSums[id] += seq
	}
}

// monoClock turns this process's time.Time readings into CLOCK_MONOTONIC
// nanoseconds, which every process on the host shares.
type monoClock struct {
	base   time.Time // a reading of Go's monotonic clock
	baseNs int64     // CLOCK_MONOTONIC at base
}

// newMonoClock pairs a Go clock reading with CLOCK_MONOTONIC: the middle of
// the tightest of clockTries brackets of two time.Now calls around one
// clock_gettime.
func newMonoClock() (monoClock, error) {
	var c monoClock
	best := time.Duration(-1)
	for range clockTries {
		var ts unix.Timespec
		t0 := time.Now()
		err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		t1 := time.Now()
		if err != nil {
			return c, fmt.Errorf("bench: clock_gettime: %w", err)
		}
		if d := t1.Sub(t0); best < 0 || d < best {
			best = d
			c = monoClock{base: t0.Add(d / 2), baseNs: ts.Nano()}
		}
	}
	return c, nil
}

// ns returns t, a reading of this process, in CLOCK_MONOTONIC nanoseconds.
func (c monoClock) ns(t time.Time) int64 { return c.baseNs + int64(t.Sub(c.base)) }
