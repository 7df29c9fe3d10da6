package shmring

// Stats are one endpoint's counters. They live in the segment, where the
// shmring command's stat reads them: in an MPMC endpoint's participant entry,
// in an SPSC role's stats line. Each endpoint counts in its own memory and
// flushes every 50 ms of a wait (at its look at the peer), at Close, at Stats
// and every 1024 messages, one Store per changed counter to a line only it
// writes: no shared cache line is contended on the hot path, and a short
// wait stores nothing. The JSON names are those of shmring stat -json.
//
// Stats has the fields of ring.Stats, in the same order, so that one converts
// to the other.
type Stats struct {
	// MsgsSent counts the messages this producer committed (an MPMC skip
	// record, left by a producer that died mid-message, is not counted).
	MsgsSent uint64 `json:"msgs_sent"`
	// BytesSent counts the payload bytes of those messages.
	BytesSent uint64 `json:"bytes_sent"`
	// MsgsReceived counts the messages this consumer released (read and
	// done with; skip records are not counted).
	MsgsReceived uint64 `json:"msgs_received"`
	// BytesReceived counts the payload bytes of those messages.
	BytesReceived uint64 `json:"bytes_received"`
	// FullWaits counts the calls that found the ring full and waited for
	// room (a TrySend that returns ErrFull does not wait).
	FullWaits uint64 `json:"full_waits"`
	// EmptyWaits counts the calls that found the ring empty and waited for a
	// message.
	EmptyWaits uint64 `json:"empty_waits"`
	// Sleeps counts the futex (or semaphore) sleeps of those waits: a wait
	// that ended while spinning has none, a long one several.
	Sleeps uint64 `json:"sleeps"`
	// Wakes counts the wake-ups this endpoint issued to a sleeping peer: a
	// side that finds nobody asleep issues none.
	Wakes uint64 `json:"wakes"`
	// Reaped counts the dead MPMC participants this endpoint reaped.
	Reaped uint64 `json:"reaped"`
}
