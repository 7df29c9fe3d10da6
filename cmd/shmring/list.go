package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
	"github.com/shmring/shmring/shm"
)

// runList lists the rings of a directory.
func runList(_ context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"One line per ring, sorted by name, every line with the same columns: a ring's kind,\n"+
			"capacity, depth (spsc: bytes committed and not yet released; mpmc: slots claimed by\n"+
			"producers and not yet by consumers), messages in it (~N: counted while the consumers\n"+
			"moved), producer and consumer (spsc: alive, dead: attached but its process died,\n"+
			"changing: attaching or detaching, or none; mpmc: how many are alive and dead, and the\n"+
			"orphans, messages of dead consumers waiting for another), stream (open, closed or\n"+
			"aborted), and a note. A ring that cannot be read (a corrupt header or records, another\n"+
			"format version) is listed with \"-\" in the columns it cannot fill and the reason in\n"+
			"NOTE; with -a, so is every other file, with the reason it is not a ring or could not be\n"+
			"read.",
		"With -json it prints one JSON array with an object per line of the text: \"name\" (the\n"+
			"file's path), \"ring\" (the file has the shmring magic), the fields of stat -json for a\n"+
			"ring it could read, and \"note\" for a file it could not.",
		"Files are opened read-only (and only regular ones), never locked: ls changes nothing. A\n"+
			"tab, newline or other unprintable character in a name shows as ? in the text.")
	dir := fs.String("dir", shm.Dir(), "`directory` to list")
	all := fs.Bool("a", false, "list the files that are not rings too")
	asJSON := fs.Bool("json", false, "print one JSON array")
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
	rows := make([]listRow, 0, len(entries))
	for _, e := range entries {
		if row, ok := listEntry(*dir, e); ok && (row.ring || *all) {
			rows = append(rows, row)
		}
	}
	if *asJSON {
		err = listJSON(std.out, rows)
	} else {
		err = listText(std.out, rows)
	}
	if err != nil {
		return cmd.fail(std, err)
	}
	return cli.ExitOK
}

// listRow is what ls found of one file.
type listRow struct {
	entry string        // the name in the directory
	path  string        // the file's path, as the commands take it
	ring  bool          // the file has the shmring magic
	info  *shmring.Info // the ring, when it could be read
	note  string        // why info is nil
}

// listEntry looks at directory entry e of dir. Only regular files are
// opened, and only read-only (shmring.Inspect). ok is false for a file
// removed since the directory was read.
func listEntry(dir string, e os.DirEntry) (row listRow, ok bool) {
	p := filepath.Join(dir, e.Name())
	if !filepath.IsAbs(p) {
		p = "./" + p // a bare name would mean shm.Dir(), "a/b" is refused
	}
	row = listRow{entry: e.Name(), path: p}
	if !e.Type().IsRegular() {
		row.note = "not a ring: " + fileType(e.Type())
		return row, true
	}
	info, err := shmring.Inspect(p)
	switch {
	case err == nil:
		row.ring, row.info, row.path = true, info, info.Name
	case errors.Is(err, os.ErrNotExist):
		return row, false
	case errors.Is(err, shmring.ErrNotRing):
		row.note = "not a ring: no shmring header"
	case errors.Is(err, shmring.ErrVersion):
		row.ring, row.note = true, "ring of an unsupported format version"
	case errors.Is(err, shmring.ErrCorrupt):
		row.ring, row.note = true, "corrupt ring (shmring check shows where)"
	default:
		row.note = fmt.Sprintf("unreadable: %v", err)
	}
	return row, true
}

// listText writes rows as aligned columns, every line with the same cells.
func listText(w io.Writer, rows []listRow) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	cells := func(c ...string) {
		for i, s := range c {
			// Names are the file system's: keep them to one cell.
			c[i] = strings.Map(func(r rune) rune {
				if r == '\t' || r == '\n' || !unicode.IsPrint(r) {
					return '?'
				}
				return r
			}, s)
		}
		fmt.Fprintln(tw, strings.Join(c, "\t")+"\t")
	}
	cells("NAME", "KIND", "CAPACITY", "DEPTH", "MESSAGES", "PRODUCER", "CONSUMER", "STREAM", "NOTE")
	for _, r := range rows {
		info := r.info
		if info == nil {
			cells(r.entry, "-", "-", "-", "-", "-", "-", "-", r.note)
			continue
		}
		stream := "open"
		switch {
		case info.Aborted:
			stream = "aborted"
		case info.Closed:
			stream = "closed"
		}
		producer, consumer := endpoints(info)
		cells(r.entry, info.Kind, fmt.Sprint(info.Capacity), fmt.Sprint(info.Depth), messages(info),
			producer, consumer, stream, r.note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Every cell ends with a tab, so that the last columns align too; the
	// padding it leaves at the end of a line goes.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// listObject is the JSON object of one file in ls -json: the object of stat
// -json for a ring it could read, with the name and the note.
type listObject struct {
	Name string `json:"name"` // the file's path; shadows Info.Name, the same
	Ring bool   `json:"ring"`
	*statJSON
	Note string `json:"note,omitempty"`
}

// listJSON writes rows as one JSON array.
func listJSON(w io.Writer, rows []listRow) error {
	objs := make([]listObject, len(rows))
	for i, r := range rows {
		objs[i] = listObject{Name: r.path, Ring: r.ring, Note: r.note}
		if r.info != nil {
			objs[i].statJSON = newStatJSON(r.info, nil)
		}
	}
	return json.NewEncoder(w).Encode(objs)
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
