//go:build linux && !shmring_portable

// Error helpers shared by the two Linux mechanisms.

package futex

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// notSupported adds ErrNotSupported to ENOSYS, which a kernel or sandbox without the system
// call returns, and passes every other errno through.
func notSupported(errno unix.Errno) error {
	if errno == unix.ENOSYS {
		return fmt.Errorf("%w: %w", ErrNotSupported, errno)
	}
	return errno
}
