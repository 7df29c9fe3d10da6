package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"sync"
	"time"

	"github.com/shmring/shmring"
)

// maxWorkers bounds -workers.
const maxWorkers = 256

// tickEvery is the period of the parent's other work: counting ticks and,
// with -v, printing progress.
const tickEvery = 100 * time.Millisecond

var errWatchdog = fmt.Errorf("gave up after %v", watchdog)

// child is the parent's side of one worker process: the producer end of its
// request ring and the consumer end of its response ring.
type child struct {
	index     int
	req, resp *shmring.Ring
	send      *shmring.Producer
	recv      *shmring.Consumer
	exited    chan struct{} // closed when cmd.Wait has returned, with waitErr
	waitErr   error
}

// result is what a successful run measured.
type result struct {
	items   uint64
	workers int
	elapsed time.Duration
	ticks   int
}

// String is the summary line.
func (r result) String() string {
	rate := float64(r.items) / max(r.elapsed.Seconds(), 1e-9)
	return fmt.Sprintf("items=%d workers=%d elapsed=%v rate=%.0f items/s ok",
		r.items, r.workers, roundSignificant(r.elapsed), rate)
}

// roundSignificant rounds d to three significant digits.
func roundSignificant(d time.Duration) time.Duration {
	step := time.Duration(1)
	for d/step >= 1000 {
		step *= 10
	}
	return d.Round(step)
}

// run is the parent: it starts the workers, streams the items to them,
// collects and checks the results, and waits for the workers to exit.
// Progress goes to stderr with cfg.verbose, and so do the workers' errors.
func run(ctx context.Context, cfg config, stderr io.Writer) (_ result, err error) {
	ctx, cancelWatchdog := context.WithTimeoutCause(ctx, watchdog, errWatchdog)
	defer cancelWatchdog()
	// Every goroutine reports its failure through fail, which cancels ctx
	// with it as the cause; the first cause is the run's error.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)

	// The workers' error messages go to stderr from several goroutines.
	stderr = &syncWriter{w: stderr}
	children := make([]*child, 0, cfg.workers)
	var sent chan error // the sender's result, once it runs
	defer func() {
		if err != nil {
			// Ends the sender's waits and kills the workers still
			// running (exec.CommandContext).
			fail(err)
		}
		// The rings stay open until the sender has left them.
		if sent != nil {
			if serr := <-sent; err == nil {
				err = serr
			}
		}
		for _, ch := range children {
			err = errors.Join(err, ch.close())
		}
	}()
	for i := range cfg.workers {
		ch, err := spawn(ctx, cfg, i, stderr, fail)
		if err != nil {
			return result{}, fmt.Errorf("start worker %d: %w", i, err)
		}
		children = append(children, ch)
	}

	start := time.Now()
	sent = make(chan error, 1)
	go func() {
		err := stream(ctx, cfg.items, children)
		if err != nil {
			fail(err)
		}
		sent <- err
	}()

	coll := newCollector(cfg.items, cfg.workers)
	ticks, err := collect(ctx, children, coll, cfg.verbose, stderr)
	if err != nil {
		return result{}, err
	}
	elapsed := time.Since(start)

	for _, ch := range children {
		select {
		case <-ch.exited:
		case <-ctx.Done():
			return result{}, context.Cause(ctx)
		}
		if ch.waitErr != nil {
			return result{}, fmt.Errorf("worker %d: %w", ch.index, ch.waitErr)
		}
	}
	if err := coll.check(); err != nil {
		return result{}, err
	}
	return result{items: cfg.items, workers: cfg.workers, elapsed: elapsed, ticks: ticks}, nil
}

// spawn creates worker i's rings and starts its process. A goroutine waits
// for the process and calls fail if it exits with an error.
func spawn(ctx context.Context, cfg config, i int, stderr io.Writer, fail context.CancelCauseFunc) (_ *child, err error) {
	opts := &shmring.Options{Size: cfg.size, Wait: cfg.wait}
	ch := &child{index: i, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			close(ch.exited)
			err = errors.Join(err, ch.close())
		}
	}()
	if ch.req, err = shmring.CreateAnonymous(opts); err != nil {
		return nil, err
	}
	if ch.resp, err = shmring.CreateAnonymous(opts); err != nil {
		return nil, err
	}
	if ch.send, err = ch.req.Producer(); err != nil {
		return nil, err
	}
	if ch.recv, err = ch.resp.Consumer(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, cfg.exe)
	cmd.Env = append(os.Environ(), workerEnv+"="+cfg.wait.String())
	cmd.Stderr = stderr
	// With the semaphore fallback, Pass takes a hold on the rings' wake-up
	// state that only the child's Inherit gives back: a child that does
	// not start leaves the state behind. Do not pass rings to a child that
	// an ended ctx would keep from starting.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ch.req.Pass(cmd, requestKey); err != nil {
		return nil, err
	}
	if err := ch.resp.Pass(cmd, responseKey); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		ch.waitErr = cmd.Wait()
		close(ch.exited)
		if ch.waitErr != nil {
			fail(fmt.Errorf("worker %d: %w", i, ch.waitErr))
		}
	}()
	return ch, nil
}

// close waits for the worker process, if it was started, then closes the
// parent's rings, and with them its endpoints.
func (ch *child) close() error {
	<-ch.exited
	var errs []error
	for _, r := range []*shmring.Ring{ch.req, ch.resp} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	return errors.Join(errs...)
}

// stream deals the items round-robin to the workers, batchSize at a time
// per worker, then closes every request producer, which ends the workers'
// request streams.
func stream(ctx context.Context, items uint64, children []*child) error {
	w := uint64(len(children))
	backing := make([]byte, batchSize*itemSize)
	msgs := make([][]byte, batchSize)
	for i := range msgs {
		msgs[i] = backing[i*itemSize : (i+1)*itemSize]
	}
	for base := uint64(0); base < items; base += batchSize * w {
		for i, ch := range children {
			k := 0
			for id := base + uint64(i); id < items && k < batchSize; id += w {
				putItem(msgs[k], id, request(id))
				k++
			}
			if _, err := ch.send.SendBatch(ctx, msgs[:k]); err != nil {
				return fmt.Errorf("send to worker %d: %w", i, err)
			}
		}
	}
	var errs []error
	for _, ch := range children {
		errs = append(errs, ch.send.Close())
	}
	return errors.Join(errs...)
}

// collect reads the responses until every response stream has ended. It
// selects over the workers' Ready channels, a ticker and ctx, and drains a
// ready consumer with TryRecv. It returns how many ticks it saw.
func collect(ctx context.Context, children []*child, coll *collector, verbose bool, stderr io.Writer) (int, error) {
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	n := len(children)
	cases := make([]reflect.SelectCase, n+2)
	for i, ch := range children {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch.recv.Ready())}
	}
	cases[n] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ticker.C)}
	cases[n+1] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}

	buf := make([]byte, itemSize)
	ticks := 0
	for open := n; open > 0; {
		i, _, _ := reflect.Select(cases)
		switch {
		case i < n:
			ended, err := drain(children[i], coll, buf)
			if err != nil {
				return ticks, err
			}
			if ended {
				// A zero Chan takes the case out of the select.
				cases[i].Chan = reflect.Value{}
				open--
			}
		case i == n:
			ticks++
			if verbose {
				fmt.Fprintf(stderr, "shmring-demo: %d of %d items back after %d ticks\n", coll.got, coll.items, ticks)
			}
		default:
			return ticks, context.Cause(ctx)
		}
	}
	return ticks, nil
}

// drain reads ch's response ring until it is empty (which re-arms its Ready
// channel) or at its end, which it reports.
func drain(ch *child, coll *collector, buf []byte) (ended bool, err error) {
	for {
		n, err := ch.recv.TryRecv(buf)
		switch {
		case errors.Is(err, shmring.ErrEmpty):
			return false, nil
		case errors.Is(err, io.EOF):
			return true, nil
		case err != nil:
			return false, fmt.Errorf("worker %d: receive: %w", ch.index, err)
		}
		if err := coll.add(ch.index, buf[:n]); err != nil {
			return false, err
		}
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
