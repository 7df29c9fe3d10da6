// Command consumer reads the messages of a named shmring ring and prints each
// as a line; run cmd/producer in another terminal to write them.
//
// Usage:
//
//	consumer -ring NAME [-size BYTES] [-wait adaptive|spin|block] [-n N] [-q] [-rm]
//
// A bare NAME is a file in /dev/shm; a file path is absolute or starts
// with ./ (any other NAME with a '/' is refused).
// Whichever of producer and consumer starts first creates the ring (with
// -size, default 1 MiB), the other opens it, so they can start in either
// order, and a consumer started after the producer has exited reads what it
// left. A -size given to the side that opens the ring must be the ring's
// size: a ring of another size is an error (status 1), not silently used. The ring stays after both exit until removed: -rm removes it when
// this consumer exits (producers that still have it open keep using it).
//
// A message that is printable UTF-8 text is printed as it is; any other
// message (such as the generated messages of producer -n) is printed in
// hexadecimal. -q prints no messages. Output is flushed whenever the ring is
// empty, so lines appear as they arrive.
//
// Without -n, the consumer reads until the producer closes the stream and
// exits with status 0. A consumer that finds the ring's stream closed and
// already read (by the consumer of a previous run) waits for the next
// producer, so the two commands can be run again and again, in either order. With -n N, it stops after N messages and prints a last
// line
//
//	received N messages in 1.234s: 812345 msgs/s
//
// timed from the arrival of the first message; a stream that ends before N
// messages is a failure (status 1). A stream that the producer aborted
// (shmring.Ring.AbortStream: cmd/producer does on SIGINT or SIGTERM, with
// code 130, and when it fails, with code 1) is drained, then reported with
// its code, and the consumer exits with status 1. SIGINT or SIGTERM closes the consumer
// end, leaving unread messages in the ring for the next consumer, and exits
// with status 130. A ring that cannot be opened (not a ring, corrupt, bad
// name, no permission) exits with status 1, bad flags with status 2.
package main
