//go:build amd64 && !race

package fence

import "unsafe"

// asymmetricSupported: Set can be a plain store in this build.
const asymmetricSupported = true

// Set stores v in the flag: a plain release store when Asymmetric, else a
// sequentially consistent one.
//
// The plain store is a MOV: on amd64 a store is never reordered with earlier
// loads or stores, so it is a release store, and unlike atomic.Uint32.Store
// (XCHG) it does not wait for the store buffer to drain. The Go compiler
// keeps memory operations in program order (each one takes the memory state
// the previous one left), and an assembly stub would cost an ABI wrapper
// call, as much as the rest of a call's bookkeeping together. The word is
// read only with atomic loads, which on amd64 are plain MOVs too.
func (f *Flag) Set(v uint32) {
	if Asymmetric {
		*(*uint32)(unsafe.Pointer(&f.v)) = v
		return
	}
	f.v.Store(v)
}
