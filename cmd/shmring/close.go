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
			"producer closes. It is meant for a ring whose producer is gone: an attached producer\n"+
			"goes on sending, and its consumer may stop before reading it. A producer that\n"+
			"attaches later reopens the stream.")
	name, code, ok := oneName(fs, args)
	if !ok {
		return code
	}
	r, err := shmring.Open(name, nil)
	if err != nil {
		return cmd.fail(std, err)
	}
	if err := errors.Join(r.CloseStream(), r.Close()); err != nil {
		return cmd.fail(std, err)
	}
	return cli.ExitOK
}
