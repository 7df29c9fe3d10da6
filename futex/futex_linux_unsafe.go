//go:build linux && !shmring_nofutex && !shmring_portable

// The futex system calls: the only unsafe code of the futex build. They pass the address of the
// word and of the timespec to the kernel. The conversions to uintptr sit in the argument list of
// unix.Syscall6 (and RawSyscall6), so the pointers stay valid for the duration of the call. The
// word usually lives in a file mapping, outside the Go heap; a word on the heap is fine too (for
// tests): a shared futex on private memory is keyed by address space and address.

package futex

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// futexWait is FUTEX_WAIT(word, val, ts); ts == nil sleeps without a limit. It blocks the thread,
// hence unix.Syscall6, which lets the scheduler hand off the P.
func futexWait(word *atomic.Uint32, val uint32, ts *unix.Timespec) unix.Errno {
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWaitOp,
		uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	return errno
}

// futexWake is FUTEX_WAKE(word, n). It never blocks: it takes the futex hash bucket's lock, moves
// up to n sleepers to the run queue and returns. It goes through unix.RawSyscall6, which skips the
// scheduler's entersyscall and exitsyscall, the cost of a call that never hands off the P.
func futexWake(word *atomic.Uint32, n int32) unix.Errno {
	_, _, errno := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWakeOp,
		uintptr(n), 0, 0, 0)
	return errno
}
