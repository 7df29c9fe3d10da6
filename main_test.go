package shmring_test

// TestMain and the helper-process harness of the cross-process tests.
//
// Helper processes: a test that needs a peer process re-executes this test
// binary with SHMRING_TEST_HELPER=<role> in its environment. TestMain looks
// for that variable before anything else and runs the role (helperRoles in
// process_test.go) instead of the tests, then exits with its status: 0 when
// the role returned nil, 1 when it returned an error (printed on stderr), 2
// for an unknown role. A ring reaches a helper by name (envRing) or as an
// inherited descriptor (Ring.Pass under a key, Inherit in the helper). The
// helper's stdout and stderr go to the test log line by line; stdout lines are
// also kept for the test to read reports from. Every helper runs under a
// watchdog that kills it after helperTimeout, and the test's own cleanup kills
// it and waits for it, so that no test can hang on a child or leave one
// behind.
//
// Leak check: after the tests TestMain fails the run when descriptors are
// open that were not open before, when a test ring is still mapped, or when
// files named like test rings of this process remain in /dev/shm. The
// "before" count is taken after a warm-up that opens what the runtime and
// the test binary keep open for good once used (the netpoller, for one).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/shm"
)

const (
	// helperEnv names the helper role a re-executed test binary runs.
	helperEnv = "SHMRING_TEST_HELPER"
	// helperTimeout is the watchdog of every helper process and of the
	// parent's waits on it: generous, since it only ends a hung test.
	helperTimeout = 120 * time.Second
)

// shmDir is where bare ring names live.
var shmDir = shm.Dir()

// testPrefix starts the name of every file in shmDir the tests of this process
// create; TestMain reports those left behind.
var testPrefix = fmt.Sprintf("shmring-test-%d-", os.Getpid())

func TestMain(m *testing.M) {
	if role, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(runHelper(role))
	}
	os.Exit(runTests(m))
}

// runHelper runs one helper role in a re-executed test binary and returns the
// exit status.
func runHelper(role string) int {
	fn, ok := helperRoles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "shmring_test: unknown helper role %q\n", role)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "shmring_test: helper %s: %v\n", role, err)
		return 1
	}
	return 0
}

// runTests runs the tests between two looks at the process's descriptors,
// mappings and /dev/shm, and returns the exit status.
func runTests(m *testing.M) int {
	if err := warmUp(); err != nil {
		fmt.Fprintf(os.Stderr, "shmring_test: warm-up: %v\n", err)
		return 1
	}
	before, err := openFDs()
	if err != nil {
		fmt.Fprintf(os.Stderr, "shmring_test: %v\n", err)
		return 1
	}
	code := m.Run()
	leaks, err := findLeaks(before)
	if err != nil {
		leaks = append(leaks, err.Error())
	}
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "shmring_test: FAIL: leaks after the tests:\n\t%s\n", strings.Join(leaks, "\n\t"))
		return 1
	}
	return code
}

// warmUp uses, and closes again, what may open descriptors that the runtime
// then keeps: a named ring with both endpoints, and a pipe (the netpoller's
// epoll and wake-up descriptors, which os/exec needs).
func warmUp() (err error) {
	name := testPrefix + "warmup"
	r, err := shmring.Create(name, &shmring.Options{Size: 4096})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Unlink(), r.Close()) }()
	p, err := r.Producer()
	if err != nil {
		return err
	}
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	if err := p.TrySend([]byte("warm-up")); err != nil {
		return err
	}
	if _, err := c.TryRecv(make([]byte, 16)); err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	return errors.Join(pr.Close(), pw.Close())
}

// openFDs returns the process's open descriptors and what they refer to:
// from /proc/self/fd on Linux, from /dev/fd elsewhere (macOS, FreeBSD),
// whose entries are not links, so that only their numbers are compared.
func openFDs() (map[string]string, error) {
	dir := "/proc/self/fd"
	if runtime.GOOS != "linux" {
		dir = "/dev/fd"
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list descriptors: %w", err)
	}
	fds := make(map[string]string, len(entries))
	for _, e := range entries {
		// On Linux, the descriptor of the directory being read is gone
		// by now.
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		switch {
		case err == nil:
			fds[e.Name()] = target
		case runtime.GOOS != "linux":
			fds[e.Name()] = "descriptor"
		}
	}
	return fds, nil
}

// findLeaks describes every descriptor open now but not in before, every
// mapping of a test ring (an anonymous one of the portable backend is an
// unlinked .shmring- file of shmDir), and every test ring file left in shmDir.
func findLeaks(before map[string]string) ([]string, error) {
	var leaks []string
	after, err := openFDs()
	if err != nil {
		return nil, err
	}
	for fd, target := range after {
		if old, ok := before[fd]; !ok || old != target {
			leaks = append(leaks, fmt.Sprintf("descriptor %s -> %s", fd, target))
		}
	}
	// Where there is no /proc (macOS, FreeBSD without linprocfs), the
	// mappings go unchecked; the descriptors and files still are.
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil && (runtime.GOOS == "linux" || !errors.Is(err, os.ErrNotExist)) {
		return leaks, fmt.Errorf("read mappings: %w", err)
	}
	for line := range strings.Lines(string(maps)) {
		if strings.Contains(line, shmDir+"/"+testPrefix) || strings.Contains(line, "memfd:shmring") ||
			strings.Contains(line, shmDir+"/.shmring-") {
			leaks = append(leaks, "mapping "+strings.TrimSpace(line))
		}
	}
	entries, err := os.ReadDir(shmDir)
	if err != nil {
		return leaks, fmt.Errorf("list %s: %w", shmDir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), testPrefix) {
			leaks = append(leaks, "file "+filepath.Join(shmDir, e.Name()))
		}
	}
	slices.Sort(leaks)
	return leaks, nil
}

var nameSeq atomic.Uint64

// testRingName returns a bare ring name unique to this test process;
// the ring, if it exists at the end of the test, is removed with Unlink.
func testRingName(t testing.TB) string {
	name := fmt.Sprintf("%sx%d", testPrefix, nameSeq.Add(1))
	t.Cleanup(func() {
		if err := shmring.Unlink(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("unlink %s: %v", name, err)
		}
	})
	return name
}

// testFileName returns a bare name unique to this test process for a file
// that is not a sound ring; whatever has the name at the end of the test is
// removed.
func testFileName(t testing.TB) string {
	name := fmt.Sprintf("%sh%d", testPrefix, nameSeq.Add(1))
	t.Cleanup(func() { assert.NoError(t, os.RemoveAll(filepath.Join(shmDir, name))) })
	return name
}

// createAnon creates an anonymous ring closed at the end of the test.
func createAnon(t testing.TB, opts *shmring.Options) *shmring.Ring {
	t.Helper()
	r, err := shmring.CreateAnonymous(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

// createNamed creates a named ring closed and unlinked at the end of the test.
func createNamed(t testing.TB, opts *shmring.Options) (*shmring.Ring, string) {
	t.Helper()
	name := testRingName(t)
	r, err := shmring.Create(name, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r, name
}

// openNamed opens the named ring, closed at the end of the test.
func openNamed(t testing.TB, name string, opts *shmring.Options) *shmring.Ring {
	t.Helper()
	r, err := shmring.Open(name, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

// watchdog returns a context that ends after helperTimeout, or with the test.
func watchdog(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	t.Cleanup(cancel)
	return ctx
}

// helperConfig says how to start a helper process.
type helperConfig struct {
	env   map[string]string        // added to the environment
	rings map[string]*shmring.Ring // passed with Ring.Pass under their keys
	files map[string]*shmring.Ring // passed with Ring.PassFile under their keys
	stdin bool                     // keep a pipe to the helper's stdin (see closeStdin)
}

// helper is a running helper process.
type helper struct {
	role   string
	cmd    *exec.Cmd
	ctx    context.Context // the watchdog
	stdin  io.WriteCloser
	stdout *lineLog
	stderr *lineLog
	done   chan struct{} // closed when the process has been waited for
	err    error         // cmd.Wait's result, set before done is closed
}

// startHelper re-executes the test binary as helper role. The helper is
// killed and waited for at the end of the test, and by its watchdog.
func startHelper(t *testing.T, role string, cfg helperConfig) *helper {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	for k, v := range cfg.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for key, r := range cfg.rings {
		if err := r.Pass(cmd, key); err != nil {
			cancel()
			require.NoError(t, err)
		}
	}
	for key, r := range cfg.files {
		passFile(t, cmd, r, key)
	}
	h := &helper{
		role:   role,
		cmd:    cmd,
		ctx:    ctx,
		stdout: &lineLog{t: t, prefix: role + " stdout: "},
		stderr: &lineLog{t: t, prefix: role + " stderr: "},
		done:   make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = h.stdout, h.stderr
	// Wait must not hang on a pipe that a grandchild could hold.
	cmd.WaitDelay = 5 * time.Second
	if cfg.stdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			cancel()
			require.NoError(t, err)
		}
		h.stdin = w
	}
	if err := cmd.Start(); err != nil {
		cancel()
		require.NoError(t, err, "start helper %s", role)
	}
	go func() {
		h.err = cmd.Wait()
		h.stdout.flush()
		h.stderr.flush()
		if ctx.Err() != nil {
			h.err = fmt.Errorf("helper %s killed by its %v watchdog: %w", role, helperTimeout, h.err)
		}
		cancel()
		close(h.done)
	}()
	t.Cleanup(func() {
		h.kill()
		<-h.done
	})
	return h
}

// passFile passes r to cmd's process under key with Ring.PassFile, as a
// program that is not written in Go would: the descriptor goes to the child
// at its own number, which the environment entry names.
func passFile(t *testing.T, cmd *exec.Cmd, r *shmring.Ring, key string) {
	t.Helper()
	f, env, err := r.PassFile(key)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, f.Close()) })
	i := int(f.Fd()) - 3
	require.GreaterOrEqual(t, i, len(cmd.ExtraFiles), "descriptor %d taken by an earlier ExtraFiles entry", f.Fd())
	// nil entries leave the child's descriptors of those numbers closed.
	cmd.ExtraFiles = append(cmd.ExtraFiles, make([]*os.File, i+1-len(cmd.ExtraFiles))...)
	cmd.ExtraFiles[i] = f
	cmd.Env = append(cmd.Env, env)
}

// wait waits for the helper to exit and returns cmd.Wait's result: nil for
// exit status 0.
func (h *helper) wait() error {
	<-h.done
	return h.err
}

// kill sends SIGKILL to the helper unless it has been waited for.
func (h *helper) kill() {
	select {
	case <-h.done:
	default:
		_ = h.cmd.Process.Kill()
	}
}

// signal sends sig to the helper.
func (h *helper) signal(sig os.Signal) error { return h.cmd.Process.Signal(sig) }

// closeStdin closes the helper's stdin: a helper blocked reading it goes on.
func (h *helper) closeStdin() error { return h.stdin.Close() }

// lines returns the lines the helper wrote to stdout so far.
func (h *helper) lines() []string { return h.stdout.all() }

// awaitEvent waits until ev is set, failing the test if the helper exits
// first or the watchdog ends.
func (h *helper) awaitEvent(t *testing.T, ev *shmring.Event) {
	t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	select {
	case err := <-ev.C(ctx):
		require.NoError(t, err, "waiting for an event from helper %s", h.role)
	case <-h.done:
		require.Failf(t, "helper exited early", "helper %s exited before setting the event: %v", h.role, h.err)
	}
}

// await polls cond every millisecond until it holds, failing the test if the
// helper exits first or the watchdog ends. what names the condition.
func (h *helper) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-h.ctx.Done():
			require.Failf(t, "watchdog", "helper %s: waiting for %s: %v", h.role, what, h.ctx.Err())
		case <-h.done:
			require.Failf(t, "helper exited early", "helper %s exited before %s: %v", h.role, what, h.err)
		case <-time.After(time.Millisecond):
		}
	}
}

// stopped reports whether the helper's process is stopped (state T in
// /proc/PID/stat, or in ps where there is no /proc).
func (h *helper) stopped() bool {
	if runtime.GOOS != "linux" {
		out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(h.cmd.Process.Pid)).Output()
		return err == nil && strings.HasPrefix(strings.TrimSpace(string(out)), "T")
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(h.cmd.Process.Pid), "stat"))
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return err == nil && i >= 0 && i+2 < len(b) && b[i+2] == 'T'
}

// lineLog is an io.Writer that logs what a helper writes, line by line, and
// keeps the lines.
type lineLog struct {
	t      testing.TB
	prefix string

	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// flush logs an unterminated last line.
func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
}

func (l *lineLog) emit(line string) {
	l.lines = append(l.lines, line)
	l.t.Log(l.prefix + line)
}

func (l *lineLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}
