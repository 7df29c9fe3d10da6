package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shmring/shmring"
)

// maxBatch is the most messages a SendBatch or ReadBatch moves.
const maxBatch = 32

// produce sends messages until ctx ends (the parent's word, or the
// participant's lifetime) or a close race closed it, then closes the
// producer. After each send it reports the messages the call says it
// committed. A failed send left nothing behind, so the message is sent again
// under the same sequence number.
func (pt *participant) produce(ctx context.Context) (err error) {
	p, err := attach(ctx, func() bool { return false }, pt.r.Producer)
	if err != nil || p == nil {
		return wrap("attach", err)
	}
	pt.stats = p.Stats
	wait := pt.race(p.Close)
	defer func() {
		wait()
		pt.refresh()
		err = errors.Join(err, p.Close())
	}()

	bufs := make([][]byte, maxBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 0, msgHeader)
	}
	var seq uint64
	for n := 0; ctx.Err() == nil; n++ {
		if n%256 == 0 {
			pt.refresh()
		}
		var sent int
		err, stop := pt.call(ctx, func(ctx context.Context) error {
			var err error
			sent, err = pt.send(ctx, p, seq, bufs)
			return err
		})
		for i := range sent {
			pt.rep.add(recCommit, pt.ID, seq+uint64(i))
		}
		if err == nil {
			err = pt.duplicate(ctx, p, seq, sent)
		}
		seq += uint64(sent)
		switch {
		case stop:
			return nil
		case errors.Is(err, shmring.ErrClosed) && pt.closing.Load():
			return nil
		case err != nil:
			return fmt.Errorf("send message %d: %w", seq, err)
		}
	}
	return nil
}

// message returns message seq in b's storage, of a random size.
func (pt *participant) message(b []byte, seq uint64) []byte {
	n := pt.size()
	if cap(b) < n {
		b = make([]byte, n)
	}
	fillMessage(b, pt.Round, msgID{pt.ID, seq}, n)
	return pt.damage(b[:n], seq)
}

// damage breaks message seq when the fault says so.
func (pt *participant) damage(msg []byte, seq uint64) []byte {
	if pt.fault == "corrupt" && seq == faultSeq {
		msg[len(msg)-1] ^= 0x40
	}
	return msg
}

// send sends the messages from seq on with the participant's API: one, or
// a batch. It returns how many it committed.
func (pt *participant) send(ctx context.Context, p *shmring.Producer, seq uint64, bufs [][]byte) (int, error) {
	switch pt.Mode {
	case modeSend, modeTrySend:
		msg := pt.message(bufs[0], seq)
		bufs[0] = msg
		var err error
		if pt.Mode == modeSend {
			err = p.Send(ctx, msg)
		} else {
			err = retry(ctx, shmring.ErrFull, func() error { return p.TrySend(msg) })
		}
		if err != nil {
			return 0, err
		}
		return 1, nil
	case modeBatch:
		k := 1 + pt.rng.IntN(maxBatch)
		for i := range k {
			bufs[i] = pt.message(bufs[i], seq+uint64(i))
		}
		return p.SendBatch(ctx, bufs[:k])
	}
	// Reserve: sometimes write the message, abandon the reservation with
	// a second Reserve (the first must never be delivered: it has the same
	// sequence number), sometimes hold it a little before the commit.
	n := pt.size()
	buf, err := p.Reserve(ctx, n)
	if err != nil {
		return 0, err
	}
	if pt.rng.IntN(20) == 0 {
		fillMessage(buf, pt.Round, msgID{pt.ID, seq}, n)
		n = pt.size()
		if buf, err = p.Reserve(ctx, n); err != nil {
			return 0, err
		}
	}
	fillMessage(buf, pt.Round, msgID{pt.ID, seq}, n)
	pt.damage(buf[:n], seq)
	pt.hold()
	if err := p.Commit(n); err != nil {
		return 0, err
	}
	return 1, nil
}

// duplicate sends message faultSeq a second time, when the fault says so and
// the messages from seq on just sent included it.
func (pt *participant) duplicate(ctx context.Context, p *shmring.Producer, seq uint64, sent int) error {
	if pt.fault != "duplicate" || faultSeq < seq || faultSeq >= seq+uint64(sent) {
		return nil
	}
	msg := make([]byte, msgHeader)
	fillMessage(msg, pt.Round, msgID{pt.ID, faultSeq}, msgHeader)
	return p.Send(ctx, msg)
}

// hold sleeps a little, sometimes, while a reservation or a lease is held,
// so that kills, stops and close races find participants holding; more
// often in a participant with a close race.
func (pt *participant) hold() {
	odds := 50
	if pt.CloseRace != "" {
		odds = 5
	}
	if pt.rng.IntN(odds) == 0 {
		time.Sleep(time.Duration(pt.rng.IntN(2000)) * time.Microsecond)
	}
}
