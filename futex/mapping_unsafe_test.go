//go:build unix

// The only unsafe code of the tests: typed atomic words over the bytes of a shared mapping, as
// the segment layer above this package hands them out.

package futex

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// wordAt returns the 32-bit word at byte offset off of mem. It panics if the word does not lie
// inside mem or is not 4-byte aligned.
func wordAt(mem []byte, off int) *atomic.Uint32 {
	b := mem[off : off+4 : off+4]
	p := unsafe.Pointer(&b[0])
	if uintptr(p)%4 != 0 {
		panic(fmt.Sprintf("futex test: word at offset %d is not 4-byte aligned", off))
	}
	return (*atomic.Uint32)(p)
}
