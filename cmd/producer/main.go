package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
	"github.com/shmring/shmring/shm"
)

// maxBatch is the most messages one SendBatch publishes at once.
const maxBatch = 256

// batchBytes bounds the memory of one batch of generated messages.
const batchBytes = 1 << 20

// The codes the producer aborts its stream with: the consumer reports them
// (shmring.AbortError).
const (
	abortInterrupted = 130 // SIGINT or SIGTERM, as the exit status says
	abortFailed      = 1   // reading standard input or sending failed
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit status. Only -h writes to
// stdout.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("ring", "", "ring `name`: a file in "+shm.Dir()+", or a file path if absolute or starting with ./ (required)")
	size := cli.Size(fs, 0, "data `bytes` of the ring ("+cli.SizeUnits+"): its size if this side creates it\n(default 1M), and the size an existing ring must have (default: any)")
	n := fs.Int64("n", 0, "send `N` generated messages instead of the lines of standard input")
	msgSize := fs.Int("msgsize", 64, "`bytes` of each generated message (at least 8)")
	wait := cli.Wait(fs)
	if code, ok := cli.Parse(fs, args, stdout); !ok {
		return code
	}
	switch {
	case *name == "":
		return cli.Usage(fs, "-ring is required")
	case *n < 0:
		return cli.Usage(fs, "-n must not be negative")
	case *msgSize < 8:
		return cli.Usage(fs, "-msgsize must be at least 8 (the sequence number)")
	}

	r, err := shmring.OpenOrCreate(*name, &shmring.Options{Size: *size, Wait: *wait})
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return cli.ExitFailure
	}
	p, err := r.Producer()
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", errors.Join(err, r.Close()))
		return cli.ExitFailure
	}
	generated := false
	fs.Visit(func(f *flag.Flag) { generated = generated || f.Name == "n" })
	if generated {
		err = sendGenerated(ctx, p, *n, *msgSize, r.MaxMessage())
	} else {
		err = sendLines(ctx, p, stdin)
	}
	// Closing the producer ends the stream; a failure or an interrupt
	// aborts it first, so that the consumer tells it from a finished one.
	if err != nil && r.Kind() == shmring.SPSC {
		code := uint32(abortFailed)
		if ctx.Err() != nil {
			code = abortInterrupted
		}
		err = errors.Join(err, r.AbortStream(code))
	}
	err = errors.Join(err, p.Close(), r.Close())
	switch {
	case err == nil:
		return cli.ExitOK
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "producer: interrupted")
		return cli.ExitInterrupted
	}
	fmt.Fprintf(stderr, "producer: %v\n", err)
	return cli.ExitFailure
}

// sendGenerated sends n messages of size bytes, each starting with its
// sequence number, in batches.
func sendGenerated(ctx context.Context, p *shmring.Producer, n int64, size, maxMessage int) error {
	if size > maxMessage {
		return fmt.Errorf("-msgsize %d: %w (the ring holds at most %d bytes)", size, shmring.ErrTooLarge, maxMessage)
	}
	batch := int64(max(1, min(maxBatch, batchBytes/size)))
	backing := make([]byte, int(batch)*size)
	msgs := make([][]byte, batch)
	for i := range msgs {
		msgs[i] = backing[i*size : (i+1)*size]
	}
	for seq := int64(0); seq < n; seq += batch {
		k := min(batch, n-seq)
		for i := range k {
			binary.LittleEndian.PutUint64(msgs[i], uint64(seq+i))
		}
		if sent, err := p.SendBatch(ctx, msgs[:k]); err != nil {
			return fmt.Errorf("message %d: %w", seq+int64(sent), err)
		}
	}
	return nil
}

// sendLines sends each line of in as a message. The lines are read by a
// goroutine, so that a signal ends the command even while it waits for input.
func sendLines(ctx context.Context, p *shmring.Producer, in io.Reader) error {
	lines := make(chan []byte, maxBatch)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(lines)
		br := bufio.NewReader(in)
		for {
			line, err := br.ReadBytes('\n')
			// A last line without a newline is a message too.
			if len(line) > 0 {
				select {
				case lines <- bytes.TrimSuffix(line, []byte{'\n'}):
				case <-done:
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					readErr <- fmt.Errorf("read standard input: %w", err)
				}
				return
			}
		}
	}()

	batch := make([][]byte, 0, maxBatch)
	sent := 0
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				select {
				case err := <-readErr:
					return err
				default:
					return nil
				}
			}
			// Send what has queued up with this line as one batch.
			batch = append(batch[:0], line)
		more:
			for len(batch) < maxBatch {
				select {
				case l, ok := <-lines:
					if !ok {
						break more
					}
					batch = append(batch, l)
				default:
					break more
				}
			}
			k, err := p.SendBatch(ctx, batch)
			sent += k
			if err != nil {
				return fmt.Errorf("line %d: %w", sent+1, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
