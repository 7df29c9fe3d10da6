//go:build !linux

package fence

// Asymmetric is false: this system has no membarrier, so Set is a full
// barrier itself.
const Asymmetric = false

// Barrier does nothing: Set is sequentially consistent here.
func Barrier() {}
