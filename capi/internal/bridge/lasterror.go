//go:build linux

package bridge

import (
	"sync"

	"golang.org/x/sys/unix"
)

// maxThreads bounds the threads whose last error is kept: past it, a new
// thread's error evicts another thread's.
const maxThreads = 1024

// lastErrors keeps the error of the last failed call of each OS thread,
// keyed by thread id. Only failures record (a success costs nothing), so a
// thread's message stays until its next failure, or until maxThreads other
// threads have failed since.
type lastErrors struct {
	mu sync.Mutex
	m  map[int]error
}

// set records err for thread tid.
func (l *lastErrors) set(tid int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[int]error)
	}
	if _, ok := l.m[tid]; !ok && len(l.m) >= maxThreads {
		for k := range l.m {
			delete(l.m, k)
			break
		}
	}
	l.m[tid] = err
}

// get returns the message of thread tid's last failed call, "" if none.
func (l *lastErrors) get(tid int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.m[tid]; err != nil {
		return err.Error()
	}
	return ""
}

// Result returns the code of err and, when err is not nil, records it as
// the last error of the calling OS thread. Call it from the goroutine of the
// C call (an exported function runs locked to the calling C thread), so
// that the thread id is the C thread's.
func (b *Bridge) Result(err error) int {
	code := Code(err)
	if err != nil {
		b.errs.set(unix.Gettid(), err)
	}
	return code
}

// LastError returns the message of the last failed call of the calling OS
// thread, "" if none.
func (b *Bridge) LastError() string { return b.errs.get(unix.Gettid()) }
