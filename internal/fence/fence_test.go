package fence

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestDekker checks the property the package documentation claims, as a
// gate uses it: the owner runs calls back to back (Set(1), a look at closed,
// the call, Set(0)); the closer stores closed, calls Barrier and loads the
// flag. When it loads 0, no call may complete after that: the owner must
// have seen closed. Without Barrier (on amd64, where Set is a plain store)
// the owner's Set(1) can still sit in its store buffer while its look at
// closed has already been answered, and the test sees calls complete.
//
// The second variant runs the same property on Store64 and GlobalBarrier,
// the pair that publishes ring cursors (package documentation, "Publication
// across processes"): the threads of this process are among those a global
// barrier interrupts.
func TestDekker(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two threads running at once")
	}
	t.Run("Set and Barrier", func(t *testing.T) {
		t.Logf("Asymmetric = %v", Asymmetric)
		var flag Flag
		dekker(t, flag.Set, flag.Load, Barrier)
	})
	t.Run("Store64 and GlobalBarrier", func(t *testing.T) {
		t.Logf("PlainStores = %v, CanGlobalBarrier = %v", PlainStores, CanGlobalBarrier)
		var word atomic.Uint64
		set := func(v uint32) { Store64(&word, uint64(v)) }
		load := func() uint32 { return uint32(word.Load()) }
		dekker(t, set, load, GlobalBarrier)
	})
}

// dekker runs the gate property of TestDekker on a flag written with set
// and read with load, and a closer's barrier.
func dekker(t *testing.T, set func(uint32), load func() uint32, barrier func()) {
	rounds := 100000
	if testing.Short() {
		rounds = 10000
	}
	var (
		closed atomic.Uint32
		stop   atomic.Bool
		calls  atomic.Uint64 // calls the owner completed
	)
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			set(1)
			if closed.Load() != 0 {
				set(0)
				for i := 0; closed.Load() != 0 && !stop.Load(); i++ {
					if i%64 == 63 {
						runtime.Gosched()
					}
				}
				continue
			}
			calls.Add(1)
			set(0)
		}
	})
	violations := 0
	for range rounds {
		closed.Store(1)
		barrier()
		if load() == 0 {
			// A call that saw closed clear completes within a
			// few instructions of the look.
			n := calls.Load()
			for range 1000 {
				if calls.Load() != n {
					violations++
					break
				}
			}
		}
		closed.Store(0)
		for range 4 {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	if violations != 0 {
		t.Fatalf("%d of %d rounds: a call completed after the closer saw the flag clear", violations, rounds)
	}
}

// TestSetLoad: Load returns what the owner Set last.
func TestSetLoad(t *testing.T) {
	var f Flag
	for _, v := range []uint32{1, 0, 7, 0} {
		f.Set(v)
		if got := f.Load(); got != v {
			t.Fatalf("Load after Set(%d) = %d", v, got)
		}
	}
}
