//go:build race

package shmring_test

// Sizes of the cross-process stress tests, scaled down for the race detector,
// which slows every memory access by an order of magnitude (norace_test.go
// has the full sizes).
const (
	// streamLong is the message count of the one long stream.
	streamLong = 100_000
	// streamShort is the message count of every other stream.
	streamShort = 20_000
	// pingPongRounds is the round-trip count of each ping-pong.
	pingPongRounds = 20_000
	// mpmcMessages is the message count of the cross-process MPMC stream,
	// shared among its producers.
	mpmcMessages = 20_000
	// mpmcKills is how many producer processes, and how many consumer
	// processes, the MPMC fault test kills with SIGKILL.
	mpmcKills = 15
)
