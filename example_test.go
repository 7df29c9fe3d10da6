package shmring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/shmring/shmring"
)

// A producer and a consumer on one ring. Here both ends live in one process;
// usually they live in two (see Ring.Pass and Inherit, or named rings with
// OpenOrCreate).
func Example() {
	ctx := context.Background()
	r, err := shmring.CreateAnonymous(nil) // a memfd: nothing in /dev/shm
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

	for _, msg := range []string{"hello", "shared", "memory"} {
		if err := p.Send(ctx, []byte(msg)); err != nil {
			log.Fatal(err)
		}
	}
	p.Close() // ends the stream: the consumer drains it, then gets io.EOF

	buf := make([]byte, r.MaxMessage())
	for {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(buf[:n]))
	}
	// Output:
	// hello
	// shared
	// memory
}

// Zero-copy: the producer writes a message in place in shared memory, the
// consumer reads it in place.
func Example_zeroCopy() {
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

	buf, err := p.Reserve(ctx, 64) // room for up to 64 bytes
	if err != nil {
		log.Fatal(err)
	}
	n := copy(buf, "written in place")
	if err := p.Commit(n); err != nil { // sends the first n bytes
		log.Fatal(err)
	}

	msg, err := c.Peek(ctx) // the message, still in the ring
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%d bytes)\n", msg, len(msg))
	if err := c.Release(); err != nil { // hands the room back to the producer
		log.Fatal(err)
	}
	// Output:
	// written in place (16 bytes)
}

// The channel API: select on a ring together with other channels, and drain
// it with TryRecv when it is ready.
func Example_ready() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := shmring.CreateAnonymous(nil)
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
	go func() {
		batch := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
		if _, err := p.SendBatch(ctx, batch); err != nil {
			log.Fatal(err)
		}
		p.Close()
	}()

	buf := make([]byte, r.MaxMessage())
	for {
		select {
		case <-c.Ready():
			for {
				n, err := c.TryRecv(buf)
				if errors.Is(err, shmring.ErrEmpty) {
					break // drained: Ready fires again when more arrives
				}
				if errors.Is(err, io.EOF) {
					fmt.Println("end of stream")
					return
				}
				if err != nil {
					log.Fatal(err)
				}
				fmt.Println(string(buf[:n]))
			}
		case <-ctx.Done():
			log.Fatal(ctx.Err())
		}
	}
	// Output:
	// one
	// two
	// three
	// end of stream
}
