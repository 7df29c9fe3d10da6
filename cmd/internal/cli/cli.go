package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/ring"
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
// must not go on: ExitOK for -h (or -help), whose usage goes to stdout, and
// ExitUsage for bad flags or extra arguments, whose message and usage go to
// fs.Output(), the command's standard error. ok reports whether the command
// goes on.
func Parse(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	usage := fs.Usage
	fs.Usage = func() {} // the flag package's call; the usage is printed below
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			stderr := fs.Output()
			fs.SetOutput(stdout)
			fs.Usage()
			fs.SetOutput(stderr)
			return ExitOK, false
		}
		fs.Usage()
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

// SizeUnits describes the units ParseSize accepts, for flag usage texts.
const SizeUnits = "K, M, G, KiB, MiB, GiB: powers of 1024; KB, MB, GB: powers of 1000; any case"

// Size defines a -size flag on fs: a ring's data size in bytes, as ParseSize
// reads it, from 1 byte to the largest ring (4 GiB). It returns where the
// value is stored.
func Size(fs *flag.FlagSet, def int64, usage string) *int64 {
	return Bytes(fs, "size", def, 1, ring.MaxCapacity, usage)
}

// Bytes defines a flag name on fs whose value is a byte count, as ParseSize
// reads it, from lo to hi; a value outside them is refused when the flags are
// parsed, which makes it a usage error. It returns where the value is stored.
func Bytes(fs *flag.FlagSet, name string, def, lo, hi int64, usage string) *int64 {
	b := &bytesFlag{n: def, lo: lo, hi: hi}
	fs.Var(b, name, usage)
	return &b.n
}

type bytesFlag struct{ n, lo, hi int64 }

func (b *bytesFlag) String() string { return strconv.FormatInt(b.n, 10) }

func (b *bytesFlag) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	if n < b.lo || n > b.hi {
		return fmt.Errorf("size %q is %d bytes, outside %d to %d", v, n, b.lo, b.hi)
	}
	b.n = n
	return nil
}

// sizeUnits are the unit suffixes of ParseSize, lower case, and the power
// each multiplies by.
var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
}

// ParseSize parses a positive byte count: decimal digits with an optional
// unit, in any case: K, M, G, KiB, MiB, GiB multiply by powers of 1024 (64K
// and 64KiB are 65536), KB, MB, GB by powers of 1000 (1MB is 1000000). It
// refuses anything else, zero, and counts beyond 2^62.
func ParseSize(v string) (int64, error) {
	digits, factor := v, int64(1)
	lower := strings.ToLower(v)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.suffix) {
			digits, factor = v[:len(v)-len(u.suffix)], u.factor
			break
		}
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil || n == 0 || n > (1<<62)/uint64(factor) {
		return 0, fmt.Errorf("bad size %q (want a positive number of bytes up to 2^62, optionally with a unit: %s)", v, SizeUnits)
	}
	return int64(n) * factor, nil
}
