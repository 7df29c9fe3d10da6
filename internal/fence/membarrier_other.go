//go:build !linux || shmring_portable

// Systems other than Linux, and Linux with the build tag shmring_portable,
// which runs here what those systems run.

package fence

// Asymmetric is false: this system has no membarrier, so Set is a full
// barrier itself.
const Asymmetric = false

// Barrier does nothing: Set is sequentially consistent here.
func Barrier() {}

// PlainStores is false: without membarrier no other process can order this
// one's plain stores, so Store64 is sequentially consistent.
const PlainStores = false

// CanGlobalBarrier is false: a sleeper asks its peer to publish with full
// barriers instead.
const CanGlobalBarrier = false

// GlobalBarrier does nothing: CanGlobalBarrier is false.
func GlobalBarrier() {}
