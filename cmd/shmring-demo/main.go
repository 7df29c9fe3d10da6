package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// workerEnv marks a worker process; its value is the wait strategy.
const workerEnv = "SHMRING_DEMO_WORKER"

// watchdog bounds a whole run, so that a bug cannot hang it forever.
const watchdog = 5 * time.Minute

func main() {
	if wait, ok := os.LookupEnv(workerEnv); ok {
		// Ctrl-C reaches the whole process group: leave the shutdown of
		// the workers to the parent.
		signal.Ignore(os.Interrupt)
		os.Exit(workerMain(context.Background(), wait, os.Stderr))
	}
	ctx, stop := cli.SignalContext(context.Background())
	code := parentMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is what a parent run needs.
type config struct {
	items   uint64
	workers int
	size    int64
	wait    shmring.WaitStrategy
	verbose bool
	exe     string // the worker executable: this program
}

// parentMain parses the command line, runs the parent and returns the exit
// status.
func parentMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shmring-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.Uint64Var(&cfg.items, "n", 1000000, "number of `items` to process")
	fs.IntVar(&cfg.workers, "workers", 2, "number of worker `processes`")
	size := cli.Size(fs, 1<<20, "data `bytes` of each ring ("+cli.SizeUnits+")")
	wait := cli.Wait(fs)
	fs.BoolVar(&cfg.verbose, "v", false, "print progress on standard error")
	if code, ok := cli.Parse(fs, args, stdout); !ok {
		return code
	}
	cfg.size, cfg.wait = *size, *wait
	if cfg.workers < 1 || cfg.workers > maxWorkers {
		return cli.Usage(fs, "-workers must be between 1 and %d", maxWorkers)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "shmring-demo: %v\n", err)
		return cli.ExitFailure
	}
	cfg.exe = exe

	res, err := run(ctx, cfg, stderr)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "shmring-demo: interrupted")
		return cli.ExitInterrupted
	default:
		fmt.Fprintf(stderr, "shmring-demo: %v\n", err)
		return cli.ExitFailure
	}
	if cfg.verbose {
		fmt.Fprintf(stderr, "shmring-demo: %d ticks of other work while collecting\n", res.ticks)
	}
	fmt.Fprintln(stdout, res)
	return cli.ExitOK
}
