//go:build linux

package main

// The peer: the far side of every measurement. For a cross-process transport
// it is this program run again as a child process: the job environment
// variable tells it what to do, the streams' descriptors are inherited, and
// it prints the lines the scenario reads (idle's "ready" and result) on its
// standard output; a failure is a message on its standard error and exit
// status 1. For an in-process transport it is a goroutine running the same
// role on the other ends of the same streams. An MPMC row has several
// peers, all children: each producer and each consumer in its own process
// (mpmc.go).
//
// A child dies with the harness (PR_SET_PDEATHSIG), and a watchdog kills it
// when it runs past the harness's timeout, so that no run hangs and no child
// spins on after the harness is gone.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmring/shmring"
)

const (
	// jobEnv holds, in a child, the JSON of the job it runs.
	jobEnv = "SHMRING_BENCH_JOB"
	// fdEnvPrefix starts the variables naming inherited descriptors.
	fdEnvPrefix = "SHMRING_BENCH_FD_"
)

// Roles of the peer.
const (
	roleProduce = "produce" // send Count messages on stream 0
	roleEcho    = "echo"    // send back each of Count messages of stream 0 on stream 1
	roleBounce  = "bounce"  // answer Count round trips on the cache line of stream 0
	roleIdle    = "idle"    // wait for one message on stream 0 and report the CPU it took
	// MPMC peers, one process each: send Count messages as producer ID
	// once standard input ends, or take messages until the stream ends
	// and report them.
	roleMPMCProduce = "mpmc-produce"
	roleMPMCConsume = "mpmc-consume"
)

// job is what a peer does.
type job struct {
	Role     string `json:"role"`
	Kind     kind   `json:"kind"`
	Size     int    `json:"size"`
	Capacity int    `json:"capacity"`
	Batch    int    `json:"batch"`
	Count    int    `json:"count"` // messages; of each producer in an MPMC row
	// ID numbers an MPMC peer among those of its role; Producers is how
	// many producers the MPMC row has.
	ID        int `json:"id"`
	Producers int `json:"producers"`
}

// ends returns the end of each of the job's streams that the harness plays
// (harness true) or the peer plays (harness false).
func (j job) ends(harness bool) []role {
	var ends []role
	// The harness plays no end of an MPMC ring; the role it is given
	// here is the one opposite the peer's, as for the others.
	switch j.Role {
	case roleProduce, roleMPMCProduce:
		ends = []role{receiving}
	case roleEcho:
		ends = []role{sending, receiving}
	case roleIdle, roleMPMCConsume, roleBounce:
		ends = []role{sending}
	}
	if !harness {
		for i, e := range ends {
			ends[i] = e.other()
		}
	}
	return ends
}

// who names the peer in errors: its role, and its id among MPMC peers.
func (j job) who() string {
	if j.Role == roleMPMCProduce || j.Role == roleMPMCConsume {
		return j.Role + " " + strconv.Itoa(j.ID)
	}
	return j.Role
}

func (j job) spec(ctx context.Context, local role) streamSpec {
	return streamSpec{size: j.Size, capacity: j.Capacity, batch: j.Batch, producers: j.Producers, local: local, ctx: ctx}
}

// streamKey names stream i in the environment of the child.
func streamKey(i int) string { return "S" + strconv.Itoa(i) }

// peer runs a job on the far ends of a session's streams.
type peer struct {
	j       job
	cmd     *exec.Cmd // nil when the peer is a goroutine
	handed  []*os.File
	out     *os.File       // read end of the child's standard output
	lines   *bufio.Scanner // over out
	stderr  bytes.Buffer   // the child's standard error; read after it exited
	cancel  context.CancelFunc
	timeout time.Duration
	done    chan error    // the peer's end, once
	exited  chan struct{} // closed once done holds the peer's end

	watchdog  *time.Timer
	timedOut  atomic.Bool
	abandoned bool
}

// newPeer prepares a peer for j: a child process of exe, or a goroutine when
// inProcess. cancel is called when the peer fails or is abandoned.
func newPeer(exe string, j job, inProcess bool, timeout time.Duration, cancel context.CancelFunc) (*peer, error) {
	p := &peer{j: j, cancel: cancel, timeout: timeout, done: make(chan error, 1), exited: make(chan struct{})}
	if inProcess {
		return p, nil
	}
	spec, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("bench: job: %w", err)
	}
	p.cmd = exec.Command(exe)
	p.cmd.Env = append(os.Environ(), jobEnv+"="+string(spec))
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return p, nil
}

// passFile makes the child inherit f under key; the harness's f is closed
// once the child started.
func (p *peer) passFile(key string, f *os.File) error {
	if p.cmd == nil {
		return errors.New("bench: an in-process peer inherits no descriptor")
	}
	p.cmd.ExtraFiles = append(p.cmd.ExtraFiles, f)
	// ExtraFiles[i] becomes descriptor 3+i in the child.
	p.cmd.Env = append(p.cmd.Env, fdEnvPrefix+key+"="+strconv.Itoa(2+len(p.cmd.ExtraFiles)))
	p.handed = append(p.handed, f)
	return nil
}

// passRing makes the child inherit r under key (shmring.Inherit(key)).
func (p *peer) passRing(r *shmring.Ring, key string) error {
	if p.cmd == nil {
		return errors.New("bench: an in-process peer inherits no ring")
	}
	return r.Pass(p.cmd, key)
}

// passStdin makes f the child's standard input; the harness keeps its own f
// and closes it when it likes.
func (p *peer) passStdin(f *os.File) error {
	if p.cmd == nil {
		return errors.New("bench: an in-process peer has no standard input")
	}
	p.cmd.Stdin = f
	return nil
}

// inheritFile opens, in the child, the descriptor passed under key.
func inheritFile(key string) (*os.File, error) {
	v, ok := os.LookupEnv(fdEnvPrefix + key)
	if !ok {
		return nil, fmt.Errorf("bench: peer: %s%s is not set", fdEnvPrefix, key)
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("bench: peer: bad descriptor %q in %s%s", v, fdEnvPrefix, key)
	}
	return os.NewFile(uintptr(fd), "inherited:"+key), nil
}

// discard drops a peer that was never started.
func (p *peer) discard() {
	for _, f := range p.handed {
		_ = f.Close()
	}
	p.handed = nil
}

// start starts the peer on streams (the goroutine's ends; a child opens its
// own) and arms the watchdog.
func (p *peer) start(streams []stream) error {
	if p.cmd == nil {
		go func() {
			err := runRole(p.j, streams, bytes.NewReader(nil), io.Discard)
			if err != nil {
				p.cancel()
			}
			p.done <- err
			close(p.exited)
		}()
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			p.discard()
			return fmt.Errorf("bench: peer: %w", err)
		}
		p.cmd.Stdout = w
		err = p.cmd.Start()
		_ = w.Close()
		p.discard()
		if err != nil {
			_ = r.Close()
			return fmt.Errorf("bench: peer: %w", err)
		}
		p.out, p.lines = r, bufio.NewScanner(r)
		go func() {
			err := p.cmd.Wait()
			if err != nil {
				p.cancel()
			}
			p.done <- err
			close(p.exited)
		}()
	}
	p.watchdog = time.AfterFunc(p.timeout, func() {
		p.timedOut.Store(true)
		p.kill()
	})
	return nil
}

// kill ends the peer: the child is killed, the goroutine's waits cancelled.
func (p *peer) kill() {
	p.cancel()
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
	}
}

// abandon kills a peer whose session failed on the harness's side.
func (p *peer) abandon() {
	p.abandoned = true
	p.kill()
}

// line returns the next line the child printed.
func (p *peer) line() (string, error) {
	if p.lines == nil {
		return "", errors.New("bench: an in-process peer prints nothing")
	}
	if p.lines.Scan() {
		return p.lines.Text(), nil
	}
	if err := p.lines.Err(); err != nil {
		return "", fmt.Errorf("bench: peer output: %w", err)
	}
	return "", fmt.Errorf("bench: peer %s: %w before its result", p.j.who(), io.ErrUnexpectedEOF)
}

// wait waits until the peer has ended and reports how. After abandon, only
// what a child said on its standard error counts: its exit is ours.
func (p *peer) wait() error {
	err := <-p.done
	p.watchdog.Stop()
	if p.out != nil {
		_ = p.out.Close()
	}
	said := strings.TrimSpace(p.stderr.String())
	switch {
	case p.timedOut.Load():
		return fmt.Errorf("bench: peer %s: killed after %v", p.j.who(), p.timeout)
	case p.abandoned && said != "":
		return fmt.Errorf("bench: peer %s: %s", p.j.who(), said)
	case p.abandoned:
		return nil
	case err != nil && said != "":
		return fmt.Errorf("bench: peer %s: %w: %s", p.j.who(), err, said)
	case err != nil:
		return fmt.Errorf("bench: peer %s: %w", p.j.who(), err)
	}
	return nil
}

// childMain runs the job that spec (the value of jobEnv) describes, in the
// child process, and returns the exit status.
func childMain(spec string) int {
	if err := runChild(spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func runChild(spec string) (err error) {
	var j job
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		return fmt.Errorf("bench: peer: bad %s: %w", jobEnv, err)
	}
	t, err := newTransport(j.Kind)
	if err != nil {
		return err
	}
	// The harness kills a child it gives up on; nothing here cancels.
	ctx := context.Background()
	var streams []stream
	defer func() {
		for _, s := range streams {
			err = errors.Join(err, s.close())
		}
	}()
	for i, local := range j.ends(false) {
		s, err := t.inherit(j.spec(ctx, local), streamKey(i))
		if err != nil {
			return err
		}
		streams = append(streams, s)
	}
	return runRole(j, streams, os.Stdin, os.Stdout)
}

// runRole plays j's role on the peer's ends of streams; in carries the
// harness's start signal (its end), out the lines the harness reads.
func runRole(j job, streams []stream, in io.Reader, out io.Writer) error {
	switch j.Role {
	case roleProduce:
		return produce(streams[0], j)
	case roleEcho:
		return echo(streams[0], streams[1], j)
	case roleBounce:
		return bounce(streams[0], j)
	case roleIdle:
		return idleWait(streams[0], out)
	case roleMPMCProduce:
		return mpmcProduce(streams[0], j, in, out)
	case roleMPMCConsume:
		return mpmcConsume(streams[0], j, out)
	}
	return fmt.Errorf("bench: peer: unknown role %q", j.Role)
}
