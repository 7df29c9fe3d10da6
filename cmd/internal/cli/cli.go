package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/shmring/shmring"
)

// Exit codes of the shmring commands.
const (
	// ExitOK: the command did its work.
	ExitOK = 0
	// ExitFailure: the ring could not be opened or used, or the data was
	// wrong.
	ExitFailure = 1
	// ExitUsage: bad flags or arguments.
	ExitUsage = 2
	// ExitInterrupted: SIGINT or SIGTERM stopped the command, which closed
	// its endpoints first (the shell's 128+SIGINT).
	ExitInterrupted = 130
)

// SignalContext returns a context that SIGINT and SIGTERM cancel. Calling
// stop restores the default handling of the signals.
func SignalContext(parent context.Context) (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// Parse parses args with fs and returns the exit code to use when the command
// must not go on: ExitOK for -h, ExitUsage for bad flags or extra
// arguments. ok reports whether the command goes on.
func Parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return ExitUsage, false
	}
	return ExitOK, true
}

// Usage reports a usage error on fs's output and returns ExitUsage.
func Usage(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return ExitUsage
}

// Wait defines a -wait flag on fs (adaptive, spin or block; default
// adaptive) and returns where its value is stored.
func Wait(fs *flag.FlagSet) *shmring.WaitStrategy {
	w := new(waitFlag)
	fs.Var(w, "wait", "wait `strategy`: adaptive, spin or block (default adaptive)")
	return &w.s
}

type waitFlag struct{ s shmring.WaitStrategy }

func (w *waitFlag) String() string { return w.s.String() }

func (w *waitFlag) Set(v string) error {
	s, err := ParseWait(v)
	if err != nil {
		return err
	}
	w.s = s
	return nil
}

// ParseWait returns the wait strategy named s: adaptive, spin or block.
func ParseWait(s string) (shmring.WaitStrategy, error) {
	for _, w := range []shmring.WaitStrategy{shmring.Adaptive, shmring.Spin, shmring.Block} {
		if s == w.String() {
			return w, nil
		}
	}
	return 0, fmt.Errorf("unknown wait strategy %q (want adaptive, spin or block)", s)
}

// Size defines a -size flag on fs: a ring size in bytes, with an optional K,
// M or G suffix (powers of 1024). It returns where the value is stored.
func Size(fs *flag.FlagSet, def int64, usage string) *int64 {
	s := &sizeFlag{n: def}
	fs.Var(s, "size", usage)
	return &s.n
}

type sizeFlag struct{ n int64 }

func (s *sizeFlag) String() string { return strconv.FormatInt(s.n, 10) }

func (s *sizeFlag) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	s.n = n
	return nil
}

// ParseSize parses a positive byte count with an optional K, M or G suffix
// (powers of 1024), such as 4096, 64K or 1M.
func ParseSize(v string) (int64, error) {
	shift := 0
	switch {
	case strings.HasSuffix(v, "K"):
		shift = 10
	case strings.HasSuffix(v, "M"):
		shift = 20
	case strings.HasSuffix(v, "G"):
		shift = 30
	}
	digits := v
	if shift != 0 {
		digits = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("bad size %q (want a positive number of bytes, optionally with K, M or G)", v)
	}
	return n << shift, nil
}
