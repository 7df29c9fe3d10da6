//go:build !linux

package main

import "os"

// anonymousFile returns a file of size bytes that is already unlinked.
func anonymousFile(size int64) (*os.File, error) {
	f, err := os.CreateTemp("", "shmring-torture-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
