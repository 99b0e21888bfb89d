/*
 * The worker process: boot (after fork), the event loop, messages from the
 * master, signals, and stopping.
 */
#include "worker/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "http/hooks.h"
#include "http/registry.h"
#include "core/build.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/memstat.h"
#include "core/result.h"
#include "ipc/chan.h"
#include "worker/settings.h"

#define MASTER_GONE_GRACE_S 1 /* the master died: finish within this */

struct fw_worker *fw_current_worker;

FW_API struct event_base *fw_event_base(void)
{
	return fw_current_worker != NULL ? fw_current_worker->base : NULL;
}

/*
 * The master died (it can be SIGKILLed). The channel's EOF tells the loop,
 * which stops gracefully; this handler is the backstop for a worker stuck
 * in a handler that never returns to the loop: alarm() is async-signal-safe
 * and SIGALRM's default action ends the process within a second.
 */
static pid_t parent_pid; /* the master's: SIGUSR2 from anyone else while it lives means nothing */

static void on_parent_death(int sig)
{
	(void)sig;
	/* The same signal may be one sent to the whole group for the master (an upgrade). */
	if (getppid() != parent_pid)
		alarm(MASTER_GONE_GRACE_S + 1);
}

static int orphan_guard(pid_t master_pid)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	parent_pid = master_pid;
	sa.sa_handler = on_parent_death;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL) != 0 || prctl(PR_SET_PDEATHSIG, SIGUSR2) != 0) {
		fw_log_errno(FW_LOG_ERROR, "prctl(PR_SET_PDEATHSIG)");
		return -1;
	}
	/* The master may have died between fork() and prctl(). */
	if (getppid() != master_pid) {
		fw_log(FW_LOG_ERROR, "master %ld exited before the worker started", (long)master_pid);
		return -1;
	}
	return 0;
}

/*
 * Done once no connection is left and nothing more can come: from the
 * master (it acknowledged the drain) nor from the worker this one
 * replaced, which may still be finishing requests and send their
 * connections on. Its socket closes when it exits; a connection left
 * unread in it would be closed under nginx, a reset on a request.
 */
void fw_worker_check_stopped(struct fw_worker *w)
{
	/* Draining alone, the master's DRAIN is still to come (ipc/recycle.h). */
	if (fw_worker_stopping(w) && w->mode != FW_WORKER_DRAINING_ALONE && w->nconns == 0 &&
	    w->peer_in < 0 && w->threads.pending == 0)
		event_base_loopbreak(w->base);
}

void fw_worker_heap_release(struct fw_worker *w)
{
	uint64_t us = fw_now_us();

	fw_heap_release();
	if (fw_log_enabled(FW_LOG_DEBUG))
		fw_log(FW_LOG_DEBUG, "free heap given back to the OS after a big answer (%llu us)",
		       (unsigned long long)(fw_now_us() - us));
	/* The status page shows it at the next heartbeat. */
	w->mem.last_read_ms = 0;
}

/* The mode the worker acts on is the one it publishes. */
static void mode_set(struct fw_worker *w, enum fw_worker_mode mode)
{
	bool was_serving = !fw_worker_stopping(w);

	w->mode = mode;
	fw_slot_store(w->slot->state, (uint32_t)mode);
	/* Accepting no more: what a replacement needs (database connections) is let go now. */
	if (was_serving && fw_worker_stopping(w))
		fw_hooks_worker_drain();
}

static void peer_read(struct fw_worker *w);

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct fw_worker *w = arg;

	FW_UNUSED(fd);
	FW_UNUSED(what);
	/* What the replaced worker sent is passed on with ours. */
	peer_read(w);
	/* Connections already marked for handoff still go: they are idle. */
	fw_conn_send_handoffs(w);
	fw_log(FW_LOG_WARN,
	       "graceful_timeout reached with %zu connection(s), %zu request(s) and %zu offloaded "
	       "job(s) in flight; closing them",
	       w->nconns, w->in_flight, w->threads.pending);
	fw_conn_close_all(w);
	event_base_loopbreak(w->base);
}

/* Every connection goes once idle: handed over while the worker drains, closed while it stops. */
static bool stop_one(struct fw_conn *c, void *arg)
{
	FW_UNUSED(arg);
	fw_conn_settle(c);
	return true; /* closed, or a cancel callback may have closed others */
}

static void settle_all(struct fw_worker *w)
{
	fw_conn_for_each(w, stop_one, NULL);
	fw_worker_check_stopped(w);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	FW_UNUSED(fd);
	FW_UNUSED(what);
	settle_all(arg);
}

static void on_handoff(evutil_socket_t fd, short what, void *arg)
{
	FW_UNUSED(fd);
	FW_UNUSED(what);
	fw_conn_send_handoffs(arg);
}

/*
 * Stop accepting; let every connection finish its request, then exit
 * (STOPPING, or ORPHANED when the master is gone: idle connections close
 * instead of moving, and the master sends nothing more).
 */
static void worker_stop(struct fw_worker *w, enum fw_worker_mode mode, int timeout_s)
{
	struct timeval tv = {timeout_s, 0};
	bool was_stopping = fw_worker_stopping(w);

	mode_set(w, mode);
	/* A second, shorter deadline (master gone) wins. */
	if (!was_stopping || timeout_s < w->cfg->graceful_timeout)
		evtimer_add(&w->stop_ev, &tv);
	if (!was_stopping)
		fw_listener_stop(w);
	settle_all(w);
}

/*
 * Retire: stop accepting (the siblings and the replacement take the
 * listening socket), finish what is in flight, and give every idle
 * keepalive connection to the master for another worker. Called from
 * inside request processing too, so connections are settled from an
 * event, at a point where none of them is on the stack.
 */
void fw_worker_drain(struct fw_worker *w, bool acked)
{
	struct timeval tv = {w->cfg->graceful_timeout, 0};

	if (w->mode == FW_WORKER_DRAINING_ALONE && acked) {
		mode_set(w, FW_WORKER_DRAINING); /* the master's ack: nothing more comes after it */
		fw_worker_check_stopped(w);
		return;
	}
	if (fw_worker_stopping(w)) {
		fw_worker_check_stopped(w);
		return;
	}
	mode_set(w, acked ? FW_WORKER_DRAINING : FW_WORKER_DRAINING_ALONE);
	fw_listener_stop(w);
	evtimer_add(&w->stop_ev, &tv);
	event_active(&w->drain_ev, EV_TIMEOUT, 0);
}

static void worker_quit(struct fw_worker *w)
{
	mode_set(w, FW_WORKER_STOPPING);
	fw_listener_stop(w);
	event_base_loopbreak(w->base);
}

/*
 * Connections handed over (by the master, or by the worker this one
 * replaces): served like accepted ones. A FastCGI one is between two
 * requests, an SCGI one before its only request (request_timeout counts
 * from now for it).
 */
static void adopt(struct fw_worker *w, const struct fw_msg *m, const int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned kind = fw_msg_kind(m, i);
		bool scgi = (kind & FW_CONN_SCGI) != 0;
		struct fw_conn *c = fw_conn_open(w, fds[i], scgi ? FW_PROTO_SCGI : FW_PROTO_FASTCGI,
						 true, scgi);

		if (c == NULL) {
			close(fds[i]);
			continue;
		}
		c->status_only = (kind & FW_CONN_STATUS) != 0;
		if (fw_worker_stopping(w))
			fw_conn_settle(
				c); /* raced with our own drain or stop: pass it on, or close it */
	}
	fw_listener_conn_opened(w);
}

/* Connections from the worker this one replaces, sent straight to us. */
static void peer_read(struct fw_worker *w)
{
	struct fw_msg m;
	int r, fds[FW_CHAN_MAX_FDS], n;

	if (w->peer_in < 0)
		return;
	while ((r = fw_chan_recvv(w->peer_in, &m, fds, &n)) == 1) {
		if (m.type == FW_MSG_CONN) {
			adopt(w, &m, fds, n);
			continue;
		}
		for (int i = 0; i < n; i++)
			close(fds[i]);
		fw_log(FW_LOG_WARN, "unexpected message %u from the worker this one replaces", m.type);
	}
	if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		/* It has exited: the end of file comes after all it sent. (Or the socket broke.) */
		if (r != 0)
			fw_log_errno(FW_LOG_WARN, "recvmsg(from the worker this one replaces)");
		event_del(&w->peer_ev);
		close(w->peer_in);
		w->peer_in = -1;
		fw_worker_check_stopped(w); /* it may be all a draining worker waited for */
	}
}

static void on_peer(evutil_socket_t fd, short what, void *arg)
{
	FW_UNUSED(fd);
	FW_UNUSED(what);
	peer_read(arg);
}

/* A replacement watches its socket from the worker it replaces from the start. */
static void peer_in_set(struct fw_worker *w, int fd)
{
	event_assign(&w->peer_ev, w->base, fd, EV_READ | EV_PERSIST, on_peer, w);
	if (event_add(&w->peer_ev, NULL) != 0) {
		/* Its sends fail then, and the connections go through the master. */
		fw_log(FW_LOG_WARN,
		       "event_add: cannot watch the socket from the worker this one replaces");
		close(fd);
		return;
	}
	w->peer_in = fd;
}

static void on_chan(evutil_socket_t fd, short what, void *arg)
{
	struct fw_worker *w = arg;
	struct fw_msg m;
	int r, fds[FW_CHAN_MAX_FDS], n;

	FW_UNUSED(what);
	while ((r = fw_chan_recvv(fd, &m, fds, &n)) == 1) {
		/* CONN keeps every descriptor; DRAIN keeps one; the rest none. */
		int keep = m.type == FW_MSG_CONN ? n : m.type == FW_MSG_DRAIN && n > 0;

		for (int i = keep; i < n; i++)
			close(fds[i]);
		switch (m.type) {
		case FW_MSG_STOP:
			worker_stop(w, FW_WORKER_STOPPING, w->cfg->graceful_timeout);
			break;
		case FW_MSG_QUIT:
			worker_quit(w);
			return;
		case FW_MSG_DRAIN:
			if (keep) {
				if (w->peer_out >= 0)
					close(w->peer_out);
				w->peer_out = fds[0];
			}
			fw_worker_drain(w, true);
			break;
		case FW_MSG_CONN:
			adopt(w, &m, fds, n);
			break;
		case FW_MSG_LIMITS:
			fw_memguard_limits(&w->mem, m.value, m.value2);
			break;
		case FW_MSG_REOPEN:
			if (fw_log_reopen() != 0)
				fw_log_errno(FW_LOG_ERROR, "reopening the error log");
			fw_access_reopen(w);
			break;
		default:
			fw_log(FW_LOG_WARN, "unexpected message %u from the master", m.type);
		}
	}
	if (r == 0) {
		fw_log(FW_LOG_WARN, "the master is gone; finishing in-flight requests and exiting");
		event_del(&w->chan_ev);
		worker_stop(w, FW_WORKER_ORPHANED, MASTER_GONE_GRACE_S);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
		fw_log_errno(FW_LOG_ERROR, "recvmsg(master channel)");
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct fw_worker *w = arg;

	FW_UNUSED(what);
	if (sig == SIGTERM)
		worker_stop(w, w->mode == FW_WORKER_ORPHANED ? FW_WORKER_ORPHANED : FW_WORKER_STOPPING,
			    w->cfg->graceful_timeout);
	else
		worker_quit(w);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct fw_worker *w = arg;

	FW_UNUSED(fd);
	FW_UNUSED(what);
	fw_slot_store(w->slot->heartbeat_ms, fw_now_ms());
	fw_retire_tick(w);
}

/* Signals the master handles are not the worker's business. */
static void signals_reset(void)
{
	static const int ignored[] = {SIGPIPE, SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < FW_NELEM(ignored); i++)
		sigaction(ignored[i], &sa, NULL);
}

struct event_base *fw_worker_base_new(void)
{
	/*
	 * Made once, by the master's preboot: workers only read it, from a page
	 * they share with the master, instead of allocating, writing and freeing
	 * one at every recycle.
	 */
	static struct event_config *cfg;

	if (cfg == NULL) {
		if ((cfg = event_config_new()) == NULL)
			return NULL;
		/*
		 * One thread per worker: no locks inside libevent. Its EVENT_*
		 * variables are ignored: each read costs four uid/gid system calls.
		 * (libevent 2.1 still reads EVENT_SHOW_METHOD, flag or not, at each
		 * base: fw_main() takes it out of the environment.)
		 */
		event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_IGNORE_ENV);
	}
	return event_base_new_with_config(cfg);
}

static int events_start(struct fw_worker *w)
{
	struct timeval second = {1, 0};

	w->events_started = true;
	fw_listener_start(w); /* accepts only once the loop runs, after READY */
	evtimer_assign(&w->stop_ev, w->base, on_stop_timeout, w);
	evtimer_assign(&w->drain_ev, w->base, on_drain, w);
	evtimer_assign(&w->handoff_ev, w->base, on_handoff, w);
	fw_conn_linger_init(w);
	event_assign(&w->chan_ev, w->base, w->chan_fd, EV_READ | EV_PERSIST, on_chan, w);
	event_assign(&w->heartbeat_ev, w->base, -1, EV_PERSIST, on_heartbeat, w);
	evsignal_assign(&w->sig_term, w->base, SIGTERM, on_signal, w);
	evsignal_assign(&w->sig_int, w->base, SIGINT, on_signal, w);
	evsignal_assign(&w->sig_quit, w->base, SIGQUIT, on_signal, w);
	if (event_add(&w->chan_ev, NULL) != 0 || event_add(&w->heartbeat_ev, &second) != 0 ||
	    evsignal_add(&w->sig_term, NULL) != 0 || evsignal_add(&w->sig_int, NULL) != 0 ||
	    evsignal_add(&w->sig_quit, NULL) != 0) {
		fw_log(FW_LOG_ERROR, "event_add: cannot watch the master channel or signals");
		return -1;
	}
	return 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FREE_AT_EXIT 1
#endif
#endif

/*
 * Connections close (cancel callbacks run) at every exit. The rest is
 * freed only under AddressSanitizer, whose leak check wants it: otherwise
 * freeing what exit takes anyway would only write to pages the worker may
 * still share with the master (copy-on-write), at every recycle.
 */
static void worker_cleanup(struct fw_worker *w)
{
	fw_conn_close_all(w);
	fw_threads_stop(&w->threads);
#ifdef FREE_AT_EXIT
	fw_conn_free_all(w);
	while (w->free_reqs != NULL) {
		fw_req *req = w->free_reqs;
		w->free_reqs = req->next_free;
		fw_req_destroy(req);
	}
	fw_buf_release(&w->scratch);
	if (w->events_started) {
		event_del(&w->chan_ev);
		event_del(&w->heartbeat_ev);
		event_del(&w->stop_ev);
		event_del(&w->drain_ev);
		event_del(&w->handoff_ev);
		event_del(&w->linger_ev);
		evsignal_del(&w->sig_term);
		evsignal_del(&w->sig_int);
		evsignal_del(&w->sig_quit);
		if (w->peer_in >= 0)
			event_del(&w->peer_ev);
		fw_listener_stop(w);
	}
	if (w->base != NULL && w->threads.efd < 0)
		event_base_free(w->base); /* not while a stuck thread may still signal it */
#endif
	fw_current_worker = NULL;
}

int fw_worker_main(const struct fw_worker_boot *boot)
{
	static struct fw_worker w;
	struct fw_msg ready = {.type = FW_MSG_READY};
	int status = 1;

	memset(&w, 0, sizeof(w));
	w.cfg = boot->cfg;
	w.slot = boot->slot;
	w.sb = boot->sb;
	w.slot_index = boot->slot_index;
	w.nlisten = boot->nlisten;
	for (int i = 0; i < boot->nlisten; i++) {
		w.listen[i].fd = boot->listen[i].fd;
		w.listen[i].proto = boot->listen[i].proto;
		w.listen[i].inet = boot->listen[i].inet;
		w.listen[i].status = boot->listen[i].status;
		w.listen[i].w = &w;
	}
	w.chan_fd = boot->chan_fd;
	w.peer_out = -1;
	w.peer_in = -1;
	w.max_body = (size_t)boot->cfg->max_body_kb * 1024;
	w.access_fd = -1;
	/* Which build this worker runs: the status page shows a rollout's progress. */
	fw_slot_build_set(boot->slot, fw_build_id(), fw_build_version());
	/* Before any app code runs: a stray write may only hit this worker's own slot. */
	if (fw_scoreboard_protect(boot->sb, boot->slot) != 0)
		fw_log_errno(FW_LOG_DEBUG, "mprotect(the scoreboard, but slot %d)", boot->slot_index);
	fw_scratch_configure((size_t)boot->cfg->buffer_keep_kb * 1024);
	fw_worker_request_side(boot->cfg);
	fw_worker_reserve_take(&w);
	fw_current_worker = &w;
	signals_reset();
	w.master_pid = boot->master_pid;
	if (orphan_guard(boot->master_pid) != 0 || fw_stuck_init() != 0)
		goto out;
	if ((w.base = fw_worker_base_new()) == NULL) {
		fw_log(FW_LOG_ERROR, "event_base_new: cannot create the worker's event loop");
		goto out;
	}
	fw_threads_init(&w.threads, w.base, (size_t)boot->cfg->offload_threads, fw_offload_complete);
	/* Hooks may open async clients on fw_event_base(), so the base exists first. */
	int r = fw_registry_run_worker_hooks();
	if (r != 0) {
		fw_log(FW_LOG_ERROR, "worker start-up hook failed (returned %d); exiting", r);
		status = FW_EXIT_BOOT;
		goto out;
	}
	if (events_start(&w) != 0 || fw_access_open(&w) != 0)
		goto out;
	if (boot->peer_in >= 0)
		peer_in_set(&w, boot->peer_in);
	fw_retire_init(&w);
	if (fw_chan_send(w.chan_fd, &ready, -1) != 0) {
		fw_log_errno(FW_LOG_ERROR, "sendmsg(READY)");
		goto out;
	}
	mode_set(&w, FW_WORKER_SERVING);
	fw_slot_store(w.slot->heartbeat_ms, fw_now_ms());
	if (event_base_dispatch(w.base) < 0) {
		fw_log(FW_LOG_ERROR, "event_base_dispatch failed");
		goto out;
	}
	status = 0;
	fw_worker_exiting(&w);
out:
	worker_cleanup(&w);
	return status;
}
