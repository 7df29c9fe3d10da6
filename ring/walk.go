package ring

// Walking: a read-only pass over the committed records of a ring, for tools
// that inspect a ring without being its consumer.
//
// Contract: Walk never writes to the region, so it works on a read-only
// mapping, and it checks each record exactly as Consumer.TryPeek does (the
// same function, record, reads and checks every header). Its caller loads
// head and tail; the records between them are intact only while the consumer
// does not move head: the producer overwrites nothing in [head, tail) before
// the consumer releases it, but overwrites released records at once. A caller
// that walks a ring in use therefore loads head, then tail, walks, and trusts
// the result only if head is unchanged afterwards.

// RecordError is the error of a record that breaks the layout: it matches
// ErrCorrupt and gives the position of the record's header.
type RecordError struct {
	Pos    uint64 // position of the record's header
	Reason string // what is wrong, naming the position
}

// Error returns "corrupt ring: " followed by the reason.
func (e *RecordError) Error() string { return ErrCorrupt.Error() + ": " + e.Reason }

// Is reports whether target is ErrCorrupt.
func (e *RecordError) Is(target error) bool { return target == ErrCorrupt }

// Walk calls fn on each message committed between positions head and tail
// (up to the first header that is still zero, if any), in order, with the position of its record and its payload in place (valid
// only during the call, and not to be written). Padding records are passed
// over. fn returns false to stop the walk early. Walk returns an error
// wrapping ErrCorrupt when head and tail break the cursor invariants, and a
// *RecordError for the first record that breaks the layout; the walk stops
// there, since nothing locates the records after it.
func (c *Control) Walk(head, tail uint64, fn func(pos uint64, payload []byte) bool) error {
	if err := c.checkCursors(head, tail); err != nil {
		return err
	}
	mask := c.capacity - 1
	for pos := head; pos != tail; {
		idx, avail := pos&mask, tail-pos
		h := c.header(idx).Load()
		if h == 0 {
			// Not committed: a producer between its store of tail and
			// its commit, or one that died there.
			return nil
		}
		n, kind := splitHeader(h)
		size := c.checkRecord(n, kind, c.capacity-idx, avail)
		if size == 0 {
			return recordError(pos, n, kind, c.capacity-idx, avail)
		}
		if kind == kindMessage {
			idx += recordHeader
			if !fn(pos, c.data[idx:idx+n:idx+n]) {
				return nil
			}
		}
		pos += size
	}
	return nil
}

// Offset returns the region offset of the byte at position pos of the data
// area: where a record at pos starts in the region.
func (c *Control) Offset(pos uint64) uint64 { return ControlSize + pos&(c.capacity-1) }
