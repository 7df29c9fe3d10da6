package pidwatch_test

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/pidwatch"
)

// startSleeper starts a child that lives until it is killed.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestWatchSeesExit(t *testing.T) {
	cmd := startSleeper(t)
	exited := make(chan struct{})
	w, err := pidwatch.Open(cmd.Process.Pid, func() { close(exited) })
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) {
		t.Skipf("this kernel has no non-blocking pidfds: %v", err)
	}
	require.NoError(t, err)
	defer func() { require.NoError(t, w.Close()) }()

	select {
	case <-exited:
		t.Fatal("the watch fired while the process lived")
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, cmd.Process.Kill())
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not fire when the process was killed")
	}
}

func TestWatchOfExitedProcess(t *testing.T) {
	// A zombie (exited, not yet waited for) has exited: the watch fires
	// at once.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Wait() }()
	var info unix.Siginfo
	require.NoError(t, unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil))
	exited := make(chan struct{})
	w, err := pidwatch.Open(cmd.Process.Pid, func() { close(exited) })
	require.NoError(t, err)
	defer func() { require.NoError(t, w.Close()) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch of an exited process did not fire")
	}
}

func TestCloseStopsWatch(t *testing.T) {
	cmd := startSleeper(t)
	fired := make(chan struct{}, 1)
	w, err := pidwatch.Open(cmd.Process.Pid, func() { fired <- struct{}{} })
	require.NoError(t, err)
	require.NoError(t, w.Close(), "Close returns once the goroutine has ended")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	select {
	case <-fired:
		t.Fatal("a closed watch fired")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestOpenNoProcess(t *testing.T) {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run()) // waited for: its id is free
	_, err := pidwatch.Open(cmd.Process.Pid, func() {})
	assert.ErrorIs(t, err, syscall.ESRCH)
	_, err = pidwatch.Open(0, func() {})
	assert.ErrorIs(t, err, syscall.ESRCH)
}

func TestNamespace(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/pid"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	assert.NotZero(t, pidwatch.Namespace())
}
