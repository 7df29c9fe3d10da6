//go:build !linux

package pidwatch

import (
	"errors"
	"fmt"
)

// Supported reports whether Open can work on this system: not on this one.
const Supported = false

// Watch calls a function once, when the process it watches exits. On this
// system Open always fails.
type Watch struct{}

// Open fails on this system, which has no pidfds: the caller looks at the
// process now and then instead.
func Open(pid int, _ func()) (*Watch, error) {
	return nil, fmt.Errorf("pidwatch: process %d: %w", pid, errors.ErrUnsupported)
}

// Close does nothing: no Watch is ever opened on this system.
func (*Watch) Close() error { return nil }

// Namespace returns 0: process ids are not compared across processes here.
func Namespace() uint64 { return 0 }
