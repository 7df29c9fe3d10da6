//go:build shmring_nofutex && !shmring_portable

package main

// The commands under test use the semaphore fallback too.
func init() { buildTags = "shmring_nofutex" }
