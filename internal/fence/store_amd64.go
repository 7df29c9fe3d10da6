//go:build amd64 && !race

package fence

import "sync/atomic"

// storeRelease stores v in *p with one MOV: on amd64 a store is never
// reordered with earlier loads or stores, so it is a release store, and
// unlike atomic.Uint32.Store (XCHG) it does not wait for the store buffer
// to drain. Being an assembly function, it is also a compiler barrier.
//
//go:noescape
func storeRelease(p *atomic.Uint32, v uint32)
