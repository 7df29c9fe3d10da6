// Package spin holds the one instruction every spin loop in shmring executes
// between two polls of shared memory.
//
// Pause tells the processor that the caller is in a spin-wait loop: PAUSE on
// amd64, YIELD on arm64, nothing elsewhere. It keeps a spinning core from
// flooding the memory system with speculative loads of the polled cache line
// and gives a sibling hyper-thread the pipeline, at the cost of a few tens of
// nanoseconds (PAUSE is 10 to 140 cycles depending on the microarchitecture).
package spin
