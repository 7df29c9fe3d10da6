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
// # Publication across processes
//
// The same trade serves the wake-up protocol of the ring cursors, across
// processes (package shmring, wait.go). A publisher stores its cursor with
// Store64 and then looks at its peer's waiter count; a sleeper announces
// itself, then re-checks the cursor:
//
//	publisher (every message)       sleeper (rare)
//	Store64(cursor, v)      (a)     Add(waiters, 1)         (1) sequentially consistent
//	if Load(noBarrier) != 0 {       GlobalBarrier()
//	    cursor.Store(v) }           re-check Load(cursor)   (3)
//	if Load(waiters) != 0 { wake }  (b)
//
// Claim: either the sleeper's (3) sees (a), or the publisher's (b) sees (1)
// and wakes. GlobalBarrier is membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED):
// it returns only after every running thread of every process registered
// for it (PlainStores) has executed a full barrier at some point B of its
// instruction stream (a thread not running passes through the scheduler).
// If the publisher's (a) precedes B, the store is globally visible when
// GlobalBarrier returns, and (3) sees it. If it follows B, so does (b),
// which comes after a full barrier executed after (1) completed (a locked
// instruction, done before the system call), and sees (1).
//
// The claim holds for every re-check that follows the barrier while the
// announcement stays up, not only the first: a publication before B is
// visible to all of them, and one after B has its (b) find the announcement,
// as long as the sleeper has not retracted. So a sleeper that keeps its
// announcement for a whole wait pays one GlobalBarrier for the wait, however
// many times it sleeps and re-checks.
//
// A side that does not pay the barrier (a Block sleeper, which sleeps on
// nearly every hand-off, or one whose kernel lacks the command) sets its
// noBarrier word at attach and then calls GlobalBarrier once; the publisher
// loads the word after its Store64 and, when it is set, stores again with
// sync/atomic, a full barrier (XCHG) between (a) and (b). The load comes
// after the store so that a publisher that loaded 0 did so before B, and its
// Store64, earlier still, is visible when that one GlobalBarrier returns,
// before the side's first sleep; a publisher that loads after B sees 1.
// A process that is not registered (PlainStores false) stores with
// sync/atomic always.
//
// Where the kernel refuses membarrier (an old kernel, a sandbox's seccomp
// filter), on systems other than Linux (and on Linux with the build tag
// shmring_portable, which tests what they run), on architectures other than
// amd64, or under the race detector
// (which must see the hand-off), Set is a sequentially consistent store and
// Barrier does nothing: the textbook Dekker, at the price of a full barrier
// per Set. Asymmetric reports which one is in force.
package fence
