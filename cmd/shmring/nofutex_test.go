//go:build shmring_nofutex && !shmring_portable

package main

// The command under test uses the semaphore fallback too.
func init() { buildTags = "shmring_nofutex" }
