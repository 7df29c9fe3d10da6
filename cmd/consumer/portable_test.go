//go:build shmring_portable

package main

// The commands under test use the portable backend too.
func init() { buildTags = "shmring_portable" }
