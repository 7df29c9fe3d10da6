// Package metrics turns what a ring reports about itself (shmring.Info) into
// the figures a service exports: depth, endpoints alive and dead, and each
// role's counters. Var publishes them with the standard library's expvar;
// package metrics/prom is a Prometheus collector over the same Snapshot.
//
// A Source is a ring the service has open (*shmring.Ring, anonymous ones
// included) or the name of one it does not (Named, read with shmring.Inspect
// like the shmring command's stat). Reading never stops anyone: the figures
// are read one after the other from a ring in use, and the counters are as
// each endpoint last flushed them (every 50 ms of its waits, at its Close,
// every 1024 messages and each call of its Stats).
package metrics

import (
	"expvar"

	"github.com/shmring/shmring"
)

// Source is a ring to read: *shmring.Ring is one, and Named gives one for a
// ring by name.
type Source interface {
	Info() (*shmring.Info, error)
}

// Named returns a Source that reads the named ring with shmring.Inspect at
// every read, without opening it for use: a ring another process owns, or
// one that may not exist yet (a read fails until it does). Its Name method
// returns name.
func Named(name string) Source { return named(name) }

type named string

func (n named) Info() (*shmring.Info, error) { return shmring.Inspect(string(n)) }
func (n named) Name() string                 { return string(n) }

// Role is one side of a ring: its endpoints alive and dead, and the sum of
// their counters.
type Role struct {
	// Alive counts the endpoints of the role whose process holds them: 0 or
	// 1 in an SPSC ring.
	Alive int `json:"alive"`
	// Dead counts the MPMC participant entries of the role whose process
	// died and that nobody has reaped yet; always 0 in an SPSC ring (a dead
	// SPSC endpoint is simply not alive).
	Dead int `json:"dead"`
	// Stats are the sums of the role's counters: in an SPSC ring, the role's
	// own; in an MPMC ring, those of every participant entry of the role in
	// the table (an entry that is freed takes its counters with it, so a sum
	// may go down: Prometheus reads that as a counter reset).
	Stats shmring.Stats `json:"stats"`
}

// Snapshot is what one read of a ring found.
type Snapshot struct {
	Ring       string `json:"ring"`        // the ring's name (Info.Name)
	Kind       string `json:"kind"`        // "spsc" or "mpmc"
	Capacity   int    `json:"capacity"`    // bytes of the data area
	MaxMessage int    `json:"max_message"` // bytes of the largest message
	// Depth is bytes committed and not yet released (SPSC), or slots
	// claimed by producers and not yet by consumers (MPMC).
	Depth int `json:"depth"`
	// Messages counts the messages in Depth.
	Messages int  `json:"messages"`
	Closed   bool `json:"closed"` // the stream has ended
	// Orphans counts the messages of dead MPMC consumers waiting for
	// adoption.
	Orphans   int  `json:"orphans"`
	Producers Role `json:"producers"`
	Consumers Role `json:"consumers"`
}

// Read reads s once.
func Read(s Source) (Snapshot, error) {
	info, err := s.Info()
	if err != nil {
		return Snapshot{}, err
	}
	return FromInfo(info), nil
}

// FromInfo flattens info into a Snapshot.
func FromInfo(info *shmring.Info) Snapshot {
	snap := Snapshot{
		Ring:       info.Name,
		Kind:       info.Kind,
		Capacity:   info.Capacity,
		MaxMessage: info.MaxMessage,
		Depth:      info.Depth,
		Messages:   info.Messages,
		Closed:     info.Closed,
	}
	if sp := info.SPSC; sp != nil {
		snap.Producers = Role{Alive: b2i(sp.Producer.Alive), Stats: sp.Producer.Stats}
		snap.Consumers = Role{Alive: b2i(sp.Consumer.Alive), Stats: sp.Consumer.Stats}
	}
	if mp := info.MPMC; mp != nil {
		for _, p := range mp.Participants {
			var r *Role
			switch p.Role {
			case "producer":
				r = &snap.Producers
			case "consumer":
				r = &snap.Consumers
			case "orphan":
				snap.Orphans++
				continue
			default:
				continue
			}
			if p.Alive {
				r.Alive++
			} else {
				r.Dead++
			}
			r.Stats = add(r.Stats, p.Stats)
		}
	}
	return snap
}

// Var returns an expvar.Var whose value is a Snapshot of s, read each time
// the variable is read (for example at every GET of /debug/vars), or
// {"error": "..."} when the read fails. Publish it under a name of your
// choice: expvar.Publish("jobs_ring", metrics.Var(r)).
func Var(s Source) expvar.Var {
	return expvar.Func(func() any {
		snap, err := Read(s)
		if err != nil {
			return map[string]string{"error": err.Error()}
		}
		return snap
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// add returns the field-by-field sum of a and b.
func add(a, b shmring.Stats) shmring.Stats {
	return shmring.Stats{
		MsgsSent:      a.MsgsSent + b.MsgsSent,
		BytesSent:     a.BytesSent + b.BytesSent,
		MsgsReceived:  a.MsgsReceived + b.MsgsReceived,
		BytesReceived: a.BytesReceived + b.BytesReceived,
		FullWaits:     a.FullWaits + b.FullWaits,
		EmptyWaits:    a.EmptyWaits + b.EmptyWaits,
		Sleeps:        a.Sleeps + b.Sleeps,
		Wakes:         a.Wakes + b.Wakes,
		Reaped:        a.Reaped + b.Reaped,
	}
}
