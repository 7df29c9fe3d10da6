package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The report: a file each participant shares with the parent (passed as
// descriptor 3, mapped by both), through which the participant says what it
// did. Plain stores into a shared mapping survive a kill -9 the instant they
// are made, without a system call, so what a participant wrote before it was
// killed is exactly what it had done. Layout (little-endian):
//
//	0     written      uint64  records appended; stored after each record
//	8     read         uint64  records the parent has taken; stored by the parent
//	16    state        uint32  stateStarted, stateReady
//	20    pending      uint32  entries of the pending list in use
//	24    lostWakeups  uint64  Ring.LostWakeups, refreshed now and then
//	32    reaped       uint64  Stats.Reaped of the endpoint, likewise
//	64    pending list maxPending × {id uint32, 0 uint32, seq uint64}
//	4096  records      logCap × {kind uint32, a uint32, b uint64}, a circle
//	...   receive buffer of a copying consumer, up to the largest message
//
// The pending list names the messages a consumer was given in place and has
// not yet reported, because it has not released them yet: a consumer killed
// with a pending list may or may not have consumed those. A consumer that
// copies receives into the receive buffer, so that the message a consumer
// killed right after Recv returned took with it can still be named.
const (
	offWritten     = 0
	offRead        = 8
	offState       = 16
	offPending     = 20
	offLostWakeups = 24
	offReaped      = 32
	offPendingList = 64
	reportHeader   = 4096
	recordSize     = 16
	logCap         = 1 << 16
	maxPending     = 64
	offBuffer      = reportHeader + logCap*recordSize
)

// Participant states.
const (
	stateStarted = iota
	stateReady   // the ring is inherited: from now on it may be killed
)

// Record kinds.
const (
	recCommit    = iota + 1 // a=id b=seq: the send returned nil
	recRecv                 // a=id b=seq: received and released
	recMaybe                // a=id b=seq: received; its release failed, so another consumer may get it too
	recTorn                 // a=id b=seq: received damaged (the participant's stderr says how)
	recWait                 // a=milliseconds b=end (Unix ns): a call that waited long
	recCancel               // a context cancellation ended a call
	recPeerDead             // ErrPeerDead ended a call
	recCloseRace            // a=1 for Ring.Close, 0 for the endpoint's: a goroutine closed under a call
)

// waitRecordMin is the shortest wait a participant records.
const waitRecordMin = 20 * time.Millisecond

// reportSize is the size of a report whose receive buffer holds maxMsg bytes.
func reportSize(maxMsg int) int {
	return (offBuffer + maxMsg + 4095) &^ 4095
}

// report is a mapped report file, seen from either side.
type report struct {
	f       *os.File
	m       []byte
	written *atomic.Uint64
	read    *atomic.Uint64
	state   *atomic.Uint32
	pending *atomic.Uint32
	lost    *atomic.Uint64
	reaped  *atomic.Uint64
	n       uint64 // participant: records appended
}

// newReport creates a report for a participant whose receive buffer holds
// maxMsg bytes. It has no name: it goes to the participant as a descriptor.
func newReport(maxMsg int) (*report, error) {
	f, err := anonymousFile(int64(reportSize(maxMsg)))
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	rep, err := mapReport(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return rep, nil
}

// mapReport maps the report file f, which it takes over.
func mapReport(f *os.File) (*report, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if fi.Size() < offBuffer {
		return nil, fmt.Errorf("report: %d bytes, want at least %d", fi.Size(), offBuffer)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("report: map: %w", err)
	}
	return &report{
		f: f, m: m,
		written: word64(m, offWritten), read: word64(m, offRead),
		state: word32(m, offState), pending: word32(m, offPending),
		lost: word64(m, offLostWakeups), reaped: word64(m, offReaped),
	}, nil
}

// close unmaps the report and closes its file.
func (r *report) close() error {
	err := unix.Munmap(r.m)
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// add appends a record. When the parent has fallen a whole circle behind,
// it waits for the parent.
func (r *report) add(kind, a uint32, b uint64) {
	for r.n-r.read.Load() >= logCap {
		time.Sleep(100 * time.Microsecond)
	}
	off := reportHeader + int(r.n%logCap)*recordSize
	binary.LittleEndian.PutUint32(r.m[off:], kind)
	binary.LittleEndian.PutUint32(r.m[off+4:], a)
	binary.LittleEndian.PutUint64(r.m[off+8:], b)
	r.n++
	// The record's stores come before this one; the parent's Load of
	// written comes before its reads of the record.
	r.written.Store(r.n)
}

// setPending makes ids the pending list.
func (r *report) setPending(ids []msgID) {
	for i, m := range ids {
		off := offPendingList + i*recordSize
		binary.LittleEndian.PutUint32(r.m[off:], m.id)
		binary.LittleEndian.PutUint64(r.m[off+8:], m.seq)
	}
	r.pending.Store(uint32(len(ids)))
}

// record is one record, as the parent reads it.
type record struct {
	kind, a uint32
	b       uint64
}

// take returns the records appended since the last take, and hands their
// room back to the participant.
func (r *report) take(dst []record) []record {
	read, written := r.read.Load(), r.written.Load()
	if written-read > logCap {
		// Only a participant that ignores the protocol writes this.
		read = written - logCap
	}
	for ; read < written; read++ {
		off := reportHeader + int(read%logCap)*recordSize
		dst = append(dst, record{
			kind: binary.LittleEndian.Uint32(r.m[off:]),
			a:    binary.LittleEndian.Uint32(r.m[off+4:]),
			b:    binary.LittleEndian.Uint64(r.m[off+8:]),
		})
	}
	r.read.Store(read)
	return dst
}

// pendingList returns the pending list, as a participant left it.
func (r *report) pendingList() []msgID {
	n := min(int(r.pending.Load()), maxPending)
	ids := make([]msgID, n)
	for i := range ids {
		off := offPendingList + i*recordSize
		ids[i] = msgID{binary.LittleEndian.Uint32(r.m[off:]), binary.LittleEndian.Uint64(r.m[off+8:])}
	}
	return ids
}

// buffer returns the receive buffer.
func (r *report) buffer() []byte { return r.m[offBuffer:] }
