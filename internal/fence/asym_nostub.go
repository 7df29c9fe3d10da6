//go:build !amd64 || race

package fence

// asymmetricSupported: Set is sequentially consistent in this build, which
// needs no barrier from the other side.
const asymmetricSupported = false
