package main

import (
	"sync/atomic"
	"unsafe"
)

// word64 returns the 8-byte-aligned word at off in the mapping m as an
// atomic.
func word64(m []byte, off int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&m[off : off+8][0]))
}

// word32 returns the 4-byte-aligned word at off in the mapping m as an
// atomic.
func word32(m []byte, off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&m[off : off+4][0]))
}
