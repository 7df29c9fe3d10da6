/*
 * shmring.h: the C API of shmring, built from the Go package by
 *
 *     go build -buildmode=c-shared -o libshmring.so ./capi
 *
 * (which also writes a generated libshmring.h: include this file instead).
 *
 * Handles are opaque non-zero 64-bit values (0 is never valid). A handle is
 * never reused while the process lives: a closed handle gives
 * SHMRING_ECLOSED, a handle never returned gives SHMRING_EINVAL, never
 * another object. Every function returning int or int64_t returns a negative
 * SHMRING_E* code on failure.
 * Timeouts are in nanoseconds: < 0 waits for ever, 0 does not wait (a try),
 * > 0 waits at most that long (SHMRING_ETIMEOUT).
 * A blocking call may be ended from another thread by closing its endpoint
 * (or its ring): it then returns SHMRING_ECLOSED.
 * Endpoints are not safe for concurrent use by several threads, except that
 * close may be called from any thread.
 * A process that loaded the library must not fork() without exec(): the Go
 * runtime's threads do not survive fork, so the child would hang or crash in
 * its first call. Start children with fork+exec, posix_spawn or a spawning
 * multiprocessing start method, and pass them rings with shmring_pass_fd.
 */
#ifndef SHMRING_H
#define SHMRING_H
#include <stddef.h>
#include <stdint.h>

typedef uint64_t shmring_ring;
typedef uint64_t shmring_producer;
typedef uint64_t shmring_consumer;

enum {
	SHMRING_OK = 0,
	SHMRING_EFULL = -1,          /* try-send: no room (ErrFull) */
	SHMRING_EEMPTY = -2,         /* try-recv: nothing to read (ErrEmpty) */
	SHMRING_ETOOLARGE = -3,      /* message larger than max_message, or buffer too small for the next message (ErrTooLarge) */
	SHMRING_ECORRUPT = -4,       /* the segment's contents are unsound (ErrCorrupt) */
	SHMRING_ECLOSED = -5,        /* the handle or its ring was closed (ErrClosed) */
	SHMRING_EBUSY = -6,          /* role already attached (ErrBusy) */
	SHMRING_EPEERDEAD = -7,      /* the peer process died (ErrPeerDead) */
	SHMRING_EPARENTDEAD = -8,    /* the parent process died (ErrParentDead) */
	SHMRING_EMISMATCH = -9,      /* ring does not match the options (ErrMismatch) */
	SHMRING_ENOTRING = -10,      /* not a shmring segment (ErrNotRing) */
	SHMRING_EVERSION = -11,      /* unsupported segment version (ErrVersion) */
	SHMRING_ENAME = -12,         /* bad ring name (ErrName) */
	SHMRING_ENOSPACE = -13,      /* no room for the segment (ErrNoSpace) */
	SHMRING_ENOTSUPPORTED = -14, /* not supported here (ErrNotSupported) */
	SHMRING_EEOF = -15,          /* end of stream: the producer closed it (io.EOF) */
	SHMRING_ETIMEOUT = -16,      /* the timeout ran out */
	SHMRING_EEXIST = -17,        /* create: the name exists (os.ErrExist) */
	SHMRING_ENOENT = -18,        /* open: no such ring (os.ErrNotExist) */
	SHMRING_EINVAL = -19,        /* bad argument or unknown handle */
	SHMRING_EPERM = -20,         /* permission denied (os.ErrPermission) */
	SHMRING_EABORTED = -21,      /* end of a stream ended by shmring_abort_stream (ErrAborted): shmring_abort_code gives its code */
	SHMRING_EOTHER = -99         /* anything else: see shmring_last_error */
};

enum { SHMRING_SPSC = 0, SHMRING_MPMC = 1 };                      /* kind */
enum { SHMRING_ADAPTIVE = 0, SHMRING_SPIN = 1, SHMRING_BLOCK = 2 }; /* wait */
enum { SHMRING_NUM_EVENTS = 8 }; /* events per ring; shmring_num_events() returns it */

/* Options; a NULL pointer or a zeroed struct means the documented defaults
   (the fields mean what the Go Options fields of the same names mean:
   mode is a permission such as 0600, spin_budget_ns the SpinBudget in
   nanoseconds, watch_parent non-zero for true). A value a ring cannot have
   (an unknown kind or wait, a negative number, a size above 4 GiB, a
   slot_size above 16 MiB, more than 64 participants or lanes, mode bits
   other than permissions) gives SHMRING_EINVAL. */
typedef struct {
	int32_t kind;
	int32_t wait;
	int64_t size;
	uint32_t mode;
	int32_t slot_size;
	int32_t participants;
	int32_t watch_parent;
	int64_t spin_budget_ns;
	int32_t lanes;
} shmring_options;

typedef struct {
	uint64_t msgs_sent, bytes_sent, msgs_received, bytes_received;
	uint64_t full_waits, empty_waits, sleeps, wakes, reaped;
} shmring_stats;

/* Errors. */
const char *shmring_strerror(int code);          /* static text of a code ("unknown error code" for others) */
/* Copies the detailed message of the last failed call on the calling thread
   into buf (NUL-terminated, truncated to len; nothing is written when len is
   0) and returns its full length without the NUL, so that a caller may
   retry with a larger buffer; 0 (and "") when the thread has had no failed
   call. Only failures record (a success leaves the message as it was, and
   costs nothing), SHMRING_EFULL and SHMRING_EEMPTY included. Messages are
   kept by OS thread id, for at most 1024 threads: past that a failure on a
   new thread drops another thread's message, and a thread that reuses the
   id of one that exited sees that thread's message. */
size_t shmring_last_error(char *buf, size_t len);

/* Rings. */
int shmring_create(const char *name, const shmring_options *opts, shmring_ring *out);
int shmring_open(const char *name, const shmring_options *opts, shmring_ring *out);
int shmring_open_or_create(const char *name, const shmring_options *opts, shmring_ring *out);
int shmring_create_anonymous(const shmring_options *opts, shmring_ring *out);
/* Inherit a ring passed by the parent (Go Ring.Pass, or shmring_pass_fd). */
int shmring_inherit(const char *key, const shmring_options *opts, shmring_ring *out);
/* Prepares a child started by any means (posix_spawn, Python subprocess) to
   inherit r under key: returns (>= 3) a new descriptor of the segment, without
   close-on-exec, that the child must receive at the same number, and writes
   into env (NUL-terminated, at most envlen bytes) the NAME=VALUE the child's
   environment must hold (SHMRING_FD_<key>=<descriptor>). The caller closes
   the descriptor after starting the child. key is letters, digits and
   underscores (SHMRING_ENAME otherwise). envlen must be at least
   strlen(key) + 32 (SHMRING_EINVAL otherwise, with nothing done). As Go's
   Ring.Pass does, it takes a hold that the child's shmring_inherit takes
   over (see Ring.Pass on the shmring_nofutex build). */
int shmring_pass_fd(shmring_ring r, const char *key, char *env, size_t envlen);
/* Closes the ring: its endpoints are closed too (their blocked calls return
   SHMRING_ECLOSED, their readiness descriptors become readable), but their
   handles and descriptors stay allocated until shmring_producer_close or
   shmring_consumer_close, and event descriptors until
   shmring_event_fd_close, which still accept them. */
int shmring_close(shmring_ring r);                /* idempotent-safe: a closed or unknown handle gives SHMRING_ECLOSED or SHMRING_EINVAL */
int shmring_close_stream(shmring_ring r);
/* Ends the stream as shmring_close_stream does, with a reason: consumers
   drain what was committed, then get SHMRING_EABORTED instead of
   SHMRING_EEOF. code is from 1 to 2^30-1 (else SHMRING_EINVAL). */
int shmring_abort_stream(shmring_ring r, uint32_t code);
/* The code of the abort that ended r's stream (>= 0; 0 when the stream was
   not aborted), or a negative code. */
int64_t shmring_abort_code(shmring_ring r);
int shmring_unlink(const char *name);
int shmring_kind(shmring_ring r);                 /* SHMRING_SPSC or SHMRING_MPMC */
int64_t shmring_max_message(shmring_ring r);
int64_t shmring_capacity(shmring_ring r);

/* Endpoints. */
int shmring_producer_open(shmring_ring r, shmring_producer *out);
int shmring_consumer_open(shmring_ring r, shmring_consumer *out);
int shmring_producer_close(shmring_producer p);   /* SPSC: ends the stream */
int shmring_consumer_close(shmring_consumer c);
int shmring_producer_stats(shmring_producer p, shmring_stats *out);
int shmring_consumer_stats(shmring_consumer c, shmring_stats *out);

/* Sending. A timeout of 0 is a try: SHMRING_EFULL when there is no room. */
int shmring_send(shmring_producer p, const void *msg, size_t len, int64_t timeout_ns);
int shmring_try_send(shmring_producer p, const void *msg, size_t len);
/* Sends msgs[0..n) (lengths lens[0..n)) in order. Returns how many were sent:
   n, or fewer when the timeout ran out or an error came after some were sent
   (the count is then still returned, and the error is left for the next
   call to report); a negative code when none was sent.
   "Left for the next call": the error (not a timeout, nor SHMRING_EFULL of
   a try) is kept on p, and the next send call on p (shmring_send,
   shmring_try_send or shmring_send_batch) returns it, sending nothing,
   and forgets it. With a timeout of 0 a batch sends what fits now and
   returns SHMRING_EFULL when nothing does. */
int64_t shmring_send_batch(shmring_producer p, const void *const *msgs, const size_t *lens, size_t n, int64_t timeout_ns);

/* Receiving. Return the message length (>= 0) or a code. A buffer too small
   for the next message gives SHMRING_ETOOLARGE and leaves it in the ring.
   A timeout of 0 is a try: SHMRING_EEMPTY when nothing is committed. */
int64_t shmring_recv(shmring_consumer c, void *buf, size_t cap, int64_t timeout_ns);
int64_t shmring_try_recv(shmring_consumer c, void *buf, size_t cap);
/* Receives up to max messages, packed back to back into buf, their lengths
   into lens; stops before a message that would not fit (the first one not
   fitting gives SHMRING_ETOOLARGE). Returns how many (>= 1) or a code
   (SHMRING_EEMPTY / SHMRING_ETIMEOUT / SHMRING_EEOF / ...). It waits only
   for the first message (SHMRING_EEMPTY with a timeout of 0), then takes
   what is committed already. A message that did not fit stays in the ring,
   for the next call. */
int64_t shmring_recv_batch(shmring_consumer c, void *buf, size_t cap, size_t *lens, size_t max, int64_t timeout_ns);

/* Readiness for event loops. Returns a descriptor owned by the library (an
   eventfd; do not close it: consumer_close does) that is readable while the
   consumer can make progress (a message, the end of stream, a closed ring,
   an error). It is re-armed only by a receive that finds the ring empty
   (SHMRING_EEMPTY): drain with try-recv until SHMRING_EEMPTY before waiting
   on it again. Reading the descriptor is not needed (the library resets it).
   Every call on the same consumer returns the same descriptor. It may be
   readable with nothing to receive (a try-recv then gives SHMRING_EEMPTY and
   re-arms it); it never stays unreadable while a message is committed. */
int shmring_consumer_fd(shmring_consumer c);
/* The same for a producer: readable while the producer can send; re-armed by
   a try-send that finds the ring full (SHMRING_EFULL): send with try-send
   until SHMRING_EFULL before waiting on it again. It is readable at first,
   then, after a refusal, once room was freed (a message released), the
   stream ended (MPMC), the ring was closed or an error came. Room freed may
   be less than the next message needs: the try-send then gives SHMRING_EFULL
   again and re-arms it, and it waits for the next release. */
int shmring_producer_fd(shmring_producer p);

/* Events (0 <= i < SHMRING_NUM_EVENTS, see shmring_num_events). */
int shmring_num_events(void);
int shmring_event_set(shmring_ring r, int i);
int shmring_event_clear(shmring_ring r, int i);
int shmring_event_is_set(shmring_ring r, int i);  /* 1, 0, or a code */
/* SHMRING_OK once set; with a timeout of 0, SHMRING_ETIMEOUT if not set now. */
int shmring_event_wait(shmring_ring r, int i, int64_t timeout_ns);
/* A descriptor (owned by the library) that becomes readable once event i is
   set (or the ring is closed); release it with shmring_event_fd_close, never
   close(2). Each call gives a new descriptor, watched by a goroutine of its
   own; it stays readable once it is, until shmring_event_fd_close. */
int shmring_event_fd(shmring_ring r, int i);
/* Stops the descriptor's goroutine, then closes fd. r is the ring fd was made
   for, even if it was closed since; another ring, or an fd not made by
   shmring_event_fd, gives SHMRING_EINVAL. */
int shmring_event_fd_close(shmring_ring r, int fd);

#endif
