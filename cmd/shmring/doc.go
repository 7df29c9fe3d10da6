// Command shmring creates, inspects, checks and removes shmring rings, and
// sends and receives messages through them from scripts.
//
// Usage:
//
//	shmring create NAME [-size BYTES] [-kind spsc|mpmc] [-slot BYTES] [-participants N] [-mode 0600]
//	shmring rm NAME...
//	shmring close NAME [-abort CODE]
//	shmring ls [-dir DIR] [-a] [-json]
//	shmring stat NAME [-json] [-w]
//	shmring check NAME
//	shmring send NAME [-z]
//	shmring recv NAME [-n N] [-z]
//	shmring peek NAME [-n N] [-z] [-json]
//	shmring help [COMMAND]
//	shmring version
//
// A bare NAME is a file in /dev/shm (on macOS and FreeBSD, and with the
// shmring_portable build tag, in $TMPDIR/shmring-UID: see shm.Dir); a file
// path is absolute or starts with ./ (any other NAME with a '/' is refused). Flags and arguments may
// come in any order. shmring -h (or --help, or help) prints the list of
// commands, and shmring COMMAND -h (or shmring help COMMAND) a command's
// help, on standard output with status 0; a usage error prints its message
// and the help on standard error, with status 2. shmring version (or
// -version, --version) prints the main module's version ("(devel)" for a
// build from a checkout without a version stamp), the version control
// revision and time when the build recorded them, and the Go release.
//
// Sizes (-size, -slot) are bytes with an optional unit, in any case: K, M,
// G, KiB, MiB and GiB are powers of 1024 (64K and 64KiB are 65536 bytes),
// KB, MB and GB powers of 1000 (1MB is 1000000 bytes). A size that does not
// parse, or is out of range (-size up to 4G, -slot up to 16M), is a usage
// error, as is a -participants outside 1 to 64.
//
// create makes a ring (-size rounded up to a power of two between 4K and 4G,
// default 1M; -mode in octal, default 0600). -kind mpmc makes a ring for any
// number of producers and consumers, up to -participants attached at once
// (1 to 64, default 64), of fixed-size slots of -slot bytes (default 1024,
// rounded up to a multiple of 8), the largest message: -size/-slot slots, at
// least 2, rounded up to a power of two. rm removes rings, refusing files that
// are not rings (no shmring magic); a ring with the magic whose header is
// corrupt, or of another format version, is removed too, with the semaphore
// set of the shmring_nofutex build where its cookie word names one. close
// ends a ring's stream from outside the producers: the consumers drain what
// was committed, then stop; on an spsc ring a producer that attaches later
// reopens the stream, on an mpmc ring every send fails from then on.
//
// ls, stat, check and peek only read: they open files read-only, take no
// lock and change nothing, so they are safe on rings in use and on files
// that are not rings. ls lists the rings of that directory (or -dir), one line
// each with the same columns: kind, capacity, depth, message count,
// producer and consumer (alive, dead, changing or none; for an mpmc ring,
// how many are alive and dead, and the orphans), stream state, and a note
// (why a ring with the shmring magic could not be read: a corrupt header or
// records, another format version; "-" fills the columns it cannot). -a
// lists every other file too, with the reason it is not a ring; -json prints
// one JSON array, an object per line: "name" (the path), "ring" (the file has
// the magic), the fields of stat -json for a ring it could read, "note"
// otherwise. stat shows one ring (an mpmc ring's enq and deq positions and
// each participant entry: role, pid, alive or dead, the position it holds,
// its sleeps and counters; and the orphans); -json prints it as one JSON
// object; -w refreshes every second, adding rates (MB/s in and out,
// wake-ups/s, and an estimate of msgs/s: an spsc ring keeps no message
// counter, so it is the bytes consumed over the mean record size seen; an
// mpmc ring's msgs/s in and out are exact). stat -w watches on across ends
// of the stream and producers that come and go; while NAME does not exist
// or is not a ring it can read, it says "waiting for NAME" on standard error
// and goes on when a ring is back; it ends only on SIGINT or SIGTERM, with
// status 130. check validates the header and walks every committed record as
// the consumer would (for an mpmc ring: checks every slot's sequence word
// against the positions, and every committed slot's header); it prints each
// problem with its file offset and exits with status 1 on corruption, 0 with
// a one-line summary for a sound ring. peek prints the first -n messages
// (default 10, 0 for all) as recv would, without consuming them and without
// attaching: a snapshot that a live consumer may move past at once (on an
// mpmc ring, messages still being written and those of dead consumers
// awaiting adoption are left out); -json prints one JSON array with each
// message's "len", "data" (base64) and, for UTF-8, "text".
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
// corrupt ring for check and peek); 2 usage (bad flags or arguments); 130
// when SIGINT or SIGTERM stopped send, recv or stat -w (send and recv close
// their endpoint first; recv leaves unread messages to the next consumer).
package main
