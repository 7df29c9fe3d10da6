//go:build linux

package main

// Scenarios: how each kind of row is measured. The harness plays one side of
// a session, the peer (child.go) the other, over the streams of a transport
// (transports.go). Every message carries its index in its first 8 bytes
// (little endian); receivers check each index and size, so a lost, repeated,
// reordered or resized message fails the row.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// Scenario names: the scenario field of a row.
const (
	sThroughput = "throughput"
	sPingpong   = "pingpong"
	sIdle       = "idle"
)

const (
	// maxBatch is the batch of the batch API, and of the harness's sends.
	maxBatch = 256
	// idleTime is how long an idle consumer waits on an empty stream.
	idleTime = time.Second
	// maxSizing bounds the runs a throughput row takes to reach its
	// minimum time; growth bounds how much a run may grow over the last.
	maxSizing = 4
	growth    = 100
	// throughputRuns is how many runs a throughput row takes the median of.
	throughputRuns = 3
	// Histogram range and precision of round trips, in nanoseconds.
	histMin, histMax, histDigits = 1, int64(10 * time.Second), 3
	// memcpyFloor is the least memory a memcpy row cycles through.
	memcpyFloor = 1 << 20
	// cacheLine is the unit touch reads.
	cacheLine = 64
)

// harness measures rows.
type harness struct {
	exe     string        // this program, run again as the peer
	minTime time.Duration // least duration of a throughput run
	minMsgs int           // least messages of a throughput run
	rtts    int           // round trips recorded per pingpong row
	timeout time.Duration // longest a peer may run
	cpus    int           // CPUs this process may run on (runtime.NumCPU)
}

// bench is one row to measure.
type bench struct {
	scenario string
	kind     kind
	size     int
	// producers and consumers of an MPMC row, each a process of its own;
	// zero in the other rows, which have one of each (memcpy: none).
	producers, consumers int
}

// name is the row's name, matched by -run: scenario/transport/strategy/api/size,
// and /<producers>p<consumers>c after an MPMC row's.
func (b bench) name() string {
	name := b.scenario + "/" + b.kind.Transport + "/" + b.kind.Strategy + "/" + b.kind.API + "/" + strconv.Itoa(b.size)
	if isMPMC(b.kind.Transport) {
		name += fmt.Sprintf("/%dp%dc", b.producers, b.consumers)
	}
	return name
}

// row returns the row b fills, with its identity set.
func (b bench) row() row {
	r := row{
		Scenario: b.scenario, Transport: b.kind.Transport, Strategy: b.kind.Strategy, API: b.kind.API,
		Size: b.size, Producers: 1, Consumers: 1,
	}
	switch b.kind.Transport {
	case tMemcpy:
		r.Producers, r.Consumers = 0, 0
	case tMPMC, tLanes:
		r.Producers, r.Consumers = b.producers, b.consumers
	}
	return r
}

// minCPUs is the least CPUs b runs on: one for each process of an MPMC row
// of mpmcScaling producers or more; none for the others.
func (b bench) minCPUs() int {
	if isMPMC(b.kind.Transport) && b.producers >= mpmcScaling {
		return b.producers + b.consumers
	}
	return 0
}

// cpuShortage is why a row does not run on this machine: it has have CPUs,
// the row needs need.
type cpuShortage struct{ have, need int }

func (e cpuShortage) Error() string { return fmt.Sprintf("%d CPUs, needs %d", e.have, e.need) }

// Is makes a shortage a case of errNotApplicable.
func (cpuShortage) Is(target error) bool { return target == errNotApplicable }

// senders is how many producers share a throughput row's messages.
func (b bench) senders() int { return max(b.producers, 1) }

// job returns the peer's job for b.
func (b bench) job(role string, count int) job {
	capacity := ringCapacity(b.size)
	return job{
		Role: role, Kind: b.kind, Size: b.size, Capacity: capacity, Count: count,
		Batch: min(maxBatch, max(1, capacity/(2*(b.size+8)))),
	}
}

// ringCapacity is the ring (or buffer) size for messages of size bytes:
// 1 MiB, or room for 8 messages when that is more.
func ringCapacity(size int) int { return max(1<<20, 8*size) }

// measure measures b, unless the machine has too few CPUs for it.
func (h *harness) measure(b bench) (row, error) {
	if need := b.minCPUs(); h.cpus < need {
		return row{}, cpuShortage{have: h.cpus, need: need}
	}
	switch {
	case b.kind.Transport == tMemcpy:
		return h.memcpy(b), nil
	case b.scenario == sThroughput:
		return h.throughput(b)
	case b.scenario == sPingpong:
		return h.pingpong(b)
	case b.scenario == sIdle:
		return h.idle(b)
	}
	return row{}, fmt.Errorf("bench: %s: unknown scenario", b.name())
}

// session opens j's streams over b's transport, starts the peer on their far
// ends, runs fn on the harness's ends and waits for the peer.
func (h *harness) session(b bench, j job, fn func(p *peer, streams []stream) error) (err error) {
	t, err := newTransport(b.kind)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := newPeer(h.exe, j, t.inProcess(), h.timeout, cancel)
	if err != nil {
		return err
	}
	var streams []stream
	defer func() {
		for _, s := range streams {
			err = errors.Join(err, s.close())
		}
	}()
	for i, local := range j.ends(true) {
		s, err := t.open(j.spec(ctx, local), p, streamKey(i))
		if err != nil {
			p.discard()
			return err
		}
		streams = append(streams, s)
	}
	if err := p.start(streams); err != nil {
		return err
	}
	if err := fn(p, streams); err != nil {
		p.abandon()
		return errors.Join(err, p.wait())
	}
	return p.wait()
}

// stamp writes index i into msg.
func stamp(msg []byte, i int) { binary.LittleEndian.PutUint64(msg, uint64(i)) }

// index reads the index of msg.
func index(msg []byte) int { return int(binary.LittleEndian.Uint64(msg)) }

// throughput measures one-way throughput: runs of growing size until one
// lasts at least minTime, then more runs of that size; the row has the
// median rate of throughputRuns runs, which keeps a run that the host
// disturbed from deciding a ratio. A run of an MPMC row moves a multiple of
// its producers' number of messages, the same number from each.
func (h *harness) throughput(b bench) (row, error) {
	measure := h.throughputRun
	if isMPMC(b.kind.Transport) {
		measure = h.mpmcRun
	}
	n := roundUp(max(h.minMsgs, 2), b.senders())
	var rates []float64
	for run := 1; len(rates) < throughputRuns; run++ {
		el, err := measure(b, n)
		if err != nil {
			return row{}, err
		}
		if el >= h.minTime || run >= maxSizing {
			rates = append(rates, float64(n-1)/el.Seconds())
			continue
		}
		grow := 1.2 * float64(h.minTime) / float64(max(el, time.Microsecond))
		n = roundUp(int(float64(n)*min(max(grow, 2), growth)), b.senders())
	}
	slices.Sort(rates)
	r := b.row()
	r.MsgsPerS = rates[len(rates)/2]
	r.MBPerS = r.MsgsPerS * float64(b.size) / 1e6
	return r, nil
}

// roundUp rounds n up to a multiple of k.
func roundUp(n, k int) int { return (n + k - 1) / k * k }

// throughputRun has the peer produce n messages and consumes them here. It
// returns the time from the first message to the last.
func (h *harness) throughputRun(b bench, n int) (time.Duration, error) {
	var el time.Duration
	err := h.session(b, b.job(roleProduce, n), func(_ *peer, streams []stream) error {
		rcv, err := streams[0].receiver()
		if err != nil {
			return err
		}
		el, err = consume(rcv, b.size, n)
		return err
	})
	return el, err
}

// consume receives n messages of size bytes, checking each, and returns the
// time from the first to the last.
func consume(rcv receiver, size, n int) (time.Duration, error) {
	var (
		got        int
		bad        error
		start, end time.Time
	)
	check := func(msg []byte) {
		touch(msg)
		switch {
		case bad != nil:
			return
		case got >= n:
			bad = fmt.Errorf("bench: message %d beyond the %d sent", got, n)
		case len(msg) != size:
			bad = fmt.Errorf("bench: message %d has %d bytes, want %d", got, len(msg), size)
		case index(msg) != got:
			bad = fmt.Errorf("bench: message %d carries index %d", got, index(msg))
		}
		if got == 0 {
			start = time.Now()
		}
		got++
		if got == n {
			end = time.Now()
		}
	}
	for got < n && bad == nil {
		if _, err := rcv.read(check); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("bench: after %d of %d messages: %w", got, n, err)
		}
	}
	return end.Sub(start), bad
}

// touched keeps touch's loads from being optimised away: it is written and
// never read, on purpose.
//
//lint:ignore U1000 a sink for touch's loads
var touched byte

// touch reads one byte of every cache line of msg, so that a message read in
// place (zero-copy) does travel to the consumer's core, as one it copies out.
func touch(msg []byte) {
	var x byte
	for i := 0; i < len(msg); i += cacheLine {
		x ^= msg[i]
	}
	touched ^= x
}

// produce sends j.Count indexed messages in batches of j.Batch, then ends
// the stream (the peer's side of throughput).
func produce(s stream, j job) error {
	snd, err := s.sender()
	if err != nil {
		return err
	}
	msgs := make([][]byte, j.Batch)
	for i := range msgs {
		msgs[i] = make([]byte, j.Size)
	}
	for i := 0; i < j.Count; {
		k := min(j.Batch, j.Count-i)
		for m := range k {
			stamp(msgs[m], i+m)
		}
		if err := snd.send(msgs[:k]); err != nil {
			return fmt.Errorf("bench: produce message %d: %w", i, err)
		}
		i += k
	}
	return snd.close()
}

// pingpong measures round trips: a warm-up of a tenth, then h.rtts recorded.
// The cache line's round trips are turns on one line (cacheline.go), the
// others messages echoed by the peer.
func (h *harness) pingpong(b bench) (row, error) {
	if b.kind.Transport == tLine {
		return h.lineRoundTrips(b)
	}
	var hist *hdrhistogram.Histogram
	err := h.session(b, b.job(roleEcho, h.roundTrips()), func(_ *peer, streams []stream) error {
		snd, err := streams[0].sender()
		if err != nil {
			return err
		}
		rcv, err := streams[1].receiver()
		if err != nil {
			return err
		}
		msg := make([]byte, b.size)
		one := [][]byte{msg}
		echoed := -1
		check := func(m []byte) {
			echoed = -1
			if len(m) == b.size {
				echoed = index(m)
			}
		}
		hist, err = h.timeRoundTrips(func(i int) error {
			stamp(msg, i)
			if err := snd.send(one); err != nil {
				return err
			}
			n, err := rcv.read(check)
			if err != nil {
				return err
			}
			if n != 1 || echoed != i {
				return fmt.Errorf("%d messages back, index %d", n, echoed)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return snd.close()
	})
	if err != nil {
		return row{}, err
	}
	return rttRow(b, hist), nil
}

// lineRoundTrips measures the cache line's round trips: the harness hits
// the line, the peer answers.
func (h *harness) lineRoundTrips(b bench) (row, error) {
	var hist *hdrhistogram.Histogram
	err := h.session(b, b.job(roleBounce, h.roundTrips()), func(_ *peer, streams []stream) error {
		l, ok := streams[0].(*lineStream)
		if !ok {
			return fmt.Errorf("bench: %s: the %s stream is no cache line", b.name(), b.kind.Transport)
		}
		var err error
		hist, err = h.timeRoundTrips(func(i int) error { return l.hit(uint64(i)) })
		return err
	})
	if err != nil {
		return row{}, err
	}
	return rttRow(b, hist), nil
}

// warmRoundTrips is how many round trips a pingpong row makes before it
// records h.rtts.
func (h *harness) warmRoundTrips() int { return max(h.rtts/10, 100) }

// roundTrips is how many round trips a pingpong row makes in all.
func (h *harness) roundTrips() int { return h.warmRoundTrips() + h.rtts }

// timeRoundTrips makes h.roundTrips() round trips, trip(i) making the i-th,
// times each and returns a histogram of those after the warm-up, in
// nanoseconds.
func (h *harness) timeRoundTrips(trip func(i int) error) (*hdrhistogram.Histogram, error) {
	warm := h.warmRoundTrips()
	hist := hdrhistogram.New(histMin, histMax, histDigits)
	for i := range h.roundTrips() {
		t0 := time.Now()
		err := trip(i)
		rtt := time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("bench: round trip %d: %w", i, err)
		}
		if i >= warm {
			if err := hist.RecordValue(rtt.Nanoseconds()); err != nil {
				return nil, fmt.Errorf("bench: round trip %d of %v: %w", i, rtt, err)
			}
		}
	}
	return hist, nil
}

// rttRow returns b's row with the percentiles of hist.
func rttRow(b bench, hist *hdrhistogram.Histogram) row {
	r := b.row()
	r.P50 = hist.ValueAtQuantile(50)
	r.P99 = hist.ValueAtQuantile(99)
	r.P999 = hist.ValueAtQuantile(99.9)
	r.Max = hist.Max()
	return r
}

// echo sends back each of j.Count messages (the peer's side of pingpong).
func echo(in, out stream, j job) error {
	rcv, err := in.receiver()
	if err != nil {
		return err
	}
	snd, err := out.sender()
	if err != nil {
		return err
	}
	msg := make([]byte, j.Size)
	one := [][]byte{msg}
	copied := 0
	keep := func(m []byte) { copied = copy(msg, m) }
	for i := range j.Count {
		n, err := rcv.read(keep)
		if err != nil {
			return fmt.Errorf("bench: echo %d: %w", i, err)
		}
		if n != 1 || copied != j.Size {
			return fmt.Errorf("bench: echo %d: %d messages of %d bytes", i, n, copied)
		}
		if err := snd.send(one); err != nil {
			return fmt.Errorf("bench: echo %d: %w", i, err)
		}
	}
	return snd.close()
}

// bounce answers j.Count round trips on the cache line (the peer's side of
// its pingpong).
func bounce(s stream, j job) error {
	l, ok := s.(*lineStream)
	if !ok {
		return fmt.Errorf("bench: bounce: the %s stream is no cache line", j.Kind.Transport)
	}
	for i := range j.Count {
		if err := l.answer(uint64(i)); err != nil {
			return fmt.Errorf("bench: bounce %d: %w", i, err)
		}
	}
	return nil
}

// idleResult is what an idle peer reports.
type idleResult struct {
	CPUNs  int64 `json:"cpu_ns"`
	WallNs int64 `json:"wall_ns"`
}

// idle measures the CPU a peer burns while it waits idleTime on an empty
// stream.
func (h *harness) idle(b bench) (row, error) {
	var res idleResult
	err := h.session(b, b.job(roleIdle, 1), func(p *peer, streams []stream) error {
		snd, err := streams[0].sender()
		if err != nil {
			return err
		}
		if l, err := p.line(); err != nil || l != "ready" {
			return fmt.Errorf("bench: idle peer said %q, not ready: %w", l, err)
		}
		time.Sleep(idleTime)
		msg := make([]byte, b.size)
		if err := snd.send([][]byte{msg}); err != nil {
			return err
		}
		l, err := p.line()
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(l), &res); err != nil || res.WallNs <= 0 {
			return fmt.Errorf("bench: idle peer said %q: %v", l, err)
		}
		return snd.close()
	})
	if err != nil {
		return row{}, err
	}
	r := b.row()
	r.CPUPct = 100 * float64(res.CPUNs) / float64(res.WallNs)
	return r, nil
}

// idleWait waits for one message and prints the CPU time and wall time the
// wait took, from getrusage of the whole process (the peer's side of idle).
func idleWait(s stream, out io.Writer) error {
	rcv, err := s.receiver()
	if err != nil {
		return err
	}
	cpu0, err := cpuTime()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	if _, err := rcv.read(func([]byte) {}); err != nil {
		return fmt.Errorf("bench: idle wait: %w", err)
	}
	wall := time.Since(t0)
	cpu1, err := cpuTime()
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(idleResult{CPUNs: int64(cpu1 - cpu0), WallNs: int64(wall)})
}

// cpuTime returns the user and system time of this process so far.
func cpuTime() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("bench: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// memcpy measures single-thread copy bandwidth: copies of b.size bytes
// between two buffers of max(memcpyFloor, 16 messages), one pass after
// another, until minTime and minMsgs are reached.
func (h *harness) memcpy(b bench) row {
	span := max(memcpyFloor, 16*b.size)
	src, dst := make([]byte, span), make([]byte, span)
	// Touch every page: untouched pages would all read as the zero page.
	for i := range src {
		src[i], dst[i] = byte(i), byte(i>>8)
	}
	k := span / b.size
	pass := func() {
		for i := range k {
			copy(dst[i*b.size:(i+1)*b.size], src[i*b.size:(i+1)*b.size])
		}
	}
	pass()
	copies := 0
	start := time.Now()
	var el time.Duration
	for el < h.minTime || copies < h.minMsgs {
		pass()
		copies += k
		el = time.Since(start)
	}
	r := b.row()
	r.MsgsPerS = float64(copies) / el.Seconds()
	r.MBPerS = r.MsgsPerS * float64(b.size) / 1e6
	return r
}
