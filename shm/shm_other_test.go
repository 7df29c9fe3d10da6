//go:build !unix

package shm

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNotSupported(t *testing.T) {
	cfg := Config{Kind: 1, RegionSize: pageSize}
	_, err := Create("shmtest", cfg)
	assert.ErrorIs(t, err, ErrNotSupported)
	_, err = CreateAnonymous("shmtest", cfg)
	assert.ErrorIs(t, err, ErrNotSupported)
	_, err = Open("shmtest")
	assert.ErrorIs(t, err, ErrNotSupported)
	assert.ErrorIs(t, Unlink("shmtest"), ErrNotSupported)
	f, err := os.CreateTemp(t.TempDir(), "seg")
	if assert.NoError(t, err) {
		_, err = FromFile(f)
		assert.ErrorIs(t, err, ErrNotSupported)
		assert.ErrorIs(t, f.Close(), os.ErrClosed, "FromFile takes ownership of f")
	}
}
