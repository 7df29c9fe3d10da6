package shmring

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// The poller turns the ring's readiness into channel sends, so that a
// consumer can select on a ring together with contexts, timers and other
// channels. It hands over readiness, never messages: the receiver drains with
// TryRecv, which copies straight from shared memory, and the poller does not
// look at the ring again until a TryRecv (or TryPeek) has found it empty.
//
// Ownership: the poller goroutine reads only the shared tail, head and closed
// words, never the Consumer's private cursors, which belong to the goroutine
// that calls TryRecv. The armed channel carries the hand-back: TryPeek sends
// on it after publishing its head, so the poller's next Load(head) sees
// every release (channel send happens before the receive completes).
type poller struct {
	c      *Consumer
	signal chan struct{}
	armed  chan struct{}
	quit   chan struct{}
	done   chan struct{}
	err    atomic.Pointer[error] // ErrPeerDead or another wait error, for TryPeek
}

// Ready returns a channel that receives a value when messages can be read,
// the stream has ended, or the wait failed (for example ErrPeerDead); drain
// with TryRecv or TryPeek until they return an error. ErrEmpty re-arms the
// channel; any other error (io.EOF, ErrPeerDead) reports what woke it. The
// first call starts a goroutine that Close stops. Close also closes the
// channel, so that a select waiting on it wakes and the caller's TryRecv
// reports ErrClosed; after Close, Ready returns a closed channel.
func (c *Consumer) Ready() <-chan struct{} {
	if !c.ep.begin() {
		return alwaysReady
	}
	if c.poller == nil {
		p := &poller{
			c:      c,
			signal: make(chan struct{}),
			armed:  make(chan struct{}, 1),
			quit:   make(chan struct{}),
			done:   make(chan struct{}),
		}
		p.armed <- struct{}{}
		c.poller = p
		go p.run()
	}
	c.ep.end()
	return c.poller.signal
}

// alwaysReady is what Ready returns after Close.
var alwaysReady = func() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (p *poller) run() {
	defer close(p.done)
	if p.c.r.faults {
		debug.SetPanicOnFault(true)
	}
	for {
		select {
		case <-p.armed:
		case <-p.quit:
			return
		}
		err := p.waitReady()
		if err == ErrClosed {
			return
		}
		if err != nil {
			p.keep(err)
		}
		select {
		case p.signal <- struct{}{}:
		case <-p.quit:
			return
		}
		// Let the receiver run before this goroutine competes with it.
		runtime.Gosched()
	}
}

// waitReady waits until the consumer can make progress. A fault on a
// segment whose file was shrunk ends it with an error wrapping ErrCorrupt.
// The goroutine is the poller's own, so run turns panic-on-fault on for
// good; the recovery has no closure, so that a wait allocates nothing.
func (p *poller) waitReady() (err error) {
	r := p.c.r
	if r.faults {
		defer func() {
			if e := recover(); e != nil {
				err = r.faultError(e)
			}
		}()
	}
	return r.wait(context.Background(), p.c.ep, nil, r.dataWords(), p)
}

// ready reports committed records or an ended stream not read to its end
// yet (condition of wait).
func (p *poller) ready() (bool, error) {
	if m := p.c.r.mp; m != nil {
		return m.Readable(), nil
	}
	ctl := p.c.r.ctl
	// An end already read (streamRead) is not news: the consumer waits
	// for the next producer.
	return ctl.Committed(ctl.Head.Load()) || ctl.Closed.Load() == 1, nil
}

// peerDead checks the SPSC producer, or reaps dead MPMC participants
// without counting them (condition of wait).
func (p *poller) peerDead() error {
	if p.c.mc != nil {
		return p.c.r.reapDead(nil)
	}
	return p.c.peerDead()
}

// rearm lets the poller look at the ring again; called by TryPeek on
// ErrEmpty, after the head was published.
func (p *poller) rearm() {
	select {
	case p.armed <- struct{}{}:
	default:
	}
}

// keep stores err for takeErr. It is a function of its own so that err
// escapes to the heap only on this rare path, not on every wake-up.
//
//go:noinline
func (p *poller) keep(err error) { p.err.Store(&err) }

// takeErr returns and clears the error the last wait ended with.
func (p *poller) takeErr() error {
	if p.err.Load() == nil {
		return nil
	}
	if e := p.err.Swap(nil); e != nil {
		return *e
	}
	return nil
}

// stop ends the goroutine, waits for it, then closes the channel: nobody
// sends on it anymore.
func (p *poller) stop() {
	close(p.quit)
	<-p.done
	close(p.signal)
}
