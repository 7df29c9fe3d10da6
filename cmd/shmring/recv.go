package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// runRecv prints messages.
func runRecv(ctx context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"It attaches as a consumer of the ring (of an spsc ring, the only one while attached; of\n"+
			"an mpmc ring, one among any others, each message going to one of them) and writes each\n"+
			"message to standard output followed by a newline, as it is; with -z, as a uint32\n"+
			"little-endian length and the bytes instead (what send -z reads). Output is flushed\n"+
			"whenever the ring is empty.",
		"It stops after N messages (-n) or at the end of the stream, with status 0; on SIGINT or\n"+
			"SIGTERM it stops at once with status 130, leaving unread messages in the ring for the\n"+
			"next consumer. The producer of an spsc ring that died while attached is a failure\n"+
			"(status 1); on an mpmc ring, dead producers and consumers are reaped and recv goes on.")
	n := fs.Int64("n", 0, "stop after `N` messages (0: at the end of the stream)")
	records := fs.Bool("z", false, "write length-prefixed binary records instead of lines")
	name, code, ok := oneName(std, fs, args)
	if !ok {
		return code
	}
	if *n < 0 {
		return cli.Usage(fs, "-n must not be negative")
	}
	err := recv(ctx, name, *n, *records, std.out)
	switch {
	case err == nil:
		return cli.ExitOK
	case ctx.Err() != nil:
		return cmd.interrupted(std)
	}
	return cmd.fail(std, err)
}

// recv attaches to the ring name as its consumer and writes up to n messages
// (all, when n is 0) to out, until the end of the stream.
func recv(ctx context.Context, name string, n int64, records bool, out io.Writer) (err error) {
	r, err := shmring.Open(name, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()

	bw := bufio.NewWriterSize(out, 64<<10)
	defer func() {
		if ferr := bw.Flush(); ferr != nil {
			err = errors.Join(err, fmt.Errorf("write standard output: %w", ferr))
		}
	}()
	var prefix [4]byte
	for count := int64(0); n == 0 || count < n; count++ {
		msg, err := c.TryPeek()
		if errors.Is(err, shmring.ErrEmpty) {
			// About to wait: show what arrived so far.
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write standard output: %w", err)
			}
			msg, err = c.Peek(ctx)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		// A failed write sticks in bw and is reported by its next Flush.
		if records {
			binary.LittleEndian.PutUint32(prefix[:], uint32(len(msg)))
			bw.Write(prefix[:])
			bw.Write(msg)
		} else {
			bw.Write(msg)
			bw.WriteByte('\n')
		}
		if err := c.Release(); err != nil {
			return err
		}
	}
	return nil
}
