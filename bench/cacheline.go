//go:build linux

package main

// The cache line: the floor under every round trip. One 64-byte line in a
// memfd, two processes spinning on it with PAUSE, each writing the line's
// sequence word when it sees the other's. A round trip moves the line to the
// peer's core and back, and nothing else: no payload, no index of another
// line, no framing, no wake-up. It is the physical limit of a hop between
// two cores of the machine, and prices every other pingpong row.
//
// Layout of the memfd (one line; the mapping is page aligned):
//
//	[0, 8)     seq: the sequence word (uint64)
//	[8, 64)    unused: the rest of the line
//
// Protocol: seq starts at 0. Round trip i (from 0): the harness (hit)
// Store(seq, 2i+1), then spins until Load(seq) is 2i+2; the peer (answer)
// spins until Load(seq) is 2i+1, then Store(seq, 2i+2). Each Load that sees
// the other's value pairs with the other's Store. The word only grows, and a
// side only ever sees its own last value or the one it waits for: any other
// value is a broken peer, and fails the row.

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shmring/shmring/internal/spin"
)

const (
	lineSize   = cacheLine
	lineSeqOff = 0
)

// errTurnsOnly is what the cache line answers to sender and receiver.
var errTurnsOnly = errors.New("bench: the cache line carries turns, not messages")

type lineTransport struct{}

func (lineTransport) open(s streamSpec, p *peer, key string) (stream, error) {
	mem, err := passMapping(tLine, lineSize, p, key)
	if err != nil {
		return nil, err
	}
	return newLineStream(mem, s), nil
}

func (lineTransport) inherit(s streamSpec, key string) (stream, error) {
	mem, err := inheritMapping(tLine, key, lineSize)
	if err != nil {
		return nil, err
	}
	return newLineStream(mem, s), nil
}

func (lineTransport) inProcess() bool { return false }

// newLineStream is the line laid out over mem, a mapping of lineSize bytes.
func newLineStream(mem []byte, s streamSpec) *lineStream {
	return &lineStream{mapping: mapping{mem}, seq: word64(mem, lineSeqOff), stop: newStopper(s)}
}

// lineStream is one process's hold on the line. It passes turns, not
// messages: the harness calls hit, the peer answer, and sender and receiver
// fail.
type lineStream struct {
	mapping // close unmaps it
	seq     *atomic.Uint64
	stop    stopper
}

func (*lineStream) sender() (sender, error)     { return nil, errTurnsOnly }
func (*lineStream) receiver() (receiver, error) { return nil, errTurnsOnly }

// hit makes round trip i from the harness's side: it writes 2i+1 and waits
// for the peer's 2i+2.
func (l *lineStream) hit(i uint64) error {
	l.seq.Store(2*i + 1)
	return l.await(2*i+2, 2*i+1)
}

// answer makes round trip i from the peer's side: it waits for the
// harness's 2i+1 and writes 2i+2.
func (l *lineStream) answer(i uint64) error {
	if err := l.await(2*i+1, 2*i); err != nil {
		return err
	}
	l.seq.Store(2*i + 2)
	return nil
}

// await spins until seq holds want; until then it may only hold mine, the
// last value this side wrote. It gives up when the run is abandoned.
func (l *lineStream) await(want, mine uint64) error {
	for k := 1; ; k++ {
		switch v := l.seq.Load(); v {
		case want:
			return nil
		case mine:
		default:
			return fmt.Errorf("bench: cache line: sequence word %d, want %d or %d", v, mine, want)
		}
		spin.Pause()
		if k%spinCheck == 0 {
			if err := l.stop.stopped(); err != nil {
				return err
			}
		}
	}
}
