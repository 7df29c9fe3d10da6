//go:build linux

package main

// Transports: one small interface over every way of moving messages.
//
// A stream is one way. This process opens it (open) and hands the far end to
// the peer (a child process, or a goroutine for in-process transports), which
// opens it there (inherit); each side then attaches the endpoint it plays with
// sender or receiver. Messages stay whole: a send of n messages arrives as n
// messages of the same sizes, in order.
//
// A shared stream (sharedStream) is one that more processes than two join:
// the MPMC ring, which the harness hands to every producer and consumer
// process and ends itself once all producers are done.
//
// The endpoints loop over the messages themselves, so every transport pays
// the same one interface call per batch and per read, and what is measured is
// the transport. Each message is copied once into the transport by send and,
// except by the zero-copy receivers, once out of it by read.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring"
)

// Transport names: the transport field of a row.
const (
	tShmring   = "shmring"
	tMPMC      = "shmring-mpmc"
	tLanes     = "shmring-lanes"
	tPipe      = "pipe"
	tSeqpacket = "seqpacket"
	tChan      = "chan"
	tBare      = "bare-ring"
	tLine      = "cacheline"
	tMemcpy    = "memcpy"
)

// APIs of the shmring transport: the api field of a row.
const (
	apiCopy     = "copy"
	apiZerocopy = "zerocopy"
	apiBatch    = "batch"
	apiChannel  = "channel"
)

// errNotApplicable marks a row that cannot run on this machine; the row is
// listed with the reason, and is not a failure.
var errNotApplicable = errors.New("not applicable")

// kind names what a row measures, apart from its scenario and size.
type kind struct {
	Transport string `json:"transport"`
	Strategy  string `json:"strategy"` // shmring's wait strategy, or ""
	API       string `json:"api"`      // shmring's API, or ""
}

// role is the end of a stream a process plays.
type role uint8

const (
	sending role = iota
	receiving
)

// other returns the end the other side plays.
func (r role) other() role {
	if r == sending {
		return receiving
	}
	return sending
}

// streamSpec describes a stream to open.
type streamSpec struct {
	size     int // bytes in every message
	capacity int // bytes the transport may buffer (ring size)
	batch    int // messages per batch of the batch API
	// producers is how many producers share an MPMC ring, as many as its
	// lanes in a shmring-lanes row.
	producers int
	local     role // the end this process plays; the peer plays the other
	// ctx ends, when the run is abandoned, the waits that would not end by
	// themselves: the bare ring's spinning on a dead peer, the in-process
	// channel, the select of the channel API.
	ctx context.Context
}

// transport is one way of moving messages between two processes.
type transport interface {
	// open makes a stream in this process for the local end of s. A
	// cross-process transport hands the far end to p's process under key,
	// where inherit opens it; an in-process transport keeps both ends.
	open(s streamSpec, p *peer, key string) (stream, error)
	// inherit opens, in the peer process, the far end handed over under key.
	inherit(s streamSpec, key string) (stream, error)
	// inProcess reports that both ends live in one process (p runs a
	// goroutine instead of a child).
	inProcess() bool
}

// stream is one process's hold on a stream.
type stream interface {
	// sender attaches a sending endpoint, receiver a receiving one. An
	// SPSC transport gives one of each across both processes; the MPMC
	// ring attaches one more per call, in any process that joined it.
	sender() (sender, error)
	receiver() (receiver, error)
	// close releases this process's resources; the peer's stay valid.
	close() error
}

// sharedStream is a stream that any number of peer processes join, each
// attaching its own endpoints: the MPMC ring.
type sharedStream interface {
	stream
	// join hands the stream to one more peer, which inherits it under key;
	// call it before the peer starts.
	join(p *peer, key string) error
	// end ends the stream for every process: receivers get io.EOF once
	// they have taken what was sent.
	end() error
}

// sender is the sending endpoint of a stream.
type sender interface {
	// send sends msgs in order; the batch API publishes them together, the
	// others one at a time.
	send(msgs [][]byte) error
	// close ends the stream; a receiver that reads on gets io.EOF once it
	// has everything (the bare ring has no end-of-stream mark; an MPMC
	// sender only detaches, and sharedStream.end ends the stream).
	close() error
}

// receiver is the receiving endpoint of a stream.
type receiver interface {
	// read waits for at least one message, passes each message it takes
	// to fn in order (msg is valid only during the call) and returns how
	// many; io.EOF when the stream has ended.
	read(fn func(msg []byte)) (int, error)
}

// newTransport returns the transport that k names.
func newTransport(k kind) (transport, error) {
	switch k.Transport {
	case tShmring:
		w, err := parseStrategy(k.Strategy)
		if err != nil {
			return nil, err
		}
		switch k.API {
		case apiCopy, apiZerocopy, apiBatch, apiChannel:
			return ringTransport{kind: shmring.SPSC, wait: w, api: k.API}, nil
		}
		return nil, fmt.Errorf("bench: unknown shmring api %q", k.API)
	case tMPMC, tLanes:
		w, err := parseStrategy(k.Strategy)
		if err != nil {
			return nil, err
		}
		if k.API != apiCopy && k.API != apiBatch {
			return nil, fmt.Errorf("bench: the %s transport has the %s and %s apis only, not %q",
				k.Transport, apiCopy, apiBatch, k.API)
		}
		return ringTransport{kind: shmring.MPMC, wait: w, api: k.API, lanes: k.Transport == tLanes}, nil
	case tPipe:
		return pipeTransport{}, nil
	case tSeqpacket:
		return seqpacketTransport{}, nil
	case tChan:
		return chanTransport{}, nil
	case tBare:
		return bareTransport{}, nil
	case tLine:
		return lineTransport{}, nil
	}
	return nil, fmt.Errorf("bench: %q is not a transport", k.Transport)
}

func parseStrategy(s string) (shmring.WaitStrategy, error) {
	for _, w := range []shmring.WaitStrategy{shmring.Spin, shmring.Adaptive, shmring.Block} {
		if w.String() == s {
			return w, nil
		}
	}
	return 0, fmt.Errorf("bench: unknown wait strategy %q", s)
}

// The shmring transports: an anonymous ring passed with Ring.Pass, SPSC
// (shmring) or MPMC (shmring-mpmc, slots of one message each, every peer
// that joins attaching its own endpoints). Calls use context.Background, as
// the ring notices a dead peer by itself.

type ringTransport struct {
	kind  shmring.Kind
	wait  shmring.WaitStrategy
	api   string
	lanes bool // a lane per producer (shmring-lanes)
}

// isMPMC reports whether transport t is one of the MPMC rows'.
func isMPMC(t string) bool { return t == tMPMC || t == tLanes }

func (t ringTransport) open(s streamSpec, p *peer, key string) (stream, error) {
	opts := &shmring.Options{Kind: t.kind, Size: int64(s.capacity), Wait: t.wait}
	if t.kind == shmring.MPMC {
		opts.SlotSize = s.size
	}
	if t.lanes {
		opts.Lanes = s.producers
	}
	r, err := shmring.CreateAnonymous(opts)
	if err != nil {
		return nil, err
	}
	if err := p.passRing(r, key); err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return t.newStream(r, s)
}

func (t ringTransport) inherit(s streamSpec, key string) (stream, error) {
	r, err := shmring.Inherit(key, &shmring.Options{Wait: t.wait})
	if err != nil {
		return nil, err
	}
	return t.newStream(r, s)
}

func (t ringTransport) newStream(r *shmring.Ring, s streamSpec) (stream, error) {
	if r.MaxMessage() < s.size {
		return nil, errors.Join(fmt.Errorf("bench: ring of %d bytes cannot hold %d-byte messages", r.Capacity(), s.size), r.Close())
	}
	return &ringStream{api: t.api, s: s, r: r}, nil
}

func (ringTransport) inProcess() bool { return false }

type ringStream struct {
	api string
	s   streamSpec
	r   *shmring.Ring
}

func (rs *ringStream) sender() (sender, error) {
	p, err := rs.r.Producer()
	if err != nil {
		return nil, err
	}
	switch rs.api {
	case apiZerocopy:
		return zerocopySender{p}, nil
	case apiBatch:
		return batchSender{p}, nil
	}
	return copySender{p}, nil
}

func (rs *ringStream) receiver() (receiver, error) {
	c, err := rs.r.Consumer()
	if err != nil {
		return nil, err
	}
	switch rs.api {
	case apiZerocopy:
		return zerocopyReceiver{c}, nil
	case apiBatch:
		return batchReceiver{c: c, max: rs.s.batch}, nil
	case apiChannel:
		return &channelReceiver{c: c, buf: make([]byte, rs.s.size), ready: c.Ready(), ctx: rs.s.ctx}, nil
	}
	if rs.r.Kind() == shmring.MPMC {
		return drainReceiver{c: c, buf: make([]byte, rs.s.size), max: rs.s.batch}, nil
	}
	return copyReceiver{c: c, buf: make([]byte, rs.s.size)}, nil
}

func (rs *ringStream) close() error { return rs.r.Close() }

func (rs *ringStream) join(p *peer, key string) error { return p.passRing(rs.r, key) }

func (rs *ringStream) end() error { return rs.r.CloseStream() }

// copySender sends with Send, one publication per message.
type copySender struct{ p *shmring.Producer }

func (s copySender) send(msgs [][]byte) error {
	for _, m := range msgs {
		if err := s.p.Send(context.Background(), m); err != nil {
			return err
		}
	}
	return nil
}

func (s copySender) close() error { return s.p.Close() }

// zerocopySender writes each message in place with Reserve and Commit.
type zerocopySender struct{ p *shmring.Producer }

func (s zerocopySender) send(msgs [][]byte) error {
	for _, m := range msgs {
		buf, err := s.p.Reserve(context.Background(), len(m))
		if err != nil {
			return err
		}
		if err := s.p.Commit(copy(buf, m)); err != nil {
			return err
		}
	}
	return nil
}

func (s zerocopySender) close() error { return s.p.Close() }

// batchSender publishes each call's messages once, with SendBatch.
type batchSender struct{ p *shmring.Producer }

func (s batchSender) send(msgs [][]byte) error {
	_, err := s.p.SendBatch(context.Background(), msgs)
	return err
}

func (s batchSender) close() error { return s.p.Close() }

// copyReceiver copies each message out with Recv.
type copyReceiver struct {
	c   *shmring.Consumer
	buf []byte
}

func (r copyReceiver) read(fn func([]byte)) (int, error) {
	n, err := r.c.Recv(context.Background(), r.buf)
	if err != nil {
		return 0, err
	}
	fn(r.buf[:n])
	return 1, nil
}

// drainReceiver copies messages out with Recv, the MPMC ring's copy API: a
// Recv that waits for the first, then TryRecv for whatever else is
// committed, up to max per call. Each message costs what a Recv does; taking
// several per call lets the MPMC consumer read its clock once per call
// rather than once per message.
type drainReceiver struct {
	c   *shmring.Consumer
	buf []byte
	max int
}

func (r drainReceiver) read(fn func([]byte)) (int, error) {
	n, err := r.c.Recv(context.Background(), r.buf)
	if err != nil {
		return 0, err
	}
	fn(r.buf[:n])
	k := 1
	for ; k < r.max; k++ {
		// An error (ErrEmpty, io.EOF) is for the next call to see again.
		if n, err = r.c.TryRecv(r.buf); err != nil {
			break
		}
		fn(r.buf[:n])
	}
	return k, nil
}

// zerocopyReceiver reads each message in place with Peek and Release.
type zerocopyReceiver struct{ c *shmring.Consumer }

func (r zerocopyReceiver) read(fn func([]byte)) (int, error) {
	msg, err := r.c.Peek(context.Background())
	if err != nil {
		return 0, err
	}
	fn(msg)
	if err := r.c.Release(); err != nil {
		return 0, err
	}
	return 1, nil
}

// batchReceiver reads in place up to max messages per call with ReadBatch.
type batchReceiver struct {
	c   *shmring.Consumer
	max int
}

func (r batchReceiver) read(fn func([]byte)) (int, error) {
	return r.c.ReadBatch(context.Background(), r.max, fn)
}

// channelReceiver selects on Ready and drains with TryRecv, as a consumer
// that waits on a ring together with other channels does.
type channelReceiver struct {
	c     *shmring.Consumer
	buf   []byte
	ready <-chan struct{}
	ctx   context.Context // ends the wait when the run is abandoned
}

func (r *channelReceiver) read(fn func([]byte)) (int, error) {
	k := 0
	for {
		n, err := r.c.TryRecv(r.buf)
		if err == nil {
			fn(r.buf[:n])
			k++
			continue
		}
		if k > 0 {
			// Report what was delivered; the next call sees err again.
			return k, nil
		}
		if !errors.Is(err, shmring.ErrEmpty) {
			return 0, err
		}
		select {
		case <-r.ready:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// The descriptor transports: a pipe and a SEQPACKET socketpair, read and
// written with blocking system calls, the cheapest way through them: no Go
// netpoller in the way.

type pipeTransport struct{}

func (pipeTransport) open(s streamSpec, p *peer, key string) (stream, error) {
	// Not os.Pipe: it registers both ends with the Go netpoller (epoll),
	// and every wake-up on the pipe then runs the epoll callback too, which
	// halved the pipe's throughput here.
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("bench: pipe: %w", err)
	}
	rd, wr := os.NewFile(uintptr(fds[0]), "pipe:r"), os.NewFile(uintptr(fds[1]), "pipe:w")
	local, far := rd, wr
	if s.local == sending {
		local, far = wr, rd
	}
	if err := p.passFile(key, far); err != nil {
		return nil, errors.Join(err, rd.Close(), wr.Close())
	}
	return newFdStream(local, s.size, false), nil
}

func (pipeTransport) inherit(s streamSpec, key string) (stream, error) {
	f, err := inheritFile(key)
	if err != nil {
		return nil, err
	}
	return newFdStream(f, s.size, false), nil
}

func (pipeTransport) inProcess() bool { return false }

type seqpacketTransport struct{}

// seqpacketOverhead is what an AF_UNIX datagram costs in the sender's buffer
// beyond its payload (the kernel refuses a datagram larger than the send
// buffer minus 32 bytes; this leaves room for the skb accounting too).
const seqpacketOverhead = 4096

func (seqpacketTransport) open(s streamSpec, p *peer, key string) (_ stream, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("bench: socketpair: %w", err)
	}
	local, far := os.NewFile(uintptr(fds[0]), "seqpacket:0"), os.NewFile(uintptr(fds[1]), "seqpacket:1")
	defer func() {
		if err != nil {
			err = errors.Join(err, local.Close(), far.Close())
		}
	}()
	for _, fd := range fds {
		if err := sizeSocket(fd, s.size); err != nil {
			return nil, err
		}
	}
	if err := p.passFile(key, far); err != nil {
		return nil, err
	}
	return newFdStream(local, s.size, true), nil
}

// sizeSocket makes fd's buffers hold a few messages of size bytes when the
// default would not hold one, with the FORCE options (root) past the
// system's maximum. It fails with errNotApplicable when the kernel still
// would not take a datagram that large.
func sizeSocket(fd, size int) error {
	need := size + seqpacketOverhead
	have, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return fmt.Errorf("bench: seqpacket: SO_SNDBUF: %w", err)
	}
	if have >= need {
		return nil
	}
	want := 4 * need
	for _, opt := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[0], want) != nil {
			// Without the privilege, ask within net.core.[wr]mem_max.
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[1], want)
		}
	}
	have, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return fmt.Errorf("bench: seqpacket: SO_SNDBUF: %w", err)
	}
	if have < need {
		return fmt.Errorf("bench: seqpacket: %w: a %d-byte datagram needs a send buffer of %d bytes, the kernel allows %d (raise net.core.wmem_max or run as root)",
			errNotApplicable, size, need, have)
	}
	return nil
}

func (seqpacketTransport) inherit(s streamSpec, key string) (stream, error) {
	f, err := inheritFile(key)
	if err != nil {
		return nil, err
	}
	return newFdStream(f, s.size, true), nil
}

func (seqpacketTransport) inProcess() bool { return false }

// fdStream is one end of a pipe or socket, a blocking descriptor that the
// File keeps open.
type fdStream struct {
	f        *os.File // keeps fd open
	fd       int
	size     int
	datagram bool // one read returns one whole message
}

func newFdStream(f *os.File, size int, datagram bool) *fdStream {
	return &fdStream{f: f, fd: int(f.Fd()), size: size, datagram: datagram}
}

func (s *fdStream) sender() (sender, error) { return fdSender{s}, nil }

func (s *fdStream) receiver() (receiver, error) {
	// One byte more than a message shows a datagram that is too long.
	return &fdReceiver{s: s, buf: make([]byte, s.size+1)}, nil
}

func (s *fdStream) close() error {
	if err := s.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

type fdSender struct{ s *fdStream }

func (w fdSender) send(msgs [][]byte) error {
	for _, m := range msgs {
		for len(m) > 0 {
			n, err := unix.Write(w.s.fd, m)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("bench: write %s: %w", w.s.f.Name(), err)
			}
			if w.s.datagram && n != len(m) {
				return fmt.Errorf("bench: write %s: sent %d of a %d-byte datagram", w.s.f.Name(), n, len(m))
			}
			m = m[n:]
		}
	}
	return nil
}

// close closes the descriptor: the reader gets end of file.
func (w fdSender) close() error { return w.s.close() }

type fdReceiver struct {
	s   *fdStream
	buf []byte
}

func (r *fdReceiver) read(fn func([]byte)) (int, error) {
	size := r.s.size
	if r.s.datagram {
		n, err := readRetry(r.s.fd, r.buf)
		if err != nil {
			return 0, fmt.Errorf("bench: read %s: %w", r.s.f.Name(), err)
		}
		if n == 0 {
			return 0, io.EOF
		}
		if n != size {
			return 0, fmt.Errorf("bench: read %s: a %d-byte datagram, want %d", r.s.f.Name(), n, size)
		}
	} else {
		for got := 0; got < size; {
			n, err := readRetry(r.s.fd, r.buf[got:size])
			if err != nil {
				return 0, fmt.Errorf("bench: read %s: %w", r.s.f.Name(), err)
			}
			if n == 0 {
				if got == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("bench: read %s: %w", r.s.f.Name(), io.ErrUnexpectedEOF)
			}
			got += n
		}
	}
	fn(r.buf[:size])
	return 1, nil
}

func readRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// The in-process baseline: a buffered chan []byte, a copy into one of a
// set of buffers on send and a copy out on read. The set has two buffers
// more than the channel holds, so a buffer is never reused before the
// receiver has copied it out.

type chanTransport struct{}

// maxChanDepth bounds the channel's buffer in messages.
const maxChanDepth = 1024

func (chanTransport) open(s streamSpec, _ *peer, _ string) (stream, error) {
	depth := min(max(s.capacity/s.size, 1), maxChanDepth)
	bufs := make([][]byte, depth+2)
	for i := range bufs {
		bufs[i] = make([]byte, s.size)
	}
	return &chanStream{ch: make(chan []byte, depth), bufs: bufs, size: s.size, ctx: s.ctx}, nil
}

func (chanTransport) inherit(streamSpec, string) (stream, error) {
	return nil, errors.New("bench: the chan transport runs in one process")
}

func (chanTransport) inProcess() bool { return true }

type chanStream struct {
	ch   chan []byte
	bufs [][]byte
	size int
	ctx  context.Context // ends a blocked send or read when the run is abandoned
}

func (s *chanStream) sender() (sender, error) { return &chanSender{s: s}, nil }

func (s *chanStream) receiver() (receiver, error) {
	return &chanReceiver{s: s, buf: make([]byte, s.size)}, nil
}

func (s *chanStream) close() error { return nil }

type chanSender struct {
	s    *chanStream
	next int // index of the buffer the next message goes into
}

func (w *chanSender) send(msgs [][]byte) error {
	for _, m := range msgs {
		b := w.s.bufs[w.next]
		w.next = (w.next + 1) % len(w.s.bufs)
		b = b[:copy(b, m)]
		select {
		case w.s.ch <- b:
		default:
			select {
			case w.s.ch <- b:
			case <-w.s.ctx.Done():
				return w.s.ctx.Err()
			}
		}
	}
	return nil
}

func (w *chanSender) close() error {
	close(w.s.ch)
	return nil
}

type chanReceiver struct {
	s   *chanStream
	buf []byte
}

func (r *chanReceiver) read(fn func([]byte)) (int, error) {
	var b []byte
	var ok bool
	select {
	case b, ok = <-r.s.ch:
	default:
		select {
		case b, ok = <-r.s.ch:
		case <-r.s.ctx.Done():
			return 0, r.s.ctx.Err()
		}
	}
	if !ok {
		return 0, io.EOF
	}
	fn(r.buf[:copy(r.buf, b)])
	return 1, nil
}
