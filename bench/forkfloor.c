/*
 * The floor under a recycle: fork() by a process linked like an fw app,
 * and the child's exit, with nothing served in between. bench/recycle.py
 * prints it beside its ratio, because at a recycle every 100 requests of a
 * hello world this floor alone is several percent of the machine.
 *
 *   forkfloor [N [CONNS [PAGES]]]   prints one JSON object: CPU
 *                    microseconds per fork, in the parent and in the
 *                    child, for each case below, and per handoff of CONNS
 *                    (16) connections
 *
 * Cases, in this order (trimming cannot be undone):
 *   empty       the child exits at once
 *   boot        the child creates and frees a libevent base, as a worker's
 *               boot does, and allocates what 16 connections would
 *   empty-trim, boot-trim   the same after fw_trim_zero_pages(), as the
 *               master does before its first fork
 *   image       boot-trim again, once PAGES (0: skipped) more anonymous
 *               pages are resident and written: a parent as big as a
 *               real master (bench/recycle.py passes the master's own
 *               count), since fork copies, and exit unmaps, every one
 * Forks use _Fork(), as the master does (no atfork handlers).
 *
 * A recycle under keep-alive load also moves the retiring worker's idle
 * connections to its replacement. "handoff" is the kernel's share of that,
 * in one process and without a context switch: the old epoll stops
 * watching each connection, one sendmsg carries them all (SCM_RIGHTS), the
 * old descriptors close, one recvmsg takes them and the new epoll watches
 * them, as worker/conn.c and worker.c do.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/trim.h"

static double cpu_us(int who)
{
	struct rusage r;

	getrusage(who, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

static void boot(void)
{
	struct event_base *base = event_base_new();
	void *conns[16];

	if (base != NULL)
		event_base_free(base);
	for (int i = 0; i < 16; i++)
		if ((conns[i] = calloc(1, 464)) != NULL)
			memset(conns[i], 1, 464);
	for (int i = 0; i < 16; i++)
		free(conns[i]);
}

static int run(const char *name, int n, int work, int first)
{
	double self = cpu_us(RUSAGE_SELF), kids = cpu_us(RUSAGE_CHILDREN);

	for (int i = 0; i < n; i++) {
		pid_t pid = _Fork();

		if (pid < 0) {
			perror("fork");
			return -1;
		}
		if (pid == 0) {
			if (work)
				boot();
			_exit(0);
		}
		if (waitpid(pid, NULL, 0) != pid) {
			perror("waitpid");
			return -1;
		}
	}
	printf("%s\"%s\": {\"parent_us\": %.1f, \"child_us\": %.1f}", first ? "" : ", ", name,
	       (cpu_us(RUSAGE_SELF) - self) / n, (cpu_us(RUSAGE_CHILDREN) - kids) / n);
	return 0;
}

#define MAX_CONNS 64 /* FW_CHAN_MAX_FDS: one message */

static int pass(int from, int to, const int *fds, int *got, int n)
{
	union {
		char buf[CMSG_SPACE(MAX_CONNS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	char byte = 0;
	struct iovec iov = {&byte, 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = CMSG_SPACE(n * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	if (c == NULL)
		return -1;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	if (sendmsg(from, &msg, 0) != 1)
		return -1;
	msg.msg_controllen = sizeof(ctl.buf);
	if (recvmsg(to, &msg, MSG_CMSG_CLOEXEC) != 1 || (c = CMSG_FIRSTHDR(&msg)) == NULL ||
	    c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(n * sizeof(int)))
		return -1;
	memcpy(got, CMSG_DATA(c), n * sizeof(int));
	return 0;
}

static int handoff(int n, int conns)
{
	int peer[2], ep[2], fds[MAX_CONNS], far[MAX_CONNS], got[MAX_CONNS];
	double self;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, peer) != 0 ||
	    (ep[0] = epoll_create1(EPOLL_CLOEXEC)) < 0 || (ep[1] = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("handoff set-up");
		return -1;
	}
	for (int i = 0; i < conns; i++) {
		int pair[2];
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
			perror("socketpair");
			return -1;
		}
		fds[i] = ev.data.fd = pair[0];
		far[i] = pair[1]; /* nginx's end: keeps each connection open */
		if (epoll_ctl(ep[0], EPOLL_CTL_ADD, fds[i], &ev) != 0) {
			perror("epoll_ctl");
			return -1;
		}
	}
	self = cpu_us(RUSAGE_SELF);
	for (int r = 0; r < n; r++) {
		int old = ep[r % 2], new = ep[(r + 1) % 2];

		for (int i = 0; i < conns; i++)
			if (epoll_ctl(old, EPOLL_CTL_DEL, fds[i], NULL) != 0) {
				perror("epoll_ctl(DEL)");
				return -1;
			}
		if (pass(peer[0], peer[1], fds, got, conns) != 0) {
			perror("sendmsg/recvmsg");
			return -1;
		}
		for (int i = 0; i < conns; i++) {
			struct epoll_event ev = {.events = EPOLLIN, .data.fd = got[i]};

			close(fds[i]);
			fds[i] = got[i];
			if (epoll_ctl(new, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
				perror("epoll_ctl(ADD)");
				return -1;
			}
		}
	}
	printf(", \"handoff\": {\"conns\": %d, \"us\": %.1f}", conns, (cpu_us(RUSAGE_SELF) - self) / n);
	for (int i = 0; i < conns; i++) {
		close(fds[i]);
		close(far[i]);
	}
	close(ep[0]);
	close(ep[1]);
	close(peer[0]);
	close(peer[1]);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int conns = argc > 2 ? atoi(argv[2]) : 16;
	long pages = argc > 3 ? atol(argv[3]) : 0;
	void *keep = malloc(100); /* the allocator is set up, as in a master */
	long page = sysconf(_SC_PAGESIZE);

	if (n <= 0 || conns <= 0 || conns > MAX_CONNS || pages < 0 || keep == NULL || page <= 0) {
		fprintf(stderr, "usage: forkfloor [N>0 [CONNS 1..%d [PAGES>=0]]]\n", MAX_CONNS);
		return 2;
	}
	printf("{\"forks\": %d, ", n);
	if (run("empty", n, 0, 1) != 0 || run("boot", n, 1, 0) != 0)
		return 1;
	printf(", \"trimmed_pages\": %zu", fw_trim_zero_pages());
	if (run("empty-trim", n, 0, 0) != 0 || run("boot-trim", n, 1, 0) != 0 || handoff(n, conns) != 0)
		return 1;
	if (pages > 0) {
		/* Not zero: fw_trim_zero_pages() would give zero pages back. */
		char *img = mmap(NULL, (size_t)pages * (size_t)page, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (img == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		for (long i = 0; i < pages; i++)
			img[i * page] = 1;
		printf(", \"image_pages\": %ld, ", pages);
		if (run("image", n, 1, 1) != 0)
			return 1;
	}
	printf("}\n");
	free(keep);
	return 0;
}
