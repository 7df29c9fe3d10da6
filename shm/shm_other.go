//go:build !unix

package shm

// Systems other than Unix: the package compiles, and every constructor
// returns an error wrapping ErrNotSupported, so no Segment ever exists here.

import "os"

// anonPrefix starts the Name of an anonymous segment.
const anonPrefix = "anon:"

// anonSealed is false: no segment exists here.
const anonSealed = false

// segmentDir names no directory: no segment is ever created here.
func segmentDir() string { return "" }

func createPath(string, Config, bool) (*Segment, error) { return nil, ErrNotSupported }

func createAnonymous(string, Config) (*Segment, error) { return nil, ErrNotSupported }

func openPath(string) (*Segment, error) { return nil, ErrNotSupported }

func openReadOnlyPath(string) (*Segment, error) { return nil, ErrNotSupported }

func fromFile(*os.File) (*Segment, error) { return nil, ErrNotSupported }

func unlinkPath(string) error { return ErrNotSupported }

func regionWord(string, int64) (uint32, error) { return 0, ErrNotSupported }

func (s *Segment) lockByte(int) (*os.File, error) { return nil, ErrNotSupported }

func (s *Segment) probeByte(int) (bool, error) { return false, ErrNotSupported }

func (s *Segment) closeLocks() error { return ErrNotSupported }

func (s *Segment) privatize() error { return ErrNotSupported }

// Contains reports false: no Segment exists on this system.
func (s *Segment) Contains(uintptr) bool { return false }
