package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shmring/shmring"
)

// maxTornLines bounds the damaged messages a consumer describes on stderr.
const maxTornLines = 10

// consume receives messages until the end of the round (io.EOF once the
// final event is set), ctx ends, or a close race closed it. It reports each
// message once it is consumed: a copy after the call returned, a message
// read in place after its Release. Until then, messages read in place are
// on the pending list.
func (pt *participant) consume(ctx context.Context) (err error) {
	// An SPSC consumer still waiting for its turn when the round ends has
	// nothing to do.
	final := func() bool { return pt.r.Event(finalEvent).IsSet() }
	c, err := attach(ctx, final, pt.r.Consumer)
	if err != nil || c == nil {
		return wrap("attach", err)
	}
	pt.stats = c.Stats
	wait := pt.race(c.Close)
	defer func() {
		wait()
		pt.refresh()
		err = errors.Join(err, c.Close())
	}()
	cs := &consumer{participant: pt, c: c, buf: pt.rep.buffer()[:pt.MaxMsg]}
	for n := 0; ctx.Err() == nil; n++ {
		if n%256 == 0 {
			pt.refresh()
		}
		err, stop := pt.call(ctx, cs.receive)
		switch {
		case stop:
			return nil
		case errors.Is(err, shmring.ErrClosed) && pt.closing.Load():
			return nil
		case errors.Is(err, io.EOF):
			if pt.closing.Load() || final() {
				return nil
			}
			// An SPSC producer closed; another may come.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Millisecond):
			}
		case err != nil:
			return fmt.Errorf("receive: %w", err)
		}
	}
	return nil
}

// consumer is a consuming participant's state.
type consumer struct {
	*participant
	c       *shmring.Consumer
	buf     []byte  // the report's receive buffer
	pending []msgID // messages read in place, not released
	torn    int
}

// receive receives with the participant's API: one message, or a batch.
func (cs *consumer) receive(ctx context.Context) error {
	switch cs.Mode {
	case modeRecv:
		n, err := cs.c.Recv(ctx, cs.buf)
		if err != nil {
			return err
		}
		cs.consumed(cs.buf[:n])
		return nil
	case modeTryRecv:
		return retry(ctx, shmring.ErrEmpty, cs.tryRecv)
	case modeReady:
		// Drain first: only a TryRecv that finds the ring empty re-arms
		// the channel, and after an io.EOF (an SPSC producer closed,
		// another may come) none has yet.
		if err := cs.drain(); err != nil {
			return err
		}
		select {
		case <-cs.c.Ready(): // closed by Close
		case <-ctx.Done():
			return ctx.Err()
		}
		return cs.drain()
	case modePeek:
		msg, err := cs.c.Peek(ctx)
		if err != nil {
			return err
		}
		cs.inPlace(msg)
		cs.hold()
		switch err := cs.c.Release(); {
		case err == nil:
			cs.settle(recRecv)
		case errors.Is(err, shmring.ErrClosed):
			// Nothing consumed: the message stays for another
			// consumer.
			cs.settle(0)
			return err
		default:
			cs.settle(recMaybe)
			return err
		}
		return nil
	}
	_, err := cs.c.ReadBatch(ctx, 1+cs.rng.IntN(maxBatch), func(msg []byte) {
		if cs.MPMC {
			// Each message of an MPMC batch is released before fn
			// sees the next.
			cs.settle(recRecv)
		}
		cs.inPlace(msg)
	})
	// Every message fn saw was released, unless the call failed.
	if err == nil {
		cs.settle(recRecv)
	} else {
		cs.settle(recMaybe)
	}
	return err
}

// drain calls TryRecv until the ring is empty (nil) or an error.
func (cs *consumer) drain() error {
	for {
		if err := cs.tryRecv(); err != nil {
			if errors.Is(err, shmring.ErrEmpty) {
				return nil
			}
			return err
		}
	}
}

// tryRecv is one TryRecv into the receive buffer.
func (cs *consumer) tryRecv() error {
	n, err := cs.c.TryRecv(cs.buf)
	if err != nil {
		return err
	}
	cs.consumed(cs.buf[:n])
	return nil
}

// check checks msg, and reports and describes it if it is damaged.
func (cs *consumer) check(msg []byte) (msgID, bool) {
	m, err := checkMessage(msg, cs.Round)
	if err == nil {
		return m, true
	}
	cs.rep.add(recTorn, m.id, m.seq)
	if cs.torn++; cs.torn <= maxTornLines {
		fmt.Fprintf(os.Stderr, "shmring-torture: round %d consumer %d (pid %d, %s): damaged message: %v\n",
			cs.Round, cs.ID, os.Getpid(), cs.Mode, err)
	}
	return m, false
}

// consumed reports a copied message.
func (cs *consumer) consumed(msg []byte) {
	if m, ok := cs.check(msg); ok {
		cs.rep.add(recRecv, m.id, m.seq)
	}
}

// inPlace puts a message read in place on the pending list.
func (cs *consumer) inPlace(msg []byte) {
	if m, ok := cs.check(msg); ok {
		cs.pending = append(cs.pending, m)
		cs.rep.setPending(cs.pending)
	}
}

// settle reports the pending messages as kind (recRecv or recMaybe; 0:
// not at all) and empties the list.
func (cs *consumer) settle(kind uint32) {
	if kind != 0 {
		for _, m := range cs.pending {
			cs.rep.add(kind, m.id, m.seq)
		}
	}
	cs.pending = cs.pending[:0]
	cs.rep.setPending(nil)
}
