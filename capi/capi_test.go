//go:build cgo && linux

package main

// The C side, built and run: the library with -buildmode=c-shared, then
// test/shmring_test.c and example/throughput.c with gcc, into one temporary
// directory per test binary. The throughput example runs beside the same
// stream through the Go API (this test binary, re-executed as the
// consumer), so that the log shows what a cgo call costs per message.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

const (
	// roleEnv makes the re-executed test binary the Go consumer.
	roleEnv = "SHMRING_CAPI_TEST_ROLE"
	// passKey is the key under which the ring goes to a consumer, as in
	// the C example.
	passKey = "THROUGHPUT"
	// streamMsgs and streamSize are the throughput stream: 64-byte
	// messages, as in the C example's default.
	streamMsgs = 1_000_000
	streamSize = 64
	// runTimeout bounds every command the tests run.
	runTimeout = 2 * time.Minute
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "consume" {
		if err := goConsume(); err != nil {
			fmt.Fprintf(os.Stderr, "capi test consumer: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "shmring-capi-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildDir holds the library and the C programs.
var buildDir string

// build builds the library, the C test and the example into buildDir, once.
var build = sync.OnceValue(func() error {
	lib := filepath.Join(buildDir, "libshmring.so")
	cmds := [][]string{
		{"go", "build", "-buildmode=c-shared", "-o", lib, "."},
		cc("shmring_test", "test/shmring_test.c"),
		cc("throughput", "example/throughput.c"),
	}
	for _, args := range cmds {
		out, err := run(args...)
		if err != nil {
			return fmt.Errorf("%v: %w\n%s", args, err, out)
		}
	}
	return nil
})

// cc is the gcc command that builds src into buildDir/out against the
// library: warnings are errors, and the run path finds the library.
func cc(out, src string) []string {
	return []string{"gcc", "-Wall", "-Wextra", "-Werror", "-O2", "-I.", "-o", filepath.Join(buildDir, out), src,
		"-L" + buildDir, "-lshmring", "-lpthread", "-Wl,-rpath," + buildDir}
}

// run runs a command under runTimeout and returns its combined output.
func run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// built builds (once) and returns buildDir; it skips the test without gcc.
func built(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: the C test and example are built with gcc")
	}
	require.NoError(t, build())
	return buildDir
}

func TestC(t *testing.T) {
	dir := built(t)
	out, err := run(filepath.Join(dir, "shmring_test"))
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "ok\n", out)
}

// rateLine is the example's output line.
var rateLine = regexp.MustCompile(`^msgs=(\d+) size=(\d+) elapsed=\S+ rate=(\d+) msgs/s\n$`)

// rate checks an output line and returns its rate.
func rate(t *testing.T, out string) float64 {
	t.Helper()
	m := rateLine.FindStringSubmatch(out)
	require.NotNil(t, m, "output %q", out)
	assert.Equal(t, strconv.Itoa(streamMsgs), m[1])
	assert.Equal(t, strconv.Itoa(streamSize), m[2])
	r, err := strconv.ParseFloat(m[3], 64)
	require.NoError(t, err)
	return r
}

// TestExample runs the C example and the same streams through the Go API,
// and logs the rates and their ratios: what a cgo call per message costs.
// Between two processes the rates depend on where the scheduler puts them;
// in one thread (loop) they time the calls alone.
func TestExample(t *testing.T) {
	dir := built(t)
	example := filepath.Join(dir, "throughput")
	out, err := run(example, strconv.Itoa(streamMsgs), strconv.Itoa(streamSize))
	require.NoError(t, err, "%s", out)
	c := rate(t, out)
	g := rate(t, goProduce(t))
	t.Logf("%d messages of %d bytes, try-send to try-recv between two processes: C API %.0f msgs/s, Go API %.0f msgs/s, C/Go %.2f",
		streamMsgs, streamSize, c, g, c/g)
	out, err = run(example, strconv.Itoa(streamMsgs), strconv.Itoa(streamSize), "loop")
	require.NoError(t, err, "%s", out)
	c = rate(t, out)
	g = rate(t, goLoop(t))
	t.Logf("%d messages of %d bytes, try-send then try-recv in one thread: C API %.0f msgs/s (%.0f ns/msg), Go API %.0f msgs/s (%.0f ns/msg), C/Go %.2f",
		streamMsgs, streamSize, c, 1e9/c, g, 1e9/g, c/g)
}

// goLoop is the C example's loop in Go: each message sent with TrySend
// and received with TryRecv at once, in one goroutine.
func goLoop(t *testing.T) string {
	t.Helper()
	r, err := shmring.CreateAnonymous(nil)
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	msg, buf := make([]byte, streamSize), make([]byte, streamSize)
	start := time.Now()
	for i := range uint64(streamMsgs) {
		binary.NativeEndian.PutUint64(msg, i)
		if err := p.TrySend(msg); err != nil {
			require.NoError(t, err)
		}
		n, err := c.TryRecv(buf)
		if err != nil || n != streamSize || binary.NativeEndian.Uint64(buf) != i {
			require.NoError(t, err)
			require.Failf(t, "wrong message", "message %d: %d bytes, sequence number %d", i, n, binary.NativeEndian.Uint64(buf))
		}
	}
	elapsed := time.Since(start)
	return fmt.Sprintf("msgs=%d size=%d elapsed=%.3fs rate=%.0f msgs/s\n", streamMsgs, streamSize, elapsed.Seconds(), streamMsgs/elapsed.Seconds())
}

// goProduce is the C example's producer in Go: it passes an anonymous ring
// to this test binary re-executed as the consumer (goConsume), sends the
// stream with TrySend, and returns the consumer's output.
func goProduce(t *testing.T) string {
	t.Helper()
	r, err := shmring.CreateAnonymous(nil)
	require.NoError(t, err)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=consume")
	require.NoError(t, r.Pass(cmd, passKey))
	cmd.Stderr = os.Stderr
	var out []byte
	done := make(chan error, 1)
	go func() {
		var err error
		out, err = cmd.Output()
		done <- err
	}()
	p, err := r.Producer()
	require.NoError(t, err)
	msg := make([]byte, streamSize)
	for i := range uint64(streamMsgs) {
		binary.NativeEndian.PutUint64(msg, i)
		for {
			err = p.TrySend(msg)
			if err != shmring.ErrFull {
				break
			}
		}
		require.NoError(t, err)
	}
	require.NoError(t, p.Close())
	require.NoError(t, <-done)
	return string(out)
}

// goConsume is the C example's consumer in Go.
func goConsume() error {
	r, err := shmring.Inherit(passKey, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	buf := make([]byte, streamSize)
	var got uint64
	var start time.Time
	for {
		n, err := c.TryRecv(buf)
		if err == shmring.ErrEmpty {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if got == 0 {
			start = time.Now()
		}
		if n != streamSize || binary.NativeEndian.Uint64(buf) != got {
			return fmt.Errorf("message %d: %d bytes, sequence number %d", got, n, binary.NativeEndian.Uint64(buf))
		}
		got++
	}
	elapsed := time.Since(start)
	if got != streamMsgs {
		return fmt.Errorf("%d messages, want %d", got, streamMsgs)
	}
	fmt.Printf("msgs=%d size=%d elapsed=%.3fs rate=%.0f msgs/s\n", got, streamSize, elapsed.Seconds(), float64(got)/elapsed.Seconds())
	return nil
}
