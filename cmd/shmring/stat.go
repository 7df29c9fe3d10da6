package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// refreshInterval is the period of stat -w; sampleInterval the period of
// its looks at the ring.
const (
	refreshInterval = time.Second
	sampleInterval  = 50 * time.Millisecond
)

// runStat shows a ring.
func runStat(ctx context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"It reads the ring without changing anything (the file is opened read-only, no lock is\n"+
			"taken). Shown: the file, capacity, head and tail (bytes released and published since\n"+
			"creation), depth (tail - head) and the messages in it, the stream (open, closed, or\n"+
			"aborted with its code), the producer and consumer (alive; dead: attached but its\n"+
			"process died; changing: attaching or detaching; none), the waiters announced on each condition, the wake-up counters (one\n"+
			"per wake-up, wrapping at 2^32) and the events.",
		"An mpmc ring shows its slots, enq and deq (positions claimed by producers and by\n"+
			"consumers since creation), depth (enq - deq slots) and the committed messages in it, and\n"+
			"one line per participant entry in use: its role (producer, consumer, or orphan: the\n"+
			"message of a dead consumer, waiting for another to adopt it), pid, state (alive; dead:\n"+
			"its process died, and the entry waits for a survivor to reap it), the position it claims\n"+
			"or holds, whether it sleeps, and its counters as it last flushed them (every 50 ms of a\n"+
			"wait, at close and every 1024 messages). Waiters count the entries asleep on each\n"+
			"condition.",
		"With -w it refreshes every second and adds rates over the last interval: MB/s in (tail)\n"+
			"and out (head), wake-ups/s (about the sleeps/s of each side), and msgs/s, estimated from\n"+
			"the bytes consumed and the mean record size seen so far (the ring keeps no message\n"+
			"counter); for an mpmc ring, msgs/s in and out, exact (enq and deq count messages). It\n"+
			"watches on across ends of the stream and new producers; while NAME does not exist, or\n"+
			"is not a ring it can read (being created, corrupt), it says \"waiting for NAME\" on\n"+
			"standard error and goes on when a ring is back. It ends only on SIGINT or SIGTERM, with\n"+
			"status 130.")
	asJSON := fs.Bool("json", false, "print one JSON object (with -w, one per line per refresh)")
	watch := fs.Bool("w", false, "refresh every second, with rates")
	name, code, ok := oneName(std, fs, args)
	if !ok {
		return code
	}
	if !*watch {
		info, err := shmring.Inspect(name)
		if err != nil {
			return cmd.fail(std, err)
		}
		if err := show(std.out, info, nil, *asJSON); err != nil {
			return cmd.fail(std, err)
		}
		return cli.ExitOK
	}
	return cmd.watch(ctx, name, *asJSON, std)
}

// watch is stat -w. It samples the ring every sampleInterval, so that the
// mean record size behind the msgs/s estimate sees records even in a ring
// that its consumer keeps nearly empty, and shows a sample every
// refreshInterval. It watches until a signal cancels ctx: across ends of the
// stream, producers that come and go, and the ring being removed and created
// again, saying on std.err what it waits for while there is no ring to show.
func (cmd *command) watch(ctx context.Context, name string, asJSON bool, std stdio) int {
	clearScreen := !asJSON && isTerminal(std.out)
	ticker := time.NewTicker(sampleInterval)
	defer ticker.Stop()
	var (
		m       meter
		shown   sample // the last sample shown of the ring as it is now
		printed bool   // a sample was shown
		waiting string // what was said on std.err about the ring, if anything
		ended   bool   // the stream was closed and drained at the last sample
	)
	say := func(s string) {
		if s != waiting {
			fmt.Fprintf(std.err, "shmring %s: %s\n", cmd.name, s)
		}
		waiting = s
	}
	for {
		info, err := shmring.Inspect(name)
		switch {
		case err == nil:
			waiting = "" // the ring is back: the next problem is said again
			cur := sample{info, time.Now()}
			m.observe(info)
			if shown.info == nil || cur.at.Sub(shown.at) >= refreshInterval-sampleInterval/2 {
				var r *rates
				switch {
				case clearScreen:
					fmt.Fprint(std.out, "\033[H\033[2J")
				case printed && !asJSON:
					fmt.Fprintln(std.out)
				}
				if shown.info != nil {
					r = m.rates(shown, cur)
				}
				if err := show(std.out, info, r, asJSON); err != nil {
					return cmd.fail(std, err)
				}
				shown, printed = cur, true
			}
			if end := info.Closed && info.Depth == 0; end != ended {
				if ended = end; end {
					fmt.Fprintf(std.err, "shmring %s: end of stream; watching for a new one\n", cmd.name)
				}
			}
		case errors.Is(err, os.ErrNotExist):
			say("waiting for " + name)
			m, shown, ended = meter{}, sample{}, false
		case errors.Is(err, shmring.ErrNotRing), errors.Is(err, shmring.ErrCorrupt), errors.Is(err, shmring.ErrVersion):
			// A ring being created, or one that a new one will replace.
			say(fmt.Sprintf("waiting for %s: %v", name, err))
			m, shown, ended = meter{}, sample{}, false
		default:
			return cmd.fail(std, err)
		}
		select {
		case <-ctx.Done():
			return cmd.interrupted(std)
		case <-ticker.C:
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// sample is one look at a ring.
type sample struct {
	info *shmring.Info
	at   time.Time
}

// meter turns successive samples into rates.
type meter struct {
	// Bytes and messages between head and tail in every settled sample so
	// far: their ratio is the mean record size, padding included, as in the
	// head's movement.
	bytes, msgs uint64
}

// rates are the rates of stat -w over the last interval.
type rates struct {
	IntervalS float64 `json:"interval_s"`
	// MsgsPerS is the consumers' rate: for an SPSC ring, estimated from the
	// bytes consumed and the mean record size, null until a sample held
	// messages; for an MPMC ring, exact (deq).
	MsgsPerS *float64 `json:"msgs_per_s"`
	// InMsgsPerS is the producers' rate of an MPMC ring (enq).
	InMsgsPerS  *float64 `json:"in_msgs_per_s,omitempty"`
	InMBPerS    float64  `json:"in_mb_per_s"`  // SPSC: published by the producer (tail), 10^6 bytes/s
	OutMBPerS   float64  `json:"out_mb_per_s"` // SPSC: released by the consumer (head)
	WakeupsPerS struct {
		Data  float64 `json:"data"`
		Space float64 `json:"space"`
	} `json:"wakeups_per_s"`
}

// observe adds info to the mean record size of an SPSC ring.
func (m *meter) observe(info *shmring.Info) {
	if info.MPMC == nil && info.Settled && info.Messages > 0 {
		m.bytes += uint64(info.Depth)
		m.msgs += uint64(info.Messages)
	}
}

// rates returns the rates from prev to cur, or nil when the positions went
// back or the kind changed (the ring was replaced by another of the same
// name).
func (m *meter) rates(prev, cur sample) *rates {
	p, c := prev.info, cur.info
	if (c.MPMC == nil) != (p.MPMC == nil) || (c.SPSC == nil) != (p.SPSC == nil) {
		return nil
	}
	dt := cur.at.Sub(prev.at).Seconds()
	if c.MPMC != nil {
		if c.MPMC.Deq < p.MPMC.Deq || c.MPMC.Enq < p.MPMC.Enq {
			return nil
		}
		in, out := float64(c.MPMC.Enq-p.MPMC.Enq)/dt, float64(c.MPMC.Deq-p.MPMC.Deq)/dt
		r := &rates{IntervalS: dt, MsgsPerS: &out, InMsgsPerS: &in}
		r.WakeupsPerS.Data = float64(c.Wakeups.Data-p.Wakeups.Data) / dt
		r.WakeupsPerS.Space = float64(c.Wakeups.Space-p.Wakeups.Space) / dt
		return r
	}
	cs, ps := c.SPSC, p.SPSC
	if cs.Head < ps.Head || cs.Tail < ps.Tail {
		return nil
	}
	out := float64(cs.Head - ps.Head)
	r := &rates{
		IntervalS: dt,
		InMBPerS:  float64(cs.Tail-ps.Tail) / dt / 1e6,
		OutMBPerS: out / dt / 1e6,
	}
	// The counters wrap: the difference of uint32s is right across a wrap.
	r.WakeupsPerS.Data = float64(c.Wakeups.Data-p.Wakeups.Data) / dt
	r.WakeupsPerS.Space = float64(c.Wakeups.Space-p.Wakeups.Space) / dt
	if m.msgs > 0 {
		v := out * float64(m.msgs) / float64(m.bytes) / dt
		r.MsgsPerS = &v
	}
	return r
}

// statJSON is the JSON object of stat.
type statJSON struct {
	*shmring.Info
	Mode  string `json:"mode"` // octal, such as "0600"
	Rates *rates `json:"rates,omitempty"`
}

// newStatJSON returns the JSON object of info and r (nil for none).
func newStatJSON(info *shmring.Info, r *rates) *statJSON {
	return &statJSON{Info: info, Mode: fmt.Sprintf("%04o", info.Mode), Rates: r}
}

// show writes info (and r, if any) as text or as one JSON object.
func show(w io.Writer, info *shmring.Info, r *rates, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(newStatJSON(info, r))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	line := func(key, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", key, fmt.Sprintf(format, args...))
	}
	stream := "open"
	switch {
	case info.Aborted:
		stream = fmt.Sprintf("aborted (code %d)", info.AbortCode)
	case info.Closed:
		stream = "closed"
	}
	line("ring", "%s", info.Name)
	line("kind", "%s", info.Kind)
	line("file", "%d bytes, mode %04o", info.FileSize, info.Mode)
	if mp := info.MPMC; mp != nil {
		line("capacity", "%d slots of %d bytes (%d bytes), largest message %d bytes",
			mp.Slots, mp.SlotSize, info.Capacity, info.MaxMessage)
		if mp.Lanes > 1 {
			line("lanes", "%d of %d slots each (enq and deq below are their sums)", mp.Lanes, mp.Slots/mp.Lanes)
		}
		line("enq", "%d", mp.Enq)
		line("deq", "%d", mp.Deq)
		line("depth", "%d slots, %s messages", info.Depth, messages(info))
		line("stream", "%s", stream)
		line("participants", "%d of %d entries in use", len(mp.Participants), mp.Entries)
		for _, p := range mp.Participants {
			line(fmt.Sprintf("  entry %d", p.Entry), "%s", participant(p))
		}
		line("orphans", "%s", orphans(mp.Orphans))
		line("waiters", "data %d, space %d (entries asleep)", info.Waiters.Data, info.Waiters.Space)
	} else {
		line("capacity", "%d bytes, largest message %d bytes", info.Capacity, info.MaxMessage)
		line("head", "%d", info.SPSC.Head)
		line("tail", "%d", info.SPSC.Tail)
		line("depth", "%d bytes, %s messages", info.Depth, messages(info))
		line("stream", "%s", stream)
		line("producer", "%s", endpointState(info.SPSC.Producer))
		line("consumer", "%s", endpointState(info.SPSC.Consumer))
		line("waiters", "data %d, space %d", info.Waiters.Data, info.Waiters.Space)
	}
	line("wake-ups", "data %d, space %d", info.Wakeups.Data, info.Wakeups.Space)
	line("events", "%s", events(info))
	switch {
	case r != nil && r.InMsgsPerS != nil:
		line("rates", "in %.0f msgs/s, out %.0f msgs/s, wake-ups data %.1f/s, space %.1f/s",
			*r.InMsgsPerS, *r.MsgsPerS, r.WakeupsPerS.Data, r.WakeupsPerS.Space)
	case r != nil:
		msgs := "-"
		if r.MsgsPerS != nil {
			msgs = fmt.Sprintf("~%.0f", *r.MsgsPerS)
		}
		line("rates", "%s msgs/s, in %.3f MB/s, out %.3f MB/s, wake-ups data %.1f/s, space %.1f/s",
			msgs, r.InMBPerS, r.OutMBPerS, r.WakeupsPerS.Data, r.WakeupsPerS.Space)
	}
	return tw.Flush()
}

// endpointState describes an SPSC endpoint: its state, after the process id
// it recorded when one is attached.
func endpointState(e shmring.EndpointInfo) string {
	if e.Pid == 0 {
		return e.String()
	}
	return fmt.Sprintf("pid %d, %s", e.Pid, e)
}

// participant describes an MPMC participant entry on one line: role, pid,
// state, the position it holds, its sleeps and its counters.
func participant(p shmring.ParticipantInfo) string {
	s := fmt.Sprintf("%s, pid %d, %s", p.Role, p.Pid, p.State())
	switch {
	case p.Intent != nil && p.IntentEnd != nil && *p.IntentEnd > *p.Intent+1:
		s += fmt.Sprintf(", holds positions %d to %d", *p.Intent, *p.IntentEnd-1)
	case p.Intent != nil:
		s += fmt.Sprintf(", holds position %d", *p.Intent)
	}
	switch {
	case p.SleepsForData && p.SleepsForSpace:
		s += ", asleep for data and space"
	case p.SleepsForData:
		s += ", asleep for data"
	case p.SleepsForSpace:
		s += ", asleep for space"
	}
	st := p.Stats
	n := func(v uint64, word string) string { return plural(int(v), word) }
	switch p.Role {
	case "producer":
		s += fmt.Sprintf("; sent %s (%s), %s for room", n(st.MsgsSent, "message"), n(st.BytesSent, "byte"), n(st.FullWaits, "wait"))
	case "consumer":
		s += fmt.Sprintf("; received %s (%s), %s for data", n(st.MsgsReceived, "message"), n(st.BytesReceived, "byte"), n(st.EmptyWaits, "wait"))
	}
	if p.Role != "orphan" {
		s += fmt.Sprintf(", %s, %s, %d reaped", n(st.Sleeps, "sleep"), n(st.Wakes, "wake-up"), st.Reaped)
	}
	return s
}

// orphans lists the orphan entries of an MPMC ring.
func orphans(entries []int) string {
	if len(entries) == 0 {
		return "none"
	}
	s := make([]string, len(entries))
	for i, e := range entries {
		s[i] = fmt.Sprint(e)
	}
	return "entries " + strings.Join(s, ", ")
}

// events describes the events of info: which are set, and their waiters.
func events(info *shmring.Info) string {
	var set, waiting []string
	for i, ev := range info.Events {
		if ev.Set {
			set = append(set, fmt.Sprint(i))
		}
		if ev.Waiters != 0 {
			waiting = append(waiting, fmt.Sprintf("%d on %d", ev.Waiters, i))
		}
	}
	s := "none set"
	if len(set) > 0 {
		s = "set: " + strings.Join(set, " ")
	}
	if len(waiting) > 0 {
		s += "; waiters: " + strings.Join(waiting, ", ")
	}
	return s
}
