package ring

import "errors"

var (
	// ErrFull reports that the ring has no room for the record now.
	ErrFull = errors.New("ring is full")
	// ErrEmpty reports that the ring holds no committed record now.
	ErrEmpty = errors.New("ring is empty")
	// ErrTooLarge reports a message larger than the ring can ever hold.
	ErrTooLarge = errors.New("message too large")
	// ErrCorrupt reports shared memory whose contents break an invariant of
	// the layout: a cursor out of range, a record length that does not fit.
	ErrCorrupt = errors.New("corrupt ring")
)
