//go:build !linux

package shm

// Platforms other than Linux: the package compiles, and every constructor
// returns an error wrapping ErrNotSupported, so no Segment ever exists here.

import "os"

func createPath(string, Config, bool) (*Segment, error) { return nil, ErrNotSupported }

func createAnonymous(string, Config) (*Segment, error) { return nil, ErrNotSupported }

func openPath(string) (*Segment, error) { return nil, ErrNotSupported }

func openReadOnlyPath(string) (*Segment, error) { return nil, ErrNotSupported }

func fromFile(*os.File) (*Segment, error) { return nil, ErrNotSupported }

func unlinkPath(string) error { return ErrNotSupported }

func (s *Segment) lockByte(int) (*os.File, error) { return nil, ErrNotSupported }

func (s *Segment) probeByte(int) (bool, error) { return false, ErrNotSupported }

func (s *Segment) privatize() error { return ErrNotSupported }

// Contains reports false: no Segment exists on this system.
func (s *Segment) Contains(uintptr) bool { return false }
