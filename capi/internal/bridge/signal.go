//go:build linux

package bridge

import (
	"context"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// signalFD is an eventfd that one goroutine makes readable: the descriptor
// a C event loop (epoll, poll, libuv, asyncio's add_reader) waits on. The
// goroutine is the only writer; reset, called by the owner of the readiness
// (a try-recv that found the ring empty), is the only reader. close stops
// the goroutine and waits for it before closing the descriptor, so that a
// descriptor number is never written after it was closed and, perhaps,
// reused.
type signalFD struct {
	fd     int
	cancel context.CancelFunc
	done   chan struct{}
}

// startSignal makes an eventfd and runs watch(ctx, raise) in a goroutine of
// its own; raise makes the descriptor readable. ctx ends at close, and
// watch must return then.
func startSignal(watch func(ctx context.Context, raise func())) (*signalFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("shmring: eventfd: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &signalFD{fd: fd, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		watch(ctx, s.raise)
	}()
	return s, nil
}

// one is the 8-byte counter increment an eventfd takes.
var one = binary.NativeEndian.AppendUint64(nil, 1)

// raise makes the descriptor readable. It fails only when the counter is
// at its maximum (EAGAIN), and the descriptor is readable then anyway.
func (s *signalFD) raise() { _, _ = unix.Write(s.fd, one) }

// reset makes the descriptor unreadable until the next raise. A descriptor
// that is not readable gives EAGAIN, which is the state reset wants.
func (s *signalFD) reset() {
	var b [8]byte
	_, _ = unix.Read(s.fd, b[:])
}

// close stops the goroutine, waits for it, then closes the descriptor.
func (s *signalFD) close() error {
	s.cancel()
	<-s.done
	if err := unix.Close(s.fd); err != nil {
		return fmt.Errorf("shmring: close eventfd %d: %w", s.fd, err)
	}
	return nil
}

// watchReady raises the descriptor each time ready delivers, and once more
// when ready is closed (a closed consumer or ring: the caller's next call
// reports it).
func watchReady(ready <-chan struct{}) func(ctx context.Context, raise func()) {
	return func(ctx context.Context, raise func()) {
		for {
			select {
			case _, ok := <-ready:
				raise()
				if !ok {
					<-ctx.Done()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}
}
