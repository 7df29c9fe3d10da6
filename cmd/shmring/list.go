package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// defaultDir is where bare ring names live.
const defaultDir = "/dev/shm"

// runList lists the rings of a directory.
func runList(_ context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"One line per file, sorted by name: a ring's kind, capacity, depth (spsc: bytes committed\n"+
			"and not yet released; mpmc: slots claimed by producers and not yet by consumers),\n"+
			"messages in it (~N: counted while the consumers moved), producer and consumer (spsc:\n"+
			"alive, dead: attached but its process died, changing: attaching or detaching, or none;\n"+
			"mpmc: how many are alive and dead, and the orphans, messages of dead consumers waiting\n"+
			"for another) and stream (open or closed). Any other file is listed with the reason it is\n"+
			"not a ring. Files are opened read-only (and only regular ones), never locked: ls changes\n"+
			"nothing.")
	dir := fs.String("dir", defaultDir, "`directory` to list")
	names, code, ok := parse(std, fs, args)
	if !ok {
		return code
	}
	if len(names) > 0 {
		return cli.Usage(fs, "unexpected argument %q", names[0])
	}
	entries, err := os.ReadDir(*dir)
	if err != nil {
		return cmd.fail(std, err)
	}
	tw := tabwriter.NewWriter(std.out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tCAPACITY\tDEPTH\tMESSAGES\tPRODUCER\tCONSUMER\tSTREAM")
	for _, e := range entries {
		listEntry(tw, *dir, e)
	}
	if err := tw.Flush(); err != nil {
		return cmd.fail(std, err)
	}
	return cli.ExitOK
}

// listEntry writes the line of directory entry e of dir. Only regular files
// are opened, and only read-only (shmring.Inspect).
func listEntry(w io.Writer, dir string, e os.DirEntry) {
	if !e.Type().IsRegular() {
		// The reason is the last cell: tabwriter does not align it, so it
		// does not widen the KIND column.
		fmt.Fprintf(w, "%s\tnot a ring: %s\n", e.Name(), fileType(e.Type()))
		return
	}
	p := filepath.Join(dir, e.Name())
	if !filepath.IsAbs(p) {
		p = "./" + p // a bare name would mean /dev/shm, "a/b" is refused
	}
	info, err := shmring.Inspect(p)
	switch {
	case err == nil:
		stream := "open"
		if info.Closed {
			stream = "closed"
		}
		producer, consumer := endpoints(info)
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", e.Name(), info.Kind, info.Capacity, info.Depth,
			messages(info), producer, consumer, stream)
	case errors.Is(err, os.ErrNotExist):
		// Removed since the directory was read.
	case errors.Is(err, shmring.ErrNotRing):
		fmt.Fprintf(w, "%s\tnot a ring: no shmring header\n", e.Name())
	case errors.Is(err, shmring.ErrVersion):
		fmt.Fprintf(w, "%s\tring of an unsupported format version\n", e.Name())
	case errors.Is(err, shmring.ErrCorrupt):
		fmt.Fprintf(w, "%s\tcorrupt ring (shmring check shows where)\n", e.Name())
	default:
		fmt.Fprintf(w, "%s\tunreadable: %v\n", e.Name(), err)
	}
}

// messages formats the message count of info: ~N when it was counted while
// the consumer moved.
func messages(info *shmring.Info) string {
	if info.Settled {
		return fmt.Sprint(info.Messages)
	}
	return fmt.Sprintf("~%d", info.Messages)
}

// endpoints describes the producer and consumer sides of info: the state of
// each role of an SPSC ring; for an MPMC ring, how many endpoints of each
// role are alive and dead, and the orphans with the consumers.
func endpoints(info *shmring.Info) (producer, consumer string) {
	if info.MPMC == nil {
		return info.SPSC.Producer.String(), info.SPSC.Consumer.String()
	}
	count := map[string]map[string]int{"producer": {}, "consumer": {}}
	for _, p := range info.MPMC.Participants {
		switch p.Role {
		case "producer", "consumer":
			count[p.Role][p.State()]++
		case "orphan":
			count["consumer"]["orphan"]++
		}
	}
	describe := func(n map[string]int) string {
		var parts []string
		for _, state := range []string{"alive", "dead", "orphan"} {
			if n[state] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n[state], state))
			}
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	return describe(count["producer"]), describe(count["consumer"])
}

// fileType names the type of a file that is not a regular file.
func fileType(mode os.FileMode) string {
	switch {
	case mode&os.ModeDir != 0:
		return "a directory"
	case mode&os.ModeSymlink != 0:
		return "a symbolic link"
	case mode&os.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&os.ModeSocket != 0:
		return "a socket"
	case mode&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
