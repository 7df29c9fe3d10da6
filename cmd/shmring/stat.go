package main

import (
	"context"
	"encoding/json"
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
			"creation), depth (tail - head) and the messages in it, the stream (open or closed), the\n"+
			"producer and consumer (alive; dead: attached but its process died; changing: attaching\n"+
			"or detaching; none), the waiters announced on each condition, the wake-up counters (one\n"+
			"per wake-up, wrapping at 2^32) and the events.",
		"With -w it refreshes every second and adds rates over the last interval: MB/s in (tail)\n"+
			"and out (head), wake-ups/s (about the sleeps/s of each side), and msgs/s, estimated from\n"+
			"the bytes consumed and the mean record size seen so far (the ring keeps no message\n"+
			"counter). It ends with status 0 on SIGINT or SIGTERM, or once the stream is closed and\n"+
			"drained.")
	asJSON := fs.Bool("json", false, "print one JSON object (with -w, one per line per refresh)")
	watch := fs.Bool("w", false, "refresh every second, with rates")
	name, code, ok := oneName(fs, args)
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
// refreshInterval.
func (cmd *command) watch(ctx context.Context, name string, asJSON bool, std stdio) int {
	clearScreen := !asJSON && isTerminal(std.out)
	ticker := time.NewTicker(sampleInterval)
	defer ticker.Stop()
	var (
		m     meter
		shown sample // the last sample shown
	)
	for {
		info, err := shmring.Inspect(name)
		if err != nil {
			return cmd.fail(std, err)
		}
		cur := sample{info, time.Now()}
		m.observe(info)
		end := info.Closed && info.Depth == 0
		if first := shown.info == nil; first || end || cur.at.Sub(shown.at) >= refreshInterval-sampleInterval/2 {
			var r *rates
			switch {
			case clearScreen:
				fmt.Fprint(std.out, "\033[H\033[2J")
			case !first && !asJSON:
				fmt.Fprintln(std.out)
			}
			if !first {
				r = m.rates(shown, cur)
			}
			if err := show(std.out, info, r, asJSON); err != nil {
				return cmd.fail(std, err)
			}
			shown = cur
		}
		if end {
			fmt.Fprintf(std.err, "shmring %s: end of stream\n", cmd.name)
			return cli.ExitOK
		}
		select {
		case <-ctx.Done():
			return cli.ExitOK
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
	// MsgsPerS is estimated from the bytes consumed and the mean record
	// size; null until a sample held messages.
	MsgsPerS    *float64 `json:"msgs_per_s"`
	InMBPerS    float64  `json:"in_mb_per_s"`  // published by the producer (tail), 10^6 bytes/s
	OutMBPerS   float64  `json:"out_mb_per_s"` // released by the consumer (head)
	WakeupsPerS struct {
		Data  float64 `json:"data"`
		Space float64 `json:"space"`
	} `json:"wakeups_per_s"`
}

// observe adds info to the mean record size.
func (m *meter) observe(info *shmring.Info) {
	if info.Settled && info.Messages > 0 {
		m.bytes += uint64(info.Depth)
		m.msgs += uint64(info.Messages)
	}
}

// rates returns the rates from prev to cur, or nil when the positions went
// back (the ring was replaced by another of the same name).
func (m *meter) rates(prev, cur sample) *rates {
	p, c := prev.info, cur.info
	if c.Head < p.Head || c.Tail < p.Tail {
		return nil
	}
	dt := cur.at.Sub(prev.at).Seconds()
	out := float64(c.Head - p.Head)
	r := &rates{
		IntervalS: dt,
		InMBPerS:  float64(c.Tail-p.Tail) / dt / 1e6,
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

// show writes info (and r, if any) as text or as one JSON object.
func show(w io.Writer, info *shmring.Info, r *rates, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(statJSON{Info: info, Mode: fmt.Sprintf("%04o", info.Mode), Rates: r})
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	line := func(key, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", key, fmt.Sprintf(format, args...))
	}
	stream := "open"
	if info.Closed {
		stream = "closed"
	}
	line("ring", "%s", info.Name)
	line("kind", "%s", info.Kind)
	line("file", "%d bytes, mode %04o", info.FileSize, info.Mode)
	line("capacity", "%d bytes, largest message %d bytes", info.Capacity, info.MaxMessage)
	line("head", "%d", info.Head)
	line("tail", "%d", info.Tail)
	line("depth", "%d bytes, %s messages", info.Depth, messages(info))
	line("stream", "%s", stream)
	line("producer", "%s", info.Producer)
	line("consumer", "%s", info.Consumer)
	line("waiters", "data %d, space %d", info.Waiters.Data, info.Waiters.Space)
	line("wake-ups", "data %d, space %d", info.Wakeups.Data, info.Wakeups.Space)
	line("events", "%s", events(info))
	if r != nil {
		msgs := "-"
		if r.MsgsPerS != nil {
			msgs = fmt.Sprintf("~%.0f", *r.MsgsPerS)
		}
		line("rates", "%s msgs/s, in %.3f MB/s, out %.3f MB/s, wake-ups data %.1f/s, space %.1f/s",
			msgs, r.InMBPerS, r.OutMBPerS, r.WakeupsPerS.Data, r.WakeupsPerS.Space)
	}
	return tw.Flush()
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
