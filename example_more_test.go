package shmring_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sort"
	"sync"

	"github.com/shmring/shmring"
)

// Batches: SendBatch publishes several messages with one cursor update (one
// claim on an MPMC ring), ReadBatch hands every message already committed to
// a callback and releases them together.
func Example_batch() {
	ctx := context.Background()
	r, err := shmring.CreateAnonymous(&shmring.Options{Size: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	p, err := r.Producer()
	if err != nil {
		log.Fatal(err)
	}
	c, err := r.Consumer()
	if err != nil {
		log.Fatal(err)
	}

	n, err := p.SendBatch(ctx, [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent", n)
	n, err = c.ReadBatch(ctx, 16, func(msg []byte) {
		fmt.Println(string(msg)) // valid only during the call
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("read", n)
	// Output:
	// sent 3
	// a
	// bb
	// ccc
	// read 3
}

// An MPMC ring: several producers and consumers, each message delivered to
// exactly one consumer. Here they are goroutines of one process; each could
// as well be a process of its own. Two lanes give each producer a lane of
// its own, so that the producers never contend for a slot.
func Example_mpmc() {
	ctx := context.Background()
	r, err := shmring.CreateAnonymous(&shmring.Options{Kind: shmring.MPMC, Size: 64 << 10, SlotSize: 64, Lanes: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	var producers sync.WaitGroup
	for i := range 2 {
		p, err := r.Producer()
		if err != nil {
			log.Fatal(err)
		}
		producers.Add(1)
		go func() {
			defer producers.Done()
			defer p.Close()
			for j := range 3 {
				if err := p.Send(ctx, fmt.Appendf(nil, "p%d-%d", i, j)); err != nil {
					log.Fatal(err)
				}
			}
		}()
	}
	go func() {
		producers.Wait()
		if err := r.CloseStream(); err != nil { // consumers drain, then io.EOF
			log.Fatal(err)
		}
	}()

	var mu sync.Mutex
	var got []string
	var consumers sync.WaitGroup
	for range 2 {
		c, err := r.Consumer()
		if err != nil {
			log.Fatal(err)
		}
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			defer c.Close()
			for msg, err := range c.All(ctx) {
				if err != nil {
					log.Fatal(err)
				}
				mu.Lock()
				got = append(got, string(msg))
				mu.Unlock()
			}
		}()
	}
	consumers.Wait()
	sort.Strings(got)
	fmt.Println(got)
	// Output:
	// [p0-0 p0-1 p0-2 p1-0 p1-1 p1-2]
}

// Events are flags in the segment that any process with the ring open can
// set, clear and wait for: the counterpart of multiprocessing.Event.
func ExampleEvent() {
	r, err := shmring.CreateAnonymous(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	ready := r.Event(0)

	done := make(chan error)
	go func() { done <- ready.Wait(context.Background()) }() // another process, usually
	ready.Set()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Println("set:", ready.IsSet())
	ready.Clear()
	fmt.Println("set:", ready.IsSet())
	// Output:
	// set: true
	// set: false
}

// OpenOrCreate lets two processes that use a named ring start in either
// order: the first creates it, the second opens it, and both must ask for the
// same options (or zero ones). The name is a file in /dev/shm.
func ExampleOpenOrCreate() {
	name := fmt.Sprintf("example-%d", os.Getpid())
	opts := &shmring.Options{Size: 64 << 10}
	a, err := shmring.OpenOrCreate(name, opts) // creates it
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer shmring.Unlink(name)
	b, err := shmring.OpenOrCreate(name, opts) // opens the same ring
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	_, err = shmring.OpenOrCreate(name, &shmring.Options{Kind: shmring.MPMC})
	fmt.Println(errors.Is(err, shmring.ErrMismatch))
	fmt.Println(a.Capacity() == b.Capacity())
	// Output:
	// true
	// true
}

// Inspect and Check read a named ring without changing it (the shmring
// command's stat and check are built on them).
func ExampleInspect() {
	ctx := context.Background()
	name := fmt.Sprintf("example-inspect-%d", os.Getpid())
	r, err := shmring.Create(name, &shmring.Options{Size: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	defer r.Unlink()
	p, err := r.Producer()
	if err != nil {
		log.Fatal(err)
	}
	for _, msg := range []string{"one", "two"} {
		if err := p.Send(ctx, []byte(msg)); err != nil {
			log.Fatal(err)
		}
	}

	info, err := shmring.Inspect(name)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Kind, info.Messages, "messages,", info.Depth, "bytes; producer", info.SPSC.Producer)
	problems, err := shmring.Check(name)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(problems), "problems")
	// Output:
	// spsc 2 messages, 32 bytes; producer alive
	// 0 problems
}

// Pass hands a ring to a child process, here the program itself started
// again (the child tells it is one by the variable Pass sets; any command
// that calls Inherit works). The ring is anonymous: nothing appears in
// /dev/shm, and the memory goes when the last process closes it.
func ExampleRing_Pass() {
	ctx := context.Background()
	if _, child := os.LookupEnv("SHMRING_FD_jobs"); child {
		r, err := shmring.Inherit("jobs", nil) // watches the parent from now on
		if err != nil {
			log.Fatal(err)
		}
		defer r.Close()
		c, err := r.Consumer()
		if err != nil {
			log.Fatal(err)
		}
		for msg, err := range c.All(ctx) {
			if err != nil {
				log.Fatal(err) // ErrParentDead if the parent died mid-stream
			}
			fmt.Printf("child got %s\n", msg)
		}
		return
	}

	r, err := shmring.CreateAnonymous(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Stdout = os.Stdout
	if err := r.Pass(cmd, "jobs"); err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	p, err := r.Producer()
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Send(ctx, []byte("job 1")); err != nil {
		log.Fatal(err)
	}
	p.Close() // the child's loop ends at the end of the stream
	if err := cmd.Wait(); err != nil {
		log.Fatal(err)
	}
}
