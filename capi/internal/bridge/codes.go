//go:build linux

package bridge

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/shmring/shmring"
)

// The codes of shmring.h: 0 for success, a negative value for each error.
const (
	OK            = 0
	EFull         = -1
	EEmpty        = -2
	ETooLarge     = -3
	ECorrupt      = -4
	EClosed       = -5
	EBusy         = -6
	EPeerDead     = -7
	EParentDead   = -8
	EMismatch     = -9
	ENotRing      = -10
	EVersion      = -11
	EName         = -12
	ENoSpace      = -13
	ENotSupported = -14
	EEOF          = -15
	ETimeout      = -16
	EExist        = -17
	ENoEnt        = -18
	EInval        = -19
	EPerm         = -20
	EOther        = -99
)

// ErrInvalid: a bad argument or a handle that was never given out
// (SHMRING_EINVAL).
var ErrInvalid = errors.New("shmring: invalid argument")

// codes maps errors to codes, tried in order with errors.Is: ErrParentDead
// before ErrPeerDead, which it matches too; a segment's name errors before
// the file system's.
var codes = []struct {
	err  error
	code int
}{
	{ErrInvalid, EInval},
	{shmring.ErrFull, EFull},
	{shmring.ErrEmpty, EEmpty},
	{shmring.ErrTooLarge, ETooLarge},
	{io.ErrShortBuffer, ETooLarge},
	{shmring.ErrCorrupt, ECorrupt},
	{shmring.ErrClosed, EClosed},
	{shmring.ErrBusy, EBusy},
	{shmring.ErrParentDead, EParentDead},
	{shmring.ErrPeerDead, EPeerDead},
	{shmring.ErrMismatch, EMismatch},
	{shmring.ErrNotRing, ENotRing},
	{shmring.ErrVersion, EVersion},
	{shmring.ErrName, EName},
	{shmring.ErrNoSpace, ENoSpace},
	{shmring.ErrNotSupported, ENotSupported},
	{io.EOF, EEOF},
	{context.DeadlineExceeded, ETimeout},
	{os.ErrExist, EExist},
	{os.ErrNotExist, ENoEnt},
	{os.ErrPermission, EPerm},
}

// Code returns the code of err: OK for nil, EOther for an error that
// matches none of the sentinels.
func Code(err error) int {
	if err == nil {
		return OK
	}
	// The per-message states first, with ==: no errors.Is walk on a busy
	// try loop.
	switch err {
	case shmring.ErrFull:
		return EFull
	case shmring.ErrEmpty:
		return EEmpty
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return EOther
}

// messages are the static texts of the codes (shmring_strerror).
var messages = map[int]string{
	OK:            "success",
	EFull:         "ring full",
	EEmpty:        "ring empty",
	ETooLarge:     "message too large",
	ECorrupt:      "ring corrupt",
	EClosed:       "closed",
	EBusy:         "role already attached",
	EPeerDead:     "peer process died",
	EParentDead:   "parent process died",
	EMismatch:     "ring does not match the options",
	ENotRing:      "not a shmring segment",
	EVersion:      "unsupported segment version",
	EName:         "bad ring name",
	ENoSpace:      "no room for the segment",
	ENotSupported: "not supported",
	EEOF:          "end of stream",
	ETimeout:      "timed out",
	EExist:        "ring exists",
	ENoEnt:        "no such ring",
	EInval:        "invalid argument",
	EPerm:         "permission denied",
	EOther:        "other error (see shmring_last_error)",
}

// UnknownCode is the text of a code that shmring.h does not define.
const UnknownCode = "unknown error code"

// Messages returns the static text of every code, for shmring_strerror.
func Messages() map[int]string { return messages }
