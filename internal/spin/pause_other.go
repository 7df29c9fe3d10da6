//go:build !amd64 && !arm64

package spin

// Pause executes the processor's spin-wait hint once; this architecture has
// none that Go exposes, so it returns at once.
func Pause() {}
