package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
	"github.com/shmring/shmring/ring"
)

// runCreate creates a ring.
func runCreate(_ context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"The ring is created exclusively (an existing NAME is an error), never through a symlink,\n"+
			"and fully reserved: a full file system fails now, not later. -size is rounded up to a\n"+
			"power of two between 4K and 4G.",
		"An spsc ring has one producer and one consumer at a time, and messages of any size up to\n"+
			"16 bytes less than -size. An mpmc ring has any number of producers and consumers, up to\n"+
			"-participants attached at once, and each message goes to one consumer; it is cut into\n"+
			"slots of -slot bytes (rounded up to a multiple of 8), the largest message: -size/-slot\n"+
			"slots, at least 2, rounded up to a power of two.",
		"Sizes are bytes with an optional unit, in any case: K, M, G, KiB, MiB, GiB are powers of\n"+
			"1024 (64K and 64KiB are 65536 bytes), KB, MB, GB powers of 1000 (1MB is 1000000 bytes).\n"+
			"A size out of range is a usage error.")
	size := cli.Size(fs, shmring.DefaultSize, "data `bytes` of the ring, up to 4G")
	kind := fs.String("kind", "spsc", "ring `kind`: spsc or mpmc")
	slot := cli.Bytes(fs, "slot", shmring.DefaultSlotSize, 1, ring.MPMCMaxSlotSize, "mpmc: slot `bytes`, the largest message, up to 16M")
	participants := fs.Int("participants", shmring.MaxParticipants, "mpmc: `N` endpoints that may attach at once, 1 to 64")
	lanes := fs.Int("lanes", 1, "mpmc: `N` lanes to split the slots into, a power of two up to 64 (each producer claims in one)")
	mode := fs.String("mode", "0600", "permission `bits` of the file, in octal (the umask does not apply)")
	name, code, ok := oneName(std, fs, args)
	if !ok {
		return code
	}
	perm, err := strconv.ParseUint(*mode, 8, 32)
	if err != nil || perm == 0 || perm > 0o777 {
		return cli.Usage(fs, "bad -mode %q (want octal permission bits such as 0600)", *mode)
	}
	opts := &shmring.Options{Size: *size, Mode: os.FileMode(perm)}
	switch *kind {
	case "spsc":
		var mpmcOnly string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "slot" || f.Name == "participants" || f.Name == "lanes" {
				mpmcOnly = f.Name
			}
		})
		if mpmcOnly != "" {
			return cli.Usage(fs, "-%s is for -kind mpmc", mpmcOnly)
		}
	case "mpmc":
		if *participants < 1 || *participants > shmring.MaxParticipants {
			return cli.Usage(fs, "bad -participants %d (want 1 to %d)", *participants, shmring.MaxParticipants)
		}
		if *lanes < 1 || *lanes > shmring.MaxLanes || *lanes&(*lanes-1) != 0 {
			return cli.Usage(fs, "bad -lanes %d (want a power of two, 1 to %d)", *lanes, shmring.MaxLanes)
		}
		opts.Kind, opts.SlotSize, opts.Participants, opts.Lanes = shmring.MPMC, int(*slot), *participants, *lanes
	default:
		return cli.Usage(fs, "unknown -kind %q (want spsc or mpmc)", *kind)
	}

	r, err := shmring.Create(name, opts)
	if err != nil {
		return cmd.fail(std, err)
	}
	if r.Kind() == shmring.MPMC {
		var split string
		if r.Lanes() > 1 {
			split = fmt.Sprintf(", %d lanes", r.Lanes())
		}
		fmt.Fprintf(std.out, "created %s: mpmc, %d slots of %d bytes (capacity %d bytes), largest message %d bytes, %d participants%s\n",
			r.Name(), r.Capacity()/r.MaxMessage(), r.MaxMessage(), r.Capacity(), r.MaxMessage(), opts.Participants, split)
	} else {
		fmt.Fprintf(std.out, "created %s: spsc, capacity %d bytes, largest message %d bytes\n",
			r.Name(), r.Capacity(), r.MaxMessage())
	}
	if err := r.Close(); err != nil {
		return cmd.fail(std, err)
	}
	return cli.ExitOK
}
