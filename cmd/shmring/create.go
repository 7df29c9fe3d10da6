package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// errMPMCNotSupported is the answer to -kind mpmc until the MPMC kind exists.
var errMPMCNotSupported = errors.New("the mpmc kind is not supported yet")

// runCreate creates a ring.
func runCreate(_ context.Context, cmd *command, args []string, std stdio) int {
	fs := cmd.flagSet(std,
		"The ring is created exclusively (an existing NAME is an error), never through a symlink,\n"+
			"and fully reserved: a full file system fails now, not later. -size is rounded up to a\n"+
			"power of two between 4K and 4G; the largest message is 8 bytes less.")
	size := cli.Size(fs, shmring.DefaultSize, "data `bytes` of the ring (K, M, G suffixes)")
	kind := fs.String("kind", "spsc", "ring `kind`: spsc (mpmc is not supported yet)")
	mode := fs.String("mode", "0600", "permission `bits` of the file, in octal (the umask does not apply)")
	name, code, ok := oneName(fs, args)
	if !ok {
		return code
	}
	perm, err := strconv.ParseUint(*mode, 8, 32)
	if err != nil || perm == 0 || perm > 0o777 {
		return cli.Usage(fs, "bad -mode %q (want octal permission bits such as 0600)", *mode)
	}
	switch *kind {
	case "spsc":
	case "mpmc":
		return cmd.fail(std, errMPMCNotSupported)
	default:
		return cli.Usage(fs, "unknown -kind %q (want spsc or mpmc)", *kind)
	}

	r, err := shmring.Create(name, &shmring.Options{Size: *size, Mode: os.FileMode(perm)})
	if err != nil {
		return cmd.fail(std, err)
	}
	fmt.Fprintf(std.out, "created %s: spsc, capacity %d bytes, largest message %d bytes\n",
		r.Name(), r.Capacity(), r.MaxMessage())
	if err := r.Close(); err != nil {
		return cmd.fail(std, err)
	}
	return cli.ExitOK
}
