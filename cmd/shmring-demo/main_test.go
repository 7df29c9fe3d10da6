package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashEnv makes the test binary, running as a worker, die in the middle of
// the stream instead of working.
const crashEnv = "SHMRING_DEMO_TEST_CRASH"

// TestMain runs the worker when the parent under test re-executes the test
// binary as a worker, and the tests otherwise.
func TestMain(m *testing.M) {
	if wait, ok := os.LookupEnv(workerEnv); ok {
		if _, crash := os.LookupEnv(crashEnv); crash {
			os.Exit(crashingWorker())
		}
		os.Exit(workerMain(context.Background(), wait, os.Stderr))
	}
	// A race-enabled worker sleeps a second before exiting unless told not
	// to; a race it finds still fails its exit status, and the test.
	if os.Getenv("GORACE") == "" {
		if err := os.Setenv("GORACE", "atexit_sleep_ms=0"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// crashingWorker attaches like a worker, reads one request and exits without
// closing anything, as a killed worker would.
func crashingWorker() int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := shmring.Inherit(requestKey, nil)
	if err != nil {
		return 4
	}
	resp, err := shmring.Inherit(responseKey, nil)
	if err != nil {
		return 4
	}
	in, err := req.Consumer()
	if err != nil {
		return 4
	}
	if _, err := resp.Producer(); err != nil {
		return 4
	}
	if _, err := in.Recv(ctx, make([]byte, itemSize)); err != nil {
		return 4
	}
	return 3
}

var summary = regexp.MustCompile(`^items=(\d+) workers=(\d+) elapsed=\S+ rate=[0-9]+ items/s ok\n$`)

func TestDemo(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(strconv.Itoa(workers)+" workers", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := parentMain(t.Context(), []string{"-n", "10000", "-workers", strconv.Itoa(workers), "-v"}, &stdout, &stderr)
			require.Equal(t, 0, code, "stderr: %s", stderr.String())
			m := summary.FindStringSubmatch(stdout.String())
			require.NotNil(t, m, "stdout: %q", stdout.String())
			assert.Equal(t, "10000", m[1])
			assert.Equal(t, strconv.Itoa(workers), m[2])
		})
	}
}

func TestDemoOptions(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no items", []string{"-n", "0"}},
		{"fewer items than workers", []string{"-n", "2", "-workers", "3"}},
		{"small rings", []string{"-n", "5000", "-size", "4K"}},
		{"spin", []string{"-n", "5000", "-wait", "spin"}},
		{"block", []string{"-n", "5000", "-wait", "block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := parentMain(t.Context(), tt.args, &stdout, &stderr)
			require.Equal(t, 0, code, "stderr: %s", stderr.String())
			assert.Regexp(t, summary, stdout.String())
		})
	}
}

func TestDemoUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no workers", []string{"-workers", "0"}},
		{"too many workers", []string{"-workers", "100000"}},
		{"negative items", []string{"-n", "-1"}},
		{"bad size", []string{"-size", "0"}},
		{"bad wait", []string{"-wait", "sometimes"}},
		{"unknown flag", []string{"-x"}},
		{"argument", []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, 2, parentMain(t.Context(), tt.args, &stdout, &stderr))
			assert.Empty(t, stdout.String())
			assert.NotEmpty(t, stderr.String())
		})
	}
}

func TestDemoWorkerDies(t *testing.T) {
	t.Setenv(crashEnv, "1")
	var stdout, stderr bytes.Buffer
	code := parentMain(t.Context(), []string{"-n", "10000"}, &stdout, &stderr)
	t.Log(stderr.String())
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout.String())
	assert.Contains(t, stderr.String(), "shmring-demo: ")
	assert.Contains(t, stderr.String(), "worker")
}

func TestDemoInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 130, parentMain(ctx, []string{"-n", "10000"}, &stdout, &stderr))
	assert.Empty(t, stdout.String())
}

// TestRunLeavesNoDescriptors checks that a run closes every ring and pipe
// it opened in the parent.
func TestRunLeavesNoDescriptors(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	cfg := config{items: 1000, workers: 2, size: 1 << 16, exe: exe}
	var stderr bytes.Buffer
	// The first run may open descriptors the process keeps (the poller's).
	_, err = run(t.Context(), cfg, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())
	before := clitest.OpenDescriptors(t)
	res, err := run(t.Context(), cfg, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())
	assert.Equal(t, before, clitest.OpenDescriptors(t))
	assert.Equal(t, uint64(1000), res.items)
}

func TestCollector(t *testing.T) {
	item := func(id, value uint64) []byte {
		b := make([]byte, itemSize)
		putItem(b, id, value)
		return b
	}
	good := func(id uint64) []byte { return item(id, transform(request(id))) }
	tests := []struct {
		name    string
		worker  int
		msgs    [][]byte
		wantErr string // of the last add
	}{
		{"short", 0, [][]byte{good(0)[:8]}, "item of 8 bytes"},
		{"long", 0, [][]byte{append(good(0), 0)}, "item of 17 bytes"},
		{"out of range", 0, [][]byte{good(10)}, "id 10 out of range"},
		{"wrong worker", 1, [][]byte{good(2)}, "id 2 belongs to worker 0"},
		{"not transformed", 0, [][]byte{item(4, request(4))}, "id 4 came back as 16, want 32"},
		{"twice", 1, [][]byte{good(3), good(3)}, "id 3 came back twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(10, 2)
			var err error
			for _, msg := range tt.msgs {
				err = c.add(tt.worker, msg)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}

	t.Run("missing", func(t *testing.T) {
		c := newCollector(130, 2)
		for id := range uint64(130) {
			if id != 70 && id != 129 {
				require.NoError(t, c.add(int(id%2), good(id)))
			}
		}
		err := c.check()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "2 of 130 items missing, the first is id 70")
		require.NoError(t, c.add(0, good(70)))
		require.NoError(t, c.add(1, good(129)))
		assert.NoError(t, c.check())
	})
}

func TestRoundSignificant(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, 0},
		{999, 999},
		{12345678, 12300000},
		{1234567890, 1230000000},
		{time.Duration(1<<63 - 1), 9220000000000000000},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, roundSignificant(tt.in))
		})
	}
}

func TestResultString(t *testing.T) {
	r := result{items: 100, workers: 2, elapsed: 12345 * time.Microsecond}
	assert.Equal(t, "items=100 workers=2 elapsed=12.3ms rate=8100 items/s ok", r.String())
}
