// Command shmring-torture runs SPSC and MPMC rings through the failures the
// library promises to survive, and checks every promise it makes about the
// messages: none lost, none duplicated, none torn, each producer's in order,
// every wait ending, no participant panicking or faulting.
//
// Usage:
//
//	shmring-torture [-duration D] [-seed N] [-round N] [-kind spsc|mpmc|both]
//	                [-maxsize SIZE] [-bound D] [-close-races=BOOL] [-poll=BOOL] [-tally D] [-v]
//
// The run is a series of rounds. Each round makes one anonymous ring (a
// memfd: nothing appears in /dev/shm) of a random kind and a random size
// between 4 KiB and -maxsize (an MPMC ring with a random slot size and 1, 2
// or 4 lanes), and runs producer and consumer processes on it: the
// command's own executable again, given the ring with Ring.Pass and a
// hidden environment variable that says what to do. Each participant uses one API at random (Send, TrySend,
// SendBatch or Reserve/Commit; Recv, Peek/Release, ReadBatch or the Ready
// channel, or, unless -poll=false, TryRecv alone, never waiting), a random wait
// strategy, random message sizes up to the ring's largest message, and
// sometimes a short context deadline. Some leave after a random time, some
// (unless -close-races=false) have a goroutine close their endpoint or their
// Ring under a call, and the parent
// kills participants with SIGKILL, stops and continues them with SIGSTOP and
// SIGCONT, and starts new ones, which join while the others run (on an SPSC
// ring a newcomer waits for the role to be free).
//
// Every message carries its producer's id, a sequence number, its length, the
// round and a CRC-32C over all of it. Participants report to the parent
// through a file they share with it, with plain stores that survive a kill
// -9 the moment they are made: a producer reports each message after the
// send returned nil; a consumer each message after it consumed it, and
// before it releases a message read in place it lists it as pending. A copy
// is received into the shared file, so the message a consumer killed right
// after Recv returned took along can still be named. At the end of a round
// the producers are told to stop, the stream is closed (Ring.CloseStream),
// the consumers drain it, and the parent drains what is left. Then:
//
//   - every message reported committed was received, unless a consumer that
//     died may have consumed it (its pending list or receive buffer);
//   - no message was reported received twice (a consumer that died holding
//     a lease hands it to another: the dead one's copy is not counted, which
//     is the at-least-once of the zero-copy API; a Release that returned
//     ErrClosed consumed nothing);
//   - no message was received that its producer never sent;
//   - no message was torn: length, round and checksum hold;
//   - each consumer received each producer's messages in order, except, on
//     an MPMC ring, adopted messages: up to a batch (32) for each consumer
//     that died or was closed, since a ReadBatch claims a run of positions;
//   - no call waited longer than -bound, and each phase of the end of the
//     round took less (a participant that hangs is sent SIGQUIT, and its
//     goroutines' stacks are printed);
//   - no participant exited with a panic, a fault or an error.
//
// Every -tally interval it prints a line of counts: messages received,
// kills, stops, dead participants reaped, lost wake-ups (sleeps that ended
// with their condition true and no wake-up, Ring.LostWakeups), the longest
// wait that a death was under and the longest wait overall, and more. At the
// end it prints "shmring-torture: ok: ..." and exits 0, or describes each
// violation on stderr with the round's seed, number, kind and size, prints
// the command that replays the rounds from the first bad one (the seed fixes
// every round's parameters and random choices; the timing of a run does not
// repeat), and exits 1. Bad flags exit 2; SIGINT or SIGTERM ends the run
// early with status 130.
package main
