package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
	"github.com/shmring/shmring/shm"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

// stdio are the standard streams of a command.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis after the name
	summary string
	run     func(ctx context.Context, cmd *command, args []string, std stdio) int
}

// commands are the subcommands, in the order the usage lists them.
var commands = []*command{
	{"create", "NAME [-size BYTES] [-kind spsc|mpmc] [-slot BYTES] [-participants N] [-mode 0600]", "create a ring", runCreate},
	{"rm", "NAME...", "remove rings", runRemove},
	{"close", "NAME [-abort CODE]", "end a ring's stream: the consumers drain it, then stop", runClose},
	{"ls", "[-dir DIR] [-a] [-json]", "list the rings in the ring directory or DIR (-a: every file)", runList},
	{"stat", "NAME [-json] [-w]", "show a ring's header, positions, endpoints and counters", runStat},
	{"check", "NAME", "validate a ring's header and records without changing anything", runCheck},
	{"send", "NAME [-z]", "send each line of standard input as a message", runSend},
	{"recv", "NAME [-n N] [-z]", "print messages until N of them or the end of the stream", runRecv},
	{"peek", "NAME [-n N] [-z] [-json]", "print the first N messages (default 10) without consuming them", runPeek},
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, std stdio) int {
	if len(args) == 0 {
		fmt.Fprintln(std.err, "shmring: missing COMMAND")
		usage(std.err)
		return cli.ExitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(std.out)
		return cli.ExitOK
	case "help":
		// help COMMAND is COMMAND -h.
		if len(args) == 1 {
			usage(std.out)
			return cli.ExitOK
		}
		if cmd := lookup(args[1]); cmd != nil && len(args) == 2 {
			return cmd.run(ctx, cmd, []string{"-h"}, std)
		}
		return unknown(std, args[1:])
	case "-version", "--version", "version":
		if len(args) > 1 {
			fmt.Fprintf(std.err, "shmring version: unexpected argument %q\n", args[1])
			usage(std.err)
			return cli.ExitUsage
		}
		debugInfo, _ := debug.ReadBuildInfo()
		fmt.Fprintln(std.out, version(debugInfo))
		return cli.ExitOK
	}
	if cmd := lookup(args[0]); cmd != nil {
		return cmd.run(ctx, cmd, args[1:], std)
	}
	return unknown(std, args)
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

// unknown reports that args[0] is no command, or that help was given more
// than one, and returns ExitUsage.
func unknown(std stdio, args []string) int {
	if lookup(args[0]) != nil {
		fmt.Fprintf(std.err, "shmring help: unexpected argument %q\n", args[1])
	} else {
		fmt.Fprintf(std.err, "shmring: unknown command %q\n", args[0])
	}
	usage(std.err)
	return cli.ExitUsage
}

// usage lists the commands on w.
func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: shmring COMMAND [ARGS]; shmring COMMAND -h (or shmring help COMMAND) shows the command's help")
	fmt.Fprintln(w)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-6s %s\n         %s\n", cmd.name, cmd.args, cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "shmring -h (or --help, help) prints this on standard output; shmring -version (or --version,")
	fmt.Fprintln(w, "version) prints the module version and the revision it was built from.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "A bare NAME is a file in "+shm.Dir()+"; a file path is absolute or starts with ./ (any other NAME with a '/' is refused).")
	fmt.Fprintln(w, "Sizes are bytes with an optional unit, in any case: K, M, G, KiB, MiB, GiB are powers of 1024, KB, MB, GB of 1000.")
	fmt.Fprintln(w, "Exit status: 0 done, 1 failure (or a corrupt ring for check and peek), 2 usage, 130 interrupted.")
}

// flagSet returns the flag set of cmd, writing to std.err, whose usage
// shows the synopsis, help (one paragraph per string) and the flags.
func (cmd *command) flagSet(std stdio, help ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("shmring "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(std.err)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: shmring %s %s\n\n%s%s.\n", cmd.name, cmd.args, strings.ToUpper(cmd.summary[:1]), cmd.summary[1:])
		for _, p := range help {
			fmt.Fprintf(w, "\n%s\n", p)
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(w)
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args with fs, flags and arguments in any order (a "--" ends
// the flags), and returns the arguments. ok is false when the command must
// not go on; code is then ExitOK for -h, whose help goes to std.out, and
// ExitUsage for bad flags, whose message and help go to std.err.
func parse(std stdio, fs *flag.FlagSet, args []string) (names []string, code int, ok bool) {
	help := fs.Usage
	fs.Usage = func() {} // the flag package's call; help is printed below
	defer func() { fs.Usage = help }()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(std.out)
				help()
				fs.SetOutput(std.err)
				return nil, cli.ExitOK, false
			}
			help()
			return nil, cli.ExitUsage, false
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(names, rest...), cli.ExitOK, true
		}
		if len(rest) == 0 {
			return names, cli.ExitOK, true
		}
		names, args = append(names, rest[0]), rest[1:]
	}
}

// oneName parses args with fs and returns the single NAME they must hold.
func oneName(std stdio, fs *flag.FlagSet, args []string) (name string, code int, ok bool) {
	names, code, ok := parse(std, fs, args)
	switch {
	case !ok:
		return "", code, false
	case len(names) == 0:
		return "", cli.Usage(fs, "missing NAME"), false
	case len(names) > 1:
		return "", cli.Usage(fs, "unexpected argument %q", names[1]), false
	}
	return names[0], cli.ExitOK, true
}

// fail reports err for cmd on std.err and returns ExitFailure.
func (cmd *command) fail(std stdio, err error) int {
	fmt.Fprintf(std.err, "shmring %s: %v%s\n", cmd.name, err, hint(err))
	return cli.ExitFailure
}

// hint returns advice for the errors a user can act on.
func hint(err error) string {
	switch {
	case errors.Is(err, shmring.ErrCorrupt):
		return " (shmring check shows where)"
	case errors.Is(err, shmring.ErrBusy):
		return " (shmring stat shows the endpoints)"
	}
	return ""
}

// interrupted reports on std.err that a signal stopped cmd and returns
// ExitInterrupted.
func (cmd *command) interrupted(std stdio) int {
	fmt.Fprintf(std.err, "shmring %s: interrupted\n", cmd.name)
	return cli.ExitInterrupted
}

// plural returns "n word" or "n words".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
