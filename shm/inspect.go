package shm

import "fmt"

// OpenReadOnly opens and maps the existing segment name (see Path) for
// inspection only. It follows the steps of Open (no symlink followed, no FIFO
// blocked on, the header validated against the real file size, with the same
// errors) but never opens the file for writing: the file is opened O_RDONLY
// and mapped PROT_READ. The Segment's Region is read-only memory (a write
// faults), and its Lock fails with an error wrapping os.ErrPermission;
// Locked works. This is what tools use on files they do not own.
func OpenReadOnly(name string) (*Segment, error) {
	p, err := Path(name)
	if err != nil {
		return nil, err
	}
	s, err := openReadOnlyPath(p)
	if err != nil {
		return nil, fmt.Errorf("shm: open %q read-only: %w", p, err)
	}
	return s, nil
}
