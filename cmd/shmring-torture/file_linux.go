package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// anonymousFile returns a memory file of size bytes with no name (memfd), so
// nothing is left behind whatever happens to the process.
func anonymousFile(size int64) (*os.File, error) {
	fd, err := unix.MemfdCreate("shmring-torture", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "shmring-torture")
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
