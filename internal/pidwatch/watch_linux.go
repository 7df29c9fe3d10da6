package pidwatch

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Supported reports whether Open can work on this system: true on Linux,
// where a kernel may still refuse it.
const Supported = true

// Watch calls a function once, when the process it watches exits, unless it
// was closed first.
type Watch struct {
	f    *os.File
	done chan struct{} // closed when the goroutine has ended
}

// Open watches the process pid: exited runs once, on a goroutine of its own,
// when the process exits (at once if it has exited already). It fails when
// no process has the id, or when this kernel has no non-blocking pidfds.
// The caller must Close the Watch, which also stops it.
func Open(pid int, exited func()) (*Watch, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("pidwatch: process %d: %w", pid, syscall.ESRCH)
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("pidwatch: pidfd_open of process %d: %w", pid, err)
	}
	// A non-blocking descriptor goes to the runtime's poller.
	f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("pidwatch: process %d: %w", pid, err), f.Close())
	}
	w := &Watch{f: f, done: make(chan struct{})}
	go w.run(rc, exited)
	return w, nil
}

// run parks on the pidfd until it is readable (the process exited) or
// closed, and calls exited in the first case.
func (w *Watch) run(rc syscall.RawConn, exited func()) {
	defer close(w.done)
	gone := false
	err := rc.Read(func(fd uintptr) bool {
		// The runtime calls this first, then after each readiness: look
		// whether the pidfd is readable now, without blocking.
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		if err != nil {
			return err != unix.EINTR
		}
		gone = n > 0 && p[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
		return gone
	})
	if err == nil && gone {
		exited()
	}
}

// Close stops the watch and waits until its function, if it was called, has
// returned: after Close, the function does not run. It may be called from
// any goroutine but the function's own.
func (w *Watch) Close() error {
	err := w.f.Close()
	<-w.done
	return err
}

// Namespace returns the inode of this process's pid namespace, or 0 when it
// is unknown (no /proc): two processes' ids name the same process only when
// both see the same namespace.
func Namespace() uint64 { return namespace() }

var namespace = sync.OnceValue(func() uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0
	}
	return st.Ino
})
