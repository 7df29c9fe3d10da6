//go:build linux

package main

import (
	"sync/atomic"
	"unsafe"
)

// This file is the only place in bench where bytes of shared memory become
// typed atomics: the bare ring's two indexes and the cache line's sequence
// word. They are touched only through sync/atomic.

// word64 returns the 64-bit word at mem[off:off+8]. mem comes from mmap and
// is page aligned; off must be a multiple of 8, and the slice expression
// bounds the access to mem.
func word64(mem []byte, off int) *atomic.Uint64 {
	if off%8 != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%8 != 0 {
		panic("bench: misaligned shared word")
	}
	return (*atomic.Uint64)(unsafe.Pointer(&mem[off : off+8][0]))
}
