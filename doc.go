// Package shmring passes messages between processes on one host through a
// lock-free ring in shared memory.
//
// A Ring is a segment: a named file under /dev/shm, a file at a path the
// caller gives, or an anonymous memfd handed to a child process (Pass and
// Inherit). On macOS and FreeBSD (and on Linux with the build tag
// shmring_portable) bare names live in a per-user directory instead
// (shm.Dir) and anonymous rings are unlinked files: see Platform support in
// the README. Its kind is fixed at creation (Options.Kind): an SPSC ring takes
// one Producer and one Consumer at a time and variable-length records; an
// MPMC ring takes any number of producers and consumers, up to its
// participant table, and fixed-size slots, and each message goes to exactly
// one consumer; Options.Lanes splits it into lanes, a producer's own to
// claim in, so that many producers and consumers do not contend for one
// claim position. Endpoints attach in the same process or in different ones
// and move messages:
//
//   - copying: Producer.Send and Consumer.Recv, with TrySend and TryRecv
//     twins that never wait;
//   - zero-copy: Producer.Reserve and Commit write a message in place,
//     Consumer.Peek and Release read one in place;
//   - batches: Producer.SendBatch and Consumer.ReadBatch publish their cursor
//     once per batch.
//
// A waiting call spins for a budget, yields, then sleeps on a futex in the
// segment (a bounded poll on macOS and FreeBSD; see WaitStrategy); a side
// that finds nobody asleep makes no system call at all. Every wait ends on its condition, on the context's
// cancellation or deadline, on Close, when the peer process died while
// attached (ErrPeerDead, SPSC), or, on a ring that watches it (Inherit,
// Options.WatchParent), when the parent process died (ErrParentDead, either
// kind). An SPSC Producer.Close, or Ring.CloseStream
// for either kind, ends the stream: consumers drain what was committed, then
// get io.EOF. On an MPMC ring a process that dies mid-message is reaped by
// the survivors: a half-written slot is skipped, a message a dead consumer
// held is adopted by another.
//
// Consumer.Ready turns readiness into a channel send, so a consumer can select
// on a ring together with contexts, timers and other channels, and drain with
// TryRecv. Ring.Event gives cross-process events (the counterpart of
// multiprocessing.Event) in the same segment.
//
// The segment is shared with processes this one does not control: every
// cursor and record length read from it is checked before use, and bad
// contents give an error wrapping ErrCorrupt rather than a panic.
//
// Inspect and Check read a named ring without changing anything (the file is
// opened read-only and no lock is taken): its positions, depth, endpoints and
// counters, and the soundness of its header and committed records. The
// shmring command's ls, stat and check are built on them.
//
// Endpoints are not safe for concurrent use by several goroutines, with one
// exception: Close may be called from any goroutine to end a blocked call,
// and returns only after that call has left the shared memory.
//
// This package is the API programs use and the one whose compatibility the
// project keeps: every change is recorded in CHANGELOG.md, and from v1.0.0 on
// releases follow semantic versioning. The packages ring, shm and futex are
// building blocks of this one without a compatibility promise. The segment's
// layout carries a format version: a process refuses a ring of another
// version with an error wrapping ErrVersion, so every process attached to a
// ring must run a release of the same format.
package shmring
