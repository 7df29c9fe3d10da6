package shmring

import (
	"context"
	"errors"
	"io"
	"iter"
)

// All returns an iterator over c's messages, in order, for a range loop:
//
//	for msg, err := range c.All(ctx) {
//		if err != nil {
//			return err
//		}
//		use(msg)
//	}
//
// Each message is read in place (Peek) and released once the loop body
// returns, whether the loop goes on or breaks: msg is valid only inside the
// body, which must not write it; copy what must outlive it. The loop ends
// without an error at the end of the stream (io.EOF), and after one
// iteration with a nil message and the error of any other failure: ctx's
// cancellation or deadline, ErrPeerDead, ErrParentDead, ErrClosed (Close,
// from any goroutine), ErrCorrupt. A body that panics leaves its message
// unreleased: the next Peek returns it again.
func (c *Consumer) All(ctx context.Context) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for {
			msg, err := c.Peek(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			more := yield(msg, nil)
			if err := c.Release(); err != nil {
				if more {
					yield(nil, err)
				}
				return
			}
			if !more {
				return
			}
		}
	}
}
