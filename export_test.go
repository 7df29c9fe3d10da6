package shmring

import "github.com/shmring/shmring/ring"

// Test-only access to a Ring's internals, for the tests of package
// shmring_test.

// LostWakeups returns how many sleeps on r ended with their condition true
// but no wake-up (see wait.go); the eventcount protocol says it stays zero.
func LostWakeups(r *Ring) uint64 { return r.lostWakeups.Load() }

// Control returns the typed view of r's shared control area, through which
// the hostile tests write corrupt cursors as a peer could.
func Control(r *Ring) *ring.Control { return r.ctl }

// Region returns r's mapped region: the control area, then the data area at
// offset ring.ControlSize.
func Region(r *Ring) []byte { return r.seg.Region() }

// MPMCView returns the typed view of r's MPMC region (nil for SPSC), through
// which the tests leave what a dead or hostile peer would.
func MPMCView(r *Ring) *ring.MPMC { return r.mp }
