package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/cmd/internal/clitest"
)

// TestMain runs a participant when the run under test re-executes the test
// binary as one, and the tests otherwise.
func TestMain(m *testing.M) {
	if s, ok := os.LookupEnv(participantEnv); ok {
		os.Exit(participantMain(s))
	}
	// A race-enabled participant sleeps a second before exiting unless
	// told not to; a race it finds still fails its exit status.
	if os.Getenv("GORACE") == "" {
		if err := os.Setenv("GORACE", "atexit_sleep_ms=0"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

var (
	header = regexp.MustCompile(`(?m)^shmring-torture: seed=\d+ duration=\S+ kind=\w+ `)
	ok     = regexp.MustCompile(`(?m)^shmring-torture: ok: t=\S+ rounds=[1-9]\d* msgs=[1-9]\d* kills=\d+ stops=\d+ reaps=\d+ lost-wakeups=\d+ longest-wait-after-death=\S+ .* violations=0\n$`)
)

func TestTorture(t *testing.T) {
	for _, kind := range []string{"spsc", "mpmc"} {
		t.Run(kind, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := parentMain(t.Context(), []string{"-duration", "3s", "-kind", kind, "-maxsize", "1M", "-tally", "1s"}, &stdout, &stderr)
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			assert.Regexp(t, header, stdout.String())
			assert.Regexp(t, ok, stdout.String())
		})
	}
}

// TestTortureCatchesFaults makes producers send a message twice, or damage
// one: the run must fail and say so. A checker that cannot fail proves
// nothing.
func TestTortureCatchesFaults(t *testing.T) {
	tests := []struct {
		fault, want string
	}{
		{"duplicate", "duplicate: message 50 of producer "},
		{"corrupt", "torn: "},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			t.Setenv(faultEnv, tt.fault)
			var stdout, stderr bytes.Buffer
			code := parentMain(t.Context(), []string{"-duration", "2s", "-maxsize", "256K"}, &stdout, &stderr)
			assert.Equal(t, 1, code, "stdout:\n%s", stdout.String())
			assert.Contains(t, stderr.String(), tt.want)
			assert.Contains(t, stderr.String(), "VIOLATION in round ")
			assert.Regexp(t, `replay the first with: shmring-torture -seed \d+ -round \d+ `, stderr.String())
			assert.Contains(t, stdout.String(), "shmring-torture: FAILED: ")
		})
	}
}

func TestTortureUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"zero duration", []string{"-duration", "0s"}},
		{"bad kind", []string{"-kind", "ring"}},
		{"small maxsize", []string{"-maxsize", "1K"}},
		{"bad maxsize", []string{"-maxsize", "big"}},
		{"zero bound", []string{"-bound", "0s"}},
		{"zero tally", []string{"-tally", "0s"}},
		{"round 0", []string{"-round", "0"}},
		{"unknown flag", []string{"-x"}},
		{"argument", []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, 2, parentMain(t.Context(), tt.args, &stdout, &stderr))
			assert.Empty(t, stdout.String())
			assert.NotEmpty(t, stderr.String())
		})
	}
}

func TestTortureInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 130, parentMain(ctx, []string{"-duration", "1m"}, &stdout, &stderr))
	assert.Contains(t, stdout.String(), "shmring-torture: interrupted: ")
}

// TestTortureLeavesNoDescriptors checks that a run closes every ring,
// report and pipe it opened.
func TestTortureLeavesNoDescriptors(t *testing.T) {
	run := func() {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, parentMain(t.Context(), []string{"-duration", "1s", "-maxsize", "64K"}, &stdout, &stderr),
			"stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	run() // may open descriptors the process keeps
	before := clitest.OpenDescriptors(t)
	run()
	assert.Equal(t, before, clitest.OpenDescriptors(t))
}
