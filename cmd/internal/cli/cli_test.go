package cli

import (
	"bytes"
	"flag"
	"io"
	"testing"

	"github.com/shmring/shmring"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"4096", 4096, false},
		{"64K", 64 << 10, false},
		{"64k", 64 << 10, false},
		{"64KiB", 64 << 10, false},
		{"64kib", 64 << 10, false},
		{"64KB", 64000, false},
		{"64kB", 64000, false},
		{"1m", 1 << 20, false},
		{"1M", 1 << 20, false},
		{"1MiB", 1 << 20, false},
		{"1MB", 1000000, false},
		{"2G", 2 << 30, false},
		{"2GiB", 2 << 30, false},
		{"2GB", 2000000000, false},
		{"4611686018427387904", 1 << 62, false},
		{"4194304G", 1 << 52, false},
		{"0", 0, true},
		{"0K", 0, true},
		{"-1", 0, true},
		{"+1", 0, true},
		{"", 0, true},
		{"K", 0, true},
		{"KiB", 0, true},
		{"1X", 0, true},
		{"1B", 0, true},
		{"1 K", 0, true},
		{"1KK", 0, true},
		{"1iB", 0, true},
		{"1.5M", 0, true},
		{"0x10", 0, true},
		{"4611686018427387905", 0, true},
		{"9999999999999G", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseWait(t *testing.T) {
	for _, w := range []shmring.WaitStrategy{shmring.Adaptive, shmring.Spin, shmring.Block} {
		t.Run(w.String(), func(t *testing.T) {
			got, err := ParseWait(w.String())
			require.NoError(t, err)
			assert.Equal(t, w, got)
		})
	}
	_, err := ParseWait("Spin")
	assert.Error(t, err)
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOK   bool
		wantSize int64
		wantWait shmring.WaitStrategy
	}{
		{"defaults", nil, ExitOK, true, 1 << 20, shmring.Adaptive},
		{"set", []string{"-size", "8K", "-wait", "block"}, ExitOK, true, 8 << 10, shmring.Block},
		{"help", []string{"-h"}, ExitOK, false, 0, 0},
		{"bad size", []string{"-size", "big"}, ExitUsage, false, 0, 0},
		{"largest ring", []string{"-size", "4G"}, ExitOK, true, 4 << 30, shmring.Adaptive},
		{"size beyond the largest ring", []string{"-size", "4097M"}, ExitUsage, false, 0, 0},
		{"bad wait", []string{"-wait", "never"}, ExitUsage, false, 0, 0},
		{"argument", []string{"extra"}, ExitUsage, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var out bytes.Buffer
			fs.SetOutput(&out)
			size := Size(fs, 1<<20, "size")
			wait := Wait(fs)
			var help bytes.Buffer
			code, ok := Parse(fs, tt.args, &help)
			assert.Equal(t, tt.wantCode, code)
			if tt.name == "help" {
				assert.Contains(t, help.String(), "-size", "-h prints the usage on stdout")
				assert.Empty(t, out.String(), "and nothing on stderr")
			} else if !ok {
				assert.Contains(t, out.String(), "-size", "a usage error prints the usage on stderr")
				assert.Empty(t, help.String())
			}
			require.Equal(t, tt.wantOK, ok, "output: %s", out.String())
			if ok {
				assert.Equal(t, tt.wantSize, *size)
				assert.Equal(t, tt.wantWait, *wait)
			}
		})
	}
}

func TestBytesRange(t *testing.T) {
	tests := []struct {
		arg     string
		want    int64
		wantErr string
	}{
		{"8", 8, ""},
		{"1K", 1024, ""},
		{"7", 0, `invalid value "7" for flag -slot: size "7" is 7 bytes, outside 8 to 1024`},
		{"1KB", 1000, ""},
		{"2KiB", 0, `size "2KiB" is 2048 bytes, outside 8 to 1024`},
		{"lots", 0, `bad size "lots"`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var out bytes.Buffer
			fs.SetOutput(&out)
			slot := Bytes(fs, "slot", 64, 8, 1024, "slot")
			code, ok := Parse(fs, []string{"-slot", tt.arg}, io.Discard)
			if tt.wantErr != "" {
				assert.Equal(t, ExitUsage, code)
				assert.False(t, ok)
				assert.Contains(t, out.String(), tt.wantErr)
				return
			}
			require.True(t, ok, "output: %s", out.String())
			assert.Equal(t, tt.want, *slot)
		})
	}
}
