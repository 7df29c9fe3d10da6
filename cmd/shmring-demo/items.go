package main

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// An item, request or response, is {id uint64, value uint64}, little-endian.
// A request's value is id*id; a response's is the request's value times two.
const itemSize = 16

// putItem writes an item into b, which holds itemSize bytes.
func putItem(b []byte, id, value uint64) {
	binary.LittleEndian.PutUint64(b[0:8], id)
	binary.LittleEndian.PutUint64(b[8:16], value)
}

// getItem reads an item from msg, which comes from another process.
func getItem(msg []byte) (id, value uint64, err error) {
	if len(msg) != itemSize {
		return 0, 0, fmt.Errorf("item of %d bytes, want %d", len(msg), itemSize)
	}
	return binary.LittleEndian.Uint64(msg[0:8]), binary.LittleEndian.Uint64(msg[8:16]), nil
}

// request is the value sent with id.
func request(id uint64) uint64 { return id * id }

// transform is what a worker computes from a request's value.
func transform(value uint64) uint64 { return value * 2 }

// collector checks the responses: every id in [0, items) comes back exactly
// once, from the worker it was dealt to (id mod workers), with the
// transformed value.
type collector struct {
	items   uint64
	workers uint64
	seen    []uint64 // bitset of the ids received
	got     uint64   // number of ids received
}

func newCollector(items uint64, workers int) *collector {
	return &collector{items: items, workers: uint64(workers), seen: make([]uint64, (items+63)/64)}
}

// add checks one response from worker w.
func (c *collector) add(w int, msg []byte) error {
	id, value, err := getItem(msg)
	if err != nil {
		return fmt.Errorf("worker %d: %w", w, err)
	}
	switch {
	case id >= c.items:
		return fmt.Errorf("worker %d: id %d out of range [0, %d)", w, id, c.items)
	case id%c.workers != uint64(w):
		return fmt.Errorf("worker %d: id %d belongs to worker %d", w, id, id%c.workers)
	case value != transform(request(id)):
		return fmt.Errorf("worker %d: id %d came back as %d, want %d", w, id, value, transform(request(id)))
	}
	word, bit := id/64, uint64(1)<<(id%64)
	if c.seen[word]&bit != 0 {
		return fmt.Errorf("worker %d: id %d came back twice", w, id)
	}
	c.seen[word] |= bit
	c.got++
	return nil
}

// check reports ids that never came back.
func (c *collector) check() error {
	if c.got == c.items {
		return nil
	}
	for word, v := range c.seen {
		if missing := ^v; missing != 0 {
			first := uint64(word)*64 + uint64(bits.TrailingZeros64(missing))
			return fmt.Errorf("%d of %d items missing, the first is id %d", c.items-c.got, c.items, first)
		}
	}
	return fmt.Errorf("%d of %d items missing", c.items-c.got, c.items)
}
