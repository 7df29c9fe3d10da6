package shmring_test

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

func TestAbortStream(t *testing.T) {
	ctx := watchdog(t)
	for _, k := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(k.String(), func(t *testing.T) {
			r, p, c := allPair(t, k)
			require.NoError(t, p.Send(ctx, []byte("before")))
			require.NoError(t, r.AbortStream(130))
			if k == shmring.SPSC {
				require.NoError(t, p.Close(), "a producer that detaches afterwards leaves the abort")
			}
			require.NoError(t, r.CloseStream(), "so does CloseStream")
			info, err := r.Info()
			require.NoError(t, err)
			assert.True(t, info.Closed && info.Aborted, "Info reports the abort")
			assert.Equal(t, uint32(130), info.AbortCode)

			buf := make([]byte, 64)
			var n int
			n, err = c.Recv(ctx, buf)
			require.NoError(t, err, "what was committed is drained first")
			assert.Equal(t, "before", string(buf[:n]))
			_, err = c.Recv(ctx, buf)
			require.ErrorIs(t, err, shmring.ErrAborted)
			assert.NotErrorIs(t, err, io.EOF)
			var ae *shmring.AbortError
			require.True(t, errors.As(err, &ae))
			assert.Equal(t, uint32(130), ae.Code)
			assert.Equal(t, "shmring: stream aborted (code 130)", err.Error())

			var got []error
			for _, err := range c.All(ctx) {
				got = append(got, err)
			}
			require.Len(t, got, 1, "All ends with the abort as its one error")
			assert.ErrorIs(t, got[0], shmring.ErrAborted)
		})
	}
}

func TestAbortReplacesUnreadEnd(t *testing.T) {
	ctx := watchdog(t)
	r, p, c := allPair(t, shmring.SPSC)
	require.NoError(t, p.Close())
	require.NoError(t, r.AbortStream(7), "an end nobody read yet becomes an abort")
	_, err := c.Recv(ctx, make([]byte, 8))
	var ae *shmring.AbortError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, uint32(7), ae.Code)
	require.NoError(t, r.AbortStream(9))
	_, err = c.TryRecv(make([]byte, 8))
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, uint32(7), ae.Code, "nothing replaces an abort")
}

func TestAbortAfterReadEnd(t *testing.T) {
	ctx := watchdog(t)
	r, p, c := allPair(t, shmring.SPSC)
	require.NoError(t, p.Close())
	_, err := c.Recv(ctx, make([]byte, 8))
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, r.AbortStream(7))
	_, err = c.TryRecv(make([]byte, 8))
	assert.ErrorIs(t, err, io.EOF, "an end a consumer has read stays a normal end")
}

func TestAbortNextStream(t *testing.T) {
	ctx := watchdog(t)
	r, p, c := allPair(t, shmring.SPSC)
	require.NoError(t, r.AbortStream(5))
	require.NoError(t, p.Close())
	_, err := c.Recv(ctx, make([]byte, 8))
	require.ErrorIs(t, err, shmring.ErrAborted)

	p, err = r.Producer()
	require.NoError(t, err, "a new producer reopens the stream")
	require.NoError(t, p.Send(ctx, []byte("x")))
	require.NoError(t, p.Close())
	_, err = c.Recv(ctx, make([]byte, 8))
	require.NoError(t, err)
	_, err = c.Recv(ctx, make([]byte, 8))
	assert.ErrorIs(t, err, io.EOF, "the new stream ends normally")
}

func TestAbortCodeRange(t *testing.T) {
	r, _, _ := allPair(t, shmring.SPSC)
	assert.ErrorIs(t, r.AbortStream(0), os.ErrInvalid)
	assert.ErrorIs(t, r.AbortStream(shmring.MaxAbortCode+1), os.ErrInvalid)
	require.NoError(t, r.AbortStream(shmring.MaxAbortCode))
	require.NoError(t, r.Close())
	assert.ErrorIs(t, r.AbortStream(1), shmring.ErrClosed)
}

func TestAbortWakesWaiter(t *testing.T) {
	ctx := watchdog(t)
	for _, k := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(k.String(), func(t *testing.T) {
			r, _, c := allPair(t, k)
			done := make(chan error, 1)
			go func() {
				_, err := c.Recv(ctx, make([]byte, 64))
				done <- err
			}()
			require.NoError(t, r.AbortStream(3))
			assert.ErrorIs(t, <-done, shmring.ErrAborted)
		})
	}
}

func TestAbortHostileWord(t *testing.T) {
	ctx := watchdog(t)
	for _, tt := range []struct {
		word uint32
		want error
	}{
		{1 << 31, &shmring.AbortError{Code: 0}},
		{1<<31 | 1<<30 | 12, &shmring.AbortError{Code: 12}},
		{0x12345, io.EOF},
	} {
		r, p, c := allPair(t, shmring.SPSC)
		require.NoError(t, p.Close())
		shmring.Control(r).Closed.Store(tt.word)
		_, err := c.Recv(ctx, make([]byte, 8))
		assert.Equal(t, tt.want, err, "closed word %#x", tt.word)
		info, ierr := r.Info()
		require.NoError(t, ierr)
		assert.True(t, info.Closed)
	}
}

func TestAbortWakesReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(watchdog(t), 10*time.Second)
	defer cancel()
	for _, k := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(k.String(), func(t *testing.T) {
			r, _, c := allPair(t, k)
			_, err := c.TryRecv(make([]byte, 64))
			require.ErrorIs(t, err, shmring.ErrEmpty)
			ready := c.Ready()
			require.NoError(t, r.AbortStream(3))
			select {
			case <-ready:
			case <-ctx.Done():
				t.Fatal("Ready did not fire at the abort")
			}
			_, err = c.TryRecv(make([]byte, 64))
			assert.ErrorIs(t, err, shmring.ErrAborted)
		})
	}
}
