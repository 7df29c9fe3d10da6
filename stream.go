package shmring

import (
	"fmt"
	"io"
	"os"
)

// CloseStream ends the stream from outside the producer, as Producer.Close
// does from inside: it marks the stream closed in the segment and wakes the
// consumer, which reads what was committed, then gets io.EOF. It is meant for
// a ring whose producer is gone or never came (the shmring command's close):
// while a producer is attached, the consumer may stop before reading what
// that producer sends afterwards. A producer that attaches later reopens the
// stream (Ring.Producer clears the mark), and a consumer that attaches after
// the closed stream was read to its end waits for that producer (see
// Ring.Consumer). It returns ErrClosed after Close.
//
// An MPMC stream ends only this way (a producer that detaches does not end
// it), and for good: every Send fails with ErrClosed from then on, in every
// process, producers attaching later included, and every consumer gets
// io.EOF once what was committed before is drained and no consumer holds a
// message anymore (one that dies holding it would hand it on).
func (r *Ring) CloseStream() (err error) {
	oldFault, ok := r.enter()
	if !ok {
		return ErrClosed
	}
	defer r.leave(oldFault, &err)
	r.endStream(streamEnded)
	return nil
}

// AbortStream ends the stream as CloseStream does, with a reason the
// consumers get: they drain what was committed, then get an *AbortError
// holding code (errors.Is(err, ErrAborted)) instead of io.EOF, so that a
// stream cut short (a producer interrupted, a job cancelled) is told from
// one that finished. code is the application's, from 1 to MaxAbortCode.
// An abort replaces an end that no consumer has read yet, and nothing
// replaces an abort: a producer that detaches or a CloseStream afterwards
// leaves it. It returns ErrClosed after Close, and an error wrapping
// os.ErrInvalid for a code out of range.
func (r *Ring) AbortStream(code uint32) (err error) {
	if code == 0 || code > MaxAbortCode {
		return fmt.Errorf("shmring: abort code %d outside [1, %d]: %w", code, MaxAbortCode, os.ErrInvalid)
	}
	oldFault, ok := r.enter()
	if !ok {
		return ErrClosed
	}
	defer r.leave(oldFault, &err)
	r.endStream(streamAborted | code)
	return nil
}

// endStream stores end (streamEnded, or streamAborted with a code) in the
// closed word, then wakes the consumers, and on an MPMC ring the producers.
// Nothing replaces an abort, and an abort replaces only an open stream or an
// end no consumer has read (a normal end replaces a read one, as a producer
// that reopened the stream and closed it again does). Steps (a) and (b) of
// wait.go: the consumer's emptied reads the word after finding the ring
// empty. An MPMC producer waiting for room reads it too (its claim fails
// with ErrClosed).
func (r *Ring) endStream(end uint32) {
	for {
		v := r.w.closed.Load()
		if v&streamAborted != 0 || end != streamEnded && v != 0 && v != streamEnded {
			break
		}
		if r.w.closed.CompareAndSwap(v, end) {
			break
		}
	}
	r.wakeIfWaiting(r.dataWords())
	if r.mp != nil {
		r.wakeIfWaiting(r.spaceWords())
	}
}

// The closed word of a ring (SPSC and MPMC alike) says whether and how its
// stream ended. It is 0 while the stream is open (an SPSC producer clears it
// when it attaches; an MPMC stream never reopens), streamEnded at a normal
// end (Producer.Close of an SPSC ring, CloseStream), and streamAborted|code
// at an abort (AbortStream). An SPSC consumer that reads the end marks it
// read (streamRead, or streamAborted|streamAbortRead|code), so that a
// consumer attaching later waits for the next producer (Ring.Consumer).
// Another process can write anything there: a word with streamAborted is an
// abort whatever its code, and any other non-zero word is a normal end.
const (
	streamEnded     = 1
	streamRead      = 2
	streamAborted   = 1 << 31
	streamAbortRead = 1 << 30
	// MaxAbortCode is the largest code AbortStream takes.
	MaxAbortCode = streamAbortRead - 1
)

// streamReadMark returns the closed word v marked read by a consumer: v
// itself when there is nothing to mark.
func streamReadMark(v uint32) uint32 {
	switch {
	case v == streamEnded:
		return streamRead
	case v&streamAborted != 0:
		return v | streamAbortRead
	}
	return v
}

// streamWasRead reports whether the closed word v is an end a consumer read.
func streamWasRead(v uint32) bool {
	return v == streamRead || v&(streamAborted|streamAbortRead) == streamAborted|streamAbortRead
}

// endError returns what a consumer that drained the stream gets for the
// closed word v: io.EOF, or an *AbortError.
func endError(v uint32) error {
	if v&streamAborted != 0 {
		return &AbortError{Code: v & MaxAbortCode}
	}
	return io.EOF
}
