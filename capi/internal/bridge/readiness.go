//go:build linux

package bridge

import (
	"fmt"

	"github.com/shmring/shmring"
)

// ConsumerFD returns consumer h's readiness descriptor, made at the first
// call: an eventfd raised each time the consumer's Ready channel delivers
// (a message, the end of the stream, an error, a close), and reset by a
// try-recv that finds the ring empty (consumer.emptied). ConsumerClose
// stops its goroutine and closes it.
func (b *Bridge) ConsumerFD(h uint64) (int, error) {
	c, err := b.receiver(h)
	if err != nil {
		return -1, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready == nil {
		s, err := startSignal(watchReady(c.c.Ready()))
		if err != nil {
			return -1, err
		}
		c.ready = s
	}
	return c.ready.fd, nil
}

// ProducerFD would be the producer's readiness descriptor. shmring has no
// way yet to wait for room from outside the producer's own calls (no
// Producer.Ready), and a descriptor that polls would only pretend to be one:
// it reports ErrNotSupported.
func (b *Bridge) ProducerFD(h uint64) (int, error) {
	if _, err := lookup[*producer](&b.handles, h); err != nil {
		return -1, err
	}
	return -1, fmt.Errorf("shmring: producer readiness descriptor: %w", shmring.ErrNotSupported)
}
