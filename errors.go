package shmring

import (
	"errors"
	"fmt"
	"os"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// Errors of ring states, shared with package ring: the same values, so that
// errors.Is works whichever layer reported them.
var (
	// ErrFull: TrySend or TryReserve found no room for the message now.
	ErrFull = ring.ErrFull
	// ErrEmpty: TryRecv or TryPeek found no committed message now.
	ErrEmpty = ring.ErrEmpty
	// ErrTooLarge: the message is larger than the ring can ever hold
	// (Ring.MaxMessage).
	ErrTooLarge = ring.ErrTooLarge
	// ErrCorrupt: the segment's contents break an invariant. Errors from
	// opening a segment whose header is damaged match it too.
	ErrCorrupt = ring.ErrCorrupt
)

// Errors of segments, shared with package shm.
var (
	// ErrNotRing: the file is not a shmring segment (empty, no magic, not a
	// regular file).
	ErrNotRing = shm.ErrNotRing
	// ErrVersion: the segment was made by an incompatible format version.
	ErrVersion = shm.ErrVersion
	// ErrName: the ring name is not valid.
	ErrName = shm.ErrName
	// ErrNoSpace: the file system cannot hold the segment.
	ErrNoSpace = shm.ErrNoSpace
	// ErrNotSupported: this platform has no shared-memory segments yet
	// (every system but Linux).
	ErrNotSupported = shm.ErrNotSupported
)

var (
	// ErrClosed: the endpoint or ring was closed. It is os.ErrClosed.
	ErrClosed = os.ErrClosed
	// ErrBusy: another endpoint of the same role is attached to the ring.
	ErrBusy = errors.New("ring already has an endpoint of this role attached")
	// ErrPeerDead: the process on the other side died while attached,
	// without closing its endpoint. A new peer may attach later; the next
	// call checks again.
	ErrPeerDead = errors.New("peer process died")
	// ErrParentDead: the parent process died while this process waited on
	// a ring that watches it (one obtained with Inherit, or opened with
	// Options.WatchParent). It matches ErrPeerDead too (errors.Is), and
	// is never io.EOF: a normal end of stream and an orphaned worker are
	// told apart.
	ErrParentDead error = parentDeadError{}
	// ErrMismatch: Open, OpenOrCreate or Inherit was asked explicitly for
	// a kind, size, slot size or number of participants that the existing
	// ring does not have. The error names both.
	ErrMismatch = errors.New("ring does not match the requested options")
	// ErrAborted is matched (errors.Is) by the *AbortError a consumer gets
	// at the end of a stream ended by Ring.AbortStream.
	ErrAborted = errors.New("stream aborted")
)

// AbortError is what a consumer gets, instead of io.EOF, once it has drained
// a stream that Ring.AbortStream ended: Code is the abort's reason, as the
// aborting process gave it (a ring that another process scribbled on may
// give any code, 0 included). It matches ErrAborted.
type AbortError struct {
	Code uint32
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("shmring: stream aborted (code %d)", e.Code)
}

// Is reports whether target is ErrAborted.
func (e *AbortError) Is(target error) bool { return target == ErrAborted }

// parentDeadError is the type of ErrParentDead, which matches ErrPeerDead.
type parentDeadError struct{}

func (parentDeadError) Error() string        { return "parent process died" }
func (parentDeadError) Is(target error) bool { return target == ErrPeerDead }

// corruptError marks an error from a lower layer as ErrCorrupt while keeping
// its message and chain.
type corruptError struct{ error }

func (e corruptError) Is(target error) bool { return target == ErrCorrupt }
func (e corruptError) Unwrap() error        { return e.error }

// classify makes a segment's corrupt-header error match ErrCorrupt.
func classify(err error) error {
	if errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, ErrCorrupt) {
		return corruptError{err}
	}
	return err
}
