package shmring_test

// A worker whose parent dies: the test starts a helper (the parent), which
// passes a ring to a helper of its own (the worker) and is killed -9 while
// the worker waits in Recv. The worker writes how its Recv ended to a file.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// envReport names the file a worker writes its result to.
const envReport = "SHMRING_TEST_REPORT"

// orphanBound is how long a worker waits at most before it reports: the
// rule is about a second, and this watchdog only ends a wait that never
// notices.
const orphanBound = 2 * peerDeathBound

func init() {
	helperRoles["orphan-parent"] = roleOrphanParent
	helperRoles["orphan-worker"] = roleOrphanWorker
}

func TestParentDeath(t *testing.T) {
	for _, mode := range []string{"spsc", "mpmc", "named-mpmc"} {
		t.Run(mode, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "report")
			env := map[string]string{envMode: mode, envReport: report}
			if mode == "named-mpmc" {
				env[envRing] = testRingName(t)
			}
			h := startHelper(t, "orphan-parent", helperConfig{env: env, stdin: true})
			h.await(t, "the worker to wait", func() bool { return len(h.lines()) > 0 })
			require.Equal(t, []string{"worker waits"}, h.lines())
			h.kill()
			requireKilled(t, h.wait())

			var got string
			deadline := time.Now().Add(2 * orphanBound)
			for {
				b, err := os.ReadFile(report)
				if err == nil {
					got = string(b)
					break
				}
				require.ErrorIs(t, err, os.ErrNotExist)
				require.True(t, time.Now().Before(deadline), "the worker did not report")
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("worker's report:\n%s", got)
			for _, line := range []string{"received first\n", "parent dead: true\n", "peer dead: true\n", "eof: false\n"} {
				assert.Contains(t, got, line)
			}
			assert.Contains(t, got, "parent process died", "the message says what happened")
		})
	}
}

// roleOrphanParent makes a ring of the kind envMode names ("spsc", "mpmc",
// or "named-mpmc": an MPMC ring named envRing), passes it to a worker
// (orphan-worker), attaches a producer and sends "first", then prints
// "worker waits" once the worker has it and waits for the end of stdin (the
// test kills it first). The worker writes to the file envReport.
func roleOrphanParent(ctx context.Context) (err error) {
	mode := os.Getenv(envMode)
	opts := &shmring.Options{Size: 4096}
	if strings.HasSuffix(mode, "mpmc") {
		opts.Kind, opts.SlotSize = shmring.MPMC, 64
	}
	var r *shmring.Ring
	if name := os.Getenv(envRing); name != "" {
		r, err = shmring.Create(name, opts)
	} else {
		r, err = shmring.CreateAnonymous(opts)
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	worker := exec.Command(os.Args[0], "-test.run=^$")
	worker.Env = append(os.Environ(), helperEnv+"=orphan-worker")
	if os.Getenv(envRing) == "" {
		if err := r.Pass(worker, ringKey); err != nil {
			return err
		}
	}
	p, err := r.Producer()
	if err != nil {
		return err
	}
	if err := p.Send(ctx, []byte("first")); err != nil {
		return err
	}
	if err := worker.Start(); err != nil {
		return err
	}
	// The worker exits by itself once it has reported.
	go func() { _ = worker.Wait() }()
	if err := r.Event(0).Wait(ctx); err != nil {
		return fmt.Errorf("wait for the worker: %w", err)
	}
	fmt.Println("worker waits")
	return waitForStdin()
}

// roleOrphanWorker takes the ring of its parent (inherited, or by the name
// envRing with Options.WatchParent), receives "first", sets event 0 and
// waits in Recv for a message that never comes; it writes how the Recv
// ended to envReport.
func roleOrphanWorker(ctx context.Context) (err error) {
	var r *shmring.Ring
	if name := os.Getenv(envRing); name != "" {
		r, err = shmring.Open(name, &shmring.Options{WatchParent: true})
	} else {
		r, err = shmring.Inherit(ringKey, nil)
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, orphanBound)
	defer cancel()
	buf := make([]byte, 64)
	n, err := c.Recv(ctx, buf)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "received %s\n", buf[:n])
	r.Event(0).Set()
	start := time.Now()
	_, err = c.Recv(ctx, buf)
	fmt.Fprintf(&b, "noticed after %v: %v\n", time.Since(start), err)
	fmt.Fprintf(&b, "parent dead: %t\npeer dead: %t\neof: %t\n",
		errors.Is(err, shmring.ErrParentDead), errors.Is(err, shmring.ErrPeerDead), errors.Is(err, io.EOF))
	tmp := os.Getenv(envReport) + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return errors.Join(os.Rename(tmp, os.Getenv(envReport)), c.Close())
}
