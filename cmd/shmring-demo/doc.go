// Command shmring-demo runs the worker-process pattern end to end: a parent
// process deals work items to worker processes it spawns, through a pair of
// anonymous shmring rings per worker, and collects the results.
//
// Usage:
//
//	shmring-demo [-n ITEMS] [-workers N] [-size BYTES] [-wait adaptive|spin|block] [-v]
//
// The parent creates, for each worker, an anonymous request ring and an
// anonymous response ring (memfds: nothing appears in /dev/shm), and starts
// the worker by running its own executable again with the rings passed
// through Ring.Pass; the worker attaches with shmring.Inherit. A hidden
// environment variable, not a flag, tells the process it is a worker.
//
// Item i is 16 bytes, {id uint64, payload uint64 = id*id}, little-endian, and
// goes to worker i mod N (round-robin). A worker answers each item with {id,
// payload*2} on its response ring, and closes its response producer when its
// request stream ends. In the parent, one goroutine streams the requests
// with Producer.SendBatch and closes each request producer at the end, while
// the main goroutine selects over every worker's Consumer.Ready channel, a
// ticker (progress with -v) and the context, and drains a ready consumer with
// TryRecv until it is empty or at its end (io.EOF).
//
// When every response ring has ended, the parent waits for the workers,
// checks that every id came back once, from the right worker, correctly
// transformed, and prints one line such as
//
//	items=1000000 workers=2 elapsed=57.3ms rate=17463222 items/s ok
//
// where elapsed runs from the start of the request stream to the last
// response (spawning the workers is not included). Any mismatch, worker
// failure or the 5-minute watchdog ends it with a message on standard error
// and exit status 1; bad flags give status 2, SIGINT or SIGTERM status 130.
package main
