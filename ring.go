package shmring

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
	"golang.org/x/sys/unix"
)

// Lock bytes of the segment file: each attached endpoint holds an OFD lock on
// the byte of its role, which the kernel drops when its process dies.
const (
	lockProducer = 0
	lockConsumer = 1
)

// Ring is one process's handle on a shared ring segment. Endpoints attach to
// it with Producer and Consumer. A Ring is safe for concurrent use; Close
// closes every endpoint attached through it, then unmaps the segment.
type Ring struct {
	seg  *shm.Segment
	kind Kind
	ctl  *ring.Control // SPSC only
	mp   *ring.MPMC    // MPMC only
	w    words         // the words both kinds share
	fx   *futex.Set    // reference given up by Close: Release if anonymous, Detach if named
	opts Options
	// parent is the parent process id when the ring was opened, if the
	// ring watches it (Options.WatchParent, Inherit); 0 otherwise.
	parent int

	// faults: another process can shrink the segment's file under the
	// mapping (a named ring), so that an access faults. Calls then run
	// with panic-on-fault and turn such a fault into ErrCorrupt
	// (faultError).
	faults bool

	gate          gate     // counts every wait on the ring; closed by Close
	eventSleepers sleepers // waiter record of event waits (counts only)
	slicer        *slicer  // ends the untimed sleeps' slices; halted by Close
	deaths        deaths   // watches of the processes idle sleeps depend on; halted by Close

	// lostWakeups counts sleeps that ended with the condition true but no
	// wake-up: the eventcount argument in wait.go says it stays zero.
	lostWakeups atomic.Uint64

	mu        sync.Mutex
	endpoints map[*endpoint]struct{} // attached endpoints; guarded by mu
	closed    bool                   // no more endpoints; guarded by mu

	closeOnce sync.Once
	closeErr  error
}

// Create makes a new named ring and fails if the name exists (an error
// wrapping os.ErrExist). A bare name lives under /dev/shm (shm.Dir: in
// $TMPDIR/shmring-UID on macOS and FreeBSD); a name that is
// absolute or starts with "./" is a file path (file-backed rings survive
// until removed, but not reboots on tmpfs), and any other name with a '/' is
// refused with an error wrapping ErrName. The file is created with mode 0600 unless opts says otherwise,
// never through a symlink, and fully sized up front: a file system without
// room fails here (ErrNoSpace), not with a fault during Send.
func Create(name string, opts *Options) (*Ring, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	seg, err := shm.Create(name, segmentConfig(o))
	if err != nil {
		return nil, err
	}
	return attach(seg, o, futex.Open)
}

// CreateAnonymous makes a ring backed by an anonymous memory file (a memfd;
// on macOS and FreeBSD a file unlinked as soon as it is created) that has no
// name: hand it to a child process with Pass. It disappears when
// the last process holding it exits.
func CreateAnonymous(opts *Options) (*Ring, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	seg, err := shm.CreateAnonymous("shmring", segmentConfig(o))
	if err != nil {
		return nil, err
	}
	return attach(seg, o, futex.Open)
}

// Open opens an existing named ring and validates it completely. Errors
// wrap ErrNotRing, ErrVersion or ErrCorrupt for files that are not sound
// rings, os.ErrNotExist when there is no such file, and ErrMismatch when
// opts asks for a kind, size, slot size or participants the ring does not
// have (see Options).
func Open(name string, opts *Options) (*Ring, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	seg, err := shm.Open(name)
	if err != nil {
		return nil, classify(err)
	}
	return attachMatching(seg, opts, o, futex.Open)
}

// OpenOrCreate opens the named ring, creating it with opts when it does not
// exist, so that two processes can start in either order. An existing ring
// must match what opts asks for, as with Open (ErrMismatch).
func OpenOrCreate(name string, opts *Options) (*Ring, error) {
	for {
		r, err := Create(name, opts)
		if !errors.Is(err, os.ErrExist) {
			return r, err
		}
		r, err = Open(name, opts)
		// The ring may be removed between the two calls: try again.
		if !errors.Is(err, os.ErrNotExist) {
			return r, err
		}
	}
}

// Unlink removes the named ring, and the wake-up state the semaphore
// fallback keeps outside it. Processes that have it open keep using it; the
// memory is freed when the last one closes it.
//
// A file that carries the shmring magic is removed even when it cannot be
// opened as a sound ring: a damaged header (ErrCorrupt), another format
// version (ErrVersion), a ring of the other wake-up mechanism, a semaphore
// set that is gone. Its semaphore set is found through the cookie word at
// its fixed place in the region, read without trusting the header; a ring
// of another format version keeps its set (ipcrm removes it), since its
// layout is unknown. A file without the magic is not a ring: it is left
// alone, and the error wraps ErrNotRing.
func Unlink(name string) error {
	r, err := Open(name, nil)
	switch {
	case err == nil:
		return errors.Join(r.Unlink(), r.Close())
	case errors.Is(err, ErrName), errors.Is(err, os.ErrNotExist), errors.Is(err, ErrNotRing):
		return err
	}
	return unlinkDamaged(name)
}

// unlinkDamaged removes the named ring that Open refused, and the semaphore
// set that its cookie names, unless the file turns out not to be a ring.
func unlinkDamaged(name string) error {
	var fxErr error
	cookie, err := shm.RegionWord(name, ring.CookieOffset)
	switch {
	case err == nil:
		fxErr = futex.Discard(cookie, ring.NumWords)
	case errors.Is(err, ErrVersion), errors.Is(err, io.ErrUnexpectedEOF):
		// Nothing this version can find: remove the name only.
	default:
		return err
	}
	return errors.Join(fxErr, shm.Unlink(name))
}

func segmentConfig(o Options) shm.Config {
	if o.Kind == MPMC {
		g := o.geometry()
		return shm.Config{
			Kind:       ring.KindMPMC,
			RegionSize: int64(g.RegionSize()),
			Params:     g.Params(),
			Mode:       o.Mode,
			Init: func(region []byte) {
				// The region was sized for g: NewMPMC cannot fail.
				if m, err := ring.NewMPMC(region, g); err == nil {
					m.Init()
				}
			},
		}
	}
	return shm.Config{
		Kind:       ring.KindSPSC,
		RegionSize: int64(ring.RegionSize(uint64(o.Size))),
		Params:     [4]uint64{uint64(o.Size)},
		Mode:       o.Mode,
	}
}

// words are the shared words at the same places in both kinds' control
// areas, and the waiter records of the two conditions: counts in an SPSC
// ring (one endpoint per role), per-participant bitmaps in an MPMC ring.
type words struct {
	closed        *atomic.Uint32
	dataSeq       *atomic.Uint32
	spaceSeq      *atomic.Uint32
	cookie        *atomic.Uint32
	events        [ring.NumEvents]ring.EventWords
	dataWaiters   *atomic.Uint32 // SPSC
	spaceWaiters  *atomic.Uint32 // SPSC
	dataSleepers  *atomic.Uint64 // MPMC
	spaceSleepers *atomic.Uint64 // MPMC
	dataArmed     *atomic.Uint32 // both kinds: Armed rounds in wait.go
	spaceArmed    *atomic.Uint32 // both kinds
}

// attachMatching is attach for a ring that exists already: it also checks
// the ring against what opts, resolved to o, asks for.
func attachMatching(seg *shm.Segment, opts *Options, o Options,
	attachFx func(*atomic.Uint32, int) (*futex.Set, error)) (*Ring, error) {
	r, err := attach(seg, o, attachFx)
	if err != nil {
		return nil, err
	}
	if err := opts.match(r); err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}

// attach builds the Ring over a validated segment, attaching to its wake-up
// mechanism with attachFx (futex.Open, or futex.Adopt for an inherited ring);
// it closes seg on failure.
func attach(seg *shm.Segment, o Options,
	attachFx func(*atomic.Uint32, int) (*futex.Set, error)) (_ *Ring, err error) {
	defer func() {
		if err != nil {
			err = errors.Join(classify(err), seg.Close())
		}
	}()
	r := &Ring{seg: seg, opts: o, endpoints: make(map[*endpoint]struct{}), faults: seg.CanShrink()}
	r.slicer = newSlicer(r)
	if o.WatchParent {
		r.parent = os.Getppid()
	}
	switch seg.Kind() {
	case ring.KindSPSC:
		ctl, err := spscControl(seg)
		if err != nil {
			return nil, err
		}
		r.kind, r.ctl = SPSC, ctl
		r.w = words{
			closed: ctl.Closed, dataSeq: ctl.DataSeq, spaceSeq: ctl.SpaceSeq,
			cookie: ctl.FutexCookie, events: ctl.Events,
			dataWaiters: ctl.DataWaiters, spaceWaiters: ctl.SpaceWaiters,
			dataArmed: ctl.DataArmed, spaceArmed: ctl.SpaceArmed,
		}
	case ring.KindMPMC:
		mp, err := mpmcRing(seg)
		if err != nil {
			return nil, err
		}
		r.kind, r.mp = MPMC, mp
		r.w = words{
			closed: mp.Closed, dataSeq: mp.DataSeq, spaceSeq: mp.SpaceSeq,
			cookie: mp.FutexCookie, events: mp.Events,
			dataSleepers: mp.DataSleepers, spaceSleepers: mp.SpaceSleepers,
			dataArmed: mp.DataArmed, spaceArmed: mp.SpaceArmed,
		}
	default:
		return nil, fmt.Errorf("shmring: %s: %w: kind %d is not a ring kind this version knows",
			seg.Name(), ErrCorrupt, seg.Kind())
	}
	if r.fx, err = attachFx(r.w.cookie, ring.NumWords); err != nil {
		return nil, fmt.Errorf("shmring: %s: %w", seg.Name(), err)
	}
	return r, nil
}

// mpmcRing returns the typed view of the region of seg, an MPMC segment,
// with the geometry its header names. It only reads the segment.
func mpmcRing(seg *shm.Segment) (*ring.MPMC, error) {
	g, err := ring.GeometryFromParams(seg.Params())
	if err != nil {
		return nil, fmt.Errorf("shmring: %s: %w", seg.Name(), err)
	}
	m, err := ring.NewMPMC(seg.Region(), g)
	if err != nil {
		return nil, fmt.Errorf("shmring: %s: %w", seg.Name(), err)
	}
	return m, nil
}

// spscControl returns the typed view of the region of seg, an SPSC segment,
// after checking the region's geometry and the header parameters against it.
// It only reads the segment, which may be mapped read-only.
func spscControl(seg *shm.Segment) (*ring.Control, error) {
	ctl, err := ring.NewControl(seg.Region())
	if err != nil {
		return nil, fmt.Errorf("shmring: %s: %w", seg.Name(), err)
	}
	if p := seg.Params(); p[0] != ctl.Capacity() || p[1] != 0 || p[2] != 0 || p[3] != 0 {
		return nil, fmt.Errorf("shmring: %s: %w: header parameters %v do not match a capacity of %d",
			seg.Name(), ErrCorrupt, p, ctl.Capacity())
	}
	return ctl, nil
}

// Name returns the ring's file path, or a description for an anonymous ring
// ("memfd:..." on Linux, "anon:..." on macOS and FreeBSD).
func (r *Ring) Name() string { return r.seg.Name() }

// Kind returns the ring's algorithm.
func (r *Ring) Kind() Kind { return r.kind }

// Capacity returns the size of the ring's data area in bytes: for an MPMC
// ring, slots times slot size.
func (r *Ring) Capacity() int {
	if r.mp != nil {
		g := r.mp.Geometry()
		return int(g.Slots * g.SlotSize)
	}
	return int(r.ctl.Capacity())
}

// Lanes returns the number of lanes of an MPMC ring (Options.Lanes), 1
// for an SPSC ring.
func (r *Ring) Lanes() int {
	if r.mp != nil {
		return len(r.mp.Lanes())
	}
	return 1
}

// MaxMessage returns the largest message the ring can hold.
func (r *Ring) MaxMessage() int {
	if r.mp != nil {
		return int(r.mp.Geometry().SlotSize)
	}
	return r.ctl.MaxPayload()
}

// LostWakeups returns how many sleeps on r, in this process, ended with
// their condition true although nobody woke them: a diagnostic for stress
// and torture runs. The wait protocol says it stays zero; each one stalled a
// waiter for a whole sleep slice (about 50 ms).
func (r *Ring) LostWakeups() uint64 { return r.lostWakeups.Load() }

// Flush writes a file-backed ring's contents to its file (msync).
func (r *Ring) Flush() error { return r.seg.Flush() }

// Unlink removes the ring's name (nothing for an anonymous ring) and the
// wake-up state the semaphore fallback keeps outside the segment.
func (r *Ring) Unlink() error {
	if r.seg.Anonymous() {
		// Nothing to remove: the last Close releases everything.
		return nil
	}
	return errors.Join(r.seg.Unlink(), r.fx.Remove())
}

// Close closes every endpoint attached through r, ends every wait on r's
// events, gives up r's share of the wake-up state the semaphore fallback keeps
// outside the segment, and unmaps the segment. The last Close of an anonymous
// ring, in whichever process, removes that state; a named ring keeps it for
// later openers until Unlink. It is idempotent: every call returns after the
// first has finished, with its result.
func (r *Ring) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		eps := make([]*endpoint, 0, len(r.endpoints))
		for ep := range r.endpoints {
			eps = append(eps, ep)
		}
		r.mu.Unlock()

		var errs []error
		for _, ep := range eps {
			errs = append(errs, ep.close(true))
		}
		r.gate.close(func() {
			_ = r.guarded(func() error {
				for i := range NumEvents {
					r.wake(r.eventWords(i))
				}
				return nil
			})
		})
		// No wait is inside: the slicer and the watches have nobody
		// to wake, and must stop before the unmap.
		r.slicer.halt()
		r.deaths.halt()
		if r.seg.Anonymous() {
			errs = append(errs, r.fx.Release())
		} else {
			errs = append(errs, r.fx.Detach())
		}
		errs = append(errs, r.seg.Close())
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// enter admits a call of any goroutine that touches the segment outside an
// endpoint (events, attaching, CloseStream): Close waits for it before it
// unmaps. false means the ring is closed. Like endpoint.begin, it turns a
// fault on a shrinkable segment into a panic that leave recovers.
func (r *Ring) enter() (oldFault, ok bool) {
	if !r.gate.enter() {
		return false, false
	}
	if r.faults {
		oldFault = debug.SetPanicOnFault(true)
	}
	return oldFault, true
}

// leave ends a call admitted by enter; it must be deferred, directly. A
// fault on the segment becomes an error wrapping ErrCorrupt in *errp (errp
// nil: dropped); any other panic goes on.
func (r *Ring) leave(oldFault bool, errp *error) {
	if !r.faults {
		r.gate.leave()
		return
	}
	debug.SetPanicOnFault(oldFault)
	e := recover()
	r.gate.leave()
	if e != nil {
		err := r.faultError(e)
		if errp != nil {
			*errp = err
		}
	}
}

// guarded runs fn, a rare path that touches the segment outside enter and
// leave (Close, the poller), turning a fault on a shrunk segment into an
// error wrapping ErrCorrupt.
func (r *Ring) guarded(fn func() error) (err error) {
	if r.faults {
		oldFault := debug.SetPanicOnFault(true)
		defer func() {
			debug.SetPanicOnFault(oldFault)
			if e := recover(); e != nil {
				err = r.faultError(e)
			}
		}()
	}
	return fn()
}

// faultError turns e, recovered from a call, into an error wrapping
// ErrCorrupt when it is a memory fault inside the segment's mapping: the
// file was shrunk under it. Any other panic is not the ring's to handle and
// goes on.
func (r *Ring) faultError(e any) error {
	if f, ok := e.(interface{ Addr() uintptr }); ok && r.seg.Contains(f.Addr()) {
		return fmt.Errorf("shmring: %s: %w: its file was shrunk under the mapping (fault at %#x)",
			r.Name(), ErrCorrupt, f.Addr())
	}
	panic(e)
}

// register records an attached endpoint so that Close closes it.
func (r *Ring) register(ep *endpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.endpoints[ep] = struct{}{}
	return nil
}

func (r *Ring) unregister(ep *endpoint) {
	r.mu.Lock()
	delete(r.endpoints, ep)
	r.mu.Unlock()
}

// envPrefix starts the environment variable that tells a child which
// descriptor holds a ring passed with Pass.
const envPrefix = "SHMRING_FD_"

// Pass arranges for cmd's process to inherit the ring: it appends the
// segment's descriptor to cmd.ExtraFiles and sets SHMRING_FD_<key> in
// cmd.Env (starting from os.Environ when cmd.Env is nil). The child calls
// Inherit(key). key must be letters, digits and underscores. Call Pass before
// cmd.Start; r must stay open until then, and may be closed right after.
// After Close it returns an error wrapping ErrClosed.
//
// With the shmring_nofutex build tag, Pass also takes a hold on the wake-up
// state kept outside the segment, which keeps it alive until the child's
// Inherit takes the hold over, even if every other process has closed the
// ring by then. A child that never calls Inherit, or fails to start, leaves
// an anonymous ring's state behind for good (a System V semaphore set: ipcs -s
// lists it, ipcrm removes it); a named ring's Unlink removes it regardless.
func (r *Ring) Pass(cmd *exec.Cmd, key string) error {
	return r.pass("pass", key, func(seg *os.File) error {
		cmd.ExtraFiles = append(cmd.ExtraFiles, seg)
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		// Descriptors 0-2 are stdio; ExtraFiles[i] becomes 3+i in the child.
		fd := 2 + len(cmd.ExtraFiles)
		cmd.Env = append(cmd.Env, envPrefix+key+"="+strconv.Itoa(fd))
		return nil
	})
}

// PassFile is Pass for a child that is not started with os/exec (a C
// program's posix_spawn, another language's process API): it returns a new
// descriptor of the segment, f, and the NAME=VALUE entry, env, that the
// child's environment must hold (SHMRING_FD_<key>=<f.Fd()>). The child must
// receive the descriptor at the same number, f.Fd(), and then calls
// Inherit(key). f is close-on-exec, as every os.File: the code that starts
// the child hands it over (Python's pass_fds, or clearing FD_CLOEXEC just
// before the exec) and closes f once the child has started. key, the hold
// taken with the shmring_nofutex build tag and the errors are those of
// Pass.
func (r *Ring) PassFile(key string) (f *os.File, env string, err error) {
	err = r.pass("pass file", key, func(seg *os.File) error {
		// At least 3: a child's descriptors 0-2 are its stdio.
		fd, err := unix.FcntlInt(seg.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return fmt.Errorf("shmring: pass file %q: dup: %w", key, err)
		}
		f = os.NewFile(uintptr(fd), "shmring:"+key)
		env = envPrefix + key + "=" + strconv.Itoa(fd)
		return nil
	})
	return f, env, err
}

// pass is the part that Pass and PassFile share: it checks key, takes the
// hold for the child, then calls give with the segment's file (which stays
// the ring's).
func (r *Ring) pass(op, key string, give func(seg *os.File) error) (err error) {
	if !validKey(key) {
		return fmt.Errorf("shmring: %s: %w: key %q must be letters, digits and underscores", op, ErrName, key)
	}
	oldFault, ok := r.enter()
	if !ok {
		return fmt.Errorf("shmring: %s %q: %w", op, key, ErrClosed)
	}
	defer r.leave(oldFault, &err)
	if err := r.fx.Hold(); err != nil {
		return fmt.Errorf("shmring: %s %q: %w", op, key, err)
	}
	return give(r.seg.File())
}

// Inherit opens a ring that the parent process passed with Pass(cmd, key)
// or PassFile(key).
// The ring must match what opts asks for, as with Open (ErrMismatch). It
// watches the parent process whatever opts says (Options.WatchParent): once
// the parent has died, every wait on the ring ends with ErrParentDead, so a
// worker whose parent was killed never waits for ever.
// It takes the descriptor over, and the hold Pass took: the variable is unset,
// so a second Inherit of the same key fails with an error wrapping
// os.ErrNotExist.
func Inherit(key string, opts *Options) (*Ring, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("shmring: inherit: %w: key %q must be letters, digits and underscores", ErrName, key)
	}
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	o.WatchParent = true
	v, ok := os.LookupEnv(envPrefix + key)
	if !ok {
		return nil, fmt.Errorf("shmring: inherit %q: %s%s is not set: %w", key, envPrefix, key, os.ErrNotExist)
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("shmring: inherit %q: bad descriptor %q in %s%s", key, v, envPrefix, key)
	}
	// The descriptor now belongs to the Ring: a second Inherit of the key
	// must not wrap it again, and this process's children must not get it.
	if err := os.Unsetenv(envPrefix + key); err != nil {
		return nil, fmt.Errorf("shmring: inherit %q: %w", key, err)
	}
	unix.CloseOnExec(fd)
	seg, err := shm.FromFile(os.NewFile(uintptr(fd), "shmring:"+key))
	if err != nil {
		return nil, classify(err)
	}
	return attachMatching(seg, opts, o, futex.Adopt)
}

func validKey(key string) bool {
	if key == "" {
		return false
	}
	for _, c := range key {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
