//go:build linux

// Command bench measures shmring against the other ways two processes on one
// host can pass messages, on the machine it runs on, and prints one table with
// ratios against the baselines measured in the same run.
//
// Usage:
//
//	go run ./bench [-quick] [-json] [-svg FILE] [-run REGEXP] [-time DUR] [-n N] [-rtt N]
//
// Every transport runs between real processes, two or, for the MPMC rows, up
// to sixteen: the harness re-executes itself as each peer (an environment
// marker tells the copy which role to play, descriptors are inherited),
// except the Go channel and memcpy baselines, which are in-process by
// definition. Transports:
//
//   - shmring: an anonymous SPSC ring passed with Ring.Pass, for each wait
//     strategy (spin, adaptive, block) and each API: copy (Send/Recv),
//     zerocopy (Reserve/Commit, Peek/Release), batch (SendBatch/ReadBatch,
//     256 messages per batch, fewer where that many large messages would not
//     fit in half the ring) and channel (the consumer selects on Ready and
//     drains with TryRecv; the producer uses Send);
//   - shmring-mpmc: one anonymous MPMC ring (a slot per message, of the
//     message size, 1 MiB in all) passed to every producer and consumer
//     process, adaptive, copy API (Send; Recv, then TryRecv for what else
//     is committed, up to 256 messages per read) and batch API (SendBatch
//     of 256 messages, ReadBatch of up to 256: a claim of up to 64 slots
//     per CAS on either side);
//   - shmring-lanes: the same with as many lanes as producers
//     (Options.Lanes), so that each producer claims in a lane of its own;
//   - pipe: a blocking pipe (kept out of the Go netpoller), one write and
//     fixed-size reads per message;
//   - seqpacket: a unix SOCK_SEQPACKET socketpair, one datagram per message;
//   - chan: a chan []byte inside one process, with a copy in and a copy out
//     per message: the in-process ceiling;
//   - bare-ring: fixed-size slots in a memfd, a producer and a consumer index
//     on their own 128-byte lines, both sides spinning with PAUSE, no framing
//     and no wake-ups, a copy in and a copy out per message: the hardware's
//     ceiling;
//   - cacheline (pingpong only): one 64-byte line in a memfd, both
//     processes spinning on it with PAUSE, each writing the line's
//     sequence word when it sees the other's: a round trip moves that one
//     line there and back and nothing else, the physical limit of a hop
//     between two cores, the floor under every round trip;
//   - memcpy: single-thread copy bandwidth of each message size, the copy
//     ceiling (copies cycle through 1 MiB, or 16 messages' worth when that is
//     more, so the 1 MiB case runs from buffers larger than L2).
//
// Scenarios:
//
//   - throughput: one way, producer process to consumer process, messages of
//     64 B, 1 KiB, 64 KiB and 1 MiB. Each message carries its index in its
//     first 8 bytes; the consumer checks every index and the count, and times
//     from the first message to the last; it also reads one byte of every
//     64, so that a message read in place (zero-copy) does reach its core.
//     A run moves at least -n messages and lasts at least -time (shorter
//     first runs size it); the row has the median of three such runs.
//     The MPMC rows (64 B) have 1, 2, 4 or 8 producers and as many
//     consumers, each a process of its own, all on one ring (8P8C runs only
//     where the machine has 16 CPUs, one per process): the producers start
//     together and send equal shares; each message carries its producer's
//     id and sequence number, each consumer checks that every producer's
//     sequence numbers increase and reports its counts and sums, and the
//     harness checks that they add up to what was sent. The rate is the
//     messages delivered to all consumers over the span from the first
//     message any consumer took to the last, read from CLOCK_MONOTONIC,
//     which all processes share (mpmc.go has the details).
//   - pingpong: 64 B round trips (this process sends, the peer echoes;
//     on the cache line, this process writes the sequence word and the
//     peer answers), percentiles from an HdrHistogram in nanoseconds (1 ns
//     to 10 s, 3 significant figures) after a warm-up of a tenth of the
//     round trips. Two more rows, the bare ring and shmring (adaptive, copy),
//     take 56 B messages, the largest whose shmring record (8-byte header
//     and payload) fits one cache line: a 64 B message's record spans two
//     lines, as the bare ring's slot and tail do, so a hop moves one line
//     fewer only at 56 B and below.
//   - idle: the CPU a consumer process burns while it waits 1 s on an empty
//     stream, from its own getrusage, as a percentage of one core; one row
//     waits on an MPMC ring (idle/shmring-mpmc/adaptive/copy/64/1p1c), as a
//     worker of a pool does.
//
// Every row but the MPMC throughput ones has one producer and one consumer
// (memcpy rows: none).
//
// Rows are named scenario/transport/strategy/api/size, with empty components
// where a field does not apply (pingpong/pipe///64), and the MPMC rows'
// producers and consumers after (throughput/shmring-mpmc/adaptive/copy/64/2p2c);
// -run selects the rows whose name the regular expression matches. -quick
// keeps the rows that the targets are read from and a few more. -json writes
// one JSON object per row on standard output; the targets then go to
// standard error. -svg writes a chart of the round-trip percentiles and the
// 64 B throughputs.
//
// The table is followed by the targets (issue 12), each read from the rows
// of the run: a ratio of one row's figure to another's (SPSC 64 B copy and
// zero-copy against the bare ring, batch against the Go channel, round-trip
// p50 against the bare ring and the cache line, 56 B round-trip p50 against
// the bare ring's, p99 against the bare ring,
// block against the pipe, MPMC 8P8C against 1P1C and 1P1C against the bare
// ring, 1 MiB zero-copy against memcpy), or to the sum of two (the channel
// API's round trip against the copy API's plus a Go channel's: one
// goroutine hand-off is all a channel should add), or a figure against a
// bound (an idle consumer's CPU). Each is met, NOT met, or not measured
// when a row it reads did not run, with the reason when that row does not
// apply on this machine.
//
// Progress goes to standard error. The exit status is 0 when every row ran,
// whether or not the targets were met, 1 when a row failed (a peer process
// failed, a message was lost, reordered or resized) and 2 on a usage error.
// Rows that cannot run on this machine (a datagram larger than the socket
// buffer the kernel allows, 8P8C on fewer than 16 CPUs) are listed as not
// applicable with the reason, and left out of the JSON output; the table
// has a note under it for a row the machine has too few CPUs for.
//
// The harness measures Linux facilities (futexes, memfds, SEQPACKET
// sockets, forced socket buffers) and builds on Linux only.
package main
