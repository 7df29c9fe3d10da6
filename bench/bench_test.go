//go:build linux

package main

import (
	"bytes"
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
)

// TestMain lets the test binary play the peer, as the command does.
func TestMain(m *testing.M) {
	if spec, ok := os.LookupEnv(jobEnv); ok {
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}

// jsonFields is the -json schema.
var jsonFields = []string{
	"scenario", "transport", "strategy", "api", "size", "producers", "consumers",
	"msgs_per_s", "mb_per_s", "p50_ns", "p99_ns", "p999_ns", "max_ns", "cpu_pct",
}

// TestQuickEndToEnd runs a tiny -quick subset through the re-exec path: a
// pipe and a shmring ring between two processes, a round trip and an idle
// wait, and checks the JSON lines and the chart.
func TestQuickEndToEnd(t *testing.T) {
	// A child built with -race otherwise sleeps 1 s at exit.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	svg := filepath.Join(t.TempDir(), "chart.svg")
	var stdout, stderr bytes.Buffer
	code := run([]string{
		"-quick", "-json", "-svg", svg, "-time", "5ms", "-n", "500", "-rtt", "500",
		"-run", `^(throughput/(pipe//|shmring/adaptive/copy)/64|pingpong/shmring/adaptive/copy/64|idle/pipe///64)$`,
	}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	require.Equal(t, exitOK, code)

	want := []string{
		"throughput/pipe///64",
		"throughput/shmring/adaptive/copy/64",
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

	chart, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.NoError(t, wellFormed(chart))
	assert.Contains(t, string(chart), "shmring adaptive copy")
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
		if inQuick(b) {
			quick[b.name()] = true
		}
	}
	for name := range quickExtra {
		assert.True(t, names[name], "quick row %s is not planned", name)
	}
	for _, tg := range targets {
		for _, name := range []string{tg.num, tg.den} {
			if name != "" {
				assert.True(t, quick[name], "target %q reads %s, which -quick does not run", tg.what, name)
			}
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

func TestTargetsEvaluate(t *testing.T) {
	rows := []row{
		{Scenario: sThroughput, Transport: tShmring, Strategy: "adaptive", API: apiCopy, Size: 64, MsgsPerS: 30, measured: true},
		{Scenario: sThroughput, Transport: tBare, Size: 64, MsgsPerS: 20, measured: true},
		{Scenario: sThroughput, Transport: tPipe, Size: 64, MsgsPerS: 10, note: "FAILED"},
		{Scenario: sIdle, Transport: tShmring, Strategy: "block", API: apiCopy, Size: 64, CPUPct: 2, measured: true},
	}
	byWhat := make(map[string]result)
	for _, r := range evaluate(rows) {
		byWhat[r.num+" "+r.den] = r
	}
	bare := byWhat[rowCopy64+" "+rowBare64]
	assert.True(t, bare.measured)
	assert.InDelta(t, 1.5, bare.value, 1e-9)
	assert.True(t, bare.met())
	assert.False(t, byWhat[rowCopy64+" "+rowPipe64].measured, "a failed row measures nothing")
	idle := byWhat[rowIdleBlock+" "]
	assert.True(t, idle.measured)
	assert.False(t, idle.met(), "2%% is not below 1%%")

	var out bytes.Buffer
	require.NoError(t, writeTargets(&out, evaluate(rows)))
	assert.Contains(t, out.String(), "met")
	assert.Contains(t, out.String(), "NOT met")
	assert.Contains(t, out.String(), "not measured")
	assert.Equal(t, len(targets)+2, strings.Count(out.String(), "\n"))
}

// TestPeerFailure checks that a failing or hanging child fails the session
// with the reason.
func TestPeerFailure(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	exe, err := os.Executable()
	require.NoError(t, err)
	h := &harness{exe: exe, timeout: 300 * time.Millisecond}
	pipe := bench{scenario: sPingpong, kind: kind{Transport: tPipe}, size: 64}
	for _, tc := range []struct {
		name string
		job  job
		want string
	}{
		{"child error", job{Role: "bogus", Kind: pipe.kind, Size: 64}, `unknown role "bogus"`},
		// The echo waits for a first message that never comes.
		{"watchdog", pipe.job(roleEcho, 1), "killed after 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.session(pipe, tc.job, func(*peer, []stream) error { return nil })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
