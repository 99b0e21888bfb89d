/*
 * Accepting. Every worker watches the one listening socket the master
 * opened; the kernel hands each connection to one accept(). A worker takes
 * one connection per wake-up (like nginx without multi_accept), so a
 * worker busy in a handler leaves the next connections to its siblings.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/status.h"
#include "worker/worker.h"

#define ACCEPT_PAUSE_MS 100

static void listen_on(struct fw_worker *w, bool on)
{
	if (on == w->accepting)
		return;
	if ((on ? event_add(&w->listen_ev, NULL) : event_del(&w->listen_ev)) != 0) {
		fw_log(FW_LOG_ERROR, "event_%s: listening socket", on ? "add" : "del");
		return;
	}
	w->accepting = on;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct fw_worker *w = arg;
	int cfd;

	FW_UNUSED(what);
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
	if (fw_conn_open(w, cfd) == NULL) {
		close(cfd);
		return;
	}
	fw_listener_conn_opened(w);
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
	if (!w->stopping && w->nconns < (size_t)w->cfg->max_conns)
		listen_on(w, true);
}

void fw_listener_start(struct fw_worker *w)
{
	event_assign(&w->listen_ev, w->base, w->listen_fd, EV_READ | EV_PERSIST, on_accept, w);
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
	if (!w->accepting && !w->stopping && w->nconns < (size_t)w->cfg->max_conns &&
	    !evtimer_pending(&w->accept_pause_ev, NULL))
		listen_on(w, true);
}
