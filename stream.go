package shmring

// CloseStream ends the stream from outside the producer, as Producer.Close
// does from inside: it marks the stream closed in the segment and wakes the
// consumer, which reads what was committed, then gets io.EOF. It is meant for
// a ring whose producer is gone or never came (the shmring command's close):
// while a producer is attached, the consumer may stop before reading what
// that producer sends afterwards. A producer that attaches later reopens the
// stream (Ring.Producer clears the mark). It returns ErrClosed after Close.
//
// An MPMC stream ends only this way (a producer that detaches does not end
// it), and for good: every Send fails with ErrClosed from then on, in every
// process, producers attaching later included, and every consumer gets
// io.EOF once what was committed before is drained and no consumer holds a
// message anymore (one that dies holding it would hand it on).
func (r *Ring) CloseStream() (err error) {
	oldFault, ok := r.enter()
	if !ok {
		return ErrClosed
	}
	defer r.leave(oldFault, &err)
	// Steps (a) and (b) of wait.go, as in Producer.detach: the consumer's
	// emptied reads Closed after finding the ring empty. An MPMC producer
	// waiting for room reads it too (its claim fails with ErrClosed).
	r.w.closed.Store(1)
	r.wakeIfWaiting(r.dataWords())
	if r.mp != nil {
		r.wakeIfWaiting(r.spaceWords())
	}
	return nil
}
