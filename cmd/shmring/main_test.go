package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/clitest"
	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shm"
)

// buildTags are the build tags of the test binary, which the command under
// test is built with too (the rings it opens must use the same wake-up
// mechanism as the test).
var buildTags string

// bin is the path of the shmring command built by TestCLI.
var bin string

// TestCLI builds the command and runs it as a separate process.
func TestCLI(t *testing.T) {
	bin = filepath.Join(clitest.Build(t, buildTags, "github.com/shmring/shmring/cmd/shmring"), "shmring")

	t.Run("usage", testUsage)
	t.Run("sizes", testSizes)
	t.Run("round trip", testRoundTrip)
	t.Run("binary records", testBinaryRecords)
	t.Run("ls", testList)
	t.Run("close ends recv", testClose)
	t.Run("check", testCheck)
	t.Run("rm", testRemove)
	t.Run("interrupt", testInterrupt)
	t.Run("stat -w", testWatch)
	t.Run("mpmc", testMPMC)
	t.Run("peek", testPeek)
}

// invoke runs the command with args and stdin, and waits for it under the
// watchdog.
func invoke(t *testing.T, stdin string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, stdin, bin, args...)
}

// syncBuffer is a bytes.Buffer that a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// started is a command running in the background.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
}

// newStarted returns the command with args, not started yet.
func newStarted(args ...string) *started {
	s := &started{cmd: exec.Command(bin, args...), stdout: new(syncBuffer), stderr: new(syncBuffer), done: make(chan error, 1)}
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	return s
}

// start starts the command with args; it is killed at the end of the test if
// it still runs.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	return newStarted(args...).run(t)
}

// run starts s.cmd and a goroutine that waits for it.
func (s *started) run(t *testing.T) *started {
	t.Helper()
	require.NoError(t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// wait waits for the command to exit and returns its status.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
		s.done <- nil // for the cleanup
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(clitest.Watchdog):
		require.FailNow(t, "command did not exit", "%v; stderr: %s", s.cmd.Args, s.stderr)
		return -1
	}
}

var nameSeq atomic.Uint64

// ringName returns a bare name unique to the test; whatever has it at the
// end of the test is removed (through shmring.Unlink when it is a sound
// ring, so that the semaphore fallback's state goes too).
func ringName(t *testing.T) string {
	name := fmt.Sprintf("shmring-clitest-%d-%d", os.Getpid(), nameSeq.Add(1))
	t.Cleanup(func() { removeRing(t, name, filepath.Join(shm.Dir(), name)) })
	return name
}

// removeRing removes the ring name whose file is p, if it is there.
func removeRing(t *testing.T, name, p string) {
	if _, err := os.Lstat(p); err != nil {
		return
	}
	if shmring.Unlink(name) != nil {
		assert.NoError(t, os.Remove(p))
	}
}

// await polls cond until it holds, failing the test after the clitest.Watchdog.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clitest.Watchdog)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out", "waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inspect returns the state of the ring name, failing the test on error.
func inspect(t *testing.T, name string) *shmring.Info {
	t.Helper()
	info, err := shmring.Inspect(name)
	require.NoError(t, err)
	return info
}

func testUsage(t *testing.T) {
	name := ringName(t)
	require.Equal(t, 0, invoke(t, "", "create", name).Code)
	tests := []struct {
		name string
		args []string
		code int
		err  string // in the standard error
	}{
		{"no command", nil, 2, "shmring: missing COMMAND\nusage: shmring COMMAND"},
		{"help for two commands", []string{"help", "ls", "stat"}, 2, `shmring help: unexpected argument "stat"`},
		{"help for no command", []string{"help", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{"version argument", []string{"version", "x"}, 2, `shmring version: unexpected argument "x"`},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"missing name", []string{"stat"}, 2, "missing NAME"},
		{"two names", []string{"stat", name, "other"}, 2, `unexpected argument "other"`},
		{"unknown flag", []string{"check", "-frob", name}, 2, "flag provided but not defined"},
		{"bad size", []string{"create", ringName(t), "-size", "big"}, 2, "bad size"},
		{"bad mode", []string{"create", ringName(t), "-mode", "rw"}, 2, "bad -mode"},
		{"mode beyond permissions", []string{"create", ringName(t), "-mode", "4755"}, 2, "bad -mode"},
		{"unknown kind", []string{"create", ringName(t), "-kind", "ring"}, 2, "unknown -kind"},
		{"negative -n", []string{"recv", name, "-n", "-1"}, 2, "-n must not be negative"},
		{"negative peek -n", []string{"peek", name, "-n", "-1"}, 2, "-n must not be negative"},
		{"peek -z -json", []string{"peek", name, "-z", "-json"}, 2, "-z and -json do not go together"},
		{"rm without names", []string{"rm"}, 2, "missing NAME"},
		{"ls argument", []string{"ls", "extra"}, 2, `unexpected argument "extra"`},
		{"slot of an spsc ring", []string{"create", ringName(t), "-slot", "64"}, 2, "-slot is for -kind mpmc"},
		{"participants of an spsc ring", []string{"create", ringName(t), "-participants", "2"}, 2, "-participants is for -kind mpmc"},
		{"bad participants", []string{"create", ringName(t), "-kind", "mpmc", "-participants", "65"}, 2, "bad -participants 65"},
		{"bad slot", []string{"create", ringName(t), "-kind", "mpmc", "-slot", "big"}, 2, "bad size"},
		{"size beyond 4G", []string{"create", ringName(t), "-size", "5G"}, 2, `invalid value "5G" for flag -size: size "5G" is 5368709120 bytes, outside 1 to 4294967296`},
		{"size beyond 2^62", []string{"create", ringName(t), "-size", "99999999999G"}, 2, `bad size "99999999999G"`},
		{"zero size", []string{"create", ringName(t), "-size", "0"}, 2, `bad size "0"`},
		{"slot beyond 16M", []string{"create", ringName(t), "-kind", "mpmc", "-slot", "17MiB"}, 2, `size "17MiB" is 17825792 bytes, outside 1 to 16777216`},
		{"zero participants", []string{"create", ringName(t), "-kind", "mpmc", "-participants", "0"}, 2, "bad -participants 0"},
		{"unparsable participants", []string{"create", ringName(t), "-kind", "mpmc", "-participants", "many"}, 2, `invalid value "many" for flag -participants`},
		{"lanes of an spsc ring", []string{"create", ringName(t), "-lanes", "2"}, 2, "-lanes is for -kind mpmc"},
		{"lanes not a power of two", []string{"create", ringName(t), "-kind", "mpmc", "-lanes", "3"}, 2, "bad -lanes 3"},
		{"too many lanes", []string{"create", ringName(t), "-kind", "mpmc", "-lanes", "128"}, 2, "bad -lanes 128"},
		{"lanes of one slot", []string{"create", ringName(t), "-kind", "mpmc", "-lanes", "4", "-size", "4K", "-slot", "1K"}, 1, "4 lanes need at least 8 slots"},
		{"existing ring", []string{"create", name}, 1, "exists"},
		{"missing ring", []string{"stat", ringName(t)}, 1, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := invoke(t, "", tt.args...)
			assert.Equal(t, tt.code, res.Code, "stderr: %s", res.Stderr)
			assert.Contains(t, res.Stderr, tt.err)
			assert.Empty(t, res.Stdout)
		})
	}
	for _, tt := range tests {
		if tt.code == 2 {
			t.Run(tt.name+" shows the usage", func(t *testing.T) {
				res := invoke(t, "", tt.args...)
				assert.Contains(t, res.Stderr, "usage: shmring ", "a usage error is followed by the usage")
			})
		}
	}
	for _, cmd := range commands {
		for _, help := range [][]string{{cmd.name, "-h"}, {cmd.name, "--help"}, {cmd.name, "-help"}, {"help", cmd.name}, {cmd.name, "x", "-h"}} {
			t.Run(strings.Join(help, " "), func(t *testing.T) {
				res := invoke(t, "", help...)
				assert.Equal(t, 0, res.Code)
				assert.True(t, strings.HasPrefix(res.Stdout, "usage: shmring "+cmd.name+" "+cmd.args+"\n"), "help on standard output: %s", res.Stdout)
				assert.Empty(t, res.Stderr)
			})
		}
	}
	for _, help := range []string{"-h", "--help", "-help", "help"} {
		t.Run(help, func(t *testing.T) {
			res := invoke(t, "", help)
			assert.Equal(t, 0, res.Code)
			assert.True(t, strings.HasPrefix(res.Stdout, "usage: shmring COMMAND"), "%s", res.Stdout)
			assert.Empty(t, res.Stderr)
			for _, cmd := range commands {
				assert.Contains(t, res.Stdout, fmt.Sprintf("  %-6s %s\n", cmd.name, cmd.args))
			}
		})
	}
	t.Run("version", func(t *testing.T) {
		want := invoke(t, "", "version")
		assert.Equal(t, 0, want.Code)
		assert.Empty(t, want.Stderr)
		assert.Regexp(t, `^shmring version \S+(, \S+ revision [0-9a-f]+( \([^)]*\))?)?, go1\.\S+\n$`, want.Stdout)
		for _, flag := range []string{"-version", "--version"} {
			assert.Equal(t, want, invoke(t, "", flag), flag)
		}
	})
}

func TestVersion(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "shmring version unknown (no build information), " + runtime.Version()},
		{"a checkout without version control", &debug.BuildInfo{GoVersion: "go1.25.1", Main: debug.Module{Version: "(devel)"}},
			"shmring version (devel), go1.25.1"},
		{"a modified checkout", &debug.BuildInfo{GoVersion: "go1.25.1", Main: debug.Module{Version: "v0.0.0-20261206221000-3dd2874c4b2e+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "3dd2874c4b2e"},
				{Key: "vcs.time", Value: "2026-12-06T22:10:00Z"}, {Key: "vcs.modified", Value: "true"},
			}},
			"shmring version v0.0.0-20261206221000-3dd2874c4b2e+dirty, git revision 3dd2874c4b2e (2026-12-06T22:10:00Z, modified), go1.25.1"},
		{"a release", &debug.BuildInfo{GoVersion: "go1.25.1", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			"shmring version v1.2.3, git revision abc, go1.25.1"},
		{"no module version", &debug.BuildInfo{GoVersion: "go1.25.1"}, "shmring version (devel), go1.25.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, version(tt.info))
		})
	}
}

func testSizes(t *testing.T) {
	tests := []struct {
		args     []string
		capacity int
		slot     int // largest message of an mpmc ring
	}{
		{[]string{"-size", "4096"}, 4096, 0},
		{[]string{"-size", "64k"}, 64 << 10, 0},
		{[]string{"-size", "64K"}, 64 << 10, 0},
		{[]string{"-size", "64KiB"}, 64 << 10, 0},
		{[]string{"-size", "1m"}, 1 << 20, 0},
		{[]string{"-size", "1MiB"}, 1 << 20, 0},
		{[]string{"-size", "1000KB"}, 1 << 20, 0}, // 1000000 bytes, rounded up
		{[]string{"-size", "1MB"}, 1 << 20, 0},
		{[]string{"-size", "5kb"}, 8 << 10, 0},
		{[]string{"-kind", "mpmc", "-size", "8K", "-slot", "1KB"}, 8 * 1000, 1000},
		{[]string{"-kind", "mpmc", "-size", "8K", "-slot", "1k"}, 8 << 10, 1 << 10},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			name := ringName(t)
			res := invoke(t, "", append([]string{"create", name}, tt.args...)...)
			require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
			info := inspect(t, name)
			assert.Equal(t, tt.capacity, info.Capacity)
			if tt.slot != 0 {
				assert.Equal(t, tt.slot, info.MaxMessage)
			}
		})
	}
}

// statObject runs stat -json on name and decodes its object.
func statObject(t *testing.T, name string) map[string]any {
	t.Helper()
	res := invoke(t, "", "stat", "-json", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	require.Equal(t, 1, strings.Count(res.Stdout, "\n"), "one object: %s", res.Stdout)
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &obj))
	return obj
}

func testRoundTrip(t *testing.T) {
	name := ringName(t)
	p := filepath.Join(shm.Dir(), name)
	res := invoke(t, "", "create", "-size", "5000", name, "-mode", "0640")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, fmt.Sprintf("created %s: spsc, capacity 8192 bytes, largest message 8176 bytes\n", p), res.Stdout)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())

	obj := statObject(t, name)
	assert.Equal(t, p, obj["name"])
	assert.Equal(t, "spsc", obj["kind"])
	assert.Equal(t, "0640", obj["mode"])
	assert.EqualValues(t, 8192, obj["capacity"])
	assert.EqualValues(t, 8176, obj["max_message"])
	assert.EqualValues(t, 0, obj["messages"])
	assert.Equal(t, false, obj["closed"])
	spsc := obj["spsc"].(map[string]any)
	producer := spsc["producer"].(map[string]any)
	assert.Equal(t, false, producer["attached"])
	assert.Equal(t, false, producer["alive"])
	assert.EqualValues(t, 0, producer["stats"].(map[string]any)["msgs_sent"])
	assert.Len(t, obj["events"], shmring.NumEvents)
	assert.NotContains(t, obj, "rates")

	res = invoke(t, "first\nsecond line\n\nno newline at the end", "send", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	obj = statObject(t, name)
	assert.EqualValues(t, 4, obj["messages"])
	assert.EqualValues(t, 4, obj["spsc"].(map[string]any)["producer"].(map[string]any)["stats"].(map[string]any)["msgs_sent"],
		"the producer's counters are flushed to the segment when it closes")
	assert.EqualValues(t, 16+24+8+32, obj["depth"])
	assert.Equal(t, true, obj["closed"], "send ends the stream")

	res = invoke(t, "", "stat", name)
	require.Equal(t, 0, res.Code)
	assert.Regexp(t, `(?m)^depth +80 bytes, 4 messages$`, res.Stdout)
	assert.Regexp(t, `(?m)^stream +closed$`, res.Stdout)
	assert.Regexp(t, `(?m)^producer +none$`, res.Stdout)

	res = invoke(t, "", "check", name)
	assert.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, name+": sound spsc ring: 4 messages, 80 of 8192 bytes committed\n", res.Stdout)

	res = invoke(t, "", "recv", name, "-n", "1")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, "first\n", res.Stdout)
	res = invoke(t, "", "recv", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, "second line\n\nno newline at the end\n", res.Stdout, "recv reads to the end of the stream")

	res = invoke(t, strings.Repeat("x", 8185), "send", name)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "message 1: message too large: the ring's largest message is 8176 bytes")
}

func testBinaryRecords(t *testing.T) {
	name := ringName(t)
	require.Equal(t, 0, invoke(t, "", "create", name, "-size", "64K").Code)
	var in bytes.Buffer
	for _, msg := range [][]byte{[]byte("with\nnewlines\n"), {}, {0, 1, 2, 0xff}, bytes.Repeat([]byte{7}, 5000)} {
		in.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(msg))))
		in.Write(msg)
	}
	res := invoke(t, in.String(), "send", "-z", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	res = invoke(t, "", "recv", "-z", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, in.String(), res.Stdout, "recv -z writes what send -z read")

	res = invoke(t, "\x05\x00\x00\x00abc", "send", "-z", name)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "message 1: standard input ends inside a record of 5 bytes")
	res = invoke(t, "\x05\x00", "send", "-z", name)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "ends inside a length prefix")
}

func testList(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "a-ring")
	t.Cleanup(func() { removeRing(t, ring, ring) })
	require.Equal(t, 0, invoke(t, "", "create", ring, "-size", "4K").Code)
	require.Equal(t, 0, invoke(t, "hello\nworld\n", "send", ring).Code)

	notes := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notes, []byte("not a ring\n"), 0o644))
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	require.NoError(t, os.Chtimes(notes, old, old))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o755))
	require.NoError(t, os.Symlink(ring, filepath.Join(dir, "link")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))

	corrupt := filepath.Join(dir, "corrupt")
	t.Cleanup(func() { removeRing(t, corrupt, corrupt) })
	require.Equal(t, 0, invoke(t, "", "create", corrupt, "-size", "4K").Code)
	writeByte(t, corrupt, 40, 0xff) // the region size: the header checksum fails

	res := invoke(t, "", "ls", "-dir", dir)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	lines := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
	require.Len(t, lines, 3, "rings only: %s", res.Stdout)
	assert.Regexp(t, `^NAME +KIND +CAPACITY +DEPTH +MESSAGES +PRODUCER +CONSUMER +STREAM +NOTE$`, lines[0])
	assert.Regexp(t, `^a-ring +spsc +4096 +32 +2 +none +none +closed$`, lines[1])
	assert.Regexp(t, `^corrupt +- +- +- +- +- +- +- +corrupt ring \(shmring check shows where\)$`, lines[2])
	assertColumns(t, lines)

	res = invoke(t, "", "ls", "-a", "-dir", dir)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	lines = strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
	require.Len(t, lines, 7, "%s", res.Stdout)
	assert.Regexp(t, `^a-ring +spsc +4096 +32 +2 +none +none +closed$`, lines[1])
	assert.Regexp(t, `^corrupt +- +- +- +- +- +- +- +corrupt ring`, lines[2])
	assert.Regexp(t, `^fifo +- +- +- +- +- +- +- +not a ring: a named pipe$`, lines[3])
	assert.Regexp(t, `^link +- +- +- +- +- +- +- +not a ring: a symbolic link$`, lines[4])
	assert.Regexp(t, `^notes\.txt +- +- +- +- +- +- +- +not a ring: no shmring header$`, lines[5])
	assert.Regexp(t, `^subdir +- +- +- +- +- +- +- +not a ring: a directory$`, lines[6])
	assertColumns(t, lines)

	res = invoke(t, "", "ls", "-a", "-json", "-dir", dir)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	require.Equal(t, 1, strings.Count(res.Stdout, "\n"), "one array: %s", res.Stdout)
	var objs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &objs))
	require.Len(t, objs, 6)
	want := statObject(t, ring)
	want["ring"] = true
	assert.Equal(t, want, objs[0], "a ring: the object of stat -json, with ring")
	assert.Equal(t, map[string]any{"name": corrupt, "ring": true, "note": "corrupt ring (shmring check shows where)"}, objs[1])
	assert.Equal(t, map[string]any{"name": filepath.Join(dir, "fifo"), "ring": false, "note": "not a ring: a named pipe"}, objs[2])
	assert.Equal(t, map[string]any{"name": notes, "ring": false, "note": "not a ring: no shmring header"}, objs[4])

	res = invoke(t, "", "ls", "-json", "-dir", dir)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &objs))
	assert.Len(t, objs, 2, "rings only")

	empty := t.TempDir()
	res = invoke(t, "", "ls", "-json", "-dir", empty)
	assert.Equal(t, "[]\n", res.Stdout)
	res = invoke(t, "", "ls", "-dir", empty)
	assert.Regexp(t, `^NAME +KIND .* NOTE\n$`, res.Stdout)

	got, err := os.ReadFile(notes)
	require.NoError(t, err)
	assert.Equal(t, "not a ring\n", string(got), "contents untouched")
	fi, err := os.Stat(notes)
	require.NoError(t, err)
	assert.Equal(t, old, fi.ModTime().UTC(), "mtime untouched")

	t.Run("default directory", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name, "-size", "4K").Code)
		res := invoke(t, "", "ls")
		require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
		assert.Regexp(t, `(?m)^`+name+` +spsc +4096 +0 +0 +none +none +open$`, res.Stdout)
	})
	t.Run("missing directory", func(t *testing.T) {
		res := invoke(t, "", "ls", "-dir", filepath.Join(dir, "absent"))
		assert.Equal(t, 1, res.Code)
	})
}

// writeByte overwrites the byte at offset off of the file p.
func writeByte(t *testing.T, p string, off int64, b byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{b}, off)
	require.NoError(t, errors.Join(err, f.Close()))
}

// assertColumns checks that every cell of lines starts where its column's
// title in lines[0] starts: one space or more before it, none at it. A line
// may end before the last column (an empty NOTE).
func assertColumns(t *testing.T, lines []string) {
	t.Helper()
	var starts []int
	for i := 1; i < len(lines[0]); i++ {
		if lines[0][i-1] == ' ' && lines[0][i] != ' ' {
			starts = append(starts, i)
		}
	}
	require.Len(t, starts, 8, "nine titles: %q", lines[0])
	for _, line := range lines[1:] {
		for i, s := range starts {
			if len(line) <= s {
				assert.Equal(t, len(starts)-1, i, "only the last cell may be missing: %q", line)
				assert.NotEqual(t, ' ', line[len(line)-1], "no trailing spaces: %q", line)
				break
			}
			assert.True(t, line[s-1] == ' ' && line[s] != ' ', "column %d starts at %d in %q", i+1, s, line)
		}
	}
}

func testClose(t *testing.T) {
	t.Run("empty ring", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name).Code)
		recv := start(t, "recv", name)
		await(t, "the consumer", func() bool { return inspect(t, name).SPSC.Consumer.Alive })
		assert.Regexp(t, fmt.Sprintf(`(?m)^consumer +pid %d, alive$`, recv.cmd.Process.Pid), invoke(t, "", "stat", name).Stdout)
		res := invoke(t, "", "close", name)
		require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
		assert.Equal(t, 0, recv.wait(t), "stderr: %s", recv.stderr)
		assert.Empty(t, recv.stdout.String())
		assert.True(t, inspect(t, name).Closed)
	})
	t.Run("the consumer drains first", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name).Code)
		r, err := shmring.Open(name, nil)
		require.NoError(t, err)
		defer func() { assert.NoError(t, r.Close()) }()
		p, err := r.Producer()
		require.NoError(t, err)
		recv := start(t, "recv", name)
		for _, m := range []string{"one", "two"} {
			require.NoError(t, p.Send(t.Context(), []byte(m)))
		}
		await(t, "the messages read", func() bool { return inspect(t, name).Depth == 0 })
		require.Equal(t, 0, invoke(t, "", "close", name).Code)
		assert.Equal(t, 0, recv.wait(t), "stderr: %s", recv.stderr)
		assert.Equal(t, "one\ntwo\n", recv.stdout.String())
		require.NoError(t, p.Close())
	})
	t.Run("abort", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name).Code)
		require.Equal(t, 2, invoke(t, "", "close", name, "-abort", "1073741824").Code)
		res := invoke(t, "one\n", "send", name)
		require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
		res = invoke(t, "", "close", name, "-abort", "42")
		require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
		info := inspect(t, name)
		assert.True(t, info.Aborted, "an end no consumer read yet becomes an abort")
		assert.Equal(t, uint32(42), info.AbortCode)
		res = invoke(t, "", "stat", name)
		assert.Contains(t, res.Stdout, "aborted (code 42)")
		res = invoke(t, "", "recv", name)
		assert.Equal(t, 1, res.Code)
		assert.Equal(t, "one\n", res.Stdout, "what was committed comes first")
		assert.Contains(t, res.Stderr, "stream aborted (code 42)")
	})
}

func testCheck(t *testing.T) {
	name := ringName(t)
	p := filepath.Join(shm.Dir(), name)
	require.Equal(t, 0, invoke(t, "", "create", name, "-size", "4K").Code)
	require.Equal(t, 0, invoke(t, "a\nbb\nccc\n", "send", name).Code)
	res := invoke(t, "", "check", name)
	require.Equal(t, 0, res.Code, "stdout: %s, stderr: %s", res.Stdout, res.Stderr)

	// The second record (position 16, file offset 4096+4096+16) claims a
	// payload far beyond the tail.
	const offset = 4096 + 4096 + 16
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(binary.LittleEndian.AppendUint64(nil, 100000|1<<32), offset)
	require.NoError(t, errors.Join(err, f.Close()))
	before, err := os.ReadFile(p)
	require.NoError(t, err)

	res = invoke(t, "", "check", name)
	assert.Equal(t, 1, res.Code, "stderr: %s", res.Stderr)
	assert.Contains(t, res.Stdout, fmt.Sprintf("%s: offset %d (%#x): corrupt ring: record at position 16 of length 100000", name, offset, offset))
	assert.Contains(t, res.Stdout, name+": corrupt: 1 problem\n")

	res = invoke(t, "", "stat", name)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "shmring check shows where")
	res = invoke(t, "", "ls")
	assert.Regexp(t, `(?m)^`+name+`( +-){7} +corrupt ring`, res.Stdout)

	after, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, before, after, "check, stat and ls change nothing")

	t.Run("not a ring", func(t *testing.T) {
		notes := filepath.Join(t.TempDir(), "notes")
		require.NoError(t, os.WriteFile(notes, []byte("hello"), 0o600))
		res := invoke(t, "", "check", notes)
		assert.Equal(t, 1, res.Code)
		assert.Contains(t, res.Stderr, "not a shmring segment")
	})
}

func testRemove(t *testing.T) {
	dir := t.TempDir()
	sound, corrupt := filepath.Join(dir, "sound"), filepath.Join(dir, "corrupt")
	notRing := filepath.Join(dir, "notes")
	for _, p := range []string{sound, corrupt} {
		t.Cleanup(func() { removeRing(t, p, p) })
		require.Equal(t, 0, invoke(t, "", "create", p, "-size", "4K").Code)
	}
	// send attaches a producer: with the semaphore fallback, the ring has
	// its semaphore set from then on, named by the cookie word.
	require.Equal(t, 0, invoke(t, "x\n", "send", corrupt).Code)
	img, err := os.ReadFile(corrupt)
	require.NoError(t, err)
	cookie := binary.NativeEndian.Uint32(img[shm.HeaderSize+ring.CookieOffset:])
	sem := futex.Mechanism == "sysv-semaphore"
	if sem {
		require.True(t, semaphoreSet(t, cookie), "the ring has its semaphore set")
	}
	writeByte(t, corrupt, 40, 0xff) // the region size: the header checksum fails
	require.NoError(t, os.WriteFile(notRing, []byte("keep me"), 0o600))

	res := invoke(t, "", "rm", sound, notRing, corrupt)
	assert.Equal(t, 1, res.Code, "one name could not be removed")
	assert.Contains(t, res.Stderr, notRing+": not removed")
	assert.NoFileExists(t, sound)
	assert.NoFileExists(t, corrupt, "a ring with a corrupt header is removed too")
	assert.FileExists(t, notRing, "a file that is not a ring is left alone")
	if sem {
		assert.False(t, semaphoreSet(t, cookie), "the corrupt ring's semaphore set went with it")
	}

	res = invoke(t, "", "rm", sound)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "no such file")
}

// semaphoreSet reports whether the System V semaphore set that a cookie of
// the semaphore fallback names (its id plus one) is listed in
// /proc/sysvipc/sem, whose second column is the id.
func semaphoreSet(t *testing.T, cookie uint32) bool {
	b, err := os.ReadFile("/proc/sysvipc/sem")
	require.NoError(t, err)
	id := strconv.FormatUint(uint64(cookie)-1, 10)
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 1 && f[1] == id {
			return true
		}
	}
	return false
}

func testInterrupt(t *testing.T) {
	t.Run("recv on an empty ring", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name).Code)
		recv := start(t, "recv", name)
		await(t, "a sleeping consumer", func() bool {
			info := inspect(t, name)
			return info.SPSC.Consumer.Alive && info.Waiters.Data == 1
		})
		require.NoError(t, recv.cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, 130, recv.wait(t))
		assert.Equal(t, "shmring recv: interrupted\n", recv.stderr.String())
		info := inspect(t, name)
		assert.Equal(t, "none", info.SPSC.Consumer.String(), "recv detached")
		assert.False(t, info.Closed)
	})
	t.Run("send waiting for input", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name).Code)
		send := newStarted("send", name)
		stdin, err := send.cmd.StdinPipe()
		require.NoError(t, err)
		defer stdin.Close()
		send.run(t)
		_, err = stdin.Write([]byte("one\n"))
		require.NoError(t, err)
		await(t, "the first message", func() bool { return inspect(t, name).Messages == 1 })
		require.NoError(t, send.cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, 130, send.wait(t))
		info := inspect(t, name)
		assert.True(t, info.Closed, "send ends the stream however it exits")
		assert.Equal(t, "none", info.SPSC.Producer.String())
	})
}

// objects decodes the complete lines of out, one JSON object each.
func objects(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for line := range strings.Lines(out) {
		if !strings.HasSuffix(line, "\n") {
			break // being written
		}
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &obj), "%q", line)
		objs = append(objs, obj)
	}
	return objs
}

// awaitObject waits until s has printed a JSON object for which match holds,
// and returns it.
func (s *started) awaitObject(t *testing.T, what string, match func(obj map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	await(t, what, func() bool {
		for _, obj := range objects(t, s.stdout.String()) {
			if match(obj) {
				found = obj
				return true
			}
		}
		return false
	})
	return found
}

// spscField returns field of the spsc object of obj, nil if there is none.
func spscField(obj map[string]any, field string) any {
	sp, _ := obj["spsc"].(map[string]any)
	return sp[field]
}

func testWatch(t *testing.T) {
	name := ringName(t)
	require.Equal(t, 0, invoke(t, "", "create", name).Code)
	watch := start(t, "stat", "-w", "-json", name)
	watch.awaitObject(t, "the first refresh", func(map[string]any) bool { return true })
	require.Equal(t, 0, invoke(t, "a\nb\nc\n", "send", name).Code)
	require.Equal(t, 0, invoke(t, "", "recv", name).Code)
	await(t, "the end of the stream", func() bool {
		return strings.Contains(watch.stderr.String(), "shmring stat: end of stream; watching for a new one\n")
	})
	last := watch.awaitObject(t, "the drained ring", func(obj map[string]any) bool {
		return obj["closed"] == true && spscField(obj, "head") == 48.0
	})
	objs := objects(t, watch.stdout.String())
	assert.NotContains(t, objs[0], "rates", "no rates before a second sample")
	assert.Contains(t, last, "rates")

	// A new producer reopens the stream; stat -w watches on.
	require.Equal(t, 0, invoke(t, "d\n", "send", name).Code)
	watch.awaitObject(t, "the new producer's message", func(obj map[string]any) bool {
		return spscField(obj, "tail") == 64.0
	})

	// The ring goes, and a new one comes under the same name.
	require.Equal(t, 0, invoke(t, "", "rm", name).Code)
	await(t, "stat -w to wait", func() bool { return strings.Contains(watch.stderr.String(), "shmring stat: waiting for "+name+"\n") })
	require.Equal(t, 0, invoke(t, "", "create", name, "-size", "4K").Code)
	require.Equal(t, 0, invoke(t, "x\ny\n", "send", name).Code)
	again := watch.awaitObject(t, "the new ring", func(obj map[string]any) bool { return obj["capacity"] == 4096.0 })
	assert.NotContains(t, again, "rates", "no rates across two rings")
	watch.awaitObject(t, "the new ring's messages", func(obj map[string]any) bool {
		return obj["capacity"] == 4096.0 && obj["messages"] == 2.0
	})

	require.NoError(t, watch.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 130, watch.wait(t), "stat -w ends with status 130 on SIGTERM")
	stderr := watch.stderr.String()
	assert.True(t, strings.HasSuffix(stderr, "shmring stat: interrupted\n"), "%s", stderr)
	assert.Equal(t, 1, strings.Count(stderr, "waiting for "+name+"\n"), "said once: %s", stderr)
	for _, obj := range objects(t, watch.stdout.String()) {
		assert.Equal(t, filepath.Join(shm.Dir(), name), obj["name"])
	}

	t.Run("SIGINT", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name).Code)
		watch := start(t, "stat", "-w", name)
		await(t, "the first refresh", func() bool { return strings.Contains(watch.stdout.String(), "events") })
		require.NoError(t, watch.cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, 130, watch.wait(t), "stat -w ends with status 130 on SIGINT")
		assert.Regexp(t, `(?m)^ring +`+regexp.QuoteMeta(shm.Dir())+`/`+name+`$`, watch.stdout.String())
		assert.Equal(t, "shmring stat: interrupted\n", watch.stderr.String())
	})
	t.Run("a ring not there yet", func(t *testing.T) {
		name := ringName(t)
		watch := start(t, "stat", "-w", name)
		await(t, "stat -w to wait", func() bool { return watch.stderr.String() == "shmring stat: waiting for "+name+"\n" })
		assert.Empty(t, watch.stdout.String())
		require.Equal(t, 0, invoke(t, "", "create", name).Code)
		await(t, "the ring", func() bool { return strings.Contains(watch.stdout.String(), "events") })
		require.NoError(t, watch.cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, 130, watch.wait(t))
	})
	t.Run("a name that is not valid", func(t *testing.T) {
		res := invoke(t, "", "stat", "-w", "../x")
		assert.Equal(t, 1, res.Code)
		assert.Contains(t, res.Stderr, "shmring stat: ")
	})
}

// mpmcSlotOffset returns the file offset of slot i of an MPMC ring with
// participants entries and slots of slotSize bytes: the header page, the
// control area and the participant table (256 bytes an entry) rounded up to
// a page, then slots of 16 header bytes and the payload, 64-byte aligned.
func mpmcSlotOffset(participants, slotSize, i int) int64 {
	align := func(x, a int) int { return (x + a - 1) &^ (a - 1) }
	return int64(4096 + align(4096+participants*256, 4096) + i*align(16+slotSize, 64))
}

func testMPMC(t *testing.T) {
	name := ringName(t)
	p := filepath.Join(shm.Dir(), name)
	res := invoke(t, "", "create", name, "-kind", "mpmc", "-slot", "100", "-participants", "8", "-size", "4K")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, fmt.Sprintf("created %s: mpmc, 64 slots of 104 bytes (capacity 6656 bytes), largest message 104 bytes, 8 participants\n", p), res.Stdout)

	obj := statObject(t, name)
	assert.Equal(t, "mpmc", obj["kind"])
	assert.EqualValues(t, 6656, obj["capacity"])
	assert.EqualValues(t, 104, obj["max_message"])
	assert.Equal(t, map[string]any{
		"slots": 64.0, "slot_size": 104.0, "lanes": 1.0, "enq": 0.0, "deq": 0.0, "entries": 8.0,
		"participants": []any{}, "orphans": []any{},
	}, obj["mpmc"])
	lanes := ringName(t)
	res = invoke(t, "", "create", lanes, "-kind", "mpmc", "-slot", "100", "-participants", "8", "-size", "4K", "-lanes", "4")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Contains(t, res.Stdout, "8 participants, 4 lanes\n")
	assert.Contains(t, invoke(t, "", "stat", lanes).Stdout, "4 of 16 slots each")
	assert.EqualValues(t, 4, statObject(t, lanes)["mpmc"].(map[string]any)["lanes"])
	require.Equal(t, 0, invoke(t, "", "rm", lanes).Code)

	// A consumer waits on the empty ring; two sends, two producers one after
	// the other, feed it; stat shows it with its counters.
	recv := start(t, "recv", name)
	await(t, "the consumer to sleep", func() bool { return inspect(t, name).Waiters.Data == 1 })
	require.Equal(t, 0, invoke(t, "one\ntwo\n", "send", name).Code)
	require.Equal(t, 0, invoke(t, "three\n", "send", name).Code)
	assert.False(t, inspect(t, name).Closed, "a producer that detaches does not end an mpmc stream")
	await(t, "the consumer to flush its counters", func() bool {
		ps := inspect(t, name).MPMC.Participants
		return len(ps) == 1 && ps[0].Stats.MsgsReceived == 3
	})
	obj = statObject(t, name)
	mp, ok := obj["mpmc"].(map[string]any)
	require.True(t, ok, "%v", obj)
	assert.EqualValues(t, 3, mp["enq"])
	assert.EqualValues(t, 3, mp["deq"])
	require.Len(t, mp["participants"], 1)
	c := mp["participants"].([]any)[0].(map[string]any)
	assert.Equal(t, "consumer", c["role"])
	assert.EqualValues(t, recv.cmd.Process.Pid, c["pid"])
	assert.Equal(t, true, c["alive"])
	assert.Nil(t, c["intent"])
	stats := c["stats"].(map[string]any)
	assert.EqualValues(t, 3, stats["msgs_received"])
	assert.EqualValues(t, len("one")+len("two")+len("three"), stats["bytes_received"])
	assert.EqualValues(t, 0, stats["reaped"])

	res = invoke(t, "", "stat", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Regexp(t, `(?m)^capacity +64 slots of 104 bytes \(6656 bytes\), largest message 104 bytes$`, res.Stdout)
	assert.Regexp(t, `(?m)^depth +0 slots, 0 messages$`, res.Stdout)
	assert.Regexp(t, `(?m)^participants +1 of 8 entries in use$`, res.Stdout)
	assert.Regexp(t, fmt.Sprintf(`(?m)^  entry 0 +consumer, pid %d, alive.*; received 3 messages \(11 bytes\)`, recv.cmd.Process.Pid), res.Stdout)
	res = invoke(t, "", "ls")
	assert.Regexp(t, `(?m)^`+name+` +mpmc +6656 +0 +0 +none +1 alive +open$`, res.Stdout)

	res = invoke(t, "", "close", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, 0, recv.wait(t), "stderr: %s", recv.stderr)
	assert.Equal(t, "one\ntwo\nthree\n", recv.stdout.String())
	res = invoke(t, "late\n", "send", name)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "stream closed")
	obj = statObject(t, name)
	assert.Equal(t, true, obj["closed"])
	assert.Equal(t, []any{}, obj["mpmc"].(map[string]any)["participants"], "recv detached")

	// The late send claimed position 3 after the close, and filled it with a
	// skip record that no consumer will take.
	res = invoke(t, "", "check", name)
	assert.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, name+": sound mpmc ring: 0 messages, 1 of 64 slots claimed\n", res.Stdout)

	// The slot of position 3, claimed, claims to come from a lap far ahead.
	offset := mpmcSlotOffset(8, 104, 3)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(binary.NativeEndian.AppendUint64(nil, 999), offset)
	require.NoError(t, errors.Join(err, f.Close()))
	before, err := os.ReadFile(p)
	require.NoError(t, err)
	res = invoke(t, "", "check", name)
	assert.Equal(t, 1, res.Code, "stderr: %s", res.Stderr)
	assert.Contains(t, res.Stdout, fmt.Sprintf("%s: offset %d (%#x): corrupt ring: slot of position 3 (claimed, enq 4) has seq 999, want 3 or 4\n", name, offset, offset))
	assert.Contains(t, res.Stdout, name+": corrupt: 1 problem\n")
	res = invoke(t, "", "stat", name)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "shmring check shows where")
	after, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, before, after, "check and stat change nothing")
}

func testPeek(t *testing.T) {
	name := ringName(t)
	p := filepath.Join(shm.Dir(), name)
	require.Equal(t, 0, invoke(t, "", "create", name, "-size", "4K").Code)
	res := invoke(t, "", "peek", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Empty(t, res.Stdout, "an empty ring")

	var lines []string
	for i := range 12 {
		lines = append(lines, fmt.Sprintf("message %d", i))
	}
	lines[1] = ""
	lines[2] = "\xff\x00 binary"
	input := strings.Join(lines, "\n") + "\n"
	require.Equal(t, 0, invoke(t, input, "send", name).Code)
	before, err := os.ReadFile(p)
	require.NoError(t, err)

	res = invoke(t, "", "peek", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, strings.Join(lines[:10], "\n")+"\n", res.Stdout, "10 messages by default, as recv writes them")
	res = invoke(t, "", "peek", name, "-n", "2")
	assert.Equal(t, "message 0\n\n", res.Stdout)
	res = invoke(t, "", "peek", "-n", "0", name)
	assert.Equal(t, input, res.Stdout, "-n 0: all of them")

	res = invoke(t, "", "peek", name, "-z", "-n", "3")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	var records bytes.Buffer
	for _, m := range lines[:3] {
		records.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(m))))
		records.WriteString(m)
	}
	assert.Equal(t, records.String(), res.Stdout, "-z: the records recv -z writes")

	res = invoke(t, "", "peek", name, "-json", "-n", "3")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	require.Equal(t, 1, strings.Count(res.Stdout, "\n"), "one array: %s", res.Stdout)
	var objs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &objs))
	assert.Equal(t, []map[string]any{
		{"len": 9.0, "data": "bWVzc2FnZSAw", "text": "message 0"},
		{"len": 0.0, "data": "", "text": ""},
		{"len": 9.0, "data": "/wAgYmluYXJ5"}, // no text: not UTF-8
	}, objs)

	after, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, before, after, "peek changes nothing")
	assert.Equal(t, "none", inspect(t, name).SPSC.Consumer.String(), "peek never attaches")
	res = invoke(t, "", "recv", name)
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	assert.Equal(t, input, res.Stdout, "recv gets every message: peek consumed none")

	t.Run("mpmc", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name, "-kind", "mpmc", "-slot", "64", "-size", "4K").Code)
		require.Equal(t, 0, invoke(t, "one\ntwo\nthree\n", "send", name).Code)
		require.Equal(t, 0, invoke(t, "", "recv", name, "-n", "1").Code)
		res := invoke(t, "", "peek", name)
		require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
		assert.Equal(t, "two\nthree\n", res.Stdout)
	})
	t.Run("corrupt", func(t *testing.T) {
		name := ringName(t)
		require.Equal(t, 0, invoke(t, "", "create", name, "-size", "4K").Code)
		require.Equal(t, 0, invoke(t, "a\nbb\nccc\n", "send", name).Code)
		// The second record claims a payload far beyond the tail.
		f, err := os.OpenFile(filepath.Join(shm.Dir(), name), os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt(binary.LittleEndian.AppendUint64(nil, 100000|1<<32), 4096+4096+16)
		require.NoError(t, errors.Join(err, f.Close()))
		res := invoke(t, "", "peek", name)
		assert.Equal(t, 1, res.Code)
		assert.Equal(t, "a\n", res.Stdout, "the messages before the damage")
		assert.Contains(t, res.Stderr, "record at position 16 of length 100000")
		assert.Contains(t, res.Stderr, "shmring check shows where")
	})
	t.Run("missing", func(t *testing.T) {
		res := invoke(t, "", "peek", ringName(t))
		assert.Equal(t, 1, res.Code)
		assert.Contains(t, res.Stderr, "no such file")
	})
}
