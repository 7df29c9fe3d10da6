//go:build !race

package shmring_test

// Sizes of the cross-process stress tests (race_test.go scales them down for
// the race detector).
const (
	// streamLong is the message count of the one long stream.
	streamLong = 1_000_000
	// streamShort is the message count of every other stream.
	streamShort = 200_000
	// pingPongRounds is the round-trip count of each ping-pong.
	pingPongRounds = 200_000
	// mpmcMessages is the message count of the cross-process MPMC stream,
	// shared among its producers.
	mpmcMessages = 100_000
	// mpmcKills is how many producer processes, and how many consumer
	// processes, the MPMC fault test kills with SIGKILL.
	mpmcKills = 50
)
