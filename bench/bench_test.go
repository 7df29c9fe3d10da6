//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// oversizeEnv, set in a test to a peer's name (job.who), makes that child
// of the test binary expect messages twice the size of its job's: it fails
// once it has opened its streams, as a peer that breaks mid-run does.
const oversizeEnv = "SHMRING_BENCH_TEST_OVERSIZE"

// TestMain lets the test binary play the peer, as the command does.
func TestMain(m *testing.M) {
	if spec, ok := os.LookupEnv(jobEnv); ok {
		if who, ok := os.LookupEnv(oversizeEnv); ok {
			spec = oversize(spec, who)
		}
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}

// oversize doubles the message size of the job spec describes if the job is
// who's; a spec that does not parse is left for childMain to report.
func oversize(spec, who string) string {
	var j job
	if json.Unmarshal([]byte(spec), &j) != nil || j.who() != who {
		return spec
	}
	j.Size *= 2
	b, err := json.Marshal(j)
	if err != nil {
		return spec
	}
	return string(b)
}

// jsonFields is the -json schema.
var jsonFields = []string{
	"scenario", "transport", "strategy", "api", "size", "producers", "consumers",
	"msgs_per_s", "mb_per_s", "p50_ns", "p99_ns", "p999_ns", "max_ns", "cpu_pct",
}

// TestQuickEndToEnd runs a tiny -quick subset through the re-exec path: a
// pipe and a shmring ring between two processes, round trips over the ring
// and the cache line, and an idle wait, and checks the JSON lines, the
// target lines and the chart. It checks no figure against another: the
// machine may be loaded.
func TestQuickEndToEnd(t *testing.T) {
	// A child built with -race otherwise sleeps 1 s at exit.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	svg := filepath.Join(t.TempDir(), "chart.svg")
	var stdout, stderr bytes.Buffer
	code := run([]string{
		"-quick", "-json", "-svg", svg, "-time", "5ms", "-n", "500", "-rtt", "500",
		"-run", `^(throughput/(pipe//|shmring/adaptive/copy)/64|pingpong/(shmring/adaptive/copy|cacheline//)/64|idle/pipe///64)$`,
	}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	require.Equal(t, exitOK, code)

	want := []string{
		"throughput/pipe///64",
		"throughput/shmring/adaptive/copy/64",
		"pingpong/cacheline///64",
		"pingpong/shmring/adaptive/copy/64",
		"idle/pipe///64",
	}
	sort.Strings(jsonFields)
	var got []string
	dec := json.NewDecoder(&stdout)
	for {
		var fields map[string]any
		err := dec.Decode(&fields)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		require.Equal(t, jsonFields, keys, "fields of %v", fields)

		var r row
		raw, err := json.Marshal(fields)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &r))
		got = append(got, r.name())
		assert.Equal(t, 1, r.Producers)
		assert.Equal(t, 1, r.Consumers)
		switch r.Scenario {
		case sThroughput:
			assert.Positive(t, r.MsgsPerS, r.name())
			assert.InDelta(t, r.MsgsPerS*64/1e6, r.MBPerS, 1e-6*r.MBPerS, r.name())
		case sPingpong:
			assert.Positive(t, r.P50, r.name())
			assert.LessOrEqual(t, r.P50, r.P99, r.name())
			assert.LessOrEqual(t, r.P99, r.P999, r.name())
			assert.LessOrEqual(t, r.P999, r.Max, r.name())
		case sIdle:
			assert.GreaterOrEqual(t, r.CPUPct, 0.0, r.name())
		}
	}
	assert.Equal(t, want, got)
	assert.Contains(t, stderr.String(), "Targets, from the rows of this run", "-json puts the targets on stderr")
	assert.Contains(t, stderr.String(), "not measured")
	// Both rows of these targets ran: each has a value, met or not.
	for _, what := range []string{"round trip, adaptive: p50 ÷ cache line p50", "SPSC 64 B copy, adaptive: msgs/s ÷ pipe"} {
		line := targetLine(t, stderr.String(), what)
		assert.Regexp(t, `^  (met|NOT met) +[0-9.e+-]+ +\(want `, line)
	}

	chart, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.NoError(t, wellFormed(chart))
	assert.Contains(t, string(chart), "shmring adaptive copy")
}

// targetLine returns the line of out that reports the target what.
func targetLine(t *testing.T, out, what string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if strings.HasSuffix(strings.TrimSuffix(line, "\n"), "  "+what) {
			return line
		}
	}
	t.Fatalf("no target line %q in\n%s", what, out)
	return ""
}

// TestMPMCEndToEnd runs a tiny 2P2C MPMC row of each API, and one with a
// lane per producer, through the re-exec path: two producer and two
// consumer processes on one ring, and checks its JSON line.
func TestMPMCEndToEnd(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	for _, tt := range []struct{ transport, api string }{{tMPMC, apiCopy}, {tMPMC, apiBatch}, {tLanes, apiCopy}} {
		transport, api := tt.transport, tt.api
		t.Run(transport+"/"+api, func(t *testing.T) {
			name := "throughput/" + transport + "/adaptive/" + api + "/64/2p2c"
			var stdout, stderr bytes.Buffer
			code := run([]string{"-json", "-time", "5ms", "-n", "500", "-run", "^" + name + "$"}, &stdout, &stderr)
			t.Logf("stderr:\n%s", stderr.String())
			require.Equal(t, exitOK, code)

			var fields map[string]any
			dec := json.NewDecoder(&stdout)
			require.NoError(t, dec.Decode(&fields))
			assert.ErrorIs(t, dec.Decode(&fields), io.EOF, "one row")
			raw, err := json.Marshal(fields)
			require.NoError(t, err)
			var r row
			require.NoError(t, json.Unmarshal(raw, &r))
			assert.Equal(t, row{
				Scenario: sThroughput, Transport: transport, Strategy: "adaptive", API: api, Size: 64,
				Producers: 2, Consumers: 2, MsgsPerS: r.MsgsPerS, MBPerS: r.MBPerS,
			}, r)
			assert.Equal(t, name, r.name())
			assert.Positive(t, r.MsgsPerS)
			assert.InDelta(t, r.MsgsPerS*64/1e6, r.MBPerS, 1e-6*r.MBPerS)
		})
	}
}

// TestMPMCPeerFailure checks that an MPMC run with a child that fails
// after inheriting the ring fails with its reason, and ends the other
// children, before the watchdog would kill them. The failing child is the
// last the harness hears from, so that every other child has inherited the
// ring when it is ended (with the shmring_nofutex tag, the wake-up state
// of a ring passed to a child killed before Inherit stays behind).
func TestMPMCPeerFailure(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	t.Setenv(oversizeEnv, roleMPMCConsume+" 1")
	exe, err := os.Executable()
	require.NoError(t, err)
	h := &harness{exe: exe, timeout: 30 * time.Second}
	_, err = h.mpmcRun(mpmcRow(tMPMC, 2, apiCopy), 4)
	require.Error(t, err)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Contains(t, err.Error(), "peer mpmc-consume 1: unexpected EOF before its result")
	assert.Contains(t, err.Error(), "cannot hold 128-byte messages")
	assert.NotContains(t, err.Error(), "killed after")
}

// mpmcMsg is a message of size bytes from producer id with sequence seq.
func mpmcMsg(id, seq, size int) []byte {
	m := make([]byte, size)
	stamp(m, seq)
	binary.LittleEndian.PutUint64(m[8:], uint64(id))
	return m
}

func TestMPMCChecker(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs [][]byte
		err  string
	}{
		{"interleaved", [][]byte{mpmcMsg(0, 0, 64), mpmcMsg(1, 0, 64), mpmcMsg(0, 2, 64), mpmcMsg(1, 1, 64)}, ""},
		{"repeated", [][]byte{mpmcMsg(0, 0, 64), mpmcMsg(1, 0, 64), mpmcMsg(0, 0, 64)}, "message 2: producer 0's sequence number 0 after 0"},
		{"reordered", [][]byte{mpmcMsg(1, 2, 64), mpmcMsg(1, 1, 64)}, "message 1: producer 1's sequence number 1 after 2"},
		{"past the end", [][]byte{mpmcMsg(0, 3, 64)}, "sequence number 3, past the 3 it sends"},
		{"unknown producer", [][]byte{mpmcMsg(2, 0, 64)}, "message 0 comes from producer 2 of 2"},
		{"resized", [][]byte{mpmcMsg(0, 0, 64), mpmcMsg(0, 1, 32)}, "message 1 has 32 bytes, want 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChecker(64, 2, 3)
			for _, m := range tc.msgs {
				c.add(m)
			}
			assert.Equal(t, len(tc.msgs), c.taken)
			if tc.err != "" {
				require.Error(t, c.bad)
				assert.Contains(t, c.bad.Error(), tc.err)
				return
			}
			require.NoError(t, c.bad)
			assert.Equal(t, []int{2, 2}, c.tally.Counts)
			assert.Equal(t, []uint64{2, 1}, c.tally.SeqSums)
			assert.False(t, c.first.IsZero())
		})
	}
}

func TestMPMCSpan(t *testing.T) {
	// Two producers of three messages each (sequence sums 3).
	tally := func(first, last int64, counts []int, sums []uint64) mpmcTally {
		return mpmcTally{Counts: counts, SeqSums: sums, FirstNs: first, LastNs: last}
	}
	for _, tc := range []struct {
		name    string
		tallies []mpmcTally
		span    time.Duration
		err     string
	}{
		{"ok", []mpmcTally{
			tally(1000, 5000, []int{2, 1}, []uint64{1, 2}),
			tally(900, 4000, []int{1, 2}, []uint64{2, 1}),
			tally(0, 0, []int{0, 0}, []uint64{0, 0}), // took nothing: no times
		}, 4100 * time.Nanosecond, ""},
		{"lost", []mpmcTally{
			tally(1000, 5000, []int{3, 2}, []uint64{3, 1}),
		}, 0, "producer 1 sent 3 messages, the consumers took 2"},
		{"duplicated", []mpmcTally{
			tally(1000, 5000, []int{2, 3}, []uint64{1, 3}),
			tally(1000, 5000, []int{1, 0}, []uint64{1, 0}), // 1 twice, 2 lost
		}, 0, "producer 0: the sequence numbers taken add up to 2, not 3"},
		{"wrong shape", []mpmcTally{
			tally(1000, 5000, []int{3}, []uint64{3}),
		}, 0, "consumer 0 tallied 1 counts and 1 sums for 2 producers"},
		{"time runs back", []mpmcTally{
			tally(5000, 1000, []int{3, 3}, []uint64{3, 3}),
		}, 0, "consumer 0 took messages from 5000 ns to 1000 ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			span, err := mpmcSpan(tc.tallies, 2, 3)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.span, span)
		})
	}
}

// TestMonoClock checks that the calibrated clock reads CLOCK_MONOTONIC.
func TestMonoClock(t *testing.T) {
	c, err := newMonoClock()
	require.NoError(t, err)
	var ts unix.Timespec
	before := time.Now()
	require.NoError(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
	after := time.Now()
	// The calibration is exact to a few microseconds unless the process
	// was descheduled in every bracket: slack is a generous bound of that.
	const slack = int64(5 * time.Millisecond)
	assert.LessOrEqual(t, c.ns(before), ts.Nano()+slack)
	assert.LessOrEqual(t, ts.Nano(), c.ns(after)+slack)
}

func wellFormed(doc []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	for {
		if _, err := dec.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bad regexp", []string{"-run", "("}},
		{"no row", []string{"-run", "^nothing$"}},
		{"argument", []string{"extra"}},
		{"one message", []string{"-n", "1"}},
		{"unknown flag", []string{"-nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, exitUsage, run(tc.args, &stdout, &stderr))
			assert.Empty(t, stdout.String())
			assert.NotEmpty(t, stderr.String())
		})
	}
}

// TestPlan checks that every target reads rows that exist and that -quick
// keeps them, and that row names are unique.
func TestPlan(t *testing.T) {
	names := make(map[string]bool)
	quick := make(map[string]bool)
	for _, b := range plan() {
		require.False(t, names[b.name()], "duplicate row %s", b.name())
		names[b.name()] = true
		assert.Equal(t, b.name(), b.row().name(), "a row's name is its bench's")
		if inQuick(b) {
			quick[b.name()] = true
		}
	}
	for name := range quickExtra {
		assert.True(t, names[name], "quick row %s is not planned", name)
	}
	for _, tg := range targets {
		for _, name := range tg.rows() {
			assert.True(t, quick[name], "target %q reads %s, which -quick does not run", tg.what, name)
		}
	}
}

// script is a receiver that delivers prepared messages, then io.EOF.
type script struct{ msgs [][]byte }

func (s *script) read(fn func([]byte)) (int, error) {
	if len(s.msgs) == 0 {
		return 0, io.EOF
	}
	fn(s.msgs[0])
	s.msgs = s.msgs[1:]
	return 1, nil
}

func TestConsumeChecks(t *testing.T) {
	msg := func(i, size int) []byte {
		m := make([]byte, size)
		stamp(m, i)
		return m
	}
	for _, tc := range []struct {
		name string
		msgs [][]byte
		err  string
	}{
		{"ok", [][]byte{msg(0, 64), msg(1, 64), msg(2, 64)}, ""},
		{"lost", [][]byte{msg(0, 64), msg(2, 64), msg(3, 64)}, "message 1 carries index 2"},
		{"resized", [][]byte{msg(0, 64), msg(1, 32), msg(2, 64)}, "message 1 has 32 bytes"},
		{"short", [][]byte{msg(0, 64), msg(1, 64)}, "after 2 of 3 messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := consume(&script{msgs: tc.msgs}, 64, 3)
			if tc.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

// targetRows are rows of a run as evaluate sees them: some measured, a
// failed one, and the 8P8C row on a machine with 2 CPUs.
func targetRows() []row {
	rtt := func(transport, strategy, api string, p50 int64) row {
		return row{Scenario: sPingpong, Transport: transport, Strategy: strategy, API: api, Size: 64, P50: p50, measured: true}
	}
	mpmc8 := mpmcRow(tMPMC, 8, apiCopy).row()
	mpmc8.err = cpuShortage{have: 2, need: 16}
	return []row{
		{Scenario: sThroughput, Transport: tShmring, Strategy: "adaptive", API: apiCopy, Size: 64, MsgsPerS: 30, measured: true},
		{Scenario: sThroughput, Transport: tBare, Size: 64, MsgsPerS: 20, measured: true},
		{Scenario: sThroughput, Transport: tPipe, Size: 64, err: errors.New("peer died")},
		mpmc8,
		rtt(tLine, "", "", 100),
		rtt(tChan, "", "", 600),
		rtt(tShmring, "adaptive", apiCopy, 400),
		rtt(tShmring, "adaptive", apiChannel, 1200),
		{Scenario: sIdle, Transport: tShmring, Strategy: "block", API: apiCopy, Size: 64, CPUPct: 2, measured: true},
	}
}

func TestTargetsEvaluate(t *testing.T) {
	byRows := make(map[string]result)
	for _, r := range evaluate(targetRows()) {
		byRows[strings.Join(r.rows(), " ")] = r
	}
	for _, tc := range []struct {
		name     string
		rows     []string
		measured bool
		value    float64
		met      bool
		why      string
	}{
		{"one row over another", []string{rowCopy64, rowBare64}, true, 1.5, true, ""},
		{"a failed row measures nothing", []string{rowCopy64, rowPipe64}, false, 0, false, ""},
		{"an absolute bound", []string{rowIdleBlock}, true, 2, false, ""},
		{"over the cache line", []string{rowRTTAdaptive, rowRTTLine}, true, 4, false, ""},
		{"one row over the sum of two", []string{rowRTTChannel, rowRTTAdaptive, rowRTTChan}, true, 1.2, false, ""},
		{"too few CPUs", []string{rowMPMC8, rowMPMC1}, false, 0, false, "2 CPUs, needs 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := byRows[strings.Join(tc.rows, " ")]
			require.True(t, ok, "no target reads %v", tc.rows)
			assert.Equal(t, tc.measured, r.measured)
			assert.InDelta(t, tc.value, r.value, 1e-9)
			assert.Equal(t, tc.met, r.met())
			assert.Equal(t, tc.why, r.why)
		})
	}

	var out bytes.Buffer
	require.NoError(t, writeTargets(&out, evaluate(targetRows())))
	assert.Contains(t, out.String(), "met")
	assert.Contains(t, out.String(), "NOT met")
	assert.Contains(t, out.String(), "MPMC 64 B, adaptive: 8P8C msgs/s ÷ 1P1C (not measured: 2 CPUs, needs 16)")
	assert.Equal(t, len(targets)+2, strings.Count(out.String(), "\n"))
}

// TestTableNotes checks the table's notes: a failed row's reason in its
// row, and a line under the table for a row the machine has too few CPUs
// for.
func TestTableNotes(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, writeTable(&out, targetRows()))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	assert.Contains(t, out.String(), "FAILED: peer died")
	assert.Equal(t, "note: shmring-mpmc adaptive copy 8P8C not measured: 2 CPUs, needs 16, one for each of its processes", lines[len(lines)-1])
}

// TestCPUShortage checks that a row that needs more CPUs than the machine
// has is not applicable, without starting a process, and fails nothing.
func TestCPUShortage(t *testing.T) {
	h := &harness{exe: "/nonexistent", cpus: 2}
	var progress bytes.Buffer
	rows, failed := h.measureAll([]bench{mpmcRow(tMPMC, 8, apiCopy)}, &progress)
	assert.Zero(t, failed)
	require.Len(t, rows, 1)
	assert.False(t, rows[0].measured)
	assert.ErrorIs(t, rows[0].err, errNotApplicable)
	assert.Equal(t, "2 CPUs, needs 16", rows[0].note())
	assert.Contains(t, progress.String(), "8p8c not applicable: 2 CPUs, needs 16")
	assert.Equal(t, 16, mpmcRow(tMPMC, 8, apiCopy).minCPUs())
	assert.Zero(t, mpmcRow(tMPMC, 4, apiCopy).minCPUs(), "the smaller crews run everywhere")
}

// TestPeerFailure checks that a failing or hanging child fails the session
// with the reason. Only the hanging child's case depends on its watchdog,
// which it must reach however loaded the machine is; the failing child's
// watchdog is generous, so that starting a child built with -race on a busy
// machine never reaches it first.
func TestPeerFailure(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	exe, err := os.Executable()
	require.NoError(t, err)
	pipe := bench{scenario: sPingpong, kind: kind{Transport: tPipe}, size: 64}
	for _, tc := range []struct {
		name    string
		job     job
		timeout time.Duration
		want    string
	}{
		{"child error", job{Role: "bogus", Kind: pipe.kind, Size: 64}, time.Minute, `unknown role "bogus"`},
		// The echo waits for a first message that never comes.
		{"watchdog", pipe.job(roleEcho, 1), 300 * time.Millisecond, "killed after 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{exe: exe, timeout: tc.timeout}
			err := h.session(pipe, tc.job, func(*peer, []stream) error { return nil })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
