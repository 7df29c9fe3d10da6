//go:build !amd64 || race

package fence

import "sync/atomic"

// asymmetricSupported: Set is sequentially consistent in this build, which
// needs no barrier from the other side.
const asymmetricSupported = false

// Set stores v in the flag with a sequentially consistent store: this build
// has no plain release store (or runs under the race detector, which must
// see the hand-off), so it does not rely on Barrier.
func (f *Flag) Set(v uint32) { f.v.Store(v) }

// Store64 stores v in w with a sequentially consistent store: this build has
// no plain release store.
func Store64(w *atomic.Uint64, v uint64) { w.Store(v) }
