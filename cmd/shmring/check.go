package main

import (
	"context"
	"fmt"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// runCheck validates a ring.
func runCheck(_ context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"It reads the ring without changing anything (the file is opened read-only, no lock is\n"+
			"taken) and checks the header, the header's parameters against the file, the cursors, and\n"+
			"every committed record from head to tail, as the consumer would. Each problem is printed\n"+
			"as NAME: offset N (0xN): what is wrong, N being the file offset of the header (0), of the\n"+
			"control area holding the cursors, or of the bad record's header; the status is then 1.\n"+
			"A sound ring prints a one-line summary and the status is 0. A ring whose consumer keeps\n"+
			"moving cannot be checked (status 1): stop the consumer first.",
		"For an mpmc ring it checks the geometry in the header against the file, enq and deq, the\n"+
			"sequence word of every slot against the range enq and deq allow (a problem's offset is\n"+
			"then the slot's), the header of every committed slot, and the participant entries. Its\n"+
			"producers and consumers must stand still while it reads (a ring in use rarely does).")
	name, code, ok := oneName(std, fs, args)
	if !ok {
		return code
	}
	problems, err := shmring.Check(name)
	if err != nil {
		return cmd.fail(std, err)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(std.out, "%s: %s\n", name, p)
		}
		fmt.Fprintf(std.out, "%s: corrupt: %s\n", name, plural(len(problems), "problem"))
		return cli.ExitFailure
	}
	info, err := shmring.Inspect(name)
	if err != nil {
		// Changed since the check: the check's verdict stands.
		fmt.Fprintf(std.out, "%s: sound\n", name)
		return cli.ExitOK
	}
	if mp := info.MPMC; mp != nil {
		fmt.Fprintf(std.out, "%s: sound mpmc ring: %s, %d of %d slots claimed\n",
			name, plural(info.Messages, "message"), info.Depth, mp.Slots)
		return cli.ExitOK
	}
	fmt.Fprintf(std.out, "%s: sound %s ring: %s, %d of %d bytes committed\n",
		name, info.Kind, plural(info.Messages, "message"), info.Depth, info.Capacity)
	return cli.ExitOK
}
