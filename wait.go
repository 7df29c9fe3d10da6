package shmring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/internal/fence"
	"github.com/shmring/shmring/internal/spin"
	"github.com/shmring/shmring/ring"
)

// Waiting: the eventcount protocol.
//
// A condition (records to read, room to write, an event set) lives in shared
// memory and is made true by another process. Each condition has a sequence
// word (the futex word) and a waiter count in the segment. A waiter:
//
//	1. Add(waiters, 1)           announce, once per wait
//	2. s := Load(seq)
//	3. re-check the condition    return if true
//	4. futex wait while seq == s then back to 2
//	5. Add(waiters, -1)          on return, once per wait
//
// The side that makes the condition true:
//
//	a. Store(cursor or flag)     make it true
//	b. if Load(waiters) != 0 { Add(seq, 1); futex wake }
//
// No wake-up is lost. Take first the case where every step is a
// sync/atomic operation, which are sequentially consistent, so
// in their single total order either (b)'s Load comes after (1) — then the
// seq bump follows, and the waiter either read seq before the bump (the
// futex wait returns at once, EAGAIN, or is woken) or after it, and then its
// re-check (3) comes after (a) and sees the condition — or (b)'s Load comes
// before (1), and then (a) precedes (3), which sees the condition. The
// StoreLoad barrier between (a) and (b) and between (1) and (3) is what the
// sequential consistency of sync/atomic gives here; it is also why the fast
// path of a side that finds no waiter is one plain load and no system call.
// The announcement stays up from (1) to (5), so the argument holds for
// every round of 2-4 in between.
//
// SPSC cursors are stored without that barrier (ring/spsc.go): step (a) is
// a plain release store. The sleeper then calls fence.GlobalBarrier after
// (1), once per wait, before its first (3), which orders the waker's (a) and
// (b) as if (a) were sequentially consistent, for every later round too
// while the announcement stays up (package fence, "Publication across
// processes"). A Block sleeper, or one whose kernel lacks the barrier, skips
// it and has its side's noBarrier word set instead, so that the waker's (a)
// ends with a full barrier (Ring.noBarrier).
//
// Armed rounds. A waiter stays announced from (1) to (5), and that includes
// the time between a wake-up and the moment it runs again: on a loaded
// machine, milliseconds, during which every commit or release of the other
// side would pass (b) and make a system call that wakes nobody. So the
// conditions of data and room (not events) add an armed word, which a
// waiter sets in each round and a waker takes back:
//
//	2b. Store(armed, 1)                    after 2, before 3
//	b2. in (b), only if Swap(armed, 0) != 0 { Add(seq, 1); futex wake }
//
// No wake-up is lost to a waker that skips. Let W be a waiter whose round
// read seq s in (2) and missed a waker P's (a) in its (3), and P's Load in
// (b) saw W's announcement (the case above where it does not is unchanged).
// Both sides have a full barrier between their store and their load: W's
// Store(armed) and P's Swap, both sequentially consistent. So P's Swap
// comes after W's (2b) in their total order (else W's (3) would have seen
// P's (a)), and reads 1 or 0. If 1, P bumps seq after W's (2), and W's
// futex wait on s returns. If 0, another waker Q took the arming after
// W's (2b) and bumped seq after it, so after W's (2) as well: W's wait
// returns all the same. Either way W goes round again: it arms after its
// return, and either that arming comes before P's Swap, which then reads 1
// (or 0 if yet another waker took it, who bumps seq after W's new (2), and
// the argument repeats), or after P's Swap, and then W's next (3) follows P's
// (a), made visible by the Swap's barrier, and sees the condition. Arming
// after the load of seq matters: armed before it, a Q that took the arming
// and bumped between W's (2b) and (2) would leave W asleep on the bumped
// value, while P, seeing the arming gone, skips.
//
// So each wake-up of (b2) consumes one arming, and a wait arms once per
// round: a sleeper woken once is not woken again, however many commits or
// releases come before it runs, until it has looked at the condition. An
// armed word that another process garbles costs a wake-up too many, or one
// missing, which the sleep's slice ends (below), never a wait without end.
//
// Local events that must end a wait (Close, context cancellation and its
// deadline) use the same path: set their flag, then Add(seq, 1) and wake,
// without looking at the arming; a waiter checks the flags in step 3.
//
// Sleeps are cut into slices of peerCheckInterval: once a slice, woken or
// not, the waiter looks at its peer (and flushes its counters). A sleep is
// untimed while the ring's slicer (slicer.go) ends the slices, which spares
// the hand-off the kernel timer of a timed sleep; a wait that stays idle
// for untimedSlices slices goes on with timed sleeps of peerCheckInterval,
// so that the slicer can stop. A timed sleep whose peers' exits are watched
// (deaths.go) takes slices of watchedSlice instead, and the exit of a
// watched process ends its slice at once. A sleep that runs out (the slicer
// woke it, or its timeout passed) with seq unchanged and the condition true
// would be a lost wake-up, which the argument above excludes; it is counted
// (lostWakeups) so that the stress tests can assert that it never happens.

// peerCheckInterval is the sleep slice: how soon a sleeper notices a dead
// peer whose exit it does not watch (deaths.go).
const peerCheckInterval = 50 * time.Millisecond

// spinCheckEvery is how many spin iterations pass between two looks at the
// clock, the context and the closed flags.
const spinCheckEvery = 64

// yieldRounds is how many times Adaptive yields the processor between
// spinning and sleeping.
const yieldRounds = 8

// waitWords names the futex word of a condition and its waiter record: a
// count (SPSC rings and events) or a bitmap with one bit per MPMC
// participant, so that reaping a dead sleeper can clear its bit.
type waitWords struct {
	seq      *atomic.Uint32
	waiters  *atomic.Uint32
	sleepers *atomic.Uint64
	armed    *atomic.Uint32 // nil for events, whose wakers always wake
	index    int
}

func (r *Ring) dataWords() waitWords {
	return waitWords{r.w.dataSeq, r.w.dataWaiters, r.w.dataSleepers, r.w.dataArmed, ring.WordData}
}

func (r *Ring) spaceWords() waitWords {
	return waitWords{r.w.spaceSeq, r.w.spaceWaiters, r.w.spaceSleepers, r.w.spaceArmed, ring.WordSpace}
}

func (r *Ring) eventWords(i int) waitWords {
	ev := r.w.events[i]
	return waitWords{ev.Seq, ev.Waiters, nil, nil, ring.WordEvent0 + i}
}

// seqWord returns the sequence word of futex word i.
func (r *Ring) seqWord(i int) *atomic.Uint32 {
	switch i {
	case ring.WordData:
		return r.w.dataSeq
	case ring.WordSpace:
		return r.w.spaceSeq
	}
	return r.w.events[i-ring.WordEvent0].Seq
}

// sleepBarrier reports whether this ring's sleeps for data or room pay the
// StoreLoad barrier of the wake-up protocol with fence.GlobalBarrier, which
// lets the peers publish their cursors (SPSC, ring/spsc.go) or slot seqs
// (MPMC, ring/mpmc.go) with a plain store. A Block sleeper does not pay
// (its sleeps are its hand-offs), nor one whose kernel lacks the command.
// Those set their side's noBarrier word, or their entry's bit in the MPMC
// NoBarrier word, at attach instead (noBarrier, noBarrierEntry).
func (r *Ring) sleepBarrier() bool {
	return r.opts.Wait != Block && fence.CanGlobalBarrier
}

// noBarrier stores the noBarrier word of an SPSC endpoint's side at attach:
// 1 when its sleeps call no fence.GlobalBarrier, so that the peer publishes
// with a full barrier. Setting it is followed by one GlobalBarrier: a peer
// publication that loaded the word before the store is then visible before
// the first sleep (package fence, "Publication across processes").
func (r *Ring) noBarrier(w *atomic.Uint32) {
	if r.sleepBarrier() {
		w.Store(0)
		return
	}
	w.Store(1)
	fence.GlobalBarrier()
}

// noBarrierEntry is noBarrier for the entry i that an MPMC endpoint just
// joined (whose bit Join cleared): it sets the entry's bit in the NoBarrier
// word when its sleeps call no fence.GlobalBarrier, then calls one, so
// that a publisher that loaded the word before the bit was set has its
// Store(seq) visible before the first sleep.
func (r *Ring) noBarrierEntry(i int) {
	if r.sleepBarrier() {
		return
	}
	r.mp.NoBarrier.Or(1 << i)
	fence.GlobalBarrier()
}

// wake bumps the sequence and wakes every sleeper on it. A failed wake is
// not reported: the sleeper's slice ends within peerCheckInterval anyway.
func (r *Ring) wake(w waitWords) {
	w.seq.Add(1)
	_ = r.fx.Wake(w.index, w.seq, math.MaxInt32)
}

// wakeIfWaiting is step (b) of the protocol; the caller has just made the
// condition true. It reports whether it woke. With a sleeper announced, it
// wakes only when it takes back a round's arming (step b2, Armed rounds
// above): the Swap is also the full barrier between the caller's store
// and its look at the arming.
func (r *Ring) wakeIfWaiting(w waitWords) bool {
	if w.waiters != nil && w.waiters.Load() != 0 || w.sleepers != nil && w.sleepers.Load() != 0 {
		if w.armed != nil && w.armed.Swap(0) == 0 {
			return false
		}
		r.wake(w)
		return true
	}
	return false
}

// sleepers counts, per condition, the goroutines of one MPMC endpoint that
// announced themselves, so that the endpoint's bit is set while any of them
// sleeps (a consumer's poller and a Recv may both wait for data).
type sleepers struct {
	mu    sync.Mutex
	count [2]int // by futex word index: WordData, WordSpace
	bit   uint64
}

// announce is step 1 of the protocol.
func (s *sleepers) announce(w waitWords) {
	if w.sleepers == nil {
		w.waiters.Add(1)
		return
	}
	s.mu.Lock()
	if s.count[w.index]++; s.count[w.index] == 1 {
		w.sleepers.Or(s.bit)
	}
	s.mu.Unlock()
}

// retract is step 5 of the protocol.
func (s *sleepers) retract(w waitWords) {
	if w.sleepers == nil {
		w.waiters.Add(^uint32(0))
		return
	}
	s.mu.Lock()
	if s.count[w.index]--; s.count[w.index] == 0 {
		w.sleepers.And(^s.bit)
	}
	s.mu.Unlock()
}

// condition is what a wait waits for.
type condition interface {
	// ready reports whether the wait is over; an error also ends it.
	ready() (bool, error)
	// peerDead reports whether the process that would make the condition
	// true died while attached (ErrPeerDead), or nil.
	peerDead() error
}

// gate admits the calls that touch an object's shared memory, so that Close
// can end them and wait until none is inside before it unmaps or detaches.
//
// Two kinds of caller go through it. The owner goroutine of an endpoint (a
// Producer or Consumer is not safe for concurrent use, so there is one) marks
// each of its calls with begin and end: a fence.Flag, a plain store on this
// process's memory, so that the per-message path pays no barrier; Close pays
// for it with fence.Barrier (see package fence for the argument). Every other
// goroutine (the Ready poller, the waits and methods of events, attaching)
// uses enter and leave, one atomic add each.
//
// The owner's flag is written twice per call: it sits, with the closed flag
// that every call reads, on a line of its own (128 bytes, as the segment's
// lines), so that the two endpoints of one process do not contend for it.
type gate struct {
	_      [gateLine]byte
	owner  fence.Flag  // 1 while the owner goroutine is between begin and end
	closed atomic.Bool // set once, by close
	_      [gateLine - 8]byte
	inside atomic.Int32  // goroutines between enter and leave
	left   chan struct{} // made by close before it sets closed
}

// gateLine is the padding that keeps a gate's hot words off the lines of
// whatever the allocator puts next to it.
const gateLine = 128

// begin admits a call of the owner goroutine; it fails once the gate is
// closed. The Set comes before the load of closed: a close that stored
// closed before this load waits for the end below, or for the Set(0) of the
// refusal (package fence). begin and end are small enough to inline.
func (g *gate) begin() bool {
	g.owner.Set(1)
	if g.closed.Load() {
		g.owner.Set(0)
		g.signal()
		return false
	}
	return true
}

// end ends a call started by begin, signalling a waiting close.
func (g *gate) end() {
	g.owner.Set(0)
	if g.closed.Load() {
		g.signal()
	}
}

// enter admits a call of any other goroutine; it fails once the gate is
// closed. The add comes before the load of closed: a close that stored
// closed before this load waits for the leave below.
func (g *gate) enter() bool {
	g.inside.Add(1)
	if g.closed.Load() {
		g.leave()
		return false
	}
	return true
}

// leave ends a call admitted by enter, signalling a waiting close when it is
// the last one inside.
func (g *gate) leave() {
	if g.inside.Add(-1) == 0 && g.closed.Load() {
		g.signal()
	}
}

// signal tells a close waiting in close that a call left; a close that is
// not waiting yet finds the token, or looks at the flags before it waits.
func (g *gate) signal() {
	select {
	case g.left <- struct{}{}:
	default:
	}
}

// close closes the gate, calls wake to rouse the calls inside, and waits for
// them to leave: after it returns, no call is inside and every later one is
// refused. Callers run it once (under a sync.Once), never from inside a call.
func (g *gate) close(wake func()) {
	// left is written before the Store(closed) that publishes it to end
	// and leave.
	g.left = make(chan struct{}, 1)
	g.closed.Store(true)
	wake()
	// After the barrier, an owner call that did not see closed has made
	// its flag visible (package fence).
	fence.Barrier()
	for g.owner.Load() != 0 || g.inside.Load() != 0 {
		<-g.left
	}
}

// wait blocks until cond is ready, following the ring's wait strategy. It
// returns ctx.Err() on cancellation, ErrClosed when the ring or the endpoint
// ep (nil for events) is closed, and ErrPeerDead when the peer died. It
// counts its sleeps in st, which belongs to the calling goroutine (nil: do
// not count).
//
// The caller is inside the gate that Close shuts: the endpoint's (begin, or
// enter for the poller) or, for events (ep nil), the ring's (enter). An
// endpoint's call needs the endpoint's gate only: Ring.Close closes every
// endpoint (awaiting its calls) before it unmaps, and no endpoint attaches
// after that.
//
// Its phases are methods of waiting, each with a few returns, so that the
// compiler open-codes the defers that must run even when a fault on a
// shrunk segment panics through them (context callback, sleeper record): a
// defer the runtime has to record costs every hand-off more.
func (r *Ring) wait(ctx context.Context, ep *endpoint, st *ring.Stats, w waitWords, cond condition) error {
	g, sl := &r.gate, &r.eventSleepers
	if ep != nil {
		g, sl = &ep.gate, &ep.sleepers
	}
	wt := waiting{r: r, ctx: ctx, done: ctx.Done(), g: g, sl: sl, st: st, w: w, cond: cond}
	if r.opts.Wait != Block {
		if over, err := wt.spin(); over {
			return err
		}
	}
	return wt.sleep()
}

// waiting is the state of one wait, shared by its phases.
type waiting struct {
	r             *Ring
	ctx           context.Context
	done          <-chan struct{} // ctx.Done()
	g             *gate
	sl            *sleepers
	st            *ring.Stats
	w             waitWords
	cond          condition
	lastPeerCheck time.Time // by the clock: spinning, and timed sleeps
	untimed       bool      // sleeping without a timeout, recorded with the slicer
}

// stopped returns ctx.Err() once ctx is done, ErrClosed once the gate is
// closed, and nil otherwise.
func (wt *waiting) stopped() error {
	select {
	case <-wt.done:
		return wt.ctx.Err()
	default:
	}
	if wt.g.closed.Load() {
		return ErrClosed
	}
	return nil
}

// spin is the first phase of Spin and Adaptive: spin, then yield. The
// condition is checked between PAUSE instructions, the clock and the exits
// every spinCheckEvery rounds. The clock is first read after
// spinCheckEvery rounds (or when the sleep starts): a hand-off that arrives
// sooner costs no clock read. over reports that the wait is over, with err.
func (wt *waiting) spin() (over bool, err error) {
	r, cond := wt.r, wt.cond
	var start time.Time
	for i := 1; ; i++ {
		if ok, err := cond.ready(); ok || err != nil {
			return true, err
		}
		if i%spinCheckEvery != 0 {
			spin.Pause()
			continue
		}
		if err := wt.stopped(); err != nil {
			return true, err
		}
		now := time.Now()
		if i == spinCheckEvery {
			start, wt.lastPeerCheck = now, now
		}
		if now.Sub(wt.lastPeerCheck) >= peerCheckInterval {
			wt.lastPeerCheck = now
			if err := r.peersDead(cond); err != nil {
				return true, err
			}
		}
		if r.opts.Wait == Adaptive && now.Sub(start) >= r.opts.SpinBudget {
			break
		}
	}
	for range yieldRounds {
		runtime.Gosched()
		if ok, err := cond.ready(); ok || err != nil {
			return true, err
		}
	}
	return false, nil
}

// sleep is the sleep phase: steps 1 and 5 of the protocol around the
// slices. Cancellation of ctx wakes the sleepers of w like any waker; so
// does its deadline, which cancels it.
func (wt *waiting) sleep() error {
	r, w := wt.r, wt.w
	if wt.done != nil {
		// The callback touches shared memory: if it has started, wait
		// for it before leaving, since Close unmaps once every wait left.
		fired := make(chan struct{})
		stop := context.AfterFunc(wt.ctx, func() {
			r.wake(w)
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
			}
		}()
	}
	// Step 1, once for the whole sleep phase; step 5 when it returns.
	wt.sl.announce(w)
	wt.untimed = r.slicer.join(w.index)
	defer wt.endSleep()
	// The cursors of data and room may have been published with a plain
	// store (sleepBarrier); events are sequentially consistent. One barrier
	// serves every re-check of the phase: the announcement stays up.
	if w.index < ring.WordEvent0 && r.sleepBarrier() {
		fence.GlobalBarrier()
	}
	return wt.slices()
}

// endSleep is step 5 of the protocol, and the end of an untimed sleeper's
// record with the slicer.
func (wt *waiting) endSleep() {
	if wt.untimed {
		wt.r.slicer.leave(wt.w.index)
	}
	wt.sl.retract(wt.w)
}

// slices sleeps, slice after slice, until the wait is over: steps 2 to 4 of
// the protocol, and the look at the peers once a slice.
func (wt *waiting) slices() error {
	r, w, cond := wt.r, wt.w, wt.cond
	if !wt.untimed && wt.lastPeerCheck.IsZero() {
		wt.lastPeerCheck = time.Now()
	}
	checked := r.slicer.ticks.Load() // ticks at the last look at the peers
	exits := r.deaths.exits.Load()   // watched exits at the last look
	ranOuts := 0                     // untimed sleeps that ran out
	for {
		seq := w.seq.Load()
		if w.armed != nil {
			// Step 2b, after the load of seq (Armed rounds above).
			w.armed.Store(1)
		}
		ok, err := cond.ready()
		if ok || err != nil {
			return err
		}
		if err := wt.stopped(); err != nil {
			return err
		}
		if wt.st != nil {
			wt.st.Sleeps++
		}
		var ticks uint32
		var slept time.Time
		timeout := time.Duration(-1)
		if wt.untimed {
			ticks = r.slicer.ticks.Load()
		} else {
			// After the load of seq above (deaths.go, "Which process").
			slept, timeout = time.Now(), r.sliceFor(w)
		}
		if err := r.fx.Wait(w.index, w.seq, seq, timeout); err != nil {
			return err
		}
		ranOut := false
		if w.seq.Load() == seq {
			// Nobody woke us. The sleep ran out (untimed: the slicer
			// woke it, ticks moved; timed: its timeout passed), or the
			// return was spurious. Count a lost wake-up if it ran out
			// with the condition true, or the stream ended, and no bump
			// of seq follows: the announcement was up all along, so a
			// waker that made the condition true had to bump. Only a
			// sleep that ran out is counted: the slicer or the clock
			// ended it, so it would have lasted until then had the
			// condition stayed false; a spurious return ended early
			// for a reason of its own.
			if wt.untimed {
				ranOut = r.slicer.ticks.Load() != ticks
			} else {
				ranOut = time.Since(slept) >= timeout
			}
			ok, err := cond.ready()
			ended := errors.Is(err, io.EOF) || errors.Is(err, ErrAborted) || errors.Is(err, ErrClosed)
			if ranOut && (ok || ended) && !r.bumpFollows(w, seq) {
				r.lostWakeups.Add(1)
			}
			if ok || err != nil {
				return err
			}
		}
		// The look at the peers, once a slice, woken or not (MPMC: a
		// sleeper woken for others' sake, by messages behind a dead
		// producer's slot, must look at dead peers all the same), and
		// at once when a watched process exited (deaths.go).
		due := false
		if now := r.deaths.exits.Load(); now != exits {
			exits, due = now, true
		}
		if wt.untimed {
			if now := r.slicer.ticks.Load(); now != checked {
				checked, due = now, true
			}
		} else if now := time.Now(); now.Sub(wt.lastPeerCheck) >= peerCheckInterval {
			wt.lastPeerCheck, due = now, true
		}
		if due {
			if err := r.peersDead(cond); err != nil {
				return err
			}
		}
		if wt.untimed && ranOut {
			if ranOuts++; ranOuts == untimedSlices {
				// Idle: timed sleeps from now on, so that the slicer
				// can stop.
				r.slicer.leave(w.index)
				wt.untimed, wt.lastPeerCheck = false, time.Now()
			}
		}
	}
}

// peersDead is the look at the peers of a wait: the parent process if the
// ring watches it (ErrParentDead), then cond's own (ErrPeerDead). On Linux a
// process whose parent dies is reparented to a reaper, so its parent process
// id changes; a parent that died before the ring was opened is not noticed.
func (r *Ring) peersDead(cond condition) error {
	if r.parent != 0 && os.Getppid() != r.parent {
		return fmt.Errorf("shmring: %s: process %d, which started this one, exited: %w",
			r.Name(), r.parent, ErrParentDead)
	}
	return cond.peerDead()
}

// lateBumpGrace is how long a sleeper whose slice ran out with the condition
// true waits for the waker's bump before it counts a lost wake-up: the slice
// may have ended between the waker's steps (a) and (b).
const lateBumpGrace = 100 * time.Millisecond

// bumpFollows reports whether seq moves past old within lateBumpGrace. It
// runs only on the diagnostic path above, never on a hand-off.
func (r *Ring) bumpFollows(w waitWords, old uint32) bool {
	deadline := time.Now().Add(lateBumpGrace)
	for w.seq.Load() == old {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Microsecond)
	}
	return true
}
