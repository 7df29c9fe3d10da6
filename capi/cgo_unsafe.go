//go:build cgo && linux

package main

// #include <stdlib.h>
// #include "shmring.h"
import "C"

import (
	"unsafe"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/capi/internal/bridge"
)

// This file turns C memory into Go values and back; the structs are the
// header's own (C.shmring_options, C.shmring_stats), so their layout is
// written once, in shmring.h.

// The constants of package bridge and shmring are those of shmring.h: each
// difference below is 0; any other makes the sum positive, and its negation
// does not convert to uint: the package does not compile.
const _ = uint(-((bridge.OK-C.SHMRING_OK)*(bridge.OK-C.SHMRING_OK) +
	(bridge.EFull-C.SHMRING_EFULL)*(bridge.EFull-C.SHMRING_EFULL) +
	(bridge.EEmpty-C.SHMRING_EEMPTY)*(bridge.EEmpty-C.SHMRING_EEMPTY) +
	(bridge.ETooLarge-C.SHMRING_ETOOLARGE)*(bridge.ETooLarge-C.SHMRING_ETOOLARGE) +
	(bridge.ECorrupt-C.SHMRING_ECORRUPT)*(bridge.ECorrupt-C.SHMRING_ECORRUPT) +
	(bridge.EClosed-C.SHMRING_ECLOSED)*(bridge.EClosed-C.SHMRING_ECLOSED) +
	(bridge.EBusy-C.SHMRING_EBUSY)*(bridge.EBusy-C.SHMRING_EBUSY) +
	(bridge.EPeerDead-C.SHMRING_EPEERDEAD)*(bridge.EPeerDead-C.SHMRING_EPEERDEAD) +
	(bridge.EParentDead-C.SHMRING_EPARENTDEAD)*(bridge.EParentDead-C.SHMRING_EPARENTDEAD) +
	(bridge.EMismatch-C.SHMRING_EMISMATCH)*(bridge.EMismatch-C.SHMRING_EMISMATCH) +
	(bridge.ENotRing-C.SHMRING_ENOTRING)*(bridge.ENotRing-C.SHMRING_ENOTRING) +
	(bridge.EVersion-C.SHMRING_EVERSION)*(bridge.EVersion-C.SHMRING_EVERSION) +
	(bridge.EName-C.SHMRING_ENAME)*(bridge.EName-C.SHMRING_ENAME) +
	(bridge.ENoSpace-C.SHMRING_ENOSPACE)*(bridge.ENoSpace-C.SHMRING_ENOSPACE) +
	(bridge.ENotSupported-C.SHMRING_ENOTSUPPORTED)*(bridge.ENotSupported-C.SHMRING_ENOTSUPPORTED) +
	(bridge.EEOF-C.SHMRING_EEOF)*(bridge.EEOF-C.SHMRING_EEOF) +
	(bridge.ETimeout-C.SHMRING_ETIMEOUT)*(bridge.ETimeout-C.SHMRING_ETIMEOUT) +
	(bridge.EExist-C.SHMRING_EEXIST)*(bridge.EExist-C.SHMRING_EEXIST) +
	(bridge.ENoEnt-C.SHMRING_ENOENT)*(bridge.ENoEnt-C.SHMRING_ENOENT) +
	(bridge.EInval-C.SHMRING_EINVAL)*(bridge.EInval-C.SHMRING_EINVAL) +
	(bridge.EPerm-C.SHMRING_EPERM)*(bridge.EPerm-C.SHMRING_EPERM) +
	(bridge.EAborted-C.SHMRING_EABORTED)*(bridge.EAborted-C.SHMRING_EABORTED) +
	(bridge.EOther-C.SHMRING_EOTHER)*(bridge.EOther-C.SHMRING_EOTHER) +
	(shmring.NumEvents-C.SHMRING_NUM_EVENTS)*(shmring.NumEvents-C.SHMRING_NUM_EVENTS) +
	(int(shmring.MPMC)-C.SHMRING_MPMC)*(int(shmring.MPMC)-C.SHMRING_MPMC) +
	(int(shmring.SPSC)-C.SHMRING_SPSC)*(int(shmring.SPSC)-C.SHMRING_SPSC) +
	(int(shmring.Spin)-C.SHMRING_SPIN)*(int(shmring.Spin)-C.SHMRING_SPIN) +
	(int(shmring.Block)-C.SHMRING_BLOCK)*(int(shmring.Block)-C.SHMRING_BLOCK) +
	(int(shmring.Adaptive)-C.SHMRING_ADAPTIVE)*(int(shmring.Adaptive)-C.SHMRING_ADAPTIVE)))

// maxSpan bounds the length of a C array taken as a slice: a larger size_t
// (SIZE_MAX for "no limit", say) is cut to it, since unsafe.Slice panics on
// a length past the address space, and a panic would end the C program.
// Past maxSpan, arguments are not real buffers anyway.
const maxSpan = 1 << 40

// span returns n, cut to maxSpan elements of size bytes.
func span(n C.size_t, size uintptr) int { return int(min(uint64(n), maxSpan/uint64(size))) }

// bytesAt returns the n bytes at p as a slice (nil for n == 0), valid for
// the duration of the C call that gave them.
func bytesAt(p unsafe.Pointer, n C.size_t) []byte {
	if n == 0 || p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), span(n, 1))
}

// options reads a shmring_options (nil for NULL: the defaults).
func options(p unsafe.Pointer) *bridge.Options {
	if p == nil {
		return nil
	}
	o := (*C.shmring_options)(p)
	return &bridge.Options{
		Kind:         int32(o.kind),
		Wait:         int32(o.wait),
		Size:         int64(o.size),
		Mode:         uint32(o.mode),
		SlotSize:     int32(o.slot_size),
		Participants: int32(o.participants),
		WatchParent:  int32(o.watch_parent),
		SpinBudgetNs: int64(o.spin_budget_ns),
		Lanes:        int32(o.lanes),
	}
}

// putStats writes s into the shmring_stats at p.
func putStats(p unsafe.Pointer, s shmring.Stats) {
	*(*C.shmring_stats)(p) = C.shmring_stats{
		msgs_sent:      C.uint64_t(s.MsgsSent),
		bytes_sent:     C.uint64_t(s.BytesSent),
		msgs_received:  C.uint64_t(s.MsgsReceived),
		bytes_received: C.uint64_t(s.BytesReceived),
		full_waits:     C.uint64_t(s.FullWaits),
		empty_waits:    C.uint64_t(s.EmptyWaits),
		sleeps:         C.uint64_t(s.Sleeps),
		wakes:          C.uint64_t(s.Wakes),
		reaped:         C.uint64_t(s.Reaped),
	}
}

// batch returns how many messages the C arrays msgs and lens of n entries
// hold (n, or maxSpan's share of it), and message i.
func batch(msgs unsafe.Pointer, lens *C.size_t, n C.size_t) (int, func(i int) []byte) {
	ptrs := unsafe.Slice((*unsafe.Pointer)(msgs), span(n, unsafe.Sizeof(msgs)))
	sizes := unsafe.Slice(lens, span(n, unsafe.Sizeof(*lens)))
	return len(ptrs), func(i int) []byte { return bytesAt(ptrs[i], sizes[i]) }
}

// lengths returns the C array lens of n size_t as []uintptr (size_t and
// uintptr have the same size wherever Go runs).
func lengths(lens *C.size_t, n C.size_t) []uintptr {
	return unsafe.Slice((*uintptr)(unsafe.Pointer(lens)), span(n, unsafe.Sizeof(*lens)))
}

// putString copies s into buf of n bytes, truncated and NUL-terminated;
// nothing when n is 0.
func putString(buf *C.char, n C.size_t, s string) {
	if n == 0 || buf == nil {
		return
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	k := copy(dst[:len(dst)-1], s)
	dst[k] = 0
}

// cMessages are the static texts of shmring_strerror, made once and never
// freed: C callers keep the pointers.
var cMessages, cUnknown = func() (map[int]*C.char, *C.char) {
	m := make(map[int]*C.char)
	for code, text := range bridge.Messages() {
		m[code] = C.CString(text)
	}
	return m, C.CString(bridge.UnknownCode)
}()
