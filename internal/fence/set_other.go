//go:build !amd64 || race

package fence

// Set stores v in the flag with a sequentially consistent store: this build
// has no release-store stub (or runs under the race detector, which must see
// the hand-off), so it does not rely on Barrier.
func (f *Flag) Set(v uint32) { f.v.Store(v) }
