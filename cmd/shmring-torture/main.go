package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/shmring/shmring/cmd/internal/cli"
)

func main() {
	if s, ok := os.LookupEnv(participantEnv); ok {
		// Ctrl-C reaches the whole process group: the parent ends the
		// participants.
		signal.Ignore(os.Interrupt)
		os.Exit(participantMain(s))
	}
	ctx, stop := cli.SignalContext(context.Background())
	code := parentMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is what a run needs.
type config struct {
	duration   time.Duration
	seed       uint64
	round      int // the first round's number
	kinds      []string
	maxSize    int64
	bound      time.Duration
	closeRaces bool
	poll       bool
	tally      time.Duration
	verbose    bool
	exe        string // the participants' executable: this program
}

// parentMain parses the command line, runs the rounds and returns the exit
// status.
func parentMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shmring-torture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.DurationVar(&cfg.duration, "duration", time.Minute, "how long to run rounds")
	fs.Uint64Var(&cfg.seed, "seed", 0, "`seed` of every random choice (0: from the clock); printed at the start")
	fs.IntVar(&cfg.round, "round", 1, "number of the first `round`: with -seed, replays a reported round's parameters")
	kind := fs.String("kind", "both", "ring `kind`: spsc, mpmc or both")
	maxSize := &sizeValue{n: 64 << 20}
	fs.Var(maxSize, "maxsize", "largest ring `size` (K, M, G suffixes; at least 4K)")
	fs.DurationVar(&cfg.bound, "bound", 5*time.Second, "the longest any call or round phase may wait")
	fs.BoolVar(&cfg.closeRaces, "close-races", true, "let participants close their endpoint or ring under a call")
	fs.BoolVar(&cfg.poll, "poll", true, "let some consumers poll with TryRecv alone, never waiting")
	fs.DurationVar(&cfg.tally, "tally", 5*time.Second, "`interval` between two tally lines")
	fs.BoolVar(&cfg.verbose, "v", false, "print each round's parameters and outcome, and how each participant ended")
	if code, ok := cli.Parse(fs, args, stdout); !ok {
		return code
	}
	switch *kind {
	case "both":
		cfg.kinds = []string{"spsc", "mpmc"}
	case "spsc", "mpmc":
		cfg.kinds = []string{*kind}
	default:
		return cli.Usage(fs, "-kind must be spsc, mpmc or both, not %q", *kind)
	}
	cfg.maxSize = maxSize.n
	switch {
	case cfg.duration <= 0:
		return cli.Usage(fs, "-duration must be positive")
	case cfg.maxSize < minSize:
		return cli.Usage(fs, "-maxsize must be at least 4K")
	case cfg.bound <= 0:
		return cli.Usage(fs, "-bound must be positive")
	case cfg.tally <= 0:
		return cli.Usage(fs, "-tally must be positive")
	case cfg.round < 1:
		return cli.Usage(fs, "-round must be at least 1")
	}
	if cfg.seed == 0 {
		cfg.seed = uint64(time.Now().UnixNano())
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "shmring-torture: %v\n", err)
		return cli.ExitFailure
	}
	cfg.exe = exe

	t := &torture{cfg: cfg, stdout: stdout, stderr: stderr}
	fmt.Fprintf(stdout, "shmring-torture: seed=%d duration=%v kind=%s maxsize=%s bound=%v close-races=%v poll=%v\n",
		cfg.seed, cfg.duration, *kind, maxSize, cfg.bound, cfg.closeRaces, cfg.poll)
	err = t.run(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(stdout, "shmring-torture: interrupted: %v\n", &t.tally)
		return cli.ExitInterrupted
	case err != nil:
		fmt.Fprintf(stderr, "shmring-torture: %v\n", err)
		fmt.Fprintf(stdout, "shmring-torture: FAILED: %v\n", &t.tally)
		return cli.ExitFailure
	case t.tally.violations > 0:
		fmt.Fprintf(stdout, "shmring-torture: FAILED: %v\n", &t.tally)
		fmt.Fprintf(stderr, "shmring-torture: %d violations; replay the first with: shmring-torture -seed %d -round %d -kind %s -maxsize %s -bound %v -close-races=%v -poll=%v\n",
			t.tally.violations, cfg.seed, t.firstBad, *kind, maxSize, cfg.bound, cfg.closeRaces, cfg.poll)
		return cli.ExitFailure
	}
	fmt.Fprintf(stdout, "shmring-torture: ok: %v\n", &t.tally)
	return cli.ExitOK
}

// minSize is the smallest ring.
const minSize = 4 << 10

// sizeValue is a -maxsize flag: a byte count with an optional K, M or G
// suffix, printed the same way.
type sizeValue struct{ n int64 }

func (s *sizeValue) String() string { return formatSize(s.n) }

func (s *sizeValue) Set(v string) error {
	n, err := cli.ParseSize(v)
	if err != nil {
		return err
	}
	s.n = n
	return nil
}

// formatSize writes n with the largest suffix that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		shift  int
		suffix string
	}{{30, "G"}, {20, "M"}, {10, "K"}} {
		if n >= 1<<u.shift && n&(1<<u.shift-1) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.suffix)
		}
	}
	return fmt.Sprint(n)
}

// log2 returns the base-2 logarithm of n, rounded down.
func log2(n int64) int { return bits.Len64(uint64(n)) - 1 }

// tally is what the run has seen so far.
type tally struct {
	elapsed      time.Duration
	rounds       int
	msgs         uint64
	kills        int
	stops        int
	reaps        uint64
	lostWakeups  uint64
	cancels      int
	peerDead     int
	closeRaces   int
	participants int
	afterDeath   time.Duration // the longest wait that a death was under
	longestWait  time.Duration
	violations   int
}

func (t *tally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "t=%v rounds=%d msgs=%d kills=%d stops=%d reaps=%d lost-wakeups=%d longest-wait-after-death=%v",
		t.elapsed.Round(100*time.Millisecond), t.rounds, t.msgs, t.kills, t.stops, t.reaps, t.lostWakeups,
		t.afterDeath.Round(time.Millisecond))
	fmt.Fprintf(&b, " longest-wait=%v cancels=%d peer-dead=%d close-races=%d participants=%d violations=%d",
		t.longestWait.Round(time.Millisecond), t.cancels, t.peerDead, t.closeRaces, t.participants, t.violations)
	return b.String()
}
