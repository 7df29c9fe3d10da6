package fence

import "sync/atomic"

// Flag is a word that one goroutine, its owner, sets and clears with Set;
// others read it with Load after their own sequentially consistent store and
// Barrier (see the package documentation). Only the owner may call Set.
type Flag struct {
	v atomic.Uint32
}

// Load returns the flag's value, with acquire ordering: a 0 loaded after
// Barrier means the owner's accesses before its Set(0) are done.
func (f *Flag) Load() uint32 { return f.v.Load() }
