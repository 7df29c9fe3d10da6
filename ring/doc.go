// Package ring holds the record layout and the lock-free single-producer
// single-consumer algorithm of shmring, over a byte region it is given.
//
// It never makes a system call and never blocks: a full ring is ErrFull, an
// empty one ErrEmpty, and the caller (the root package shmring) decides how to
// wait. It knows nothing of files, mappings or processes.
//
// The region is the shared part; Producer and Consumer are private to one
// process each. Every value this package reads from the region is treated as
// input from a hostile peer: cursors and record headers are read once into
// locals, checked, and only then used, and a value that breaks an invariant
// yields an error wrapping ErrCorrupt, never a panic or an access outside the
// region. Panics are reserved for the local caller breaking a documented
// precondition (Commit without Reserve, Release without Peek).
//
// See layout.go for the shared layout and spsc.go for the algorithm and its
// ordering argument.
//
// This package is a building block of the root package shmring, not a stable
// API: its names, signatures and layout may change in any release. Programs
// should use the root package.
package ring
