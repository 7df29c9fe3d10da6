package cli

import (
	"bytes"
	"flag"
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
		{"1M", 1 << 20, false},
		{"2G", 2 << 30, false},
		{"0", 0, true},
		{"-1", 0, true},
		{"", 0, true},
		{"K", 0, true},
		{"1X", 0, true},
		{"1k", 0, true},
		{"1.5M", 0, true},
		{"9999999999999G", 0, true},
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
			code, ok := Parse(fs, tt.args)
			assert.Equal(t, tt.wantCode, code)
			require.Equal(t, tt.wantOK, ok, "output: %s", out.String())
			if ok {
				assert.Equal(t, tt.wantSize, *size)
				assert.Equal(t, tt.wantWait, *wait)
			}
		})
	}
}
