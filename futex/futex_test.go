//go:build unix

package futex

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const (
	// watchdog bounds every wait that should end; only a hang, a lost wake-up, reaches it.
	watchdog = 10 * time.Second
	// helperWatchdog bounds a helper process, the cross-process ping-pong included.
	helperWatchdog = 45 * time.Second
	// helperEnv marks a re-executed test binary as a helper and says which one.
	helperEnv = "SHMRING_FUTEX_TEST_HELPER"
	// segmentPrefix names the files behind test mappings; TestMain looks for leftovers.
	segmentPrefix = "shmring-futex-test-"
	// segmentSize is the size of a test segment: the cookie, then the wait words.
	segmentSize = 4096
	// abortRound tells the ping side of the ping-pong that the helper is gone.
	abortRound = math.MaxUint32
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := segmentLeaks(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// segmentLeaks reports test segments still open or mapped (Linux only: it reads /proc).
func segmentLeaks() error {
	if runtime.GOOS != "linux" {
		return nil
	}
	var leaks []string
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("futex test: read mappings: %w", err)
	}
	for line := range strings.Lines(string(maps)) {
		if strings.Contains(line, segmentPrefix) {
			leaks = append(leaks, "mapping: "+strings.TrimSpace(line))
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("futex test: list descriptors: %w", err)
	}
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.Contains(target, segmentPrefix) {
			leaks = append(leaks, "descriptor "+fd.Name()+": "+target)
		}
	}
	if len(leaks) > 0 {
		return fmt.Errorf("futex test: leaked segments:\n%s", strings.Join(leaks, "\n"))
	}
	return nil
}

// openSet opens a Set and removes it when the test ends, checking that nothing is left behind.
func openSet(tb testing.TB, cookie *atomic.Uint32, nwords int) *Set {
	tb.Helper()
	s, err := Open(cookie, nwords)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		assert.NoError(tb, s.Remove())
		assertRemoved(tb, s)
	})
	return s
}

// goWait runs Wait in a goroutine and delivers its result.
func goWait(s *Set, i int, word *atomic.Uint32, val uint32, timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Wait(i, word, val, timeout) }()
	return done
}

// awaitReturn waits for a result of goWait, failing the test if it takes longer than watchdog.
func awaitReturn(tb testing.TB, done <-chan error) error {
	tb.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(watchdog):
		tb.Fatalf("Wait has not returned after %v", watchdog)
		return nil
	}
}

func TestOpenWordBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nwords int
		ok     bool
	}{
		{"negative", -1, false},
		{"zero", 0, false},
		{"one", 1, true},
		{"MaxWords", MaxWords, true},
		{"MaxWords+1", MaxWords + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cookie atomic.Uint32
			if !tc.ok {
				_, err := Open(&cookie, tc.nwords)
				require.ErrorIs(t, err, os.ErrInvalid)
				assert.Zero(t, cookie.Load(), "a refused Open must leave the cookie alone")
				return
			}
			s := openSet(t, &cookie, tc.nwords)
			assert.Equal(t, Mechanism, mechanismOf(cookie.Load()))
			var w atomic.Uint32
			assert.NoError(t, s.Wake(tc.nwords-1, &w, 1))
			assert.NoError(t, s.Wait(tc.nwords-1, &w, 0, 0))
		})
	}
}

func TestOpenMismatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cookie uint32
	}{
		{"futex", futexMarker},
		{"poll", pollMarker},
		{"sysv-semaphore", 42},
		{"unknown", 0xDEAD_BEEF},
		{"unknown above semaphore ids", semCookieLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if mechanismOf(tc.cookie) == Mechanism {
				t.Skipf("cookie %#x is this build's own mechanism", tc.cookie)
			}
			var cookie atomic.Uint32
			cookie.Store(tc.cookie)
			_, err := Open(&cookie, 1)
			require.ErrorIs(t, err, ErrMismatch)
			assert.Contains(t, err.Error(), "futex: ")
			assert.Equal(t, tc.cookie, cookie.Load(), "Open must not overwrite a foreign cookie")
		})
	}
}

func TestOpenTwiceSharesMechanism(t *testing.T) {
	var cookie, w atomic.Uint32
	s1 := openSet(t, &cookie, 2)
	marker := cookie.Load()
	require.NotZero(t, marker)
	s2 := openSet(t, &cookie, 2)
	assert.Equal(t, marker, cookie.Load(), "the second Open must reuse the first one's mechanism")

	done := goWait(s1, 1, &w, 0, -1)
	awaitSleepers(t, s1, 1, &w, 1)
	w.Store(1)
	require.NoError(t, s2.Wake(1, &w, 1))
	assert.NoError(t, awaitReturn(t, done))
}

func TestOpenConcurrent(t *testing.T) {
	var cookie atomic.Uint32
	const openers = 8
	sets := make([]*Set, openers)
	errs := make([]error, openers)
	var wg sync.WaitGroup
	for k := range openers {
		wg.Go(func() { sets[k], errs[k] = Open(&cookie, 3) })
	}
	wg.Wait()
	for k := range openers {
		require.NoError(t, errs[k])
		s := sets[k]
		t.Cleanup(func() { assert.NoError(t, s.Remove()) })
	}
	assert.Equal(t, Mechanism, mechanismOf(cookie.Load()))

	var w atomic.Uint32
	done := goWait(sets[0], 2, &w, 0, -1)
	awaitSleepers(t, sets[0], 2, &w, 1)
	w.Store(1)
	require.NoError(t, sets[openers-1].Wake(2, &w, 1))
	assert.NoError(t, awaitReturn(t, done))
}

func TestWaitValueDiffers(t *testing.T) {
	var cookie, w atomic.Uint32
	s := openSet(t, &cookie, 1)
	w.Store(7)
	for _, timeout := range []time.Duration{-1, 0, time.Hour} {
		t.Run(fmt.Sprint(timeout), func(t *testing.T) {
			assert.NoError(t, awaitReturn(t, goWait(s, 0, &w, 6, timeout)))
		})
	}
}

func TestWaitTimeout(t *testing.T) {
	var cookie, w atomic.Uint32
	s := openSet(t, &cookie, 1)
	for _, timeout := range []time.Duration{0, time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			start := time.Now()
			require.NoError(t, awaitReturn(t, goWait(s, 0, &w, 0, timeout)))
			assert.GreaterOrEqual(t, time.Since(start), timeout, "Wait returned before its timeout")
		})
	}
}

func TestWakeWakesSleeper(t *testing.T) {
	const nwords = 4
	for _, tc := range []struct {
		name string
		i    int
		n    int
	}{
		{"first word, one", 0, 1},
		{"last word, one", nwords - 1, 1},
		{"zero means all", 1, 0},
		{"negative means all", 2, -1},
		{"MaxInt32", 0, math.MaxInt32},
		{"above MaxInt32", 3, math.MaxInt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cookie, w atomic.Uint32
			s := openSet(t, &cookie, nwords)
			done := goWait(s, tc.i, &w, 0, -1)
			awaitSleepers(t, s, tc.i, &w, 1)
			w.Store(1)
			require.NoError(t, s.Wake(tc.i, &w, tc.n))
			assert.NoError(t, awaitReturn(t, done))
		})
	}
}

// TestWakeInterrupts checks WakeInterrupts: a Wake ends an untimed Wait whose word still holds its
// value, or, where the mechanism says it does not, leaves it asleep.
func TestWakeInterrupts(t *testing.T) {
	var cookie, w atomic.Uint32
	s := openSet(t, &cookie, 1)
	done := goWait(s, 0, &w, 0, -1)
	awaitSleepers(t, s, 0, &w, 1)
	require.NoError(t, s.Wake(0, &w, 0))
	if WakeInterrupts {
		assert.NoError(t, awaitReturn(t, done), "a Wake on an unchanged word ended the sleep")
		return
	}
	select {
	case err := <-done:
		t.Fatalf("Wait returned (%v) on an unchanged word although Wake does not interrupt", err)
	case <-time.After(10 * time.Millisecond):
	}
	w.Store(1)
	assert.NoError(t, awaitReturn(t, done))
}

func TestWakeAll(t *testing.T) {
	var cookie, w atomic.Uint32
	s := openSet(t, &cookie, 1)
	const sleepers = 4
	dones := make([]<-chan error, sleepers)
	for k := range dones {
		dones[k] = goWait(s, 0, &w, 0, -1)
	}
	awaitSleepers(t, s, 0, &w, sleepers)
	w.Store(1)
	require.NoError(t, s.Wake(0, &w, 0))
	for _, done := range dones {
		assert.NoError(t, awaitReturn(t, done))
	}
}

func TestWakeNoWaiter(t *testing.T) {
	var cookie, w atomic.Uint32
	s := openSet(t, &cookie, 2)
	// More wake-ups than a System V semaphore can count, so the fallback wraps around.
	for range 40_000 {
		require.NoError(t, s.Wake(0, &w, 1))
	}
	require.NoError(t, s.Wake(1, &w, 0))

	start := time.Now()
	require.NoError(t, s.Wait(0, &w, 0, 10*time.Millisecond))
	assert.GreaterOrEqual(t, time.Since(start), 10*time.Millisecond,
		"wake-ups with nobody waiting must not leave a pending wake-up behind")

	done := goWait(s, 0, &w, 0, -1)
	awaitSleepers(t, s, 0, &w, 1)
	w.Store(1)
	require.NoError(t, s.Wake(0, &w, 1))
	assert.NoError(t, awaitReturn(t, done))
}

func TestIndexOutOfRange(t *testing.T) {
	var cookie, w atomic.Uint32
	s := openSet(t, &cookie, 2)
	for _, i := range []int{-1, 2, MaxWords} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			assert.Panics(t, func() { _ = s.Wait(i, &w, 1, 0) })
			assert.Panics(t, func() { _ = s.Wake(i, &w, 1) })
		})
	}
}

func TestRemoveIdempotent(t *testing.T) {
	var cookie atomic.Uint32
	s, err := Open(&cookie, 2)
	require.NoError(t, err)
	require.NoError(t, s.Remove())
	assertRemoved(t, s)
	require.NoError(t, s.Remove())
	assertRemoved(t, s)
}

func TestReleaseIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(*Set) error
	}{
		{"Release", (*Set).Release},
		{"Detach", (*Set).Detach},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cookie atomic.Uint32
			s := openSet(t, &cookie, 2)
			require.NoError(t, tc.drop(s))
			assert.NoError(t, tc.drop(s))
			assert.NoError(t, s.Release())
			assert.NoError(t, s.Detach())
		})
	}
}

// TestHoldAdopt hands a Set over the way a parent hands a segment to a child: the parent holds,
// releases its own reference, and only then the child adopts. The hold must keep the mechanism
// alive in between, and the child's Release must then remove it.
func TestHoldAdopt(t *testing.T) {
	var cookie, w atomic.Uint32
	parent, err := Open(&cookie, 2)
	require.NoError(t, err)
	require.NoError(t, parent.Hold())
	require.NoError(t, parent.Release())
	child, err := Adopt(&cookie, 2)
	require.NoError(t, err, "the hold must keep the mechanism alive")

	done := goWait(child, 1, &w, 0, -1)
	awaitSleepers(t, child, 1, &w, 1)
	w.Store(1)
	require.NoError(t, child.Wake(1, &w, 1))
	assert.NoError(t, awaitReturn(t, done))
	require.NoError(t, child.Release())
	assertRemoved(t, child)
}

// segment is a test segment: a shared mapping of an unlinked temporary file holding the cookie
// at offset 0 and wait words after it.
type segment struct {
	file *os.File
	mem  []byte
}

// newSegment creates a segment and closes it when the test ends.
func newSegment(tb testing.TB) *segment {
	tb.Helper()
	f, err := os.CreateTemp("", segmentPrefix+"*")
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, f.Close()) })
	require.NoError(tb, os.Remove(f.Name()))
	require.NoError(tb, f.Truncate(segmentSize))
	return mapSegment(tb, f)
}

// mapSegment maps a segment file shared, read-write, and unmaps it when the test ends.
func mapSegment(tb testing.TB, f *os.File) *segment {
	tb.Helper()
	mem, err := unix.Mmap(int(f.Fd()), 0, segmentSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, unix.Munmap(mem)) })
	return &segment{file: f, mem: mem}
}

// cookie is the segment's cookie word.
func (g *segment) cookie() *atomic.Uint32 { return wordAt(g.mem, 0) }

// word is wait word k of the segment.
func (g *segment) word(k int) *atomic.Uint32 { return wordAt(g.mem, 4*(k+1)) }

// startHelper re-executes the test binary as helper process name, running only test, with the
// segment's file as descriptor 3. The helper is killed after helperWatchdog.
func startHelper(t *testing.T, name, test string, seg *segment) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), helperWatchdog)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1",
		"-test.timeout="+(2*helperWatchdog).String())
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.ExtraFiles = []*os.File{seg.file}
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	return cmd, out
}

// helperSegment maps the segment that startHelper passed as descriptor 3.
func helperSegment(t *testing.T) *segment {
	t.Helper()
	f := os.NewFile(3, segmentPrefix+"inherited")
	require.NotNil(t, f)
	t.Cleanup(func() { assert.NoError(t, f.Close()) })
	return mapSegment(t, f)
}

// pingPongRounds is how many round trips the cross-process test makes; polling sleeps at least
// pollMinSleep per turn, so the poll mechanism makes fewer.
func pingPongRounds() uint32 {
	if Mechanism == "poll" {
		return 2_000
	}
	return 100_000
}

// TestCrossProcessPingPong bounces a counter between this process and a helper process through
// two words, both sides sleeping without a timeout between turns: a lost wake-up hangs both, and
// the watchdog turns that into a failure.
func TestCrossProcessPingPong(t *testing.T) {
	if os.Getenv(helperEnv) == "pong" {
		pong(t)
		return
	}
	seg := newSegment(t)
	s := openSet(t, seg.cookie(), 2)
	ping, pongWord := seg.word(0), seg.word(1)
	cmd, out := startHelper(t, "pong", "TestCrossProcessPingPong", seg)

	rounds := pingPongRounds()
	pinged := make(chan error, 1)
	go func() {
		for r := uint32(1); r <= rounds; r++ {
			ping.Store(r)
			if err := s.Wake(0, ping, 1); err != nil {
				pinged <- err
				return
			}
			for q := pongWord.Load(); q != r; q = pongWord.Load() {
				if q != r-1 {
					pinged <- fmt.Errorf("round %d: pong word holds %d", r, q)
					return
				}
				if err := s.Wait(1, pongWord, q, -1); err != nil {
					pinged <- err
					return
				}
			}
		}
		pinged <- nil
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var pingErr, exitErr error
	select {
	case pingErr = <-pinged:
		if pingErr != nil {
			assert.NoError(t, cmd.Process.Kill())
		}
		exitErr = <-exited
	case exitErr = <-exited:
		// The helper is gone before the last round: release the ping side.
		pongWord.Store(abortRound)
		require.NoError(t, s.Wake(1, pongWord, 0))
		pingErr = <-pinged
	}
	require.NoError(t, exitErr, "helper failed, or hung on a lost wake-up; its output:\n%s", out)
	require.NoError(t, pingErr)
	assert.Equal(t, rounds, ping.Load())
	assert.Equal(t, rounds, pongWord.Load())
}

// pong is the helper side of TestCrossProcessPingPong.
func pong(t *testing.T) {
	seg := helperSegment(t)
	s, err := Open(seg.cookie(), 2)
	require.NoError(t, err)
	ping, pongWord := seg.word(0), seg.word(1)
	for r := uint32(1); r <= pingPongRounds(); r++ {
		for p := ping.Load(); p != r; p = ping.Load() {
			require.Equal(t, r-1, p, "round %d", r)
			require.NoError(t, s.Wait(0, ping, p, -1))
		}
		pongWord.Store(r)
		require.NoError(t, s.Wake(1, pongWord, 1))
	}
}

// BenchmarkWakeNoWaiter measures a Wake on a word of a shared file mapping that nobody waits on.
func BenchmarkWakeNoWaiter(b *testing.B) {
	seg := newSegment(b)
	s := openSet(b, seg.cookie(), 1)
	w := seg.word(0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := s.Wake(0, w, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/wake")
}

// BenchmarkPingPong measures round trips between two goroutines that sleep between turns on
// words of a shared file mapping.
func BenchmarkPingPong(b *testing.B) {
	seg := newSegment(b)
	s := openSet(b, seg.cookie(), 2)
	ping, pongWord := seg.word(0), seg.word(1)
	rounds := uint32(b.N)
	ponged := make(chan error, 1)
	go func() {
		for r := uint32(1); r <= rounds; r++ {
			for p := ping.Load(); p != r; p = ping.Load() {
				if err := s.Wait(0, ping, p, -1); err != nil {
					ponged <- err
					return
				}
			}
			pongWord.Store(r)
			if err := s.Wake(1, pongWord, 1); err != nil {
				ponged <- err
				return
			}
		}
		ponged <- nil
	}()
	trips := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for r := uint32(1); r <= rounds; r++ {
		start := time.Now()
		ping.Store(r)
		if err := s.Wake(0, ping, 1); err != nil {
			b.Fatal(err)
		}
		for q := pongWord.Load(); q != r; q = pongWord.Load() {
			if err := s.Wait(1, pongWord, q, -1); err != nil {
				b.Fatal(err)
			}
		}
		trips = append(trips, time.Since(start))
	}
	b.StopTimer()
	if err := <-ponged; err != nil {
		b.Fatal(err)
	}
	slices.Sort(trips)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
	b.ReportMetric(float64(trips[len(trips)*99/100].Nanoseconds()), "p99-ns/roundtrip")
}
