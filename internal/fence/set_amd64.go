//go:build amd64 && !race

package fence

// Set stores v in the flag: a plain release store when Asymmetric, else a
// sequentially consistent one.
func (f *Flag) Set(v uint32) {
	if Asymmetric {
		storeRelease(&f.v, v)
		return
	}
	f.v.Store(v)
}
