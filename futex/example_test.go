package futex_test

import (
	"fmt"
	"sync/atomic"

	"github.com/shmring/shmring/futex"
)

// A waiter sleeps until the word leaves 0; the waker changes the word, then wakes it. Real callers
// keep the cookie and the words in a shared mapping, so that other processes can wait and wake.
func Example() {
	var cookie, word atomic.Uint32
	s, err := futex.Open(&cookie, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Whoever removes the segment removes the mechanism too.
	defer func() {
		if err := s.Remove(); err != nil {
			fmt.Println(err)
		}
	}()

	done := make(chan error)
	go func() {
		for word.Load() == 0 {
			if err := s.Wait(0, &word, 0, -1); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	word.Store(1)
	if err := s.Wake(0, &word, 1); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("waiter done:", <-done, "word:", word.Load())
	// Output: waiter done: <nil> word: 1
}
