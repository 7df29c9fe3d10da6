// Package cli holds what the shmring commands share: byte-count flags such
// as -size, the -wait flag, exit codes, and a context that SIGINT and
// SIGTERM cancel.
package cli
