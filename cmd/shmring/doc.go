// Command shmring creates, inspects, checks and removes shmring rings, and
// sends and receives messages through them from scripts.
//
// Usage:
//
//	shmring create NAME [-size BYTES] [-kind spsc|mpmc] [-mode 0600]
//	shmring rm NAME...
//	shmring close NAME
//	shmring ls [-dir DIR]
//	shmring stat NAME [-json] [-w]
//	shmring check NAME
//	shmring send NAME [-z]
//	shmring recv NAME [-n N] [-z]
//
// A bare NAME is a file in /dev/shm; a NAME with a '/' is a file path. Flags
// and arguments may come in any order; shmring COMMAND -h shows a command's
// help.
//
// create makes a ring (-size rounded up to a power of two between 4K and 4G,
// default 1M; -mode in octal, default 0600). The mpmc kind is not supported
// yet: create -kind mpmc fails with status 1. rm removes rings, refusing
// files that are not rings. close ends a ring's stream from outside the
// producer: the consumer drains what was committed, then stops; a producer
// that attaches later reopens the stream.
//
// ls, stat and check only read: they open files read-only, take no lock and
// change nothing, so they are safe on rings in use and on files that are not
// rings. ls lists every file of /dev/shm (or -dir): rings with their kind,
// capacity, depth, message count, producer and consumer (alive, dead,
// changing or none) and stream state, other files with the reason they are
// not rings. stat shows one ring; -json prints it as one JSON object; -w
// refreshes every second, adding rates (MB/s in and out, wake-ups/s, and an
// estimate of msgs/s: the ring keeps no message counter, so it is the bytes
// consumed over the mean record size seen), until SIGINT or SIGTERM (status 0)
// or the end of the stream. check validates the header and walks every
// committed record as the consumer would; it prints each problem with its
// file offset and exits with status 1 on corruption, 0 with a one-line summary
// for a sound ring.
//
// send attaches as the producer and sends each line of standard input (its
// newline stripped) as a message, or with -z length-prefixed records (a uint32
// little-endian length, then the bytes). It always closes the producer end
// when it exits, which ends the stream (the root API's Producer.Close does),
// so there is no -keep. recv attaches as the consumer and prints each message
// followed by a newline (or, with -z, as a length-prefixed record) until -n
// messages or the end of the stream.
//
// Exit status: 0 done; 1 failure (a ring that cannot be opened or used, a
// corrupt ring for check, an mpmc ring for create); 2 usage (bad flags or
// arguments); 130 when SIGINT or SIGTERM stopped send or recv, which close
// their endpoint first (recv leaves unread messages to the next consumer).
package main
