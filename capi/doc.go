//go:build cgo && linux

// Command capi is the C API of shmring, built as a shared library:
//
//	go build -buildmode=c-shared -o libshmring.so ./capi
//
// C programs include shmring.h (the hand-written, documented header next to
// this file, not the generated libshmring.h) and link with -lshmring. The
// exported functions (main.go) convert C arguments and call package
// bridge, which holds the logic in pure Go; cgo_unsafe.go converts C memory
// and structs. Only this package uses cgo; the C test (test/) and the
// example (example/) are built and run by capi_test.go.
package main
