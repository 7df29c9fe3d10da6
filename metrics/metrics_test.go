package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/metrics"
)

func TestReadOpenRing(t *testing.T) {
	ctx := context.Background()
	r, err := shmring.CreateAnonymous(&shmring.Options{Kind: shmring.MPMC, Size: 64 << 10, SlotSize: 64})
	require.NoError(t, err)
	defer r.Close()
	p1, err := r.Producer()
	require.NoError(t, err)
	p2, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	require.NoError(t, p1.Send(ctx, []byte("abc")))
	require.NoError(t, p2.Send(ctx, []byte("de")))
	require.NoError(t, p2.Send(ctx, []byte("f")))
	_, err = c.Recv(ctx, make([]byte, 64))
	require.NoError(t, err)
	p1.Stats()
	p2.Stats()
	c.Stats()

	snap, err := metrics.Read(r)
	require.NoError(t, err)
	assert.Equal(t, "mpmc", snap.Kind)
	assert.Equal(t, 2, snap.Messages)
	assert.Equal(t, 2, snap.Depth)
	assert.Equal(t, metrics.Role{Alive: 2, Stats: shmring.Stats{MsgsSent: 3, BytesSent: 6}}, snap.Producers)
	assert.Equal(t, metrics.Role{Alive: 1, Stats: shmring.Stats{MsgsReceived: 1, BytesReceived: 3}}, snap.Consumers)
}

func TestNamedAndVar(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("shmring-test-metrics-%d", os.Getpid())
	src := metrics.Named(name)
	_, err := metrics.Read(src)
	require.ErrorIs(t, err, os.ErrNotExist, "a ring that does not exist yet")
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(metrics.Var(src).String()), &got))
	assert.Contains(t, got["error"], "no such file")

	r, err := shmring.Create(name, &shmring.Options{Size: 64 << 10})
	require.NoError(t, err)
	defer r.Close()
	defer r.Unlink()
	p, err := r.Producer()
	require.NoError(t, err)
	require.NoError(t, p.Send(ctx, []byte("hello")))
	require.NoError(t, p.Close())

	var snap metrics.Snapshot
	require.NoError(t, json.Unmarshal([]byte(metrics.Var(src).String()), &snap))
	assert.Equal(t, "spsc", snap.Kind)
	assert.Equal(t, 1, snap.Messages)
	assert.True(t, snap.Closed)
	assert.Equal(t, metrics.Role{Stats: shmring.Stats{MsgsSent: 1, BytesSent: 5}}, snap.Producers, "closed: not alive, counters kept")
}

func TestFromInfoMPMCRoles(t *testing.T) {
	info := &shmring.Info{Name: "x", Kind: "mpmc", MPMC: &shmring.MPMCInfo{Participants: []shmring.ParticipantInfo{
		{Role: "producer", Alive: true, Stats: shmring.Stats{MsgsSent: 1}},
		{Role: "producer", Alive: false, Stats: shmring.Stats{MsgsSent: 2}},
		{Role: "consumer", Alive: false, Stats: shmring.Stats{MsgsReceived: 4}},
		{Role: "orphan", Alive: false},
		{Role: "state 9", Alive: true},
	}}}
	snap := metrics.FromInfo(info)
	assert.Equal(t, metrics.Role{Alive: 1, Dead: 1, Stats: shmring.Stats{MsgsSent: 3}}, snap.Producers)
	assert.Equal(t, metrics.Role{Dead: 1, Stats: shmring.Stats{MsgsReceived: 4}}, snap.Consumers)
	assert.Equal(t, 1, snap.Orphans)
}
