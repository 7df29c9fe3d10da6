/*
 * throughput.c: a producer and a consumer in two processes, through the C
 * API. The producer creates an anonymous ring, starts this program again as
 * the consumer (handing it the ring with shmring_pass_fd), and sends N
 * messages of SIZE bytes with shmring_try_send, retrying while the ring is
 * full; the consumer receives them with shmring_try_recv, retrying while it
 * is empty, checks their sequence numbers, and prints
 *
 *     msgs=N size=SIZE elapsed=SECONDS rate=MSGS/S
 *
 * timed from its first message to the end of the stream. With "loop" as
 * a third argument it runs in one thread instead: each message is sent with
 * shmring_try_send and received with shmring_try_recv at once, which times
 * the calls themselves, without the other process or the scheduler.
 *
 * Build: gcc -O2 -o throughput throughput.c -I.. -L<dir> -lshmring
 * Run:   ./throughput [N [SIZE [loop]]]   (default 1000000 messages of 64 bytes)
 */
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"

extern char **environ;

static int die(const char *what, int code)
{
	char msg[256];
	shmring_last_error(msg, sizeof msg);
	fprintf(stderr, "throughput: %s: %s (%s)\n", what, shmring_strerror(code), msg);
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int consume(uint64_t n, size_t size)
{
	shmring_ring r;
	shmring_consumer c;
	int rc;
	if ((rc = shmring_inherit("THROUGHPUT", NULL, &r)) != SHMRING_OK)
		die("inherit", rc);
	if ((rc = shmring_consumer_open(r, &c)) != SHMRING_OK)
		die("consumer_open", rc);
	char *buf = malloc(size);
	uint64_t got = 0, seq;
	double start = 0;
	for (;;) {
		int64_t k = shmring_try_recv(c, buf, size);
		if (k == SHMRING_EEMPTY)
			continue;
		if (k == SHMRING_EEOF)
			break;
		if (k != (int64_t)size)
			die("try_recv", (int)k);
		if (got == 0)
			start = now();
		memcpy(&seq, buf, sizeof seq);
		if (seq != got) {
			fprintf(stderr, "throughput: message %llu has sequence number %llu\n",
				(unsigned long long)got, (unsigned long long)seq);
			exit(1);
		}
		got++;
	}
	double elapsed = now() - start;
	if (got != n) {
		fprintf(stderr, "throughput: %llu messages, want %llu\n", (unsigned long long)got, (unsigned long long)n);
		exit(1);
	}
	printf("msgs=%llu size=%zu elapsed=%.3fs rate=%.0f msgs/s\n", (unsigned long long)n, size, elapsed, n / elapsed);
	free(buf);
	shmring_consumer_close(c);
	shmring_close(r);
	return 0;
}

static int loop(uint64_t n, size_t size)
{
	shmring_ring r;
	shmring_producer p;
	shmring_consumer c;
	int rc;
	if ((rc = shmring_create_anonymous(NULL, &r)) != SHMRING_OK)
		die("create_anonymous", rc);
	if ((rc = shmring_producer_open(r, &p)) != SHMRING_OK)
		die("producer_open", rc);
	if ((rc = shmring_consumer_open(r, &c)) != SHMRING_OK)
		die("consumer_open", rc);
	char *msg = calloc(1, size), *buf = malloc(size);
	uint64_t seq;
	double start = now();
	for (uint64_t i = 0; i < n; i++) {
		memcpy(msg, &i, sizeof i);
		if ((rc = shmring_try_send(p, msg, size)) != SHMRING_OK)
			die("try_send", rc);
		int64_t k = shmring_try_recv(c, buf, size);
		if (k != (int64_t)size)
			die("try_recv", (int)k);
		memcpy(&seq, buf, sizeof seq);
		if (seq != i) {
			fprintf(stderr, "throughput: message %llu has sequence number %llu\n",
				(unsigned long long)i, (unsigned long long)seq);
			exit(1);
		}
	}
	double elapsed = now() - start;
	printf("msgs=%llu size=%zu elapsed=%.3fs rate=%.0f msgs/s\n", (unsigned long long)n, size, elapsed, n / elapsed);
	free(msg);
	free(buf);
	shmring_close(r);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
	if (size < sizeof(uint64_t)) {
		fprintf(stderr, "throughput: SIZE must be at least 8\n");
		return 2;
	}
	if (argc > 3 && strcmp(argv[3], "consume") == 0)
		return consume(n, size);
	if (argc > 3 && strcmp(argv[3], "loop") == 0)
		return loop(n, size);

	shmring_ring r;
	shmring_producer p;
	char env[64];
	int rc;
	if ((rc = shmring_create_anonymous(NULL, &r)) != SHMRING_OK)
		die("create_anonymous", rc);
	int fd = shmring_pass_fd(r, "THROUGHPUT", env, sizeof env);
	if (fd < 0)
		die("pass_fd", fd);
	/* The child's environment: ours and the entry that names fd. */
	size_t k = 0;
	while (environ[k])
		k++;
	char **envp = calloc(k + 2, sizeof *envp);
	memcpy(envp, environ, k * sizeof *envp);
	envp[k] = env;
	char ns[32], sizes[32];
	snprintf(ns, sizeof ns, "%llu", (unsigned long long)n);
	snprintf(sizes, sizeof sizes, "%zu", size);
	char *args[] = {argv[0], ns, sizes, "consume", NULL};
	pid_t pid;
	if (posix_spawn(&pid, argv[0], NULL, NULL, args, envp) != 0) {
		perror("throughput: posix_spawn");
		return 1;
	}
	free(envp);
	close(fd);

	if ((rc = shmring_producer_open(r, &p)) != SHMRING_OK)
		die("producer_open", rc);
	char *msg = calloc(1, size);
	for (uint64_t i = 0; i < n; i++) {
		memcpy(msg, &i, sizeof i);
		while ((rc = shmring_try_send(p, msg, size)) == SHMRING_EFULL)
			;
		if (rc != SHMRING_OK)
			die("try_send", rc);
	}
	if ((rc = shmring_producer_close(p)) != SHMRING_OK)
		die("producer_close", rc);
	free(msg);
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "throughput: the consumer failed\n");
		return 1;
	}
	shmring_close(r);
	return 0;
}
