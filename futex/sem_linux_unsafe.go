//go:build linux && shmring_nofutex && !shmring_portable

// The semtimedop system call: the only unsafe code of the semaphore build. It passes the address
// of the operations and of the timespec to the kernel; the conversions to uintptr sit in the
// argument list of unix.Syscall6, so both stay valid for the duration of the call.

package futex

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// semtimedop performs ops on set id as one atomic operation, sleeping at most ts (nil: no limit)
// for them to become possible. It may block the thread, hence unix.Syscall6, which lets the
// scheduler hand off the P. ops must not be empty.
func semtimedop(id int, ops []sembuf, ts *semTimespec) unix.Errno {
	_, _, errno := unix.Syscall6(sysSemtimedop, uintptr(id), uintptr(unsafe.Pointer(&ops[0])),
		uintptr(len(ops)), uintptr(unsafe.Pointer(ts)), 0, 0)
	return errno
}
