// Package edge lets the C API's bridge reach the edge-triggered form of the
// root package's Ready channels, which the root package does not export.
//
// Consumer.Ready and Producer.Ready behave as level-triggered: a try that
// finds a message (room) puts a value in the channel again, so that a Go
// loop that reads one message per value never stalls. The bridge turns the
// channel into an eventfd that stays readable until a try fails, so it needs
// no such values, and each one would wake its goroutine and could raise the
// descriptor after the failed try that reset it. The root package sets the
// functions below in its init; the bridge calls them with its
// *shmring.Consumer or *shmring.Producer, before any call of that endpoint's
// Ready (the first call fixes the form for the endpoint's lifetime).
package edge

// ConsumerReady returns the edge-triggered Ready channel of a
// *shmring.Consumer: a value only when the poller, re-armed by ErrEmpty,
// finds the consumer can make progress.
var ConsumerReady func(c any) <-chan struct{}

// ProducerReady is ConsumerReady for a *shmring.Producer (ErrFull re-arms).
var ProducerReady func(p any) <-chan struct{}
