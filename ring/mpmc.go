package ring

import (
	"errors"
	"fmt"
	"math/bits"
	"os"

	"github.com/shmring/shmring/internal/fence"
)

// The MPMC algorithm: the bounded MPMC queue (Vyukov), with intents.
//
// Positions (enq, deq) count slots since creation and never wrap in practice
// (2^58 claims per lane); position p lives in slot p & (N-1) of its lane.
// Each slot's seq says whose turn it is at position p of the current lap:
//
//	seq == p      free: the producer that claims p may fill it
//	seq == p+1    committed: the consumer that claims p may read it
//	seq == p+N    released: free for position p+N of the next lap
//
// A producer claims p by CAS(enq, p, p+1) after it saw seq == p; a consumer
// claims p by CAS(deq, p, p+1) after it saw seq == p+1. The CAS makes the
// claim exclusive; the seq makes it safe: a slot's seq only grows, p, p+1,
// p+N, p+N+1, ..., and only the claimer of the current turn moves it.
//
// Lanes. A ring of L lanes runs this algorithm in each lane on its own,
// with the lane's n = N/L slots for N, its own enq and deq, and positions
// that name the lane in their top bits (Lanes in mpmc_layout.go). Every
// argument below is about one lane: a claim, a range, a reap and the
// positions it judges lie in one lane, and where this text says enq or deq
// it means those of the lane in question. A producer claims in its home
// lane only (NewProducer), so its messages keep their order; a consumer
// claims in any (the consumer's claim). A lane's enq or deq that holds a
// position of another lane (shared memory is untrusted) finds the seqs of
// its own lane, which are not that position's: the claim reports
// ErrCorrupt, as for any seq out of place. Seqs forged to match it
// deliver what a forger wrote, never more: a lane's slots are indexed by
// a position's low bits alone, so every access stays in the lane's slots.
//
// Publication. The producer writes the payload and the header (len, flags)
// with plain stores, then Store(seq, p+1); the consumer's Load(seq) that saw
// p+1 pairs with it, so the header and payload it reads afterwards are the
// ones written. The consumer reads them, then Store(seq, p+N); the producer's
// Load(seq) that saw p+N (as the p of the next lap) pairs with it, so the
// producer overwrites the slot only after the consumer has finished with it.
//
// Those two stores of a message's hand-off are fence.Store64, a release
// store (publishSeq): a plain MOV on amd64, where stores are never
// reordered with earlier loads and stores, and sync/atomic's Store
// elsewhere and under the race detector. A release store is all the
// hand-off of the bytes needs. The wake rule needs more: a StoreLoad
// barrier between the Store(seq) and the publisher's look at the sleeper
// bitmap. As on SPSC rings (spsc.go), a sleeper pays for it with
// fence.GlobalBarrier after it announces itself, and an entry whose sleeps
// do not (a Block sleeper, a kernel without the command) sets its bit in
// the NoBarrier word at attach; while any bit is set, publishers store
// seq again with sync/atomic, a full barrier (package fence, "Publication
// across processes", has the argument). The rare stores of seq (skip
// records, reaps, orphans) stay sequentially consistent.
//
// The intent and end stores (Intents below) are fence.Store64 too. Those
// before a claim's CAS are ordered before it by the CAS itself (a locked
// instruction on amd64, which drains the stores before it), so a claim is
// never visible before the range that names it, as with sequentially
// consistent stores. The intent's clearing follows the last Store(seq) of
// the range in the same order, which is all a reader of the range needs:
// one that still sees the range after its owner is done with it finds the
// slots published or released, and judges by them (mpmc_reap.go).
//
// Intents. A claim takes a range of consecutive positions [p, p+k), k of
// them with one CAS (k = 1 for a single message; see claim for batches).
// Before its CAS, an endpoint stores p+k in the end word of its
// participant entry, then p+1 in its intent; after it published (producer)
// or released (consumer) the last position of the range, it stores 0 in
// the intent; every return without a claim clears it too. So an endpoint
// that owns position q shows a range that holds q from before its claim
// until after its last store to q's slot. Reaping (mpmc_reap.go) relies on
// exactly that.
//
// Reading a range. A reader loads intent, then end (entryRange): end was
// stored before that intent, so it reads that claim's end, or that of a
// later claim of the same owner, which the owner stores only after it
// cleared the intent, that is after it was done with the whole range the
// intent names. A range read across two claims is therefore only ever read
// for a claim that is over, and a reaper's later look at the slots finds
// them published (or released). A range that is not one (intent 0, end
// below intent, or more than maxRange positions) names nothing; the entry
// of a dead process, whose words no longer change, is then ErrCorrupt.
//
// Values read from shared memory. At enq == p, the slot's seq legitimately
// is p (free), p-N or p-N+1 (the previous lap not yet committed or not yet
// released: full), or above p (others claimed p since our load of enq: load
// enq again, and it must have moved). Anything else is ErrCorrupt. At
// deq == p, the seq is p+1 (committed), p or p-N+1 (not committed yet, or
// the previous lap's consumer still holds the slot: empty), or above p+1
// (others moved on). A header's length above the slot size, or flags other
// than 0 and flagSkip, are ErrCorrupt. No loop runs on a shared value
// without a bound (maxClaimAttempts).
//
// End of stream. Any process may Store(closed, 1). A producer loads closed
// after every successful claim; when set, it commits the slot as a skip
// record and reports ErrClosed. Closed, then deq == enq in every lane, says
// that no position is left to claim: sync/atomic operations are
// sequentially consistent, so a producer that loaded closed == 0 did so
// before the Store(closed) in their single total order, and its CAS on its
// lane's enq, earlier in its program, did too. A consumer that loads closed
// == 1, then each lane's deq and enq, therefore sees in each lane an enq
// past every position claimed there by such a producer; deq == enq then
// means that every one of those positions was claimed by a consumer. A
// producer claiming after the close commits a skip only.
//
// Claimed is not delivered: the consumer that claimed a message may still
// die before its caller has it (with the zero-copy API, at any time before
// Release), and then the message is adopted by another consumer. So the
// stream has ended (Drained) only when, besides, no position before deq is
// still held: no entry's range names a position p in the last lap whose
// slot still has seq p+1 (committed, claimed, not released). Every holder
// names its position until after its release (Intents above): a live or
// dead consumer in its own range, an orphan and its adopter in the
// orphan's, and a reap drops a position from a dead consumer's range (by
// freeing the entry, or narrowing its range) only once the slot is
// released, or an orphan names it, or (a range cut short after a position
// an orphan names: mpmc_reap.go) the entry of the consumer that won the
// position has named it since before deq passed it. The hand-over from a
// dead entry to an orphan is the only way a naming moves between entries,
// and it could pass behind the
// scan (the orphan scanned before it named the position, the dead entry
// after it was freed); but the orphan's bit is set before its state and
// before the dead entry is freed, so the scan looks again at every entry in
// the Orphans word, loaded after it. A message held at the load of deq is
// therefore seen held, or was released (delivered) before the scan saw its
// slot. Drained loads every lane's deq before the scan, and judges each
// range against the deq of its own lane. Each message still held makes
// io.EOF wait; its release or its adoption's release wakes the consumers
// (the caller's wake rule), and a dead holder is reaped.

// maxClaimAttempts bounds a claim loop. Each turn of the loop either
// returns or found that another endpoint claimed a position since the last
// one (a failed CAS, a seq ahead of the loaded position): the loop only
// spins while others make progress, and losing this many races in a row
// happens only when a peer moves the positions without using the slots. The
// claim then reports ErrFull or ErrEmpty, as if the ring were full or empty
// for now; the caller's wait re-checks.
const maxClaimAttempts = 1 << 12

// ErrClosed reports that the stream was closed: a producer may not send
// anymore. It is os.ErrClosed.
var ErrClosed = os.ErrClosed

// errStreamClosed is what TryReserve returns once the stream is closed.
var errStreamClosed error = streamClosedError{}

// streamClosedError matches ErrClosed without its message about files.
type streamClosedError struct{}

func (streamClosedError) Error() string        { return "ring: stream closed" }
func (streamClosedError) Is(target error) bool { return target == ErrClosed }

// Stats returns the counters last flushed to entry i, a snapshot that may
// mix two flushes. It panics unless 0 <= i < Participants.
func (m *MPMC) Stats(i int) Stats { return LoadStats(&m.Entry(i).Stats) }

// Drained reports whether the stream has ended: it is closed, every claimed
// position was claimed by a consumer, and no consumer (live, dead, or
// adopting an orphan) holds a message it may still not deliver. No message
// will arrive anymore. The loads are in the order the end-of-stream
// argument above needs. An intent that a hostile peer wrote to name a
// committed slot keeps the stream from ending, nothing worse.
func (m *MPMC) Drained() bool {
	if m.Closed.Load() == 0 {
		return false
	}
	var deqs [MPMCMaxLanes]uint64
	for l, lane := range m.lanes {
		deqs[l] = lane.Deq.Load()
		if deqs[l] != lane.Enq.Load() {
			return false
		}
	}
	for i := range m.entries {
		if m.holds(i, &deqs) {
			return false
		}
	}
	for b := m.Orphans.Load() & m.inTable; b != 0; b &= b - 1 {
		if m.holds(bits.TrailingZeros64(b), &deqs) {
			return false
		}
	}
	return true
}

// holds reports whether entry i names a position of the lap before its
// lane's deq (in deqs) whose slot is committed and not released: a claimed
// message not yet delivered.
func (m *MPMC) holds(i int, deqs *[MPMCMaxLanes]uint64) bool {
	start, end, ok := m.entryRange(&m.entries[i])
	if !ok {
		return false
	}
	deq := deqs[(start>>laneBit)&m.laneMask]
	for q := start; q != end; q++ {
		if q < deq && deq-q <= m.n && m.seqWord(q).Load() == q+1 {
			return true
		}
	}
	return false
}

// entryRange loads the range of positions [start, end) that entry e
// names, intent then end (see Reading a range above), and reports whether
// it names one: not when its intent is 0, nor when the words are not a
// range of 1 to maxRange positions.
func (m *MPMC) entryRange(e *Participant) (start, end uint64, ok bool) {
	intent := e.Intent.Load()
	end = e.End.Load()
	if !m.isRange(intent, end) {
		return 0, 0, false
	}
	return intent - 1, end, true
}

// isRange reports whether intent and end name a range of 1 to maxRange
// positions, of one lane of the ring.
func (m *MPMC) isRange(intent, end uint64) bool {
	return intent != 0 && end >= intent && end-intent < m.maxRange &&
		(m.laneMask == 0 || (intent-1)>>laneBit == (end-1)>>laneBit && (end-1)>>laneBit <= m.laneMask)
}

// Readable reports, without claiming anything, whether a consumer's TryPeek
// (or its adoption of an orphan, or its end-of-stream check) has something
// to find now: the slot at a lane's deq is committed, an orphan waits that
// nobody is adopting, the stream has ended, or the Orphans word is corrupt
// (which Orphaned reports). For a poller that must not claim on the
// consumer's behalf; it makes no system call, and an orphan that another
// consumer adopts is not something this consumer can make progress on.
func (m *MPMC) Readable() bool {
	for _, l := range m.lanes {
		if p := l.Deq.Load(); l.seqWord(p).Load() == p+1 {
			return true
		}
	}
	if m.Drained() {
		return true
	}
	orphans, err := m.orphansLoad()
	return orphans != 0 || err != nil
}

// Writable reports, without claiming anything, whether the producer's
// TryReserve may find room now: the slot at its lane's enq is not that of a
// full lane (its consumer freed it, another producer has moved enq on, or
// it holds a value TryReserve reports as ErrCorrupt), or the stream has
// ended (which TryReserve reports). For a poller that must not claim on
// the producer's behalf; it makes no system call.
func (p *MPMCProducer) Writable() bool {
	m := p.m
	pos := p.lane.Enq.Load()
	d := int64(p.lane.seqWord(pos).Load() - pos)
	return d != -int64(m.n) && d != 1-int64(m.n) || m.Closed.Load() != 0
}

// MPMCProducer is one producer of an MPMC ring, attached through its
// participant entry. It is not safe for concurrent use; each goroutine or
// process that sends uses its own, on its own entry.
type MPMCProducer struct {
	m     *MPMC
	e     *Participant
	lane  *Lane  // the entry's home lane: the producer claims there alone
	li    uint64 // its index
	pos   uint64 // the next claimed position to publish
	end   uint64 // one past the last claimed position: [pos, end) awaits publication
	limit uint64 // the size of a reservation from TryReserve
	batch bool   // the claim is TryReserveBatch's: CommitNext publishes it
	stats counters
}

// NewProducer returns the producer of entry i, which the caller joined as
// EntryProducer; it claims in the entry's home lane. It panics unless 0 <=
// i < Participants; a region Init did not finish, or an entry in another
// state, is ErrCorrupt.
func (m *MPMC) NewProducer(i int) (*MPMCProducer, error) {
	e, err := m.endpointEntry(i, EntryProducer)
	if err != nil {
		return nil, err
	}
	li := e.Lane.Load() & m.laneMask
	return &MPMCProducer{m: m, e: e, lane: &m.lanes[li], li: li}, nil
}

// Lane returns the index of the lane the producer claims in.
func (p *MPMCProducer) Lane() int { return int(p.li) }

// endpointEntry returns entry i after checking the region and the entry's
// state.
func (m *MPMC) endpointEntry(i int, role uint32) (*Participant, error) {
	e := m.Entry(i)
	if err := m.checkReady(); err != nil {
		return nil, err
	}
	if s := e.State.Load(); s != role {
		return nil, fmt.Errorf("%w: participant %d is in state %d, want %d", ErrCorrupt, i, s, role)
	}
	return e, nil
}

// TryReserve claims the next position and returns the payload bytes of its
// slot, n of them, to fill in place and finish with Commit. It returns
// ErrTooLarge when n exceeds the slot size, ErrFull when no slot is free now,
// and ErrClosed when the stream is closed. A claim still outstanding is
// committed as skip records first.
func (p *MPMCProducer) TryReserve(n int) ([]byte, error) {
	m := p.m
	if n < 0 || uint64(n) > m.slotSize {
		return nil, fmt.Errorf("%w: %d bytes, a slot holds at most %d", ErrTooLarge, n, m.slotSize)
	}
	if _, err := p.tryClaim(1); err != nil {
		return nil, err
	}
	p.limit, p.batch = uint64(n), false
	return p.lane.payload(p.pos, uint64(n)), nil
}

// TryReserveBatch claims up to k consecutive free positions, at least one,
// with one CAS on enq, and returns how many it claimed: fewer than k when
// fewer slots are free now. CommitNext publishes them, in order; Cancel, or
// the next TryReserve or TryReserveBatch, commits those left as skip
// records. It returns ErrFull when no slot is free now and ErrClosed when
// the stream is closed, having claimed nothing. It panics unless 1 <= k <=
// MPMCMaxBatch. A claim still outstanding is committed as skip records
// first.
func (p *MPMCProducer) TryReserveBatch(k int) (int, error) {
	if k < 1 || k > MPMCMaxBatch {
		panic(fmt.Sprintf("ring: batch of %d positions outside [1, %d]", k, MPMCMaxBatch))
	}
	got, err := p.tryClaim(uint64(k))
	if err != nil {
		return 0, err
	}
	p.batch = true
	return int(got), nil
}

// tryClaim claims up to k positions after cancelling what is held, and
// handles the end of the stream.
func (p *MPMCProducer) tryClaim(k uint64) (uint64, error) {
	m := p.m
	p.Cancel()
	pos, got, err := p.claim(k)
	if errors.Is(err, ErrFull) && m.Closed.Load() != 0 {
		return 0, errStreamClosed
	}
	if err != nil {
		return 0, err
	}
	p.pos, p.end = pos, pos+got
	if m.Closed.Load() != 0 {
		// Claimed after the close (see End of stream above): fill the
		// positions with skips so that consumers pass them and Drained
		// can become true.
		p.Cancel()
		return 0, errStreamClosed
	}
	return got, nil
}

// claim claims up to k consecutive free positions, at least one, with the
// intent protocol, and returns the first and how many.
//
// A batch claim. At enq == pos, the slots of pos, pos+1, ... pos+k-1 are
// loaded in turn, and the run of them that are free (seq == their
// position) is claimed with one CAS(enq, pos, pos+run). A slot seen free
// stays free until its position is claimed, which needs enq past it, and
// enq only grows: if the CAS succeeds, enq was still pos, and every slot
// of the run is still free. This is the Disruptor's multi-producer claim,
// except that it takes only the free run instead of waiting for the slots
// after it.
//
// The range is announced before the CAS, end first, then intent (Intents
// above), and stays until the last position of the range is published. A
// process killed anywhere after that leaves its entry naming the whole
// range: killed before the CAS, or after a CAS it lost, it owns nothing and
// a reap finds each position either unclaimed (at or past enq), owned by a
// live producer that names it (Busy), or owned by a dead one (made a skip
// record, which is right whoever of the dead named it); killed after its
// CAS, in the middle of the range's publication, it leaves a published
// prefix (seq p+1, left alone) and an unpublished rest (seq p, made skip
// records). The reap (mpmc_reap.go) judges each position of the range on
// its own, so every prefix of the publication is handled alike.
func (p *MPMCProducer) claim(k uint64) (pos, got uint64, err error) {
	m := p.m
	k = min(k, m.maxRange)
	announced := false
	enq := p.lane.Enq
	pos = enq.Load()
	for range maxClaimAttempts {
		// Pairs with the Store(seq) of the consumer that released the
		// slot's previous lap: once seq == pos, it is done with the slot.
		seq := p.lane.seqWord(pos).Load()
		switch d := int64(seq - pos); {
		case d == 0:
			run := uint64(1)
			for run < k && p.lane.seqWord(pos+run).Load() == pos+run {
				run++
			}
			// The range before the claim: see Intents above, and the
			// comment of this function.
			fence.Store64(p.e.End, pos+run)
			fence.Store64(p.e.Intent, pos+1)
			announced = true
			if enq.CompareAndSwap(pos, pos+run) {
				return pos, run, nil
			}
			pos = enq.Load()
		case d > 0:
			next := enq.Load()
			if next == pos {
				p.unannounce(announced)
				return 0, 0, fmt.Errorf("%w: slot of position %d has seq %d ahead of enq %d",
					ErrCorrupt, pos, seq, next)
			}
			pos = next
		case d == -int64(m.n) || d == 1-int64(m.n):
			p.unannounce(announced)
			return 0, 0, ErrFull
		default:
			p.unannounce(announced)
			return 0, 0, fmt.Errorf("%w: slot of position %d has seq %d, want %d, %d or %d",
				ErrCorrupt, pos, seq, pos, pos-m.n, pos-m.n+1)
		}
	}
	p.unannounce(announced)
	return 0, 0, ErrFull
}

// Holding reports whether the producer holds claimed positions not yet
// published, which Commit, CommitNext, Cancel or the next claim ends.
func (p *MPMCProducer) Holding() bool { return p.pos != p.end }

// Reserved returns the payload size of the reservation that awaits Commit,
// or -1 when there is none (a batch from TryReserveBatch is not one).
func (p *MPMCProducer) Reserved() int {
	if !p.Holding() || p.batch {
		return -1
	}
	return int(p.limit)
}

// unannounce clears the intent stored by a claim that failed.
func (p *MPMCProducer) unannounce(announced bool) {
	if announced {
		fence.Store64(p.e.Intent, 0)
	}
}

// Commit publishes the reserved slot with an n-byte message, n at most the
// size reserved. Commit without a reservation, or with a larger n, panics.
func (p *MPMCProducer) Commit(n int) {
	if p.Reserved() < 0 || n < 0 || uint64(n) > p.limit {
		panic("ring: Commit without a matching TryReserve")
	}
	p.publish(uint64(n), 0)
	p.stats.local.MsgsSent++
	p.stats.local.BytesSent += uint64(n)
}

// CommitNext copies msg into the next position of the batch that
// TryReserveBatch claimed and publishes it. It panics without such a
// position, or when msg exceeds the slot size.
func (p *MPMCProducer) CommitNext(msg []byte) {
	n := uint64(len(msg))
	if !p.batch || !p.Holding() || n > p.m.slotSize {
		panic("ring: CommitNext without a position from TryReserveBatch for it")
	}
	copy(p.lane.payload(p.pos, n), msg)
	p.publish(n, 0)
	p.stats.local.MsgsSent++
	p.stats.local.BytesSent += n
}

// Cancel gives up the claimed positions not yet published, if any: their
// slots are committed as skip records, which consumers pass over.
func (p *MPMCProducer) Cancel() {
	for p.Holding() {
		p.publish(0, flagSkip)
	}
}

// publish finishes the next claimed slot with a header of n and flags.
func (p *MPMCProducer) publish(n uint64, flags uint32) {
	putHeader(p.lane.header(p.pos), n, flags)
	// Publishes the header and payload; pairs with the consumer's
	// Load(seq) in claim. After the last position of the range, the
	// intent goes, after the last store to its slots (see Intents).
	p.m.publishSeq(p.lane, p.pos, p.pos+1)
	p.pos++
	if p.pos == p.end {
		fence.Store64(p.e.Intent, 0)
	}
}

// publishSeq stores v in the seq of the slot of position pos of lane l, a
// commit or a release: a release store, then a full barrier when an
// entry's sleeps do not pay for one (Publication above). The caller's next
// step is the look at the sleepers of the wake rule.
//
// The barrier is a CAS of v for v, not a second store as on SPSC rings:
// the first store hands the slot to the other side, which may move seq on
// at once (claim, fill and publish the next turn), and a second store of v
// would move it back. The CAS writes nothing unless seq still holds v, and
// either way it is a locked instruction on amd64 (a full barrier), and
// sequentially consistent elsewhere.
func (m *MPMC) publishSeq(l *Lane, pos, v uint64) {
	w := l.seqWord(pos)
	fence.Store64(w, v)
	if fence.PlainStores && m.NoBarrier.Load() != 0 {
		w.CompareAndSwap(v, v)
	}
}

// Counters returns the producer's private counters. It counts MsgsSent and
// BytesSent itself; the caller adds the waits, sleeps, wakes and reaps it
// does. FlushStats makes them visible in the entry.
func (p *MPMCProducer) Counters() *Stats { return &p.stats.local }

// FlushStats stores the counters that changed since the last flush into the
// participant entry, with one Store each. Call it once per batch or wait.
func (p *MPMCProducer) FlushStats() { p.stats.flush(&p.e.Stats) }

// MPMCConsumer is one consumer of an MPMC ring, attached through its
// participant entry. It is not safe for concurrent use; each goroutine or
// process that receives uses its own, on its own entry.
type MPMCConsumer struct {
	m       *MPMC
	e       *Participant
	pos     uint64 // the next claimed position not yet released
	end     uint64 // one past the last claimed position: [pos, end) is ours
	claimed *Lane  // the lane of [pos, end)
	held    bool   // a slot awaits Release
	at      uint64 // its position: pos, or an adopted orphan's
	heldIn  *Lane  // its lane
	msg     []byte // its payload, when valid
	heldErr error  // why its slot is not a valid message
	adopted int    // the orphan entry whose slot is held, or -1
	passed  bool   // a claim freed a skip record since PassedSkip
	left    bool   // the last Release left its orphan other messages to adopt
	lane    uint64 // the lane claims start in: the home lane at first
	turn    int    // claims won in it since the consumer moved there
	stats   counters
}

// laneTurn is how many claims a consumer wins in one lane before it starts
// its claims in the next (see claim).
const laneTurn = 64

// NewConsumer returns the consumer of entry i, which the caller joined as
// EntryConsumer. It panics unless 0 <= i < Participants; a region Init did
// not finish, or an entry in another state, is ErrCorrupt.
func (m *MPMC) NewConsumer(i int) (*MPMCConsumer, error) {
	e, err := m.endpointEntry(i, EntryConsumer)
	if err != nil {
		return nil, err
	}
	return &MPMCConsumer{
		m: m, e: e, adopted: -1,
		lane:    e.Lane.Load() & m.laneMask, // where claims start: the home lane
		claimed: &m.lanes[0],                // for good in a ring of one lane
	}, nil
}

// TryPeek claims the next committed message and returns its payload in
// place; Release frees its slot. It returns ErrEmpty when no message is
// committed now (Drained then says whether one can still come). Skip records
// are passed over on the way. While a slot is held, TryPeek returns it
// again. A slot whose header is corrupt stays held and is reported as
// ErrCorrupt again until Release discards it. The bytes stay valid until
// Release; the caller must not write them.
func (c *MPMCConsumer) TryPeek() ([]byte, error) { return c.TryPeekBatch(1) }

// TryPeekBatch is TryPeek, but when it has to claim, it claims up to k
// consecutive committed positions with one CAS on deq (fewer when fewer
// are committed now), and the next TryPeek or TryPeekBatch calls return
// the messages of the rest of them, in order, before claiming again. The
// consumer's entry names the claimed positions until the last is released
// (Claiming): a consumer that ends before that leaves them, through a
// reap, to an orphan that another consumer adopts. It panics unless 1 <= k
// <= MPMCMaxBatch.
func (c *MPMCConsumer) TryPeekBatch(k int) ([]byte, error) {
	if k < 1 || k > MPMCMaxBatch {
		panic(fmt.Sprintf("ring: batch of %d positions outside [1, %d]", k, MPMCMaxBatch))
	}
	if c.held {
		return c.msg, c.heldErr
	}
	for range maxClaimAttempts {
		if c.pos == c.end {
			var pos, got uint64
			var err error
			if c.m.laneMask == 0 {
				pos, got, err = c.claimIn(0, uint64(k)) // c.claimed is lane 0 for good
			} else {
				pos, got, err = c.claim(uint64(k))
			}
			if err != nil {
				return nil, err
			}
			c.pos, c.end = pos, pos+got
		}
		if c.next() {
			return c.msg, c.heldErr
		}
	}
	return nil, ErrEmpty
}

// next holds the next message of the claimed range, freeing the skip
// records before it, and reports whether there was one.
func (c *MPMCConsumer) next() bool {
	m := c.m
	for c.pos != c.end {
		// The claim's Load(seq) that saw pos+1 ordered the header after
		// the producer's publication.
		if n, flags := getHeader(c.claimed.header(c.pos)); flags != flagSkip {
			c.hold(c.claimed, c.pos, n, flags, -1)
			return true
		}
		// Frees the skipped slot for the next lap, as Release does;
		// pairs with the producer's Load(seq) in claim.
		c.claimed.seqWord(c.pos).Store(c.pos + m.n)
		c.passed = true
		c.advance()
	}
	return false
}

// advance moves past the position just freed; after the last one of the
// range, the intent goes (see Intents).
func (c *MPMCConsumer) advance() {
	c.pos++
	if c.pos == c.end {
		fence.Store64(c.e.Intent, 0)
	}
}

// claim claims up to k consecutive committed positions of one lane of a
// ring of several, at least one, and returns the first and how many;
// c.claimed is their lane.
//
// Which lane. A consumer tries the lane it is in, then the others in
// order, and stays in the lane where it won a claim, so that consumers as
// many as the lanes, each in its own, keep off each other's deq. After
// laneTurn claims won in one lane it starts in the next, so that a lane
// that never runs dry does not keep a consumer while the other lanes fill
// up; consumers that move on at the same pace stay in lanes of their own.
func (c *MPMCConsumer) claim(k uint64) (pos, got uint64, err error) {
	m := c.m
	if c.turn >= laneTurn {
		c.lane, c.turn = (c.lane+1)&m.laneMask, 0
	}
	for i := range uint64(len(m.lanes)) {
		l := (c.lane + i) & m.laneMask
		pos, got, err = c.claimIn(l, k)
		if err != ErrEmpty {
			if err == nil {
				if l != c.lane {
					c.lane, c.turn = l, 0
				}
				c.turn++
				c.claimed = &m.lanes[l]
			}
			return pos, got, err
		}
	}
	return 0, 0, ErrEmpty
}

// claimIn claims up to k consecutive committed positions of lane li, at
// least one, with the intent protocol, and returns the first and how many.
//
// A batch claim, as the producer's: at deq == pos, the run of slots from
// pos that are committed (seq == position+1) is claimed with one CAS(deq,
// pos, pos+run); a committed slot stays committed until a consumer claims
// its position, which needs deq past it. The range is announced before
// the CAS (end, then intent) and named until its last position is
// released. A process killed after that leaves its entry naming the range:
// before the CAS, or after a lost one, it owns nothing, and deq has not
// reached the range's end, or belongs to others (live: Busy; dead: their
// own entries name their positions too); after its CAS, at any point of
// the range's consumption, it leaves a released prefix (seq p+N) and a
// rest still committed (seq p+1), which the reap turns into an orphan that
// names the rest (mpmc_reap.go).
func (c *MPMCConsumer) claimIn(li, k uint64) (pos, got uint64, err error) {
	m := c.m
	k = min(k, m.maxRange)
	announced := false
	lane := &m.lanes[li]
	deq := lane.Deq
	pos = deq.Load()
	for range maxClaimAttempts {
		// Pairs with the producer's Store(seq) in publish: once seq ==
		// pos+1, the header and payload are written.
		seq := lane.seqWord(pos).Load()
		switch d := int64(seq - (pos + 1)); {
		case d == 0:
			run := uint64(1)
			for run < k && lane.seqWord(pos+run).Load() == pos+run+1 {
				run++
			}
			// The range before the claim: see Intents above.
			fence.Store64(c.e.End, pos+run)
			fence.Store64(c.e.Intent, pos+1)
			announced = true
			if deq.CompareAndSwap(pos, pos+run) {
				return pos, run, nil
			}
			pos = deq.Load()
		case d > 0:
			next := deq.Load()
			if next == pos {
				c.unannounce(announced)
				return 0, 0, fmt.Errorf("%w: slot of position %d has seq %d ahead of deq %d",
					ErrCorrupt, pos, seq, next)
			}
			pos = next
		case d == -1 || d == -int64(m.n):
			c.unannounce(announced)
			return 0, 0, ErrEmpty
		default:
			c.unannounce(announced)
			return 0, 0, fmt.Errorf("%w: slot of position %d has seq %d, want %d, %d or %d",
				ErrCorrupt, pos, seq, pos+1, pos, pos-m.n+1)
		}
	}
	c.unannounce(announced)
	return 0, 0, ErrEmpty
}

// unannounce clears the intent stored by a claim that failed.
func (c *MPMCConsumer) unannounce(announced bool) {
	if announced {
		fence.Store64(c.e.Intent, 0)
	}
}

// hold makes the slot of pos, of lane l, claimed or adopted from entry
// orphan (-1 for none), the held one, and checks its header n, flags.
func (c *MPMCConsumer) hold(l *Lane, pos, n uint64, flags uint32, orphan int) {
	c.held, c.at, c.heldIn, c.adopted = true, pos, l, orphan
	c.msg, c.heldErr = nil, nil
	switch {
	case flags != 0:
		c.heldErr = fmt.Errorf("%w: slot of position %d has flags %#x", ErrCorrupt, pos, flags)
	case n > c.m.slotSize:
		c.heldErr = fmt.Errorf("%w: slot of position %d holds %d bytes, a slot holds at most %d",
			ErrCorrupt, pos, n, c.m.slotSize)
	default:
		c.msg = l.payload(pos, n)
	}
}

// Holding reports whether the consumer holds a slot that Release must free:
// a message from TryPeek or Adopt, or one they reported corrupt.
func (c *MPMCConsumer) Holding() bool { return c.held }

// Claiming reports whether the consumer's entry names positions it claimed:
// a held slot, or the rest of a batch from TryPeekBatch that the next
// TryPeek calls return. Leave refuses such an entry.
func (c *MPMCConsumer) Claiming() bool { return c.pos != c.end }

// PassedSkip reports whether TryPeek passed over a skip record, freeing its
// slot for the producers' next lap, since the last call. The caller then
// wakes what a release wakes: the slot's Store(seq) was step (a) of the wake
// rule.
func (c *MPMCConsumer) PassedSkip() bool {
	passed := c.passed
	c.passed = false
	return passed
}

// Release frees the held slot for the producers' next lap; a slot that was
// reported corrupt is discarded. Release without a held slot panics.
//
// Releasing an adopted message frees the orphan entry, or, when the
// orphan's range still holds messages, makes it an orphan again for the
// next adopter (OrphanLeft).
func (c *MPMCConsumer) Release() {
	if !c.held {
		panic("ring: Release without a slot from TryPeek or Adopt")
	}
	m := c.m
	// The payload has been read; pairs with the producer's Load(seq) in
	// claim. The intent (ours, or the orphan's) goes after it (see Intents).
	m.publishSeq(c.heldIn, c.at, c.at+m.n)
	c.left = false
	if c.adopted >= 0 {
		c.left = m.releaseOrphan(c.adopted)
	} else {
		c.advance()
	}
	if c.heldErr == nil {
		c.stats.local.MsgsReceived++
		c.stats.local.BytesReceived += uint64(len(c.msg))
	}
	c.held, c.msg, c.heldErr, c.adopted = false, nil, nil, -1
}

// OrphanLeft reports whether the last Release, of an adopted message, left
// its orphan entry other messages to adopt: the caller then wakes the
// consumers, as for a new orphan.
func (c *MPMCConsumer) OrphanLeft() bool { return c.left }

// Counters returns the consumer's private counters. It counts MsgsReceived
// and BytesReceived itself; the caller adds the waits, sleeps, wakes and
// reaps it does. FlushStats makes them visible in the entry.
func (c *MPMCConsumer) Counters() *Stats { return &c.stats.local }

// FlushStats stores the counters that changed since the last flush into the
// participant entry, with one Store each. Call it once per batch or wait.
func (c *MPMCConsumer) FlushStats() { c.stats.flush(&c.e.Stats) }
