package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/clitest"
	"github.com/shmring/shmring/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildTags are the build tags of the test binary, which the commands under
// test are built with too.
var buildTags string

// binaries holds the paths of the built producer and consumer.
type binaries struct{ producer, consumer string }

// TestCommands builds producer and consumer and runs them against each other
// as separate processes.
func TestCommands(t *testing.T) {
	dir := clitest.Build(t, buildTags, "github.com/shmring/shmring/cmd/producer", "github.com/shmring/shmring/cmd/consumer")
	bin := binaries{producer: filepath.Join(dir, "producer"), consumer: filepath.Join(dir, "consumer")}

	t.Run("generated messages", func(t *testing.T) { testGenerated(t, bin) })
	t.Run("lines", func(t *testing.T) { testLines(t, bin) })
	t.Run("consumer first", func(t *testing.T) { testConsumerFirst(t, bin) })
	t.Run("runs in a row", func(t *testing.T) { testRunsInARow(t, bin) })
	t.Run("stream ends early", func(t *testing.T) { testEndsEarly(t, bin) })
	t.Run("rings that cannot be opened", func(t *testing.T) { testBadRings(t, bin) })
	t.Run("size mismatch", func(t *testing.T) { testSizeMismatch(t, bin) })
	t.Run("usage", func(t *testing.T) { testUsage(t, bin) })
	t.Run("interrupt", func(t *testing.T) { testInterrupt(t, bin) })
}

// shmName returns a bare ring name (a file in shm.Dir) unique to the test.
func shmName(t *testing.T) string {
	name := fmt.Sprintf("shmring-cmdtest-%d-%d", os.Getpid(), time.Now().UnixNano())
	removeAtEnd(t, filepath.Join(shm.Dir(), name), name)
	return name
}

// ringPath returns a path for a file-backed ring in a temporary directory.
func ringPath(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ring")
	removeAtEnd(t, p, p)
	return p
}

// removeAtEnd unlinks ring at the end of the test if the test left file, so
// that nothing stays behind: not the file, nor the semaphore set the
// shmring_nofutex fallback keeps outside it.
func removeAtEnd(t *testing.T, file, ring string) {
	t.Cleanup(func() {
		if _, err := os.Stat(file); err == nil {
			assert.NoError(t, shmring.Unlink(ring))
		}
	})
}

func testGenerated(t *testing.T, bin binaries) {
	bare := shmName(t)
	tests := []struct {
		name   string
		ring   string
		extra  []string // consumer flags
		remove string   // file that -rm must remove
	}{
		{"file-backed ring", ringPath(t), nil, ""},
		{"ring in the ring directory removed with -rm", bare, []string{"-rm"}, filepath.Join(shm.Dir(), bare)},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := clitest.Run(t, "", bin.producer, "-ring", tt.ring, "-n", "1000")
			require.Equal(t, 0, p.Code, "producer stderr: %s", p.Stderr)
			assert.Empty(t, p.Stdout)

			c := clitest.Run(t, "", bin.consumer, append([]string{"-ring", tt.ring, "-n", "1000"}, tt.extra...)...)
			require.Equal(t, 0, c.Code, "consumer stderr: %s", c.Stderr)
			lines := strings.Split(strings.TrimSuffix(c.Stdout, "\n"), "\n")
			require.Len(t, lines, 1001)
			assert.Regexp(t, `^received 1000 messages in .*: [0-9.]+ msgs/s$`, lines[1000])
			// Each generated message is its sequence number, zero-filled
			// to 64 bytes, and a consumer prints it in hexadecimal.
			msg := make([]byte, 64)
			for i, line := range lines[:1000] {
				binary.LittleEndian.PutUint64(msg, uint64(i))
				require.Equal(t, hex.EncodeToString(msg), line, "message %d", i)
			}
			if tt.remove != "" {
				assert.NoFileExists(t, tt.remove)
				return
			}
			// The ring stays, its stream ended and drained, for the next
			// run; -rm removes it when that run's consumer ends.
			assert.FileExists(t, tt.ring)
			p = clitest.Run(t, "", bin.producer, "-ring", tt.ring, "-n", "3")
			require.Equal(t, 0, p.Code, "producer stderr: %s", p.Stderr)
			c = clitest.Run(t, "", bin.consumer, "-ring", tt.ring, "-q", "-n", "3", "-rm")
			assert.Equal(t, 0, c.Code, "consumer stderr: %s", c.Stderr)
			assert.NoFileExists(t, tt.ring)
		})
	}
}

func testLines(t *testing.T, bin binaries) {
	ring := ringPath(t)
	const text = "hello\n\nwörld\twide\nno newline at the end"
	p := clitest.Run(t, text, bin.producer, "-ring", ring)
	require.Equal(t, 0, p.Code, "producer stderr: %s", p.Stderr)
	// Without -n, the consumer reads to the end of the stream.
	c := clitest.Run(t, "", bin.consumer, "-ring", ring, "-rm")
	require.Equal(t, 0, c.Code, "consumer stderr: %s", c.Stderr)
	assert.Equal(t, text+"\n", c.Stdout)
	assert.NoFileExists(t, ring)
}

func testConsumerFirst(t *testing.T, bin binaries) {
	ring := ringPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), clitest.Watchdog)
	defer cancel()
	consumer := exec.CommandContext(ctx, bin.consumer, "-ring", ring, "-q", "-n", "500", "-rm", "-size", "64K")
	var stdout, stderr bytes.Buffer
	consumer.Stdout, consumer.Stderr = &stdout, &stderr
	require.NoError(t, consumer.Start())
	p := clitest.Run(t, "", bin.producer, "-ring", ring, "-n", "500", "-msgsize", "1000", "-size", "64K")
	require.Equal(t, 0, p.Code, "producer stderr: %s", p.Stderr)
	require.NoError(t, consumer.Wait(), "consumer stderr: %s", stderr.String())
	assert.Regexp(t, `^received 500 messages in .*: [0-9.]+ msgs/s\n$`, stdout.String())
}

// testRunsInARow runs producer and consumer on one ring several times in a
// row, in either order, as two terminals would: each run's consumer prints
// that run's lines and ends, whether it starts before the producer (it
// waits for the producer's stream, even though the previous run left the
// stream closed) or after it (it reads what the producer left).
func testRunsInARow(t *testing.T, bin binaries) {
	for _, tt := range []struct {
		name   string
		orders []bool // consumer first?
	}{
		{"consumer first twice", []bool{true, true}},
		{"producer first twice", []bool{false, false}},
		{"producer first, then consumer first", []bool{false, true, true, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ring := ringPath(t)
			for run, consumerFirst := range tt.orders {
				lines := fmt.Sprintf("run %d: one\nrun %d: two\n", run, run)
				if !consumerFirst {
					p := clitest.Run(t, lines, bin.producer, "-ring", ring)
					require.Equal(t, 0, p.Code, "run %d: producer stderr: %s", run, p.Stderr)
					c := clitest.Run(t, "", bin.consumer, "-ring", ring)
					require.Equal(t, 0, c.Code, "run %d: consumer stderr: %s", run, c.Stderr)
					require.Equal(t, lines, c.Stdout, "run %d: the producer's lines, read after it left", run)
					continue
				}
				ctx, cancel := context.WithTimeout(t.Context(), clitest.Watchdog)
				defer cancel()
				consumer := exec.CommandContext(ctx, bin.consumer, "-ring", ring)
				var stdout, stderr bytes.Buffer
				consumer.Stdout, consumer.Stderr = &stdout, &stderr
				require.NoError(t, consumer.Start())
				// The consumer creates or opens the ring, then waits on it.
				require.Eventually(t, func() bool {
					info, err := shmring.Inspect(ring)
					return err == nil && info.SPSC.Consumer.Alive
				}, clitest.Watchdog, 10*time.Millisecond)
				p := clitest.Run(t, lines, bin.producer, "-ring", ring)
				require.Equal(t, 0, p.Code, "run %d: producer stderr: %s", run, p.Stderr)
				require.NoError(t, consumer.Wait(), "run %d: consumer stderr: %s", run, stderr.String())
				require.Equal(t, lines, stdout.String(), "run %d: the lines of the producer that came next", run)
			}
		})
	}
}

func testEndsEarly(t *testing.T, bin binaries) {
	ring := ringPath(t)
	p := clitest.Run(t, "", bin.producer, "-ring", ring, "-n", "10")
	require.Equal(t, 0, p.Code, "producer stderr: %s", p.Stderr)
	c := clitest.Run(t, "", bin.consumer, "-ring", ring, "-q", "-n", "20", "-rm")
	assert.Equal(t, 1, c.Code)
	assert.Contains(t, c.Stderr, "the stream ended after 10 of 20 messages")
}

func testBadRings(t *testing.T, bin binaries) {
	dir := t.TempDir()
	notRing := filepath.Join(dir, "not-a-ring")
	require.NoError(t, os.WriteFile(notRing, bytes.Repeat([]byte("not a ring\n"), 1000), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	tests := []struct {
		name, ring, want string
	}{
		{"not a ring", notRing, "not a shmring segment"},
		{"empty file", empty, "not a shmring segment"},
		{"directory", dir, "not a shmring segment"},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "ring"), "no such file or directory"},
		{"bad name", "..", "invalid segment name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range []string{bin.consumer, bin.producer} {
				r := clitest.Run(t, "", b, "-ring", tt.ring, "-n", "1")
				assert.Equal(t, 1, r.Code, "%s: stderr: %s", filepath.Base(b), r.Stderr)
				assert.True(t, strings.HasPrefix(r.Stderr, filepath.Base(b)+": "), "stderr: %s", r.Stderr)
				assert.Contains(t, r.Stderr, tt.want)
				assert.Empty(t, r.Stdout)
			}
		})
	}
}

// testSizeMismatch checks that a -size other than the existing ring's is an
// error, and that no -size accepts the ring as it is.
func testSizeMismatch(t *testing.T, bin binaries) {
	ring := ringPath(t)
	p := clitest.Run(t, "one\n", bin.producer, "-ring", ring, "-size", "64K")
	require.Equal(t, 0, p.Code, "producer stderr: %s", p.Stderr)
	for _, b := range []string{bin.consumer, bin.producer} {
		r := clitest.Run(t, "", b, "-ring", ring, "-size", "1M")
		assert.Equal(t, 1, r.Code, "%s: stderr: %s", filepath.Base(b), r.Stderr)
		assert.Contains(t, r.Stderr, "does not match the requested options")
		assert.Contains(t, r.Stderr, "size 1048576 asked, the ring has 65536 bytes")
	}
	c := clitest.Run(t, "", bin.consumer, "-ring", ring, "-rm")
	require.Equal(t, 0, c.Code, "consumer stderr: %s", c.Stderr)
	assert.Equal(t, "one\n", c.Stdout)
}

func testUsage(t *testing.T, bin binaries) {
	ring := ringPath(t)
	tests := []struct {
		name string
		bin  string
		args []string
	}{
		{"consumer without -ring", bin.consumer, nil},
		{"producer without -ring", bin.producer, nil},
		{"unknown flag", bin.consumer, []string{"-ring", ring, "-bogus"}},
		{"negative -n", bin.consumer, []string{"-ring", ring, "-n", "-1"}},
		{"bad -wait", bin.producer, []string{"-ring", ring, "-wait", "sometimes"}},
		{"bad -size", bin.producer, []string{"-ring", ring, "-size", "1X"}},
		{"small -msgsize", bin.producer, []string{"-ring", ring, "-n", "1", "-msgsize", "7"}},
		{"argument", bin.consumer, []string{"-ring", ring, "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := clitest.Run(t, "", tt.bin, tt.args...)
			assert.Equal(t, 2, r.Code)
			assert.Contains(t, r.Stderr, "Usage of")
		})
	}
	assert.NoFileExists(t, ring, "a usage error must not create the ring")
	for _, b := range []string{bin.consumer, bin.producer} {
		r := clitest.Run(t, "", b, "-h")
		assert.Equal(t, 0, r.Code)
		assert.Contains(t, r.Stdout, "Usage of", "-h prints the usage on standard output")
		assert.Empty(t, r.Stderr)
	}
}

func testInterrupt(t *testing.T, bin binaries) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ring := ringPath(t)
			ctx, cancel := context.WithTimeout(t.Context(), clitest.Watchdog)
			defer cancel()
			consumer := exec.CommandContext(ctx, bin.consumer, "-ring", ring, "-rm")
			var stderr bytes.Buffer
			consumer.Stderr = &stderr
			require.NoError(t, consumer.Start())
			// The consumer creates the ring, then waits on it.
			require.Eventually(t, func() bool {
				_, err := os.Stat(ring)
				return err == nil
			}, clitest.Watchdog, 10*time.Millisecond)
			require.NoError(t, consumer.Process.Signal(sig))
			err := consumer.Wait()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "stderr: %s", stderr.String())
			assert.Equal(t, 130, exit.ExitCode())
			assert.Contains(t, stderr.String(), "consumer: interrupted")
			assert.NoFileExists(t, ring, "-rm removes the ring on an interrupt too")
		})
	}
}
