/*
 * shmring_test.c: the C API's test. Every check that fails prints its line
 * and the library's last error, and the program exits 1; it prints "ok"
 * and exits 0 when all pass. Run as "shmring_test" (the tests) or, by the
 * cross-process test itself, as "shmring_test child" (a consumer that
 * inherits its ring).
 *
 * Build: gcc -o shmring_test shmring_test.c -I.. -L<dir> -lshmring -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"

extern char **environ;

static const char *current = "";

static void fail(int line, const char *expr)
{
	char msg[512];
	shmring_last_error(msg, sizeof msg);
	fprintf(stderr, "FAIL %s, line %d: %s (last error: %s)\n", current, line, expr, msg);
	exit(1);
}

#define CHECK(expr) do { if (!(expr)) fail(__LINE__, #expr); } while (0)
/* CODE(call, want): call returns the code want. */
#define CODE(call, want) do { long long got_ = (call); if (got_ != (want)) { \
	fprintf(stderr, "got %lld (%s), want %s\n", got_, shmring_strerror((int)got_), #want); \
	fail(__LINE__, #call); } } while (0)

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n;
	while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	CHECK(n >= 0);
	return n == 1 && (p.revents & POLLIN);
}

static void pair(const shmring_options *o, shmring_ring *r, shmring_producer *p, shmring_consumer *c)
{
	CODE(shmring_create_anonymous(o, r), SHMRING_OK);
	CHECK(*r != 0);
	CODE(shmring_producer_open(*r, p), SHMRING_OK);
	CODE(shmring_consumer_open(*r, c), SHMRING_OK);
}

static void test_errors(void)
{
	char msg[256];
	shmring_ring r;
	shmring_producer p;
	current = "errors";
	CHECK(strcmp(shmring_strerror(SHMRING_EFULL), "ring full") == 0);
	CHECK(strcmp(shmring_strerror(12345), "unknown error code") == 0);
	CODE(shmring_close(0), SHMRING_EINVAL);
	CODE(shmring_producer_open(0, &p), SHMRING_EINVAL);
	size_t n = shmring_last_error(msg, sizeof msg);
	CHECK(n > 0 && n == strlen(msg) && strstr(msg, "handle 0") != NULL);
	CHECK(shmring_last_error(msg, 4) == n && strlen(msg) == 3);  /* truncated */
	CHECK(shmring_last_error(NULL, 0) == n);
	CODE(shmring_create_anonymous(NULL, NULL), SHMRING_EINVAL);
	shmring_options bad = {.wait = 9};
	CODE(shmring_create_anonymous(&bad, &r), SHMRING_EINVAL);
	CODE(shmring_create_anonymous(NULL, &r), SHMRING_OK);
	CODE(shmring_kind(r), SHMRING_SPSC);
	CODE(shmring_capacity(r), 1 << 20);
	CHECK(shmring_max_message(r) == (1 << 20) - 16);
	CODE(shmring_producer_open(r, &p), SHMRING_OK);
	shmring_producer p2;
	CODE(shmring_producer_open(r, &p2), SHMRING_EBUSY);
	CODE(shmring_consumer_close(p), SHMRING_EINVAL); /* not a consumer */
	CODE(shmring_close(r), SHMRING_OK);
	CODE(shmring_close(r), SHMRING_ECLOSED);
	CODE(shmring_kind(r), SHMRING_ECLOSED);
	CODE(shmring_try_send(p, "x", 1), SHMRING_ECLOSED);
	CODE(shmring_producer_close(p), SHMRING_OK);
	CODE(shmring_producer_close(p), SHMRING_ECLOSED);
	CODE(shmring_num_events(), SHMRING_NUM_EVENTS);
}

static void test_named(void)
{
	char name[64];
	shmring_ring r, o;
	shmring_options opts = {.size = 4096};
	current = "named";
	snprintf(name, sizeof name, "shmring-capi-ctest-%d", (int)getpid());
	CODE(shmring_open(name, NULL, &o), SHMRING_ENOENT);
	CODE(shmring_create(name, &opts, &r), SHMRING_OK);
	CODE(shmring_create(name, &opts, &o), SHMRING_EEXIST);
	opts.size = 1 << 20;
	CODE(shmring_open(name, &opts, &o), SHMRING_EMISMATCH);
	CODE(shmring_open_or_create(name, NULL, &o), SHMRING_OK);
	CODE(shmring_capacity(o), 4096);
	CODE(shmring_close(o), SHMRING_OK);
	CODE(shmring_close(r), SHMRING_OK);
	CODE(shmring_unlink(name), SHMRING_OK);
	CODE(shmring_unlink(name), SHMRING_ENOENT);
	CODE(shmring_create("bad/../", NULL, &r) < 0, 1);
}

/* An MPMC ring of two lanes: each producer has a lane of its own, which
   fills apart from the other; the consumer gets every message, each
   producer's in order. More lanes than allowed are SHMRING_EINVAL. */
static void test_lanes(void)
{
	shmring_ring r;
	shmring_producer p[2];
	shmring_consumer c;
	shmring_options opts = {.kind = SHMRING_MPMC, .size = 4096, .slot_size = 1024, .lanes = 2};
	char buf[1024];
	int next[2] = {0, 0};
	current = "lanes";
	CODE(shmring_create_anonymous(&opts, &r), SHMRING_OK);
	for (int i = 0; i < 2; i++)
		CODE(shmring_producer_open(r, &p[i]), SHMRING_OK);
	CODE(shmring_consumer_open(r, &c), SHMRING_OK);
	/* 4 slots, 2 lanes of 2: the third message of a producer waits. */
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 2; i++) {
			char msg[2] = {(char)('a' + i), (char)('0' + k)};
			CODE(shmring_try_send(p[i], msg, 2), SHMRING_OK);
		}
	CODE(shmring_try_send(p[0], "a2", 2), SHMRING_EFULL);
	for (int k = 0; k < 4; k++) {
		CODE(shmring_try_recv(c, buf, sizeof buf), 2);
		int i = buf[0] - 'a';
		CHECK(i == 0 || i == 1);
		CHECK(buf[1] == '0' + next[i]);
		next[i]++;
	}
	CODE(shmring_try_recv(c, buf, sizeof buf), SHMRING_EEMPTY);
	CODE(shmring_close(r), SHMRING_OK);
	opts.lanes = 65;
	CODE(shmring_create_anonymous(&opts, &r), SHMRING_EINVAL);
	opts.lanes = 4; /* lanes of one slot */
	CODE(shmring_create_anonymous(&opts, &r) < 0, 1);
}

static void test_send_recv(void)
{
	shmring_ring r;
	shmring_producer p;
	shmring_consumer c;
	shmring_options opts = {.size = 4096};
	char buf[4096];
	current = "send/recv";
	pair(&opts, &r, &p, &c);
	CODE(shmring_try_recv(c, buf, sizeof buf), SHMRING_EEMPTY);
	CODE(shmring_recv(c, buf, sizeof buf, 0), SHMRING_EEMPTY);
	int64_t t0 = now_ns();
	CODE(shmring_recv(c, buf, sizeof buf, 20000000), SHMRING_ETIMEOUT);
	CHECK(now_ns() - t0 >= 20000000);
	CODE(shmring_send(p, "hello", 5, -1), SHMRING_OK);
	CODE(shmring_try_send(p, "world!", 6), SHMRING_OK);
	CODE(shmring_try_recv(c, buf, 3), SHMRING_ETOOLARGE);
	CODE(shmring_recv(c, buf, sizeof buf, -1), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CODE(shmring_try_recv(c, buf, sizeof buf), 6);
	CHECK(memcmp(buf, "world!", 6) == 0);
	CODE(shmring_try_send(p, buf, 4096), SHMRING_ETOOLARGE);
	while (shmring_try_send(p, buf, 100) == SHMRING_OK)
		;
	CODE(shmring_try_send(p, buf, 100), SHMRING_EFULL);
	CODE(shmring_send(p, buf, 100, 1000000), SHMRING_ETIMEOUT);
	shmring_stats st;
	CODE(shmring_producer_stats(p, &st), SHMRING_OK);
	CHECK(st.msgs_sent > 2 && st.full_waits > 0);
	CODE(shmring_producer_close(p), SHMRING_OK);
	int64_t got;
	int k = 0;
	while ((got = shmring_try_recv(c, buf, sizeof buf)) >= 0)
		k++;
	CHECK(k == (int)st.msgs_sent - 2);
	CODE(got, SHMRING_EEOF);
	CODE(shmring_consumer_stats(c, &st), SHMRING_OK);
	CHECK(st.msgs_received == (uint64_t)k + 2);
	CODE(shmring_consumer_close(c), SHMRING_OK);
	CODE(shmring_close(r), SHMRING_OK);
}

static void test_abort(void)
{
	shmring_ring r;
	shmring_producer p;
	shmring_consumer c;
	shmring_options opts = {.size = 4096};
	char buf[64];
	current = "abort";
	pair(&opts, &r, &p, &c);
	CODE(shmring_abort_code(r), 0);
	CODE(shmring_abort_stream(r, 0), SHMRING_EINVAL);
	CODE(shmring_abort_stream(r, 1u << 30), SHMRING_EINVAL);
	CODE(shmring_send(p, "last", 4, -1), SHMRING_OK);
	CODE(shmring_abort_stream(r, 130), SHMRING_OK);
	CODE(shmring_producer_close(p), SHMRING_OK);
	CODE(shmring_recv(c, buf, sizeof buf, -1), 4);
	CODE(shmring_recv(c, buf, sizeof buf, -1), SHMRING_EABORTED);
	CODE(shmring_abort_code(r), 130);
	CHECK(strcmp(shmring_strerror(SHMRING_EABORTED), "stream aborted") == 0);
	CODE(shmring_consumer_close(c), SHMRING_OK);
	CODE(shmring_close(r), SHMRING_OK);
}

static void test_batches(void)
{
	shmring_ring r;
	shmring_producer p;
	shmring_consumer c;
	shmring_options opts = {.size = 4096};
	static char big[8192];
	current = "batches";
	pair(&opts, &r, &p, &c);
	const void *msgs[] = {"a", "bb", big, "dddd"};
	size_t lens[] = {1, 2, sizeof big, 4};
	CODE(shmring_send_batch(p, msgs, lens, 4, -1), 2); /* big is too large */
	CODE(shmring_try_send(p, "x", 1), SHMRING_ETOOLARGE); /* left for the next call */
	CODE(shmring_send_batch(p, msgs + 3, lens + 3, 1, -1), 1);

	char buf[4];
	size_t got[8];
	CODE(shmring_recv_batch(c, buf, sizeof buf, got, 8, -1), 2);
	CHECK(got[0] == 1 && got[1] == 2 && memcmp(buf, "abb", 3) == 0);
	CODE(shmring_recv_batch(c, buf, 3, got, 8, 0), SHMRING_ETOOLARGE);
	CODE(shmring_recv_batch(c, buf, sizeof buf, got, 8, 0), 1);
	CHECK(got[0] == 4 && memcmp(buf, "dddd", 4) == 0);
	CODE(shmring_recv_batch(c, buf, sizeof buf, got, 8, 0), SHMRING_EEMPTY);
	CODE(shmring_recv_batch(c, buf, sizeof buf, got, 8, 1000000), SHMRING_ETIMEOUT);

	const void *many[16];
	size_t sizes[16];
	for (int i = 0; i < 16; i++) {
		many[i] = big;
		sizes[i] = 1000;
	}
	CODE(shmring_send_batch(p, many, sizes, 16, 0), 4); /* a try: what fits */
	CODE(shmring_send_batch(p, many, sizes, 1, 0), SHMRING_EFULL);
	CODE(shmring_send_batch(p, many, sizes, 1, 1000000), SHMRING_ETIMEOUT);
	CODE(shmring_producer_close(p), SHMRING_OK);
	CODE(shmring_recv_batch(c, big, sizeof big, got, 8, -1), 4);
	CODE(shmring_recv_batch(c, big, sizeof big, got, 8, -1), SHMRING_EEOF);
	CODE(shmring_consumer_close(c), SHMRING_OK);
	CODE(shmring_close(r), SHMRING_OK);
}

struct closer {
	shmring_consumer c;
	int64_t result;
};

static void *blocked_recv(void *arg)
{
	struct closer *cl = arg;
	char buf[64];
	cl->result = shmring_recv(cl->c, buf, sizeof buf, -1);
	return NULL;
}

static void test_close_ends_recv(void)
{
	shmring_ring r;
	shmring_producer p;
	struct closer cl;
	pthread_t t;
	current = "close ends a blocked recv";
	pair(NULL, &r, &p, &cl.c);
	CHECK(pthread_create(&t, NULL, blocked_recv, &cl) == 0);
	usleep(20000);
	CODE(shmring_consumer_close(cl.c), SHMRING_OK);
	CHECK(pthread_join(t, NULL) == 0);
	CODE(cl.result, SHMRING_ECLOSED);
	CODE(shmring_producer_close(p), SHMRING_OK);
	CODE(shmring_close(r), SHMRING_OK);
}

#define STREAM 100000

static void *produce(void *arg)
{
	shmring_producer p = *(shmring_producer *)arg;
	for (uint32_t i = 0; i < STREAM; i++) {
		if (i % 256 == 0)
			usleep(i % 3 * 50);
		int rc;
		while ((rc = shmring_try_send(p, &i, sizeof i)) == SHMRING_EFULL)
			sched_yield();
		if (rc != SHMRING_OK)
			fail(__LINE__, "try_send in the producer thread");
	}
	if (shmring_producer_close(p) != SHMRING_OK)
		fail(__LINE__, "producer_close in the producer thread");
	return NULL;
}

/* A consumer that waits only in epoll on its descriptor and drains with
   try_recv: a lost wake-up leaves it waiting with messages in the ring. */
static void test_readiness_epoll(void)
{
	shmring_ring r;
	shmring_producer p;
	shmring_consumer c;
	shmring_options opts = {.size = 4096};
	pthread_t t;
	current = "readiness with epoll";
	pair(&opts, &r, &p, &c);
	int fd = shmring_consumer_fd(c);
	CHECK(fd >= 0);
	CODE(shmring_consumer_fd(c), fd);
	CHECK(!readable(fd, 10));
	CODE(shmring_producer_fd(c), SHMRING_EINVAL);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	CHECK(pthread_create(&t, NULL, produce, &p) == 0);
	uint32_t next = 0, v;
	int64_t n;
	for (;;) {
		int k = epoll_wait(ep, &ev, 1, 5000);
		if (k < 0 && errno == EINTR)
			continue;
		CHECK(k == 1); /* 5 s without readiness: a lost wake-up */
		while ((n = shmring_try_recv(c, &v, sizeof v)) == sizeof v) {
			CHECK(v == next);
			next++;
		}
		if (n == SHMRING_EEOF)
			break;
		CODE(n, SHMRING_EEMPTY);
	}
	CHECK(next == STREAM);
	CHECK(pthread_join(t, NULL) == 0);
	CODE(shmring_close(r), SHMRING_OK);
	CHECK(readable(fd, 5000)); /* a closed ring */
	CODE(shmring_try_recv(c, &v, sizeof v), SHMRING_ECLOSED);
	CODE(shmring_consumer_close(c), SHMRING_OK);
	CHECK(close(ep) == 0);
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF); /* closed with the consumer */
}

static void *consume(void *arg)
{
	shmring_consumer c = *(shmring_consumer *)arg;
	uint32_t v;
	for (uint32_t i = 0; i < STREAM; i++) {
		if (i % 256 == 0)
			usleep(i % 3 * 50);
		if (shmring_recv(c, &v, sizeof v, 10000000000LL) != sizeof v || v != i)
			fail(__LINE__, "recv in the consumer thread");
	}
	return NULL;
}

/* A producer that waits only in poll on its descriptor and sends with
   try_send until SHMRING_EFULL: a lost wake-up leaves it waiting on a ring
   with room. */
static void test_readiness_producer(void)
{
	shmring_ring r;
	shmring_producer p;
	shmring_consumer c;
	shmring_options opts = {.size = 4096};
	pthread_t t;
	current = "producer readiness with poll";
	pair(&opts, &r, &p, &c);
	int fd = shmring_producer_fd(p);
	CHECK(fd >= 0);
	CHECK(readable(fd, 5000)); /* room, nothing refused yet */
	CHECK(pthread_create(&t, NULL, consume, &c) == 0);
	uint32_t i = 0;
	while (i < STREAM) {
		int rc = shmring_try_send(p, &i, sizeof i);
		if (rc == SHMRING_OK) {
			i++;
			continue;
		}
		CODE(rc, SHMRING_EFULL);
		CHECK(readable(fd, 5000)); /* 5 s without readiness: a lost wake-up */
	}
	CHECK(pthread_join(t, NULL) == 0);
	CODE(shmring_producer_close(p), SHMRING_OK);
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF); /* closed with the producer */
	CODE(shmring_consumer_close(c), SHMRING_OK);
	CODE(shmring_close(r), SHMRING_OK);
}

static void *set_event(void *arg)
{
	usleep(20000);
	if (shmring_event_set(*(shmring_ring *)arg, 5) != SHMRING_OK)
		fail(__LINE__, "event_set in a thread");
	return NULL;
}

static void test_events(void)
{
	shmring_ring r;
	pthread_t t;
	current = "events";
	CODE(shmring_create_anonymous(NULL, &r), SHMRING_OK);
	CODE(shmring_event_set(r, SHMRING_NUM_EVENTS), SHMRING_EINVAL);
	CODE(shmring_event_is_set(r, 5), 0);
	CODE(shmring_event_wait(r, 5, 0), SHMRING_ETIMEOUT);
	CODE(shmring_event_wait(r, 5, 1000000), SHMRING_ETIMEOUT);
	int fd = shmring_event_fd(r, 5), other = shmring_event_fd(r, 6);
	CHECK(fd >= 0 && other >= 0 && fd != other);
	CHECK(!readable(fd, 10));
	CHECK(pthread_create(&t, NULL, set_event, &r) == 0);
	CHECK(readable(fd, 5000));
	CHECK(pthread_join(t, NULL) == 0);
	CODE(shmring_event_is_set(r, 5), 1);
	CODE(shmring_event_wait(r, 5, -1), SHMRING_OK);
	CODE(shmring_event_clear(r, 5), SHMRING_OK);
	CODE(shmring_event_is_set(r, 5), 0);
	CODE(shmring_event_fd_close(r + 1000, fd), SHMRING_EINVAL);
	CODE(shmring_event_fd_close(r, fd), SHMRING_OK);
	CODE(shmring_event_fd_close(r, fd), SHMRING_EINVAL);
	CHECK(!readable(other, 0));
	CODE(shmring_close(r), SHMRING_OK);
	CHECK(readable(other, 5000)); /* the ring's close */
	CODE(shmring_event_fd_close(r, other), SHMRING_OK);
}

#define CHILD_MSGS 10000

/* The cross-process test: the ring goes to a re-executed child with
   shmring_pass_fd, which receives CHILD_MSGS messages and the end. */
static void test_cross_process(const char *self)
{
	shmring_ring r;
	shmring_producer p;
	char env[64];
	current = "cross-process";
	CODE(shmring_create_anonymous(NULL, &r), SHMRING_OK);
	CODE(shmring_pass_fd(r, "CTEST", env, 8), SHMRING_EINVAL);
	CODE(shmring_pass_fd(r, "bad key", env, sizeof env), SHMRING_ENAME);
	int fd = shmring_pass_fd(r, "CTEST", env, sizeof env);
	CHECK(fd >= 3);
	char want[64];
	snprintf(want, sizeof want, "SHMRING_FD_CTEST=%d", fd);
	CHECK(strcmp(env, want) == 0);

	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 2, sizeof *envp);
	CHECK(envp != NULL);
	memcpy(envp, environ, n * sizeof *envp);
	envp[n] = env;
	char *argv[] = {(char *)self, "child", NULL};
	pid_t pid;
	CHECK(posix_spawn(&pid, self, NULL, NULL, argv, envp) == 0);
	free(envp);
	CHECK(close(fd) == 0);

	CODE(shmring_producer_open(r, &p), SHMRING_OK);
	for (uint32_t i = 0; i < CHILD_MSGS; i++)
		CODE(shmring_send(p, &i, sizeof i, 10000000000LL), SHMRING_OK);
	CODE(shmring_producer_close(p), SHMRING_OK);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CODE(shmring_close(r), SHMRING_OK);
}

static int child(void)
{
	shmring_ring r;
	shmring_consumer c;
	uint32_t v;
	int64_t n;
	current = "cross-process child";
	CODE(shmring_inherit("CTEST", NULL, &r), SHMRING_OK);
	CODE(shmring_consumer_open(r, &c), SHMRING_OK);
	for (uint32_t i = 0; i < CHILD_MSGS; i++) {
		CODE(n = shmring_recv(c, &v, sizeof v, 10000000000LL), sizeof v);
		CHECK(v == i);
	}
	CODE(shmring_recv(c, &v, sizeof v, 10000000000LL), SHMRING_EEOF);
	CODE(shmring_consumer_close(c), SHMRING_OK);
	CODE(shmring_close(r), SHMRING_OK);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	test_errors();
	test_named();
	test_lanes();
	test_send_recv();
	test_abort();
	test_batches();
	test_close_ends_recv();
	test_readiness_epoll();
	test_readiness_producer();
	test_events();
	test_cross_process(argv[0]);
	printf("ok\n");
	return 0;
}
