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

// runSend sends standard input as messages.
func runSend(ctx context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"It attaches as a producer of the ring (of an spsc ring, the only one while attached; of\n"+
			"an mpmc ring, one among any others) and sends each line of standard input, its newline\n"+
			"stripped, as one message; a last line without a newline is a message too. With -z,\n"+
			"standard input is binary records instead: a uint32 little-endian length, then that many\n"+
			"bytes.",
		"When it exits it closes its producer end, however it exits: at the end of standard input\n"+
			"(status 0), on SIGINT or SIGTERM (status 130), or on an error (status 1, such as a\n"+
			"message larger than the ring's largest). On an spsc ring that ends the stream: the\n"+
			"consumer reads what was sent, then sees the end (an abort with code 130 after a signal,\n"+
			"1 after an error, so that it tells them from a finished stream), and a producer that\n"+
			"attaches later reopens it. On an mpmc ring the stream goes on for the other producers; shmring close\n"+
			"ends it, after which send fails.")
	records := fs.Bool("z", false, "read length-prefixed binary records instead of lines")
	name, code, ok := oneName(std, fs, args)
	if !ok {
		return code
	}
	err := send(ctx, name, *records, std.in)
	switch {
	case err == nil:
		return cli.ExitOK
	case ctx.Err() != nil:
		return cmd.interrupted(std)
	}
	return cmd.fail(std, err)
}

// send attaches to the ring name as its producer and sends the messages of
// in until its end, ctx's end or an error; it closes the producer end (ending
// the stream) whatever happens.
func send(ctx context.Context, name string, records bool, in io.Reader) (err error) {
	r, err := shmring.Open(name, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	p, err := r.Producer()
	if err != nil {
		return err
	}
	defer func() {
		// On an spsc ring, a failure or an interrupt aborts the stream
		// first, so that the consumer tells it from a finished one.
		if err != nil && r.Kind() == shmring.SPSC {
			code := uint32(cli.ExitFailure)
			if ctx.Err() != nil {
				code = cli.ExitInterrupted
			}
			err = errors.Join(err, r.AbortStream(code))
		}
		err = errors.Join(err, p.Close())
	}()

	// Reading standard input cannot be interrupted: it runs on its own
	// goroutine, so that a signal ends send at once. When send returns
	// first, done stops the reader at its next message; a reader still
	// blocked in a read ends with the process.
	msgs := make(chan []byte, 64)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		readErr <- readMessages(bufio.NewReaderSize(in, 64<<10), records, r.MaxMessage(), msgs, done)
		close(msgs)
	}()
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				return <-readErr
			}
			if err := p.Send(ctx, msg); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readMessages reads messages of at most max bytes from br (lines, or
// length-prefixed records) and sends each on msgs until the end of br (nil),
// a bad message (its error), or done.
func readMessages(br *bufio.Reader, records bool, max int, msgs chan<- []byte, done <-chan struct{}) error {
	next := readLine
	if records {
		next = readRecord
	}
	for i := 1; ; i++ {
		msg, err := next(br, max)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		select {
		case msgs <- msg:
		case <-done:
			return nil
		}
	}
}

// readLine returns the next line of br without its newline, io.EOF at the
// end. A line longer than max bytes is an error, found before more than
// max+1 bytes of it are held.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max+1 {
			return nil, tooLarge(max)
		}
		line = append(line, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err != nil && err != io.EOF:
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		if len(line) > max {
			return nil, tooLarge(max)
		}
		return line, nil
	}
}

// readRecord returns the next length-prefixed record of br, io.EOF at the
// end.
func readRecord(br *bufio.Reader, max int) ([]byte, error) {
	var prefix [4]byte
	if _, err := io.ReadFull(br, prefix[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errors.New("standard input ends inside a length prefix")
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(prefix[:])
	if uint64(n) > uint64(max) {
		return nil, tooLarge(max)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return nil, fmt.Errorf("standard input ends inside a record of %d bytes", n)
		}
		return nil, err
	}
	return msg, nil
}

// tooLarge is the error of a message over the ring's largest.
func tooLarge(max int) error {
	return fmt.Errorf("%w: the ring's largest message is %d bytes", shmring.ErrTooLarge, max)
}
