//go:build amd64 || arm64

package spin

// Pause executes the processor's spin-wait hint once.
func Pause()
