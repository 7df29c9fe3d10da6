//go:build linux

package bridge

import (
	"context"
	"time"
)

// noCancel is the cancel function of a context without a deadline.
func noCancel() {}

// timeoutContext returns the context of a blocking call with a timeout of
// ns nanoseconds: no deadline when ns < 0, one that has already passed when
// ns == 0 (the call tries once; callers that have a Try twin use it), else
// ns from now.
func timeoutContext(ns int64) (context.Context, context.CancelFunc) {
	if ns < 0 {
		return context.Background(), noCancel
	}
	return context.WithTimeout(context.Background(), time.Duration(ns))
}
