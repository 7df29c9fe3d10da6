package shmring

import (
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/internal/pidwatch"
	"github.com/shmring/shmring/ring"
)

// Watching the processes a sleeper depends on.
//
// A sleep is cut into slices so that the sleeper looks at its peer (and at
// its parent, if the ring watches it) once a slice (wait.go). On a ring where
// nothing moves, that look is all a sleeper does, and each slice costs a
// thread wake-up or several: most of an idle consumer's CPU. Where the
// kernel reports a process's exit as an event (package pidwatch: a pidfd in
// the runtime's poller), a timed sleep watches the processes instead: on an
// SPSC ring the peer's, on an MPMC ring every other participant's, and the
// parent's when the ring watches it. A watched process that exits wakes
// every sleeper of the ring (exited), whose look then finds the death (an
// MPMC sleeper reaps what the dead left, reap.go), and a sleep whose
// processes are all watched takes slices of watchedSlice, not
// peerCheckInterval. The untimed sleeps of a busy ring (slicer.go) keep
// their slices: a watch is opened only once a wait has gone idle, so that
// a hand-off never pays for one.
//
// Which process. An attaching SPSC endpoint stores its process id and pid
// namespace, then its attached word, then wakes the other side's sleepers
// (publishAttach). A timed sleep loads seq, then the peer's words
// (watchPeer). Either its load of seq came before the attacher's bump, and
// its futex wait returns at once, or after it, and then it sees the
// attacher's words, stored before the bump: no sleeper sleeps a long slice
// watching an endpoint that has gone while another came. An attacher killed
// before its wake-up leaves the sleepers on their old watch (or on none, if
// no peer was attached) for at most watchedSlice: then their look finds its
// lock free and its attached word set.
//
// An MPMC endpoint's Join stores its id and namespace in its entry before
// the entry's state, and the joiner then wakes the sleepers of both
// conditions (wakeMended: step (b) of wait.go, the entry's words being the
// condition). A sleeper arms its round, then reads the entries
// (watchEntries), so by the argument of wait.go's Armed rounds it either
// sees the new entry or is woken and reads again. A joiner killed before
// its wake-up leaves an entry that holds no claim, which blocks nobody; the
// next look (within watchedSlice) reaps it.
//
// What an MPMC sleeper must not miss is a dead process that holds a slot
// or the end of the stream back, and only an entry's owner or a reaper
// holding the entry's lock can leave one. An owner in state producer or
// consumer is watched. Every other case keeps the sleeper on looks of
// peerCheckInterval: an entry in another state (an orphan, an adoption,
// garbage), an entry whose owner's watch fired (it awaits the reap of the
// look), and an entry whose lock is held by a reaper while its words still
// name the dead owner, whose pidfd either cannot be opened or, for a
// zombie, fires at once. So a reaper, a joiner among them, that dies mid-reap
// is found by a look within peerCheckInterval, as before the watch; a
// participant that dies while reaping is watched, and its own exit wakes
// the sleepers. An entry of this process's id is this process's, alive
// while the sleeper is, unless its lock is free: a dead process's that had
// the same id.
//
// Whose id. A pidfd refers to the process that had the id when it was
// opened. A watch is kept only if, after its pidfd is open, the peer's lock
// is held, its attached word set and its pid word unchanged. If the peer had
// died before the pidfd was opened, its lock is free; a successor that
// holds it already but has not stored its id yet stores it and wakes the
// sleepers afterwards, which then watch the successor. The same goes for
// the parent: after the pidfd is open, the parent process id must still be
// the one the ring watches (a dead parent's child is reparented). For an
// MPMC entry, its lock must be held and its state and pid unchanged; a
// reaper holding a dead owner's lock passes that check if the dead owner's
// id was given to another process meanwhile, and should that reaper die
// mid-reap, the sleepers' look finds it within watchedSlice.
//
// Shared memory is untrusted: a garbled pid or namespace word may make a
// sleeper watch some other process, or none. A watch that never fires costs
// a look once a watchedSlice, the same look as before, so a dead peer is
// then noticed within watchedSlice instead of peerCheckInterval: later,
// but never not at all.
type deaths struct {
	mu     sync.Mutex
	halted bool          // set by halt, when the ring closes: no more watches
	peers  [2]deathWatch // the SPSC endpoints' processes, by lock role
	entry  []deathWatch  // the MPMC participants' processes, by entry; made on first use
	parent deathWatch    // the parent process, where the ring watches it
	exits  atomic.Uint32 // watched processes that exited; waits compare it
	slice  time.Duration // the slice of a watched sleep; 0: watchedSlice (tests set it)
}

// deathWatch is one watched process.
type deathWatch struct {
	pid   int
	w     *pidwatch.Watch // nil when none is open
	fired *atomic.Bool    // set when w's process exited
}

// watchedSlice is the slice of a timed sleep whose processes are all
// watched: the bound on a sleep that a wake-up lost to a garbled word, or a
// watch of the wrong process, would otherwise leave asleep.
const watchedSlice = time.Second

// sliceFor returns the slice of a timed sleep on w: watchedSlice when the
// exit of every process a sleeper on w must notice is watched, after
// opening the watches it needs; peerCheckInterval otherwise. The caller
// has loaded w's seq for the sleep's round (see "Which process").
func (r *Ring) sliceFor(w waitWords) time.Duration {
	if !pidwatch.Supported {
		return peerCheckInterval
	}
	d := &r.deaths
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted {
		return peerCheckInterval
	}
	ok := r.parent == 0 || d.parent.watch(r, r.parent, func() bool { return os.Getppid() == r.parent })
	switch {
	case w.index >= ring.WordEvent0:
		// An event's waiters look at the parent alone (Event.peerDead).
	case r.mp != nil:
		ok = ok && r.watchEntries()
	case w.index == ring.WordData:
		ok = ok && r.watchPeer(&d.peers[lockProducer], lockProducer, r.ctl.ProducerAttached, r.ctl.ProducerPid, r.ctl.ProducerPidNS)
	case w.index == ring.WordSpace:
		ok = ok && r.watchPeer(&d.peers[lockConsumer], lockConsumer, r.ctl.ConsumerAttached, r.ctl.ConsumerPid, r.ctl.ConsumerPidNS)
	}
	if !ok {
		return peerCheckInterval
	}
	if d.slice != 0 {
		return d.slice
	}
	return watchedSlice
}

// watchPeer makes dw watch the SPSC endpoint of role, whose attached, pid
// and namespace words are given. It reports whether that endpoint's exit
// wakes the sleepers: watched, or none attached (an attaching one wakes
// them). The caller holds d.mu.
func (r *Ring) watchPeer(dw *deathWatch, role int, attached, pid *atomic.Uint32, ns *atomic.Uint64) bool {
	if attached.Load() == 0 {
		dw.close()
		return true
	}
	p, mine := pid.Load(), pidwatch.Namespace()
	if p == 0 || p > math.MaxInt32 || mine == 0 || ns.Load() != mine {
		return false
	}
	return dw.watch(r, int(p), func() bool {
		held, err := r.seg.Locked(role)
		return err == nil && held && attached.Load() != 0 && pid.Load() == p
	})
}

// watchEntries makes d.entry watch the process of every MPMC participant
// of another process. It reports whether the exit of every process that
// could leave a dead claim behind wakes the sleepers (see "Which process"):
// every entry is free, this process's with its lock held, or a producer's
// or consumer's whose process is watched. The caller holds d.mu.
func (r *Ring) watchEntries() bool {
	d := &r.deaths
	if d.entry == nil {
		d.entry = make([]deathWatch, r.mp.Geometry().Participants)
	}
	me, mine := uint32(os.Getpid()), pidwatch.Namespace()
	ok := mine != 0
	for i := range d.entry {
		e, dw := r.mp.Entry(i), &d.entry[i]
		state, p := e.State.Load(), e.Pid.Load()
		switch {
		case state == ring.EntryFree:
			dw.close()
		case state != ring.EntryProducer && state != ring.EntryConsumer ||
			p == 0 || p > math.MaxInt32 || e.PidNS.Load() != mine:
			dw.close()
			ok = false
		case p == me:
			dw.close()
			held, err := r.seg.Locked(i)
			ok = ok && err == nil && held
		default:
			ok = dw.watch(r, int(p), func() bool {
				held, err := r.seg.Locked(i)
				return err == nil && held && e.State.Load() == state && e.Pid.Load() == p
			}) && ok
		}
	}
	return ok
}

// watch makes dw watch process pid, unless it does already. still, called
// once the pidfd is open, says whether pid is still the process meant
// ("Whose id"). It reports whether dw watches pid and the process has not
// exited: a watch that fired is not opened again for the same id, so a
// dead process whose words stay (its lock held by a stopped reaper, say)
// costs the sleepers their looks, not a wake-up per slice.
// The caller holds d.mu.
func (dw *deathWatch) watch(r *Ring, pid int, still func() bool) bool {
	if dw.w != nil && dw.pid == pid {
		return !dw.fired.Load()
	}
	dw.close()
	fired := new(atomic.Bool)
	w, err := pidwatch.Open(pid, func() {
		fired.Store(true)
		r.exited()
	})
	if err != nil {
		return false
	}
	if !still() {
		_ = w.Close()
		return false
	}
	dw.pid, dw.w, dw.fired = pid, w, fired
	return true
}

// close stops dw's watch, if it has one, and waits until its callback has
// returned. Closing a pidfd cannot lose anything, so its error is dropped.
func (dw *deathWatch) close() {
	if dw.w != nil {
		_ = dw.w.Close()
		dw.w = nil
	}
}

// exited runs on a watch's goroutine when its process exits: it counts the
// exit, then wakes every sleeper of the ring, which looks at its peers
// (wait.go). It takes no lock: halt waits for it under d.mu.
func (r *Ring) exited() {
	r.deaths.exits.Add(1)
	_ = r.guarded(func() error {
		r.wake(r.dataWords())
		r.wake(r.spaceWords())
		for i := range NumEvents {
			r.wake(r.eventWords(i))
		}
		return nil
	})
}

// halt closes every watch, waiting for their callbacks, and opens no more:
// Ring.Close calls it before it unmaps the segment that the callbacks wake.
func (d *deaths) halt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.halted = true
	d.peers[lockProducer].close()
	d.peers[lockConsumer].close()
	for i := range d.entry {
		d.entry[i].close()
	}
	d.parent.close()
}

// publishAttach publishes an attaching SPSC endpoint's process id and pid
// namespace in pid and ns, then sets its attached word, then wakes the
// sleepers of w, the other side's condition, so that a sleeper watching the
// endpoint's predecessor watches this one instead ("Which process").
func (r *Ring) publishAttach(attached, pid *atomic.Uint32, ns *atomic.Uint64, w waitWords) {
	pid.Store(uint32(os.Getpid()))
	ns.Store(pidwatch.Namespace())
	attached.Store(1)
	r.wake(w)
}
