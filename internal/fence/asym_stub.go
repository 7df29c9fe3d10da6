//go:build amd64 && !race

package fence

// asymmetricSupported: Set can be a plain store in this build.
const asymmetricSupported = true
