//go:build amd64 && !race

package fence

// asymmetricSupported: Set has a plain-store stub in this build.
const asymmetricSupported = true
