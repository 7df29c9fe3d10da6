//go:build linux

// Package bridge is the C API of shmring in pure Go: the handle table, the
// mapping of errors to the integer codes of shmring.h, the conversion of
// options and timeouts, the per-thread last error, the readiness and event
// descriptors, and the packing of batches. Package capi's exported functions
// only convert C values to Go ones and call a Bridge, so that everything
// here is tested without cgo.
//
// A Bridge is safe for concurrent use. Its methods take handles (uint64,
// never 0, never reused) and plain Go values, and return Go errors; Result
// turns an error into a code and records it as the calling thread's last
// error.
package bridge
