//go:build unix && (!linux || shmring_portable)

package futex

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// assertRemoved checks that Remove destroyed nothing: polling keeps nothing outside the segment,
// so the Set still works.
func assertRemoved(tb testing.TB, s *Set) {
	tb.Helper()
	var w atomic.Uint32
	assert.NoError(tb, s.Wake(0, &w, 1))
}

// awaitSleepers gives the k sleepers on word i time to start polling: a poller cannot be
// observed, and Wait is correct whether or not it has started.
func awaitSleepers(tb testing.TB, _ *Set, _ int, _ *atomic.Uint32, _ int) {
	tb.Helper()
	time.Sleep(10 * pollMaxSleep)
}
