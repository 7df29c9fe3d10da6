//go:build unix

package shm

// Read-only opening, for inspection. The file is opened
// O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK and mapped PROT_READ; every other
// step is Open's (openFile in shm_unix.go), so a file that Open rejects is
// rejected here with the same error.

// openReadOnlyPath opens, validates and maps the segment file p read-only.
func openReadOnlyPath(p string) (*Segment, error) {
	return openFile(p, true)
}
