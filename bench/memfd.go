//go:build linux

package main

// Sealed memfds: the shared memory of the bare ring and of the cache line.
// The harness creates the file, seals it against resizing and hands it to
// the peer; each side maps it after checking its size, so that a peer
// cannot make a mapping fault (SIGBUS) by shrinking the file under it.

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sealedMemfd creates a memfd of size bytes, sealed against shrinking,
// growing and further sealing; what names it in errors.
func sealedMemfd(what string, size int) (*os.File, error) {
	fd, err := unix.MemfdCreate("shmring-bench-"+what, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: memfd: %w", what, err)
	}
	f := os.NewFile(uintptr(fd), what)
	if err := f.Truncate(int64(size)); err != nil {
		return nil, errors.Join(fmt.Errorf("bench: %s: %w", what, err), f.Close())
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return nil, errors.Join(fmt.Errorf("bench: %s: seal: %w", what, err), f.Close())
	}
	return f, nil
}

// mapFile maps the size bytes of f, shared, after checking that f has that
// size. The mapping outlives f.
func mapFile(what string, f *os.File, size int) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", what, err)
	}
	if fi.Size() != int64(size) {
		return nil, fmt.Errorf("bench: %s: file of %d bytes, want %d", what, fi.Size(), size)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: mmap: %w", what, err)
	}
	return mem, nil
}

// inheritMapping maps, in the peer, the size bytes of the file passed under
// key, and closes the descriptor.
func inheritMapping(what, key string, size int) ([]byte, error) {
	f, err := inheritFile(key)
	if err != nil {
		return nil, err
	}
	mem, err := mapFile(what, f, size)
	if cerr := f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("bench: %s: %w", what, cerr))
		if mem != nil {
			err = errors.Join(err, unix.Munmap(mem))
			mem = nil
		}
	}
	return mem, err
}

// passMapping creates a sealed memfd of size bytes, maps it here and hands
// it to p under key: the harness's side of inheritMapping.
func passMapping(what string, size int, p *peer, key string) ([]byte, error) {
	f, err := sealedMemfd(what, size)
	if err != nil {
		return nil, err
	}
	mem, err := mapFile(what, f, size)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	if err := p.passFile(key, f); err != nil {
		return nil, errors.Join(err, unix.Munmap(mem), f.Close())
	}
	return mem, nil
}

// mapping is a mapping of a sealed memfd; its close unmaps it, once.
type mapping struct{ mem []byte }

func (m *mapping) close() error {
	if m.mem == nil {
		return nil
	}
	err := unix.Munmap(m.mem)
	m.mem = nil
	return err
}
