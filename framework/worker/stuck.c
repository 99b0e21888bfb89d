/*
 * A handler stuck past `timeout` never returns to the loop, so the worker
 * cannot answer it the usual way. The master, which watches every
 * handler's start in the scoreboard, queues FW_SIG_STUCK to the worker's
 * main thread with that start time. The signal's handler runs on top of
 * the stuck code and:
 *
 *   1. checks that the same handler still runs (else replies GONE);
 *   2. writes a 504 on the request's connection, framed for its protocol
 *      (FastCGI records or a plain SCGI head), so that nginx gets an
 *      answer instead of a closed connection, and does not retry the
 *      request on another worker, where it would get stuck again;
 *   3. replies to the master, with the connection attached when nginx
 *      keeps it (FCGI_KEEP_CONN): after the 504 it is at a request
 *      boundary, and the master passes it to another worker. Closing it
 *      would reset a connection nginx has just put back in its cache;
 *   4. waits to be killed, so that the stuck code can never add its own
 *      answer after the 504.
 *
 * The worker does it itself, with its own descriptors: the master needs
 * no ptrace rights on it (workers stay non-dumpable, see `dumpable`) and
 * no knowledge of the protocols. Only async-signal-safe calls below:
 * write, poll, sendmsg, nanosleep, sigprocmask, _exit, and plain copies.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "ipc/chan.h"
#include "proto/fcgi.h"
#include "worker/worker.h"

#define WRITE_TRIES 10 /* of 20 ms each, for the 504 to go out */
#define PARK_S 10      /* the master kills at once; this is for a master that died meanwhile */

static const char answer[] = "Status: 504 Gateway Timeout\r\n"
			     "Content-Type: text/plain; charset=utf-8\r\n"
			     "Content-Length: 20\r\n\r\n"
			     "504 Gateway Timeout\n";

/* The 504, framed for the connection's protocol. */
static size_t frame(uint8_t *buf, enum fw_proto proto, uint16_t id)
{
	size_t n = sizeof(answer) - 1, len;

	if (proto == FW_PROTO_SCGI) {
		memcpy(buf, answer, n);
		return n;
	}
	fw_fcgi_header(buf, FCGI_STDOUT, id, (uint16_t)n, 0);
	memcpy(buf + FCGI_HEADER_LEN, answer, n);
	len = FCGI_HEADER_LEN + n;
	fw_fcgi_header(buf + len, FCGI_STDOUT, id, 0, 0);
	len += FCGI_HEADER_LEN;
	fw_fcgi_end_record(buf + len, id, 0, FCGI_REQUEST_COMPLETE);
	return len + FW_FCGI_END_LEN;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	for (int tries = 0; n > 0 && tries < WRITE_TRIES;) {
		ssize_t w = write(fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno != EAGAIN) {
			return false;
		} else {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			poll(&pfd, 1, 20);
			tries++;
		}
	}
	return n == 0;
}

/* Nothing else is in flight on the connection: the 504 is the next thing nginx reads. */
static bool answerable(const struct fw_conn *c)
{
	return c != NULL && !fw_conn_broken(c) && fw_conn_unsent(c) == 0;
}

static _Noreturn void park(void)
{
	struct timespec ts = {PARK_S, 0};
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	_exit(1);
}

static void on_stuck(int sig, siginfo_t *si, void *uc)
{
	uint8_t buf[sizeof(answer) + 2 * FCGI_HEADER_LEN + FW_FCGI_END_LEN];
	uint64_t since = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	struct fw_msg m = {.type = FW_MSG_STUCK, .arg = FW_STUCK_GONE, .value = since};
	struct fw_worker *w = fw_current_worker;
	struct fw_conn *c;
	int saved = errno, pass = -1;

	(void)sig;
	(void)uc;
	if (w == NULL || si->si_code != SI_QUEUE || si->si_pid != w->master_pid)
		return; /* not the master's question */
	c = w->running.c;
	if (since == 0 || w->running.since != since) {
		fw_chan_send(w->chan_fd, &m, -1); /* it finished meanwhile: not stuck any more */
		errno = saved;
		return;
	}
	m.arg = FW_STUCK_UNANSWERED;
	if (answerable(c)) {
		bool keep = c->proto == FW_PROTO_FASTCGI && w->running.req->keep_conn;

		if (write_all(c->fd, buf, frame(buf, c->proto, w->running.req->id))) {
			m.arg = FW_STUCK_ANSWERED;
			pass = keep ? c->fd : -1;
		}
	}
	if (fw_chan_send(w->chan_fd, &m, pass) != 0 && pass >= 0)
		fw_chan_send(w->chan_fd, &m, -1); /* the 504 is out; the connection closes at the kill */
	park();
}

int fw_stuck_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_stuck;
	sigemptyset(&sa.sa_mask);
	/* On the alternate stack the master set up (inherited): a handler deep in recursion is answered too. */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	if (sigaction(FW_SIG_STUCK, &sa, NULL) != 0) {
		fw_log_errno(FW_LOG_ERROR, "sigaction(FW_SIG_STUCK)");
		return -1;
	}
	return 0;
}

void fw_stuck_begin(struct fw_conn *c, fw_req *req, uint64_t since)
{
	struct fw_worker *w = c->w;

	w->running.c = c;
	w->running.req = req;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	w->running.since = since;
}

void fw_stuck_end(struct fw_worker *w)
{
	w->running.since = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	w->running.c = NULL;
	w->running.req = NULL;
}
