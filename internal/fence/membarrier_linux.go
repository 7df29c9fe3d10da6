//go:build linux

package fence

import "golang.org/x/sys/unix"

// Commands of membarrier(2), from linux/membarrier.h (x/sys/unix has only the
// system call number).
const (
	membarrierCmdPrivateExpedited         = 1 << 3
	membarrierCmdRegisterPrivateExpedited = 1 << 4
)

// Asymmetric reports whether Set is a plain store and Barrier the
// membarrier system call; false means Set is a full barrier itself.
var Asymmetric = asymmetricSupported && register()

// register registers the process for private expedited membarriers, which
// the kernel requires once before the first one.
func register() bool {
	_, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdRegisterPrivateExpedited, 0, 0)
	return errno == 0
}

// Barrier makes every thread of the process execute a full memory barrier
// before it returns, when Asymmetric; otherwise it does nothing. It costs a
// system call and an interrupt of each processor running one of the
// process's threads: for rare paths only.
func Barrier() {
	if !Asymmetric {
		return
	}
	// Registered above; the command cannot fail after that except on
	// a kernel that lies about it, which would leave Set unsound, so a
	// failure is a fatal inconsistency.
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdPrivateExpedited, 0, 0); errno != 0 {
		panic("fence: membarrier failed after registration: " + errno.Error())
	}
}
