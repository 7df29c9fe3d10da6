package shmring

import "github.com/shmring/shmring/ring"

// Stats are one endpoint's counters: messages and bytes sent and received,
// waits on a full ring (FullWaits) and on an empty one (EmptyWaits), futex
// sleeps, wake-ups issued, and dead participants this endpoint reaped. An
// MPMC endpoint keeps them in its participant entry in the segment (flushed
// at waits, at Close and every 1024 messages, written only by their owner,
// on a cache line of their own), where the shmring command's stat reads
// them; an SPSC endpoint keeps them in its process.
type Stats ring.Stats
