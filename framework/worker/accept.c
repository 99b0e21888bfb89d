/*
 * Accepting. Every worker watches the listening sockets the master
 * opened; the kernel hands each connection to one accept(). A worker takes
 * one connection per wake-up (like nginx without multi_accept), so a
 * worker busy in a handler leaves the next connections to its siblings.
 * TCP peers outside allowed_clients are closed at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "worker/worker.h"

#define ACCEPT_PAUSE_MS 100
#define REFUSED_LOG_EVERY_MS 1000

static void listen_on(struct fw_worker *w, bool on)
{
	if (on == w->accepting)
		return;
	for (int i = 0; i < w->nlisten; i++) {
		if ((on ? event_add(&w->listen[i].ev, NULL) : event_del(&w->listen[i].ev)) != 0)
			fw_log(FW_LOG_ERROR, "event_%s: listening socket", on ? "add" : "del");
	}
	w->accepting = on;
}

/* A refused peer is logged, at most once a second (a scan could flood the log). */
static void refused(const struct sockaddr_storage *sa)
{
	static uint64_t last;
	static unsigned long quiet;
	char host[INET6_ADDRSTRLEN] = "?";
	uint64_t now = fw_now_ms();

	if (now - last < REFUSED_LOG_EVERY_MS) {
		quiet++;
		return;
	}
	if (sa->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
	else if (sa->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
	fw_log(FW_LOG_WARN, "connection from %s refused: not in allowed_clients (%lu more not logged)",
	       host, quiet);
	last = now;
	quiet = 0;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct fw_worker_listener *l = arg;
	struct fw_worker *w = l->w;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	struct fw_conn *c;
	int cfd;

	FW_UNUSED(what);
	cfd = accept4(fd, l->inet ? (struct sockaddr *)&sa : NULL, l->inet ? &salen : NULL,
		      SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		switch (errno) {
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			return; /* a sibling took it, or the peer left */
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM: {
			/* Out of descriptors or memory: back off instead of spinning. */
			struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
			fw_log_errno(FW_LOG_ERROR, "accept");
			listen_on(w, false);
			evtimer_add(&w->accept_pause_ev, &tv);
			return;
		}
		default:
			fw_log_errno(FW_LOG_ERROR, "accept");
			return;
		}
	}
	if (l->inet && !fw_cidr_allows(&w->cfg->allowed_clients, (const struct sockaddr *)&sa)) {
		refused(&sa);
		close(cfd);
		return;
	}
	if ((c = fw_conn_open(w, cfd, l->proto, false, true)) == NULL) {
		close(cfd);
		return;
	}
	c->status_only = l->status;
	fw_listener_conn_opened(w);
	fw_conn_read_now(c); /* last: it may close c */
}

void fw_listener_conn_opened(struct fw_worker *w)
{
	if (w->accepting && w->nconns >= (size_t)w->cfg->max_conns) {
		fw_log(FW_LOG_WARN, "max_conns (%d) reached; not accepting until one closes",
		       w->cfg->max_conns);
		listen_on(w, false);
	}
}

static void on_accept_pause_end(evutil_socket_t fd, short what, void *arg)
{
	struct fw_worker *w = arg;

	FW_UNUSED(fd);
	FW_UNUSED(what);
	if (!fw_worker_stopping(w) && w->nconns < (size_t)w->cfg->max_conns)
		listen_on(w, true);
}

void fw_listener_start(struct fw_worker *w)
{
	for (int i = 0; i < w->nlisten; i++)
		event_assign(&w->listen[i].ev, w->base, w->listen[i].fd, EV_READ | EV_PERSIST, on_accept,
			     &w->listen[i]);
	evtimer_assign(&w->accept_pause_ev, w->base, on_accept_pause_end, w);
	listen_on(w, true);
}

void fw_listener_stop(struct fw_worker *w)
{
	listen_on(w, false);
	evtimer_del(&w->accept_pause_ev);
}

void fw_listener_conn_closed(struct fw_worker *w)
{
	if (!w->accepting && !fw_worker_stopping(w) && w->nconns < (size_t)w->cfg->max_conns &&
	    !evtimer_pending(&w->accept_pause_ev, NULL))
		listen_on(w, true);
}
