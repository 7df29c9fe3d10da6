//go:build cgo && linux

package main

// #include <stddef.h>
// #include <stdint.h>
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/capi/internal/bridge"
)

// The exported functions of shmring.h. Each converts its C arguments, calls
// lib, and returns a code through result, which records a failure as the
// calling thread's last error: a function exported to C runs on the C
// caller's thread, locked to it for the call. Their documentation is in
// shmring.h; cgo writes other prototypes (without const, with plain
// uint64_t and void*) into the generated header, for the same symbols and
// the same calling convention.

// lib is the state of the C API in this process.
var lib bridge.Bridge

func main() {}

// result returns err's code, recording err as the thread's last error.
func result(err error) C.int { return C.int(lib.Result(err)) }

// result64 is result for functions returning int64_t: n, or err's code.
func result64(n int, err error) C.int64_t {
	if err != nil {
		return C.int64_t(lib.Result(err))
	}
	return C.int64_t(n)
}

// errNull is the error of a NULL pointer argument.
func errNull(what string) error {
	return fmt.Errorf("shmring: %s is NULL: %w", what, bridge.ErrInvalid)
}

// newHandle stores h in *out, or reports err.
func newHandle(out *C.uint64_t, h uint64, err error) C.int {
	if err != nil {
		return result(err)
	}
	*out = C.uint64_t(h)
	return 0
}

//export shmring_strerror
func shmring_strerror(code C.int) *C.char {
	if s, ok := cMessages[int(code)]; ok {
		return s
	}
	return cUnknown
}

//export shmring_last_error
func shmring_last_error(buf *C.char, n C.size_t) C.size_t {
	msg := lib.LastError()
	putString(buf, n, msg)
	return C.size_t(len(msg))
}

// openRing is the body of the functions that open a ring by name.
func openRing(name *C.char, opts unsafe.Pointer, out *C.uint64_t, open func(string, *bridge.Options) (uint64, error)) C.int {
	switch {
	case name == nil:
		return result(errNull("name"))
	case out == nil:
		return result(errNull("out"))
	}
	h, err := open(C.GoString(name), options(opts))
	return newHandle(out, h, err)
}

//export shmring_create
func shmring_create(name *C.char, opts unsafe.Pointer, out *C.uint64_t) C.int {
	return openRing(name, opts, out, lib.Create)
}

//export shmring_open
func shmring_open(name *C.char, opts unsafe.Pointer, out *C.uint64_t) C.int {
	return openRing(name, opts, out, lib.Open)
}

//export shmring_open_or_create
func shmring_open_or_create(name *C.char, opts unsafe.Pointer, out *C.uint64_t) C.int {
	return openRing(name, opts, out, lib.OpenOrCreate)
}

//export shmring_inherit
func shmring_inherit(key *C.char, opts unsafe.Pointer, out *C.uint64_t) C.int {
	return openRing(key, opts, out, lib.Inherit)
}

//export shmring_create_anonymous
func shmring_create_anonymous(opts unsafe.Pointer, out *C.uint64_t) C.int {
	if out == nil {
		return result(errNull("out"))
	}
	h, err := lib.CreateAnonymous(options(opts))
	return newHandle(out, h, err)
}

//export shmring_pass_fd
func shmring_pass_fd(r C.uint64_t, key *C.char, env *C.char, envlen C.size_t) C.int {
	switch {
	case key == nil:
		return result(errNull("key"))
	case env == nil:
		return result(errNull("env"))
	}
	fd, s, err := lib.PassFD(uint64(r), C.GoString(key), int(min(uint64(envlen), math.MaxInt)))
	if err != nil {
		return result(err)
	}
	putString(env, envlen, s)
	return C.int(fd)
}

//export shmring_close
func shmring_close(r C.uint64_t) C.int { return result(lib.Close(uint64(r))) }

//export shmring_close_stream
func shmring_close_stream(r C.uint64_t) C.int { return result(lib.CloseStream(uint64(r))) }

//export shmring_unlink
func shmring_unlink(name *C.char) C.int {
	if name == nil {
		return result(errNull("name"))
	}
	return result(shmring.Unlink(C.GoString(name)))
}

//export shmring_kind
func shmring_kind(r C.uint64_t) C.int {
	k, err := lib.Kind(uint64(r))
	if err != nil {
		return result(err)
	}
	return C.int(k)
}

//export shmring_max_message
func shmring_max_message(r C.uint64_t) C.int64_t { return result64(lib.MaxMessage(uint64(r))) }

//export shmring_capacity
func shmring_capacity(r C.uint64_t) C.int64_t { return result64(lib.Capacity(uint64(r))) }

//export shmring_producer_open
func shmring_producer_open(r C.uint64_t, out *C.uint64_t) C.int {
	if out == nil {
		return result(errNull("out"))
	}
	h, err := lib.ProducerOpen(uint64(r))
	return newHandle(out, h, err)
}

//export shmring_consumer_open
func shmring_consumer_open(r C.uint64_t, out *C.uint64_t) C.int {
	if out == nil {
		return result(errNull("out"))
	}
	h, err := lib.ConsumerOpen(uint64(r))
	return newHandle(out, h, err)
}

//export shmring_producer_close
func shmring_producer_close(p C.uint64_t) C.int { return result(lib.ProducerClose(uint64(p))) }

//export shmring_consumer_close
func shmring_consumer_close(c C.uint64_t) C.int { return result(lib.ConsumerClose(uint64(c))) }

// stats is the body of the two stats functions.
func stats(out unsafe.Pointer, s shmring.Stats, err error) C.int {
	switch {
	case err != nil:
		return result(err)
	case out == nil:
		return result(errNull("out"))
	}
	putStats(out, s)
	return 0
}

//export shmring_producer_stats
func shmring_producer_stats(p C.uint64_t, out unsafe.Pointer) C.int {
	s, err := lib.ProducerStats(uint64(p))
	return stats(out, s, err)
}

//export shmring_consumer_stats
func shmring_consumer_stats(c C.uint64_t, out unsafe.Pointer) C.int {
	s, err := lib.ConsumerStats(uint64(c))
	return stats(out, s, err)
}

//export shmring_send
func shmring_send(p C.uint64_t, msg unsafe.Pointer, n C.size_t, timeoutNs C.int64_t) C.int {
	if msg == nil && n != 0 {
		return result(errNull("msg"))
	}
	return result(lib.Send(uint64(p), bytesAt(msg, n), int64(timeoutNs)))
}

//export shmring_try_send
func shmring_try_send(p C.uint64_t, msg unsafe.Pointer, n C.size_t) C.int {
	if msg == nil && n != 0 {
		return result(errNull("msg"))
	}
	return result(lib.TrySend(uint64(p), bytesAt(msg, n)))
}

//export shmring_send_batch
func shmring_send_batch(p C.uint64_t, msgs unsafe.Pointer, lens *C.size_t, n C.size_t, timeoutNs C.int64_t) C.int64_t {
	if n != 0 && (msgs == nil || lens == nil) {
		return result64(0, errNull("msgs or lens"))
	}
	k, msg := batch(msgs, lens, n)
	return result64(lib.SendBatch(uint64(p), k, msg, int64(timeoutNs)))
}

//export shmring_recv
func shmring_recv(c C.uint64_t, buf unsafe.Pointer, n C.size_t, timeoutNs C.int64_t) C.int64_t {
	if buf == nil && n != 0 {
		return result64(0, errNull("buf"))
	}
	return result64(lib.Recv(uint64(c), bytesAt(buf, n), int64(timeoutNs)))
}

//export shmring_try_recv
func shmring_try_recv(c C.uint64_t, buf unsafe.Pointer, n C.size_t) C.int64_t {
	if buf == nil && n != 0 {
		return result64(0, errNull("buf"))
	}
	return result64(lib.TryRecv(uint64(c), bytesAt(buf, n)))
}

//export shmring_recv_batch
func shmring_recv_batch(c C.uint64_t, buf unsafe.Pointer, n C.size_t, lens *C.size_t, max C.size_t, timeoutNs C.int64_t) C.int64_t {
	switch {
	case buf == nil && n != 0:
		return result64(0, errNull("buf"))
	case lens == nil:
		return result64(0, errNull("lens"))
	}
	return result64(lib.RecvBatch(uint64(c), bytesAt(buf, n), lengths(lens, max), int64(timeoutNs)))
}

//export shmring_consumer_fd
func shmring_consumer_fd(c C.uint64_t) C.int {
	fd, err := lib.ConsumerFD(uint64(c))
	if err != nil {
		return result(err)
	}
	return C.int(fd)
}

//export shmring_producer_fd
func shmring_producer_fd(p C.uint64_t) C.int {
	fd, err := lib.ProducerFD(uint64(p))
	if err != nil {
		return result(err)
	}
	return C.int(fd)
}

//export shmring_num_events
func shmring_num_events() C.int { return shmring.NumEvents }

//export shmring_event_set
func shmring_event_set(r C.uint64_t, i C.int) C.int { return result(lib.EventSet(uint64(r), int(i))) }

//export shmring_event_clear
func shmring_event_clear(r C.uint64_t, i C.int) C.int {
	return result(lib.EventClear(uint64(r), int(i)))
}

//export shmring_event_is_set
func shmring_event_is_set(r C.uint64_t, i C.int) C.int {
	set, err := lib.EventIsSet(uint64(r), int(i))
	switch {
	case err != nil:
		return result(err)
	case set:
		return 1
	}
	return 0
}

//export shmring_event_wait
func shmring_event_wait(r C.uint64_t, i C.int, timeoutNs C.int64_t) C.int {
	return result(lib.EventWait(uint64(r), int(i), int64(timeoutNs)))
}

//export shmring_event_fd
func shmring_event_fd(r C.uint64_t, i C.int) C.int {
	fd, err := lib.EventFD(uint64(r), int(i))
	if err != nil {
		return result(err)
	}
	return C.int(fd)
}

//export shmring_event_fd_close
func shmring_event_fd_close(r C.uint64_t, fd C.int) C.int {
	return result(lib.EventFDClose(uint64(r), int(fd)))
}
