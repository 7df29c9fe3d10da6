package shmring

import (
	"time"

	"github.com/shmring/shmring/ring"
)

// Test-only access to a Ring's internals, for the tests of package
// shmring_test.

// Control returns the typed view of r's shared control area, through which
// the hostile tests write corrupt cursors as a peer could.
func Control(r *Ring) *ring.Control { return r.ctl }

// Region returns r's mapped region: the control area, then the data area at
// offset ring.ControlSize.
func Region(r *Ring) []byte { return r.seg.Region() }

// MPMCView returns the typed view of r's MPMC region (nil for SPSC), through
// which the tests leave what a dead or hostile peer would.
func MPMCView(r *Ring) *ring.MPMC { return r.mp }

// Cookie returns the futex cookie word of r's segment: for the semaphore
// fallback, the id of its semaphore set plus one.
func Cookie(r *Ring) uint32 { return r.w.cookie.Load() }

// Exits returns how many processes watched by r's idle sleepers have exited
// (deaths.go): it moves when a sleeper learnt of a death from the kernel
// rather than from its own look.
func Exits(r *Ring) uint32 { return r.deaths.exits.Load() }

// SetWatchedSlice makes r's watched sleeps take slices of d, so that a test
// can tell a wake-up from the end of a slice.
func SetWatchedSlice(r *Ring, d time.Duration) {
	r.deaths.mu.Lock()
	defer r.deaths.mu.Unlock()
	r.deaths.slice = d
}

// WatchedPeers returns the process ids whose exit r's sleepers watch, of
// the SPSC producer and consumer; 0 where none is watched.
func WatchedPeers(r *Ring) (producer, consumer int) {
	r.deaths.mu.Lock()
	defer r.deaths.mu.Unlock()
	return watchedPid(&r.deaths.peers[lockProducer]), watchedPid(&r.deaths.peers[lockConsumer])
}

// WatchedEntry returns the process id whose exit r's sleepers watch for
// MPMC participant entry i; 0 where none is watched.
func WatchedEntry(r *Ring, i int) int {
	r.deaths.mu.Lock()
	defer r.deaths.mu.Unlock()
	if i >= len(r.deaths.entry) {
		return 0
	}
	return watchedPid(&r.deaths.entry[i])
}

// watchedPid returns the process id dw watches, 0 where it watches none or
// its process exited.
func watchedPid(dw *deathWatch) int {
	if dw.w == nil || dw.fired.Load() {
		return 0
	}
	return dw.pid
}
