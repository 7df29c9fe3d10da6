// Command shmring creates, inspects, checks and removes shmring rings, and
// sends and receives messages through them from scripts.
//
// Usage:
//
//	shmring create NAME [-size BYTES] [-kind spsc|mpmc] [-slot BYTES] [-participants N] [-mode 0600]
//	shmring rm NAME...
//	shmring close NAME
//	shmring ls [-dir DIR]
//	shmring stat NAME [-json] [-w]
//	shmring check NAME
//	shmring send NAME [-z]
//	shmring recv NAME [-n N] [-z]
//
// A bare NAME is a file in /dev/shm; a file path is absolute or starts
// with ./ (any other NAME with a '/' is refused). Flags
// and arguments may come in any order; shmring COMMAND -h shows a command's
// help.
//
// create makes a ring (-size rounded up to a power of two between 4K and 4G,
// default 1M; -mode in octal, default 0600). -kind mpmc makes a ring for any
// number of producers and consumers, up to -participants attached at once
// (1 to 64, default 64), of fixed-size slots of -slot bytes (default 1024,
// rounded up to a multiple of 8), the largest message: -size/-slot slots, at
// least 2, rounded up to a power of two. rm removes rings, refusing files that
// are not rings (no shmring magic); a ring with the magic whose header is
// corrupt, or of another format version, is removed too, with the semaphore
// set of the shmring_nofutex build where its cookie word names one. close ends a ring's stream from outside the producers: the
// consumers drain what was committed, then stop; on an spsc ring a producer
// that attaches later reopens the stream, on an mpmc ring every send fails
// from then on.
//
// ls, stat and check only read: they open files read-only, take no lock and
// change nothing, so they are safe on rings in use and on files that are not
// rings. ls lists every file of /dev/shm (or -dir): rings with their kind,
// capacity, depth, message count, producer and consumer (alive, dead,
// changing or none; for an mpmc ring, how many are alive and dead, and the
// orphans) and stream state, other files with the reason they are not rings.
// stat shows one ring (an mpmc ring's enq and deq positions and each
// participant entry: role, pid, alive or dead, the position it holds, its
// sleeps and counters; and the orphans); -json prints it as one JSON object;
// -w refreshes every second, adding rates (MB/s in and out, wake-ups/s, and an
// estimate of msgs/s: an spsc ring keeps no message counter, so it is the
// bytes consumed over the mean record size seen; an mpmc ring's msgs/s in and
// out are exact), until SIGINT or SIGTERM (status 0) or the end of the stream.
// check validates the header and walks every committed record as the consumer
// would (for an mpmc ring: checks every slot's sequence word against the
// positions, and every committed slot's header); it prints each problem with
// its file offset and exits with status 1 on corruption, 0 with a one-line
// summary for a sound ring.
//
// send attaches as a producer and sends each line of standard input (its
// newline stripped) as a message, or with -z length-prefixed records (a uint32
// little-endian length, then the bytes). It always closes its producer end
// when it exits, which ends an spsc ring's stream (the root API's
// Producer.Close does), so there is no -keep; an mpmc ring's stream goes on
// until close. recv attaches as a consumer and prints each message followed by
// a newline (or, with -z, as a length-prefixed record) until -n messages or
// the end of the stream; several recv on one mpmc ring share its messages.
//
// Exit status: 0 done; 1 failure (a ring that cannot be opened or used, a
// corrupt ring for check); 2 usage (bad flags or
// arguments); 130 when SIGINT or SIGTERM stopped send or recv, which close
// their endpoint first (recv leaves unread messages to the next consumer).
package main
