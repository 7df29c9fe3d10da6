package clitest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Watchdog bounds every command a test runs and every wait for a state; it
// only ends a test that hangs.
const Watchdog = time.Minute

// Build builds the commands pkgs (import paths) with the build tags tags into
// a temporary directory of t, and returns that directory. The tests pass
// their own build tags, so that a command uses the wake-up mechanism of the
// test that runs it.
func Build(t testing.TB, tags string, pkgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", append([]string{"build", "-tags", tags, "-o", dir}, pkgs...)...)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return dir
}

// Result is what a finished command left.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs bin with args and stdin, and waits for it under the watchdog. A
// non-zero exit is a Result; a command that cannot run fails the test.
func Run(t testing.TB, stdin, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Watchdog)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	return Result{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
}

// OpenDescriptors returns how many descriptors the process has open, from
// /proc/self/fd on Linux and /dev/fd elsewhere (macOS, FreeBSD): compare two
// counts to find a leak.
func OpenDescriptors(t testing.TB) int {
	t.Helper()
	dir := "/proc/self/fd"
	if runtime.GOOS != "linux" {
		dir = "/dev/fd"
	}
	fds, err := os.ReadDir(dir)
	require.NoError(t, err)
	return len(fds)
}
