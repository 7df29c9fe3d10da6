//go:build !race

package ring

// raceEnabled scales the stress tests down under the race detector, which
// slows every memory access by an order of magnitude.
const raceEnabled = false
