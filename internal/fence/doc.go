// Package fence is the asymmetric barrier that lets one goroutine mark that
// it is inside a call with a plain store, while the rare goroutine that needs
// to know (a Close) pays for the ordering instead.
//
// The protocol is Dekker's, with one side's full barrier moved to the other:
//
//	owner (hot, often)            closer (rare)
//	Flag.Set(1)                   Store(closed, true)     sequentially consistent
//	if Load(closed) { bail }      Barrier()
//	... use the shared memory     if Flag.Load() != 0 { wait for Set(0) }
//	Flag.Set(0)
//
// Claim: either the closer sees the owner's 1 (and waits for its 0), or the
// owner's Load(closed) sees true. On Linux, Barrier is
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): it returns only after every
// thread of the process that was running has executed a full memory barrier
// (one that is not running passes through the scheduler, which is one), at
// some point B of its instruction stream. If the owner's Set(1) comes before
// B in its program order, the store is globally visible when Barrier returns,
// and the closer's Load after it sees 1 or a later value. If it comes after
// B, so does the owner's Load(closed), which then sees the Store(closed) that
// preceded Barrier. A goroutine that moves between threads does so through
// the scheduler's locks, which are full barriers too.
//
// The owner's Set(0) is a release store (a plain MOV on amd64, whose stores
// are never reordered with earlier loads or stores), so the closer that loads
// 0 sees every access of the call done. Set is inlined: two of them and two
// loads are all a call pays.
//
// Where the kernel refuses membarrier (an old kernel, a sandbox's seccomp
// filter), on architectures other than amd64, or under the race detector
// (which must see the hand-off), Set is a sequentially consistent store and
// Barrier does nothing: the textbook Dekker, at the price of a full barrier
// per Set. Asymmetric reports which one is in force.
package fence
