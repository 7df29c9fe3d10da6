// Command producer writes messages into a named shmring ring; run
// cmd/consumer in another terminal to read them.
//
// Usage:
//
//	producer -ring NAME [-size BYTES] [-wait adaptive|spin|block] [-n N [-msgsize B]]
//
// A bare NAME is a file in /dev/shm; a file path is absolute or starts
// with ./ (any other NAME with a '/' is refused).
// Whichever of producer and consumer starts first creates the ring (with
// -size, default 1 MiB; rounded up to a power of two), the other opens it, so
// they can start in either order. A -size given to the side that opens the
// ring must be the ring's size: a ring of another size is an error (status
// 1), not silently used. The ring stays after both exit, holding what
// was not read, until `consumer -rm` removes it (or rm /dev/shm/NAME).
//
// Without -n, each line of standard input (its newline stripped) is one
// message. With -n N, the producer sends N generated messages of -msgsize
// bytes (default 64), each starting with its sequence number 0, 1, ... as a
// little-endian uint64 and zero-filled after it. Either way, it closes the
// producer end at the end, which ends the stream: the consumer reads what was
// sent, then sees the end.
//
// SIGINT or SIGTERM aborts the stream with code 130 (a failure aborts it
// with code 1), so that the consumer tells it from a finished one, closes the
// producer end and exits with status 130. A ring that cannot be opened or used exits with
// status 1, bad flags with status 2.
package main
