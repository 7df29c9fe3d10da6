//go:build linux && !shmring_nofutex && !shmring_portable

package futex

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// assertRemoved checks that Remove destroyed nothing: futexes keep nothing outside the segment,
// so the Set still works.
func assertRemoved(tb testing.TB, s *Set) {
	tb.Helper()
	var w atomic.Uint32
	assert.NoError(tb, s.Wake(0, &w, 1))
}

// awaitSleepers waits until at least k threads of this process sleep in FUTEX_WAIT on word,
// as /proc/self/task/*/syscall shows them. It matches the operation 0, FUTEX_WAIT without
// FUTEX_PRIVATE_FLAG, so it also checks that Wait uses the shared operation.
func awaitSleepers(tb testing.TB, _ *Set, _ int, word *atomic.Uint32, k int) {
	tb.Helper()
	if _, err := os.ReadFile("/proc/thread-self/syscall"); err != nil {
		tb.Logf("cannot watch threads sleep (%v): giving the sleepers time instead", err)
		time.Sleep(50 * time.Millisecond)
		return
	}
	want := []string{strconv.Itoa(unix.SYS_FUTEX), fmt.Sprintf("%p", word), "0x0"}
	deadline := time.Now().Add(watchdog)
	for {
		n, err := futexSleepers(want)
		if err != nil {
			tb.Fatal(err)
		}
		if n >= k {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d threads sleep in FUTEX_WAIT on %p after %v", n, k, word, watchdog)
		}
		time.Sleep(time.Millisecond)
	}
}

// futexSleepers counts the threads of this process whose current system call starts with want.
func futexSleepers(want []string) (int, error) {
	tasks, err := filepath.Glob("/proc/self/task/*/syscall")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread exited
		}
		fields := strings.Fields(string(b))
		if len(fields) >= len(want) && slices.Equal(fields[:len(want)], want) {
			n++
		}
	}
	return n, nil
}
