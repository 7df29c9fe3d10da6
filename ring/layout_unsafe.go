package ring

import (
	"sync/atomic"
	"unsafe"
)

// This file is the only place where offsets of the shared region become typed
// atomics. Each word is touched only through sync/atomic, never by a plain
// load or store, so no process mixes plain and atomic access to one word.

// word64 returns the 64-bit word at b[off:off+8]. off must be a multiple of 8
// and b 8-byte aligned (checked by NewControl); the slice expression bounds
// the access to b.
func word64(b []byte, off int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&b[off : off+8][0]))
}

// word32 returns the 32-bit word at b[off:off+4]; off must be a multiple of 4.
func word32(b []byte, off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&b[off : off+4][0]))
}

// aligned8 reports whether b starts on an 8-byte boundary.
func aligned8(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 == 0
}
