package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// defaultPeek is how many messages peek shows without -n.
const defaultPeek = 10

// runPeek shows messages without consuming them.
func runPeek(_ context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"It shows the first N messages the ring holds, the next a consumer would receive, without\n"+
			"consuming them: it opens the file read-only, takes no lock and never attaches as a\n"+
			"consumer, so it changes nothing and works on rings in use. What it shows is a snapshot\n"+
			"that a live consumer may move past at once; on an mpmc ring, messages still being written\n"+
			"and those of dead consumers awaiting adoption are left out.",
		"Each message is written as recv writes it: followed by a newline, as it is; with -z, as a\n"+
			"uint32 little-endian length and the bytes (what send -z reads). With -json it prints one\n"+
			"JSON array with an object per message: \"len\", \"data\" (the bytes in base64) and, when\n"+
			"they are UTF-8, \"text\".",
		"An empty ring shows nothing, with status 0. A corrupt ring is a failure (status 1), after\n"+
			"the messages before the damage; so is a ring whose consumers kept moving during every\n"+
			"attempt to copy its messages (try again, or stop them).")
	n := fs.Int("n", defaultPeek, "show at most `N` messages (0: all of them)")
	records := fs.Bool("z", false, "write length-prefixed binary records instead of lines")
	asJSON := fs.Bool("json", false, "print one JSON array")
	name, code, ok := oneName(std, fs, args)
	if !ok {
		return code
	}
	switch {
	case *n < 0:
		return cli.Usage(fs, "-n must not be negative")
	case *records && *asJSON:
		return cli.Usage(fs, "-z and -json do not go together")
	}
	msgs, err := shmring.Peek(name, *n)
	if werr := writePeeked(std.out, msgs, *records, *asJSON); werr != nil {
		err = errors.Join(err, fmt.Errorf("write standard output: %w", werr))
	}
	if err != nil {
		return cmd.fail(std, err)
	}
	return cli.ExitOK
}

// peekedJSON is the JSON object of one message of peek -json.
type peekedJSON struct {
	Len  int     `json:"len"`
	Data []byte  `json:"data"`
	Text *string `json:"text,omitempty"` // only for UTF-8
}

// writePeeked writes msgs to out as lines, length-prefixed records or one
// JSON array.
func writePeeked(out io.Writer, msgs [][]byte, records, asJSON bool) error {
	if asJSON {
		objs := make([]peekedJSON, len(msgs))
		for i, m := range msgs {
			objs[i] = peekedJSON{Len: len(m), Data: m}
			if utf8.Valid(m) {
				s := string(m)
				objs[i].Text = &s
			}
		}
		return json.NewEncoder(out).Encode(objs)
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	var prefix [4]byte
	for _, m := range msgs {
		// A failed write sticks in bw and is reported by Flush.
		if records {
			binary.LittleEndian.PutUint32(prefix[:], uint32(len(m)))
			bw.Write(prefix[:])
			bw.Write(m)
		} else {
			bw.Write(m)
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}
