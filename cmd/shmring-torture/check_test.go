package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCheck feeds the checker reports by hand: every kind of violation is
// found, and what the failure model allows is not one.
func TestCheck(t *testing.T) {
	m := func(id uint32, seq uint64) msgID { return msgID{id, seq} }
	tests := []struct {
		name string
		mpmc bool
		feed func(rc *roundCheck)
		want []string // substrings, one per violation
	}{
		{"clean", false, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.commit(1, 1)
			rc.receive(1, m(1, 0), true)
			rc.receive(1, m(1, 1), true)
			rc.producer(1).finished = true
		}, nil},
		{"loss", false, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.commit(1, 1)
			rc.commit(1, 2)
			rc.receive(1, m(1, 0), true)
			rc.receive(1, m(1, 2), true)
		}, []string{"loss: message 1 of producer 1 was committed and never received (received: 0 by consumer 1, 2 by consumer 1)"}},
		{"maybe consumed by a dead consumer", false, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.maybeConsumed(m(1, 0))
		}, nil},
		{"duplicate", true, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.receive(1, m(1, 0), true)
			rc.receive(2, m(1, 0), true)
		}, []string{"duplicate: message 0 of producer 1 received by consumer 1 and again by consumer 2"}},
		{"lease handed on", true, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.receive(1, m(1, 0), false)
			rc.receive(2, m(1, 0), true)
			rc.orphans++
		}, nil},
		{"phantom from a producer that finished", false, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.receive(1, m(1, 0), true)
			rc.receive(1, m(1, 1), true)
			rc.producer(1).finished = true
		}, []string{"phantom: message 1 of producer 1"}},
		{"in flight when its producer was killed", false, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.receive(1, m(1, 0), true)
			rc.receive(1, m(1, 1), true)
		}, nil},
		{"spsc order", false, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.commit(1, 1)
			rc.receive(1, m(1, 1), true)
			rc.receive(1, m(1, 0), true)
			rc.orphans++
		}, []string{"order: consumer 1 received message 0 of producer 1 after message 1", "order: 1 messages out of order, 0 allowed"}},
		{"mpmc adoption", true, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.commit(1, 1)
			rc.receive(1, m(1, 1), true)
			rc.receive(1, m(1, 0), true)
			rc.orphans++
		}, nil},
		{"mpmc adoption of a batch", true, func(rc *roundCheck) {
			// A consumer killed in ReadBatch held a run of messages; the
			// one that adopts them receives them after newer ones.
			for seq := range uint64(maxBatch + 1) {
				rc.commit(1, seq)
			}
			rc.receive(1, m(1, maxBatch), true)
			for seq := range uint64(maxBatch) {
				rc.receive(1, m(1, seq), true)
			}
			rc.orphans++
		}, nil},
		{"mpmc order past a batch per adoption", true, func(rc *roundCheck) {
			for seq := range uint64(maxBatch + 2) {
				rc.commit(1, seq)
			}
			rc.receive(1, m(1, maxBatch+1), true)
			for seq := range uint64(maxBatch + 1) {
				rc.receive(1, m(1, seq), true)
			}
			rc.orphans++
		}, []string{"order: consumer 1", "order: consumer 1", "order: consumer 1", "order: consumer 1", "order: consumer 1",
			fmt.Sprintf("order: %d messages out of order, %d allowed", maxBatch+1, maxBatch)}},
		{"mpmc order past the adoptions", true, func(rc *roundCheck) {
			rc.commit(1, 0)
			rc.commit(1, 1)
			rc.receive(1, m(1, 1), true)
			rc.receive(1, m(1, 0), true)
		}, []string{"order: consumer 1", "order: 1 messages out of order, 0 allowed"}},
		{"torn", false, func(rc *roundCheck) { rc.torn = 2 }, []string{"torn: 2 damaged messages"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newRoundCheck(tt.mpmc)
			tt.feed(rc)
			got := rc.judge()
			assert.Len(t, got, len(tt.want), "%s", strings.Join(got, "\n"))
			for i := range min(len(got), len(tt.want)) {
				assert.Contains(t, got[i], tt.want[i])
			}
		})
	}
}

func TestMessage(t *testing.T) {
	b := make([]byte, 100)
	fillMessage(b, 7, msgID{3, 9}, 100)
	m, err := checkMessage(b, 7)
	assert.NoError(t, err)
	assert.Equal(t, msgID{3, 9}, m)
	got, ok := messageIn(append(b, 0xff, 0xff), 7)
	assert.True(t, ok)
	assert.Equal(t, msgID{3, 9}, got)

	_, err = checkMessage(b, 8)
	assert.ErrorContains(t, err, "of round 7 in round 8")
	_, err = checkMessage(b[:99], 7)
	assert.ErrorContains(t, err, "99 bytes, its header says 100")
	b[60] ^= 1
	_, err = checkMessage(b, 7)
	assert.ErrorContains(t, err, "checksum")
	_, ok = messageIn(b, 7)
	assert.False(t, ok)
	_, err = checkMessage(b[:10], 7)
	assert.ErrorContains(t, err, "shorter than the header")
}
