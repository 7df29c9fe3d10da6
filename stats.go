package shmring

import "github.com/shmring/shmring/ring"

// Stats are one endpoint's counters: messages and bytes sent and received,
// waits on a full ring (FullWaits) and on an empty one (EmptyWaits), futex
// sleeps, wake-ups issued, and dead participants this endpoint reaped. They
// live in the segment, where the shmring command's stat reads them: in an
// MPMC endpoint's participant entry, in an SPSC role's stats line. Each
// endpoint counts in its own memory and flushes at waits, at Close, at
// Stats and every 1024 messages, one Store per changed counter to a line
// only it writes: no shared cache line is contended on the hot path.
type Stats ring.Stats
