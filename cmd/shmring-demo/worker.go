package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/cmd/internal/cli"
)

// Keys under which the parent passes a worker its rings.
const (
	requestKey  = "REQUEST"
	responseKey = "RESPONSE"
)

// batchSize is the most items a SendBatch or ReadBatch moves at once.
const batchSize = 256

// workerMain runs a worker process and returns its exit status. wait names
// the wait strategy.
func workerMain(ctx context.Context, wait string, stderr io.Writer) int {
	if err := work(ctx, wait); err != nil {
		fmt.Fprintf(stderr, "shmring-demo: worker %d: %v\n", os.Getpid(), err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// work answers requests until the request stream ends, then closes the
// response stream. It ends with ErrPeerDead if the parent dies.
func work(ctx context.Context, wait string) (err error) {
	strategy, err := cli.ParseWait(wait)
	if err != nil {
		return err
	}
	opts := &shmring.Options{Wait: strategy}
	req, err := shmring.Inherit(requestKey, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, req.Close()) }()
	resp, err := shmring.Inherit(responseKey, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, resp.Close()) }()
	in, err := req.Consumer()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, in.Close()) }()
	out, err := resp.Producer()
	if err != nil {
		return err
	}
	// Closing the producer ends the response stream: the parent's io.EOF.
	defer func() { err = errors.Join(err, out.Close()) }()

	backing := make([]byte, batchSize*itemSize)
	msgs := make([][]byte, batchSize)
	for i := range msgs {
		msgs[i] = backing[i*itemSize : (i+1)*itemSize]
	}
	for {
		k := 0
		var bad error
		_, err := in.ReadBatch(ctx, batchSize, func(msg []byte) {
			id, value, err := getItem(msg)
			if err != nil {
				if bad == nil {
					bad = err
				}
				return
			}
			putItem(msgs[k], id, transform(value))
			k++
		})
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err = errors.Join(err, bad); err != nil {
			return fmt.Errorf("read requests: %w", err)
		}
		if _, err := out.SendBatch(ctx, msgs[:k]); err != nil {
			return fmt.Errorf("send responses: %w", err)
		}
	}
}
