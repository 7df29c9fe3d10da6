//go:build linux

package bridge

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring"
)

// Bridge holds what the C API keeps between calls: its handles, the last
// error of each thread, and the event descriptors. The zero value is ready
// to use.
type Bridge struct {
	handles table
	errs    lastErrors

	eventsMu sync.Mutex
	events   map[int]*eventFD // by descriptor
}

// ringEntry is the object of a ring handle.
type ringEntry struct{ r *shmring.Ring }

// ring returns the ring of handle h.
func (b *Bridge) ring(h uint64) (*shmring.Ring, error) {
	e, err := lookup[*ringEntry](&b.handles, h)
	if err != nil {
		return nil, err
	}
	return e.r, nil
}

// newRing opens a ring with open and gives it a handle.
func (b *Bridge) newRing(o *Options, open func(*shmring.Options) (*shmring.Ring, error)) (uint64, error) {
	opts, err := o.options()
	if err != nil {
		return 0, err
	}
	r, err := open(opts)
	if err != nil {
		return 0, err
	}
	return b.handles.add(&ringEntry{r}), nil
}

// Create is shmring.Create.
func (b *Bridge) Create(name string, o *Options) (uint64, error) {
	return b.newRing(o, func(opts *shmring.Options) (*shmring.Ring, error) { return shmring.Create(name, opts) })
}

// Open is shmring.Open.
func (b *Bridge) Open(name string, o *Options) (uint64, error) {
	return b.newRing(o, func(opts *shmring.Options) (*shmring.Ring, error) { return shmring.Open(name, opts) })
}

// OpenOrCreate is shmring.OpenOrCreate.
func (b *Bridge) OpenOrCreate(name string, o *Options) (uint64, error) {
	return b.newRing(o, func(opts *shmring.Options) (*shmring.Ring, error) { return shmring.OpenOrCreate(name, opts) })
}

// CreateAnonymous is shmring.CreateAnonymous.
func (b *Bridge) CreateAnonymous(o *Options) (uint64, error) {
	return b.newRing(o, shmring.CreateAnonymous)
}

// Inherit is shmring.Inherit.
func (b *Bridge) Inherit(key string, o *Options) (uint64, error) {
	return b.newRing(o, func(opts *shmring.Options) (*shmring.Ring, error) { return shmring.Inherit(key, opts) })
}

// PassEnvSlack is how many bytes more than its key the environment entry of
// PassFD needs at most, with a NUL: SHMRING_FD_, =, a descriptor of up to
// 10 digits and the NUL make 23.
const PassEnvSlack = 32

// PassFD is Ring.PassFile for a C parent: it returns a descriptor of the
// segment without close-on-exec (at least 3), which the caller owns, and the
// environment entry that names it. envCap is the size of the caller's
// buffer for the entry: one smaller than len(key)+PassEnvSlack gives
// ErrInvalid before anything is done, so that no descriptor and no hold is
// left behind.
func (b *Bridge) PassFD(h uint64, key string, envCap int) (fd int, env string, err error) {
	r, err := b.ring(h)
	if err != nil {
		return -1, "", err
	}
	if envCap < len(key)+PassEnvSlack {
		return -1, "", fmt.Errorf("shmring: pass fd %q: an environment buffer of %d bytes, %d needed: %w",
			key, envCap, len(key)+PassEnvSlack, ErrInvalid)
	}
	f, env, err := r.PassFile(key)
	if err != nil {
		return -1, "", err
	}
	// The copy made below is what goes to C: closing the original can only
	// fail in ways that change nothing for the copy.
	defer func() { _ = f.Close() }()
	// The descriptor goes to C, which closes it with close(2): it must not
	// belong to an os.File, whose finalizer would close its number again.
	// The copy has no close-on-exec; the entry names its number instead.
	fd, err = unix.FcntlInt(f.Fd(), unix.F_DUPFD, 3)
	if err != nil {
		return -1, "", fmt.Errorf("shmring: pass fd %q: dup: %w", key, err)
	}
	name, _, _ := strings.Cut(env, "=")
	return fd, name + "=" + strconv.Itoa(fd), nil
}

// Close closes ring h (and so its endpoints; their handles stay until they
// are closed).
func (b *Bridge) Close(h uint64) error {
	e, err := remove[*ringEntry](&b.handles, h)
	if err != nil {
		return err
	}
	return e.r.Close()
}

// CloseStream is Ring.CloseStream.
func (b *Bridge) CloseStream(h uint64) error {
	r, err := b.ring(h)
	if err != nil {
		return err
	}
	return r.CloseStream()
}

// AbortStream is Ring.AbortStream.
func (b *Bridge) AbortStream(h uint64, code uint32) error {
	r, err := b.ring(h)
	if err != nil {
		return err
	}
	return r.AbortStream(code)
}

// AbortCode returns the code of the abort that ended the ring's stream, 0
// when it was not aborted (Ring.Info).
func (b *Bridge) AbortCode(h uint64) (uint32, error) {
	r, err := b.ring(h)
	if err != nil {
		return 0, err
	}
	info, err := r.Info()
	if err != nil {
		return 0, err
	}
	return info.AbortCode, nil
}

// Kind is Ring.Kind.
func (b *Bridge) Kind(h uint64) (shmring.Kind, error) {
	r, err := b.ring(h)
	if err != nil {
		return 0, err
	}
	return r.Kind(), nil
}

// MaxMessage is Ring.MaxMessage.
func (b *Bridge) MaxMessage(h uint64) (int, error) {
	r, err := b.ring(h)
	if err != nil {
		return 0, err
	}
	return r.MaxMessage(), nil
}

// Capacity is Ring.Capacity.
func (b *Bridge) Capacity(h uint64) (int, error) {
	r, err := b.ring(h)
	if err != nil {
		return 0, err
	}
	return r.Capacity(), nil
}
