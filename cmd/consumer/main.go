package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
	"github.com/shmring/shmring/shm"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	name   string
	size   int64
	wait   shmring.WaitStrategy
	n      int64 // stop after n messages; 0: read to the end of the stream
	quiet  bool
	remove bool
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.name, "ring", "", "ring `name`: a file in "+shm.Dir()+", or a file path if absolute or starting with ./ (required)")
	size := cli.Size(fs, 0, "data `bytes` of the ring ("+cli.SizeUnits+"): its size if this side creates it\n(default 1M), and the size an existing ring must have (default: any)")
	fs.Int64Var(&cfg.n, "n", 0, "stop after `N` messages and print the rate (0: read to the end of the stream)")
	fs.BoolVar(&cfg.quiet, "q", false, "do not print the messages")
	fs.BoolVar(&cfg.remove, "rm", false, "remove the ring when this consumer exits")
	wait := cli.Wait(fs)
	if code, ok := cli.Parse(fs, args, stdout); !ok {
		return code
	}
	cfg.size, cfg.wait = *size, *wait
	switch {
	case cfg.name == "":
		return cli.Usage(fs, "-ring is required")
	case cfg.n < 0:
		return cli.Usage(fs, "-n must not be negative")
	}

	err := consume(ctx, cfg, stdout)
	switch {
	case err == nil:
		return cli.ExitOK
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "consumer: interrupted")
		return cli.ExitInterrupted
	}
	fmt.Fprintf(stderr, "consumer: %v\n", err)
	return cli.ExitFailure
}

// consume opens the ring, reads it as cfg says, and closes (and with -rm
// removes) it again.
func consume(ctx context.Context, cfg config, stdout io.Writer) (err error) {
	r, err := shmring.OpenOrCreate(cfg.name, &shmring.Options{Size: cfg.size, Wait: cfg.wait})
	if err != nil {
		return err
	}
	defer func() {
		if cfg.remove {
			err = errors.Join(err, r.Unlink())
		}
		err = errors.Join(err, r.Close())
	}()
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()

	out := bufio.NewWriterSize(stdout, 64<<10)
	count, elapsed, err := read(ctx, c, make([]byte, r.MaxMessage()), cfg, out)
	if err == nil && cfg.n > 0 {
		fmt.Fprintf(out, "received %d messages in %.3fs: %.0f msgs/s\n",
			count, elapsed.Seconds(), float64(count)/max(elapsed.Seconds(), 1e-9))
	}
	if ferr := out.Flush(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("write standard output: %w", ferr))
	}
	return err
}

// read prints messages until the end of the stream or, with cfg.n, until
// cfg.n messages. It returns how many it read, and the time from the first
// message's arrival to the last one's.
func read(ctx context.Context, c *shmring.Consumer, buf []byte, cfg config, out *bufio.Writer) (int64, time.Duration, error) {
	var count int64
	var start time.Time
	for cfg.n == 0 || count < cfg.n {
		m, err := c.TryRecv(buf)
		if errors.Is(err, shmring.ErrEmpty) {
			// About to wait: show what arrived so far.
			if err := out.Flush(); err != nil {
				return count, 0, fmt.Errorf("write standard output: %w", err)
			}
			m, err = c.Recv(ctx, buf)
		}
		if errors.Is(err, io.EOF) {
			if cfg.n > 0 {
				return count, 0, fmt.Errorf("the stream ended after %d of %d messages", count, cfg.n)
			}
			break
		}
		if err != nil {
			return count, 0, err
		}
		if count == 0 {
			start = time.Now()
		}
		count++
		if !cfg.quiet {
			printMessage(out, buf[:m])
		}
	}
	return count, time.Since(start), nil
}

// printMessage writes msg as a line: as it is if it is printable text, in
// hexadecimal otherwise.
func printMessage(out *bufio.Writer, msg []byte) {
	if isText(msg) {
		out.Write(msg)
	} else {
		hex.NewEncoder(out).Write(msg)
	}
	out.WriteByte('\n')
}

// isText reports whether msg is valid UTF-8 made of printable characters and
// tabs.
func isText(msg []byte) bool {
	for len(msg) > 0 {
		c, n := utf8.DecodeRune(msg)
		if c == utf8.RuneError && n <= 1 || c != '\t' && !unicode.IsPrint(c) {
			return false
		}
		msg = msg[n:]
	}
	return true
}
