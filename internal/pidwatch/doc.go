// Package pidwatch tells a process when another one exits, as an event.
//
// On Linux, Open takes a pidfd of the process (pidfd_open, non-blocking) and
// hands it to the Go runtime's poller: the pidfd becomes readable when the
// process exits, and a goroutine parked on it calls the caller's function
// once. Nothing runs and nothing is polled while the process lives, so a
// program can watch a peer for as long as it likes for no CPU at all.
// Elsewhere, and on kernels without pidfds (before 5.10, or where a seccomp
// filter refuses the call), Open fails and the caller falls back to looking
// now and then.
//
// A process id names whatever process has it now. A caller that read the id
// from somewhere must check, after Open, that the process it meant still has
// it: the pidfd refers to the process that had the id when it was opened,
// for as long as the pidfd lives, whatever happens to the id afterwards.
// Process ids are also relative to a pid namespace; Namespace tells which
// one this process sees, so that an id read from another process can be
// trusted only when both name the same namespace.
package pidwatch
