package main

import (
	"context"
	"errors"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// runClose ends a ring's stream.
func runClose(_ context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"The consumer reads what was committed, then sees the end of the stream, as when the\n"+
			"producer closes. On an spsc ring it is meant for a ring whose producer is gone: an\n"+
			"attached producer goes on sending, and its consumer may stop before reading it; a\n"+
			"producer that attaches later reopens the stream.",
		"On an mpmc ring it is how the stream ends (a producer that detaches does not end it),\n"+
			"for good: every producer's send fails from then on, and every consumer stops once it\n"+
			"has drained what was committed.\n\n"+
			"With -abort CODE the stream is aborted instead: the consumers drain it, then get an\n"+
			"error carrying CODE (1 to 1073741823) rather than the end of the stream, so that they\n"+
			"tell a stream cut short from a finished one (shmring recv exits with 1).")
	abort := fs.Uint("abort", 0, "abort the stream with this `code` instead of closing it")
	name, code, ok := oneName(std, fs, args)
	if !ok {
		return code
	}
	if *abort > shmring.MaxAbortCode {
		return cli.Usage(fs, "bad -abort %d (want 1 to %d)", *abort, shmring.MaxAbortCode)
	}
	r, err := shmring.Open(name, nil)
	if err != nil {
		return cmd.fail(std, err)
	}
	end := r.CloseStream
	if *abort != 0 {
		end = func() error { return r.AbortStream(uint32(*abort)) }
	}
	if err := errors.Join(end(), r.Close()); err != nil {
		return cmd.fail(std, err)
	}
	return cli.ExitOK
}
