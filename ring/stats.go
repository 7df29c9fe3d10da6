package ring

import "sync/atomic"

// Stats are the counters of one endpoint, in the order they are stored in
// shared memory (an MPMC participant entry, or an SPSC role's stats line).
// Only their endpoint writes them, with one Store per changed counter at a
// flush, on a line no other process writes; readers (the shmring command's
// stat) load them.
type Stats struct {
	MsgsSent      uint64 // messages committed (skip records excluded)
	BytesSent     uint64 // payload bytes committed
	MsgsReceived  uint64 // messages released (skip records excluded)
	BytesReceived uint64 // payload bytes released
	FullWaits     uint64 // waits for room, counted by the caller
	EmptyWaits    uint64 // waits for a message, counted by the caller
	Sleeps        uint64 // futex sleeps, counted by the caller
	Wakes         uint64 // futex wakes issued, counted by the caller
	Reaped        uint64 // dead participants reaped, counted by the caller
}

// NumStats is the number of counters in Stats.
const NumStats = 9

// array returns s in the order of the stats words.
func (s *Stats) array() [NumStats]uint64 {
	return [NumStats]uint64{s.MsgsSent, s.BytesSent, s.MsgsReceived, s.BytesReceived,
		s.FullWaits, s.EmptyWaits, s.Sleeps, s.Wakes, s.Reaped}
}

// LoadStats returns the counters last flushed to words, a snapshot that may
// mix two flushes.
func LoadStats(words *[NumStats]*atomic.Uint64) Stats {
	var v [NumStats]uint64
	for k, w := range words {
		v[k] = w.Load()
	}
	return Stats{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]}
}

// counters are an endpoint's private Stats and what it flushed last.
type counters struct {
	local   Stats
	flushed [NumStats]uint64
}

// flush stores the counters that changed since the last flush into words,
// one Store each, on a line that no other process writes.
func (c *counters) flush(words *[NumStats]*atomic.Uint64) {
	for k, v := range c.local.array() {
		if v != c.flushed[k] {
			words[k].Store(v)
			c.flushed[k] = v
		}
	}
}
