//go:build amd64 && !race

package fence

import (
	"sync/atomic"
	"unsafe"
)

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

// Store64 stores v in w: a plain release store when PlainStores, else a
// sequentially consistent one. It is for a word that one process writes
// and others read with atomic loads, where the ordering against the
// writer's later loads is paid by the rare reader (GlobalBarrier; see the
// package documentation). The argument for the plain store is Set's.
func Store64(w *atomic.Uint64, v uint64) {
	if PlainStores {
		*(*uint64)(unsafe.Pointer(w)) = v
		return
	}
	w.Store(v)
}
