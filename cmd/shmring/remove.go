package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// runRemove removes rings.
func runRemove(_ context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"Each NAME must be a ring: a file that is not one is left alone. A ring whose header is\n"+
			"corrupt, or of another format version, is removed too. Processes that have a ring open\n"+
			"keep using it; its memory is freed when the last one closes it. Every NAME is tried;\n"+
			"the status is 1 if any could not be removed.")
	names, code, ok := parse(std, fs, args)
	if !ok {
		return code
	}
	if len(names) == 0 {
		return cli.Usage(fs, "missing NAME")
	}
	code = cli.ExitOK
	for _, name := range names {
		if err := remove(name); err != nil {
			code = cmd.fail(std, err)
		}
	}
	return code
}

// remove removes the ring name through shmring.Unlink, which also removes a
// ring it cannot open (a corrupt header, another format version) with the
// wake-up state the semaphore fallback keeps outside the segment, and
// refuses a file without the shmring magic.
func remove(name string) error {
	err := shmring.Unlink(name)
	if errors.Is(err, shmring.ErrNotRing) {
		return fmt.Errorf("%s: not removed: %w", name, err)
	}
	return err
}
