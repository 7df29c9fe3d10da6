//go:build unix

package shm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// privatize maps the segment's file over the segment's own addresses again,
// privately (MAP_FIXED replaces the shared mapping in one step, so a
// concurrent access sees one or the other, never a hole). The caller holds
// s.mu and still owns s.f.
func (s *Segment) privatize() error {
	prot := unix.PROT_READ | unix.PROT_WRITE
	if s.readOnly {
		prot = unix.PROT_READ
	}
	_, err := unix.MmapPtr(int(s.f.Fd()), 0, unsafe.Pointer(unsafe.SliceData(s.mm)), uintptr(len(s.mm)),
		prot, unix.MAP_PRIVATE|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("map a private copy: %w", err)
	}
	return nil
}

// Contains reports whether addr lies inside the segment's mapping.
func (s *Segment) Contains(addr uintptr) bool {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s.mm)))
	return addr >= base && addr-base < uintptr(len(s.mm))
}
