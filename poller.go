package shmring

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"

	edgepkg "github.com/shmring/shmring/internal/edge"
)

// The poller turns the ring's readiness into channel sends, so that an
// endpoint can be selected on together with contexts, timers and other
// channels: a consumer's Ready (messages to read) and a producer's Ready
// (room to write). It hands over readiness, never messages: the receiver
// goes on with TryRecv or TrySend, which touch shared memory themselves,
// and the poller does not look at the ring again until a try has failed
// (ErrEmpty, ErrFull) and re-armed it.
//
// Ownership: the poller goroutine reads only shared words (tail, head,
// sequence words, the closed flag) and what its condition was handed when it
// was armed, never the endpoint's private cursors, which belong to the
// goroutine that calls the endpoint's methods. The armed channel carries the
// hand-back: the try sends on it after publishing its cursor, so the
// poller's next loads see every release or commit (a channel send happens
// before the receive completes).
//
// Neither side blocks on the other: signal holds one token, which the poller
// leaves without waiting (a token already there says the same), and armed
// holds one, which the try leaves the same way. Close (stop, once no call of
// the owner is inside, so that nothing sends on armed any more) closes
// armed, which ends the poller's loop, then signal.
type poller struct {
	r      *Ring
	ep     *endpoint
	words  waitWords
	cond   condition             // the endpoint's readiness; reads only shared words
	signal chan struct{}         // readiness, one token at most; closed by stop
	armed  chan struct{}         // leave to look at the ring, one token at most; closed by stop
	done   chan struct{}         // closed when the goroutine ends
	err    atomic.Pointer[error] // ErrPeerDead or another wait error, for the next try
	// edge: only the poller signals, a successful try does not raise
	// (package edge, for the C API's bridge); fixed at start.
	edge bool
}

// startPoller starts the poller of endpoint ep, which waits on words until
// cond is ready. It starts armed.
func startPoller(r *Ring, ep *endpoint, words waitWords, cond condition, edge bool) *poller {
	p := &poller{
		r:      r,
		ep:     ep,
		words:  words,
		cond:   cond,
		signal: make(chan struct{}, 1),
		armed:  make(chan struct{}, 1),
		done:   make(chan struct{}),
		edge:   edge,
	}
	p.armed <- struct{}{}
	go p.run()
	return p
}

// Ready returns a channel that receives a value when messages can be read,
// the stream has ended, or the wait failed (for example ErrPeerDead); go on
// with TryRecv or TryPeek. It behaves as level-triggered: a try that finds a
// message leaves a value in the channel again, so a loop that reads one
// message per value never stalls with messages waiting (draining until an
// error saves selects), and ErrEmpty re-arms it for the next message; any
// other error (io.EOF, ErrPeerDead) reports what woke it. The first call
// starts a goroutine that Close stops. Close also closes the
// channel, so that a select waiting on it wakes and the caller's TryRecv
// reports ErrClosed; after Close, Ready returns a closed channel.
func (c *Consumer) Ready() <-chan struct{} { return c.readyChan(false) }

// readyChan is Ready, edge-triggered with edge (package edge) when it starts the
// poller.
func (c *Consumer) readyChan(edge bool) <-chan struct{} {
	if !c.ep.begin() {
		return alwaysReady
	}
	if c.poller == nil {
		c.poller = startPoller(c.r, c.ep, c.r.dataWords(), readable{c}, edge)
	}
	c.ep.end()
	return c.poller.signal
}

func init() {
	edgepkg.ConsumerReady = func(c any) <-chan struct{} { return c.(*Consumer).readyChan(true) }
	edgepkg.ProducerReady = func(p any) <-chan struct{} { return p.(*Producer).readyChan(true) }
}

// alwaysReady is what Ready returns after Close.
var alwaysReady = func() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (p *poller) run() {
	defer close(p.done)
	if p.r.faults {
		debug.SetPanicOnFault(true)
	}
	for range p.armed {
		err := p.waitReady()
		if err == ErrClosed {
			return
		}
		if err != nil {
			p.keep(err)
		}
		select {
		case p.signal <- struct{}{}:
		default:
		}
		// The send put a parked receiver next in line on this P: let it
		// run now, and find the token in armed when this goroutine
		// runs again, rather than park here and be readied by rearm,
		// a second goroutine wake-up per message.
		runtime.Gosched()
	}
}

// waitReady waits until the endpoint can make progress, inside the
// endpoint's gate. A fault on a segment whose file was shrunk ends it with
// an error wrapping ErrCorrupt. The goroutine is the poller's own, so run
// turns panic-on-fault on for good; the recovery has no closure, so that a
// wait allocates nothing.
func (p *poller) waitReady() (err error) {
	r, g := p.r, &p.ep.gate
	if !g.enter() {
		return ErrClosed
	}
	defer g.leave()
	if r.faults {
		defer func() {
			if e := recover(); e != nil {
				err = r.faultError(e)
			}
		}()
	}
	return r.wait(context.Background(), p.ep, nil, p.words, p.cond)
}

// readable is a consumer's readiness (condition of the poller's wait).
type readable struct{ c *Consumer }

// ready reports committed records or an ended stream not read to its end
// yet.
func (rd readable) ready() (bool, error) {
	if m := rd.c.r.mp; m != nil {
		return m.Readable(), nil
	}
	ctl := rd.c.r.ctl
	// An end already read (streamWasRead) is not news: the consumer waits
	// for the next producer. Any other end, normal or aborted, is.
	v := ctl.Closed.Load()
	return ctl.Committed(ctl.Head.Load()) || v != 0 && !streamWasRead(v), nil
}

// peerDead checks the SPSC producer, or reaps dead MPMC participants
// without counting them.
func (rd readable) peerDead() error {
	r := rd.c.r
	if rd.c.mc != nil {
		return r.reapDead(nil)
	}
	// Not the consumer's peerDead, which flushes the owner's counters.
	return r.peerDead(lockProducer, r.ctl.ProducerAttached)
}

// raise puts the token in signal, if it is not there: the owner's try found
// a message (room), so the next select on Ready comes back for more. An edge
// poller's signal is the poller's alone.
func (p *poller) raise() {
	if p.edge {
		return
	}
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// lower takes the token out of signal, if it is there, before a rearm: the
// owner's try found nothing, and the rearm makes the poller look again, so a
// token taken here that the poller had put for a message committed after
// the try is put back by that look (the poller's wait sees the message, or
// the wake-up that follows it).
func (p *poller) lower() {
	select {
	case <-p.signal:
	default:
	}
}

// rearm lets the poller look at the ring again; called by a try that found
// no message (no room), after its cursor was published.
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
// sends on it anymore. The caller is Close, once no call of the owner is
// inside: nothing sends on armed either.
func (p *poller) stop() {
	close(p.armed)
	<-p.done
	close(p.signal)
}
