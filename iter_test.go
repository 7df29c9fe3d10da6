package shmring_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
)

// allPair returns a producer and a consumer on a fresh anonymous ring of
// kind k.
func allPair(t *testing.T, k shmring.Kind) (*shmring.Ring, *shmring.Producer, *shmring.Consumer) {
	t.Helper()
	r, err := shmring.CreateAnonymous(&shmring.Options{Kind: k, Size: 64 << 10, SlotSize: 64})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	return r, p, c
}

func TestAll(t *testing.T) {
	ctx := watchdog(t)
	for _, k := range []shmring.Kind{shmring.SPSC, shmring.MPMC} {
		t.Run(k.String(), func(t *testing.T) {
			r, p, c := allPair(t, k)
			want := []string{"a", "", "ccc", "dddd"}
			for _, m := range want {
				require.NoError(t, p.Send(ctx, []byte(m)))
			}
			require.NoError(t, r.CloseStream())
			var got []string
			for msg, err := range c.All(ctx) {
				require.NoError(t, err)
				got = append(got, string(msg))
			}
			assert.Equal(t, want, got, "every message, then a clean end at io.EOF")
		})
	}
}

func TestAllBreakReleases(t *testing.T) {
	ctx := watchdog(t)
	r, p, c := allPair(t, shmring.SPSC)
	for _, m := range []string{"one", "two", "three"} {
		require.NoError(t, p.Send(ctx, []byte(m)))
	}
	for msg, err := range c.All(ctx) {
		require.NoError(t, err)
		require.Equal(t, "one", string(msg))
		break
	}
	n, err := r.Len()
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the message the body saw is released at break")
	for msg, err := range c.All(ctx) {
		require.NoError(t, err)
		assert.Equal(t, "two", string(msg), "the next loop goes on from there")
		break
	}
}

func TestAllError(t *testing.T) {
	ctx := watchdog(t)
	_, p, c := allPair(t, shmring.SPSC)
	require.NoError(t, p.Send(ctx, []byte("x")))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	var msgs int
	var errs []error
	for msg, err := range c.All(short) {
		if err != nil {
			require.Nil(t, msg)
			errs = append(errs, err)
			continue
		}
		msgs++
	}
	assert.Equal(t, 1, msgs)
	require.Len(t, errs, 1, "one iteration with the error, then the end")
	assert.ErrorIs(t, errs[0], context.DeadlineExceeded)
}

func TestAllPanicLeavesMessage(t *testing.T) {
	ctx := watchdog(t)
	_, p, c := allPair(t, shmring.SPSC)
	require.NoError(t, p.Send(ctx, []byte("kept")))
	func() {
		defer func() { assert.NotNil(t, recover()) }()
		for range c.All(ctx) {
			panic("body")
		}
	}()
	msg, err := c.TryPeek()
	require.NoError(t, err)
	assert.Equal(t, "kept", string(msg), "a panicking body leaves its message unreleased")
	require.NoError(t, c.Release())
}

// A range loop over a consumer: it ends by itself at the end of the stream.
func ExampleConsumer_All() {
	ctx := context.Background()
	r, err := shmring.CreateAnonymous(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	p, err := r.Producer()
	if err != nil {
		log.Fatal(err)
	}
	c, err := r.Consumer()
	if err != nil {
		log.Fatal(err)
	}
	for _, msg := range []string{"one", "two", "three"} {
		if err := p.Send(ctx, []byte(msg)); err != nil {
			log.Fatal(err)
		}
	}
	p.Close()

	for msg, err := range c.All(ctx) {
		if errors.Is(err, shmring.ErrPeerDead) {
			log.Fatal("the producer died mid-stream")
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(msg)) // valid only inside the loop body
	}
	// Output:
	// one
	// two
	// three
}
