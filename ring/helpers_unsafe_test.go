package ring

import "unsafe"

// This file holds the only unsafe code of the tests: locating a slice that
// the ring handed out inside the data area it was cut from.

// offsetIn reports where inner starts inside outer and whether all of inner,
// up to its capacity, lies within outer. A slice of capacity zero reports
// 0, true: the runtime does not advance the pointer of such a slice, so it
// has no position, and it gives access to no byte.
func offsetIn(outer, inner []byte) (int, bool) {
	if cap(inner) == 0 {
		return 0, true
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(inner)))
	if p < base || p-base >= uintptr(len(outer)) {
		return 0, false
	}
	off := int(p - base)
	return off, off+cap(inner) <= len(outer)
}
