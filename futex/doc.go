// Package futex sleeps while a 32-bit word in shared memory still holds a value, and wakes the
// sleepers on that word, across processes.
//
// The words live in a MAP_SHARED mapping of a file that several processes map, possibly at
// different addresses. A [Set] is the wake-up mechanism for the wait words of one shared
// segment: [Open] attaches to it through a cookie word inside the segment, [Set.Wait] sleeps on
// word i, [Set.Wake] wakes the sleepers on word i, and [Set.Remove] destroys whatever the
// mechanism keeps outside the segment.
//
// # Lifetime
//
// Only the semaphore fallback keeps something outside the segment, a System V semaphore set,
// which would outlive every process unless removed; with futexes and polling the calls below do
// nothing. Each Open (or Adopt) takes a reference that the kernel gives up when the process
// exits, however it exits. Who removes the set depends on the segment:
//
//   - A named segment outlives its processes (a producer may leave messages and exit before its
//     consumer starts), so its set must too: each process gives up its reference with
//     [Set.Detach], and whoever removes the segment's name calls [Set.Remove].
//   - An anonymous segment (a memfd) dies with the last process that has it, so its set does
//     too: each process calls [Set.Release], and the one that gives up the last reference
//     removes the set.
//   - A parent that hands an anonymous segment to a child calls [Set.Hold] before starting it,
//     and the child attaches with [Adopt], which takes the hold over; the parent may release its
//     own reference meanwhile. A hold outlives its maker, so a child that never adopts it leaves
//     the set behind until [Set.Remove] (or ipcrm).
//
// A process killed while it holds the last reference leaves the set behind too: the kernel gives
// up the reference, but removes nothing.
//
// A segment that can no longer be opened (its header damaged) but is being removed has no Set:
// [Discard] removes the set its cookie word names, read without opening the segment.
//
// # Contract
//
//   - Wait may return spuriously: callers re-check their condition (and their own deadline)
//     after every return and wait again.
//   - Wait never sleeps longer than its timeout, plus scheduling slack, and never returns a
//     timeout before it has passed.
//   - Where [WakeInterrupts] is true, Wake ends the Waits on its word even when the word still
//     holds their value, so that a caller may sleep without a timeout and cut the sleep short
//     with a Wake of its own.
//   - No wake-up is lost: when a waker changes the word and then calls Wake, a sleeper that read
//     the old value before the change is woken (up to n of them; the poll mechanism notices the
//     change within its back-off instead).
//   - Only shared (inter-process) kernel operations are used, never FUTEX_PRIVATE_FLAG, which
//     works inside one process only.
//   - Shared memory is hostile input: a cookie that names another mechanism, or names a
//     semaphore set of the wrong size, gives an error wrapping [ErrMismatch].
//
// # Implementations
//
// One implementation is compiled in; [Mechanism] names it. Every process attached to one
// segment must use the same one, which the cookie enforces.
//
//   - futex_linux.go, futex_linux_unsafe.go (linux, default): FUTEX_WAIT and FUTEX_WAKE on the
//     word itself. Mechanism "futex".
//   - sem_linux.go, sem_linux_unsafe.go, sem_timespec*_linux.go (linux with the build tag
//     shmring_nofutex): a System V semaphore set with a generation counter and a waiter count
//     per word, and three counters of its users. Mechanism "sysv-semaphore". It wakes every
//     sleeper on the word whatever n is.
//   - poll.go (every other OS, and Linux with the build tag shmring_portable, which takes
//     precedence over shmring_nofutex): Wait re-reads the word with a bounded back-off sleep
//     (50 µs doubling to 1 ms), and Wake does nothing. Mechanism "poll". A sleeper notices a
//     change up to about a millisecond late; poll.go says why the semaphores do not port.
//
// futex.go holds what they share: the errors, the bounds and the cookie markers.
//
// This package is a building block of the root package shmring, not a stable
// API: its names and signatures may change in any release. Programs should use
// the root package.
package futex
