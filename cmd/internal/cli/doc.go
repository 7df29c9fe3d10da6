// Package cli holds what the shmring commands share: the -size and -wait
// flags, exit codes, and a context that SIGINT and SIGTERM cancel.
package cli
