//go:build linux && !shmring_portable

package fence

import "golang.org/x/sys/unix"

// Commands of membarrier(2), from linux/membarrier.h (x/sys/unix has only the
// system call number).
const (
	membarrierCmdQuery                    = 0
	membarrierCmdGlobalExpedited          = 1 << 1
	membarrierCmdRegisterGlobalExpedited  = 1 << 2
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

// PlainStores reports whether Store64 is a plain store: this build can make
// one, and the process is registered for global expedited membarriers, so
// that another process's GlobalBarrier orders this one's stores.
var PlainStores = asymmetricSupported && registerGlobal()

// CanGlobalBarrier reports whether GlobalBarrier issues the barrier. When it
// is false, a sleeper must ask its peer to publish with full barriers
// instead (see the package documentation).
var CanGlobalBarrier = queryGlobal()

// registerGlobal registers the process for global expedited membarriers:
// from then on every GlobalBarrier of any process interrupts this one's
// running threads.
func registerGlobal() bool {
	_, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdRegisterGlobalExpedited, 0, 0)
	return errno == 0
}

// queryGlobal reports whether the kernel offers global expedited membarriers.
func queryGlobal() bool {
	cmds, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdQuery, 0, 0)
	return errno == 0 && cmds&membarrierCmdGlobalExpedited != 0
}

// GlobalBarrier makes every running thread of every process registered for
// it (every process whose PlainStores is true) execute a full memory barrier
// before it returns, when CanGlobalBarrier; otherwise it does nothing. It
// costs a system call and an interrupt of each processor running such a
// thread: for a side about to sleep, never per message.
func GlobalBarrier() {
	if !CanGlobalBarrier {
		return
	}
	// The kernel offered the command at start; a failure now would leave
	// the peers' plain stores unordered, a fatal inconsistency.
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobalExpedited, 0, 0); errno != 0 {
		panic("fence: global membarrier failed after the kernel offered it: " + errno.Error())
	}
}
