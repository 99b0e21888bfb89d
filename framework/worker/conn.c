/*
 * A connection's I/O. Reads go into one per-worker buffer and straight
 * into the protocol parser, which consumes every byte (it keeps at most a
 * record header), so an idle connection holds no buffer at all. Responses
 * are built in a per-worker scratch buffer and written at once; only what
 * the socket does not take is copied into the connection's own buffer.
 *
 * Closing is deferred to safe points (the end of an event callback, or of
 * an async completion) so that no code below them uses a freed connection:
 * fw_conn_send() only marks a failed connection BROKEN. The states of a
 * connection, and how one leads to the next, are in ipc/recycle.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "ipc/chan.h"
#include "worker/session.h"
#include "worker/worker.h"

#define READ_BUF_SIZE (64 * 1024)
#define SCRATCH_KEEP (256 * 1024)    /* scratch capacity kept between responses */
#define OUT_HIGH_WATER (1024 * 1024) /* stop reading while this much is unsent */
#define HANDOFF_RETRY_MS 10

static uint8_t read_buf[READ_BUF_SIZE];

static void conn_settle(struct fw_conn *c);

static void reading(struct fw_conn *c, bool on)
{
	if (on == c->reading)
		return;
	if ((on ? event_add(&c->rev, NULL) : event_del(&c->rev)) != 0) {
		fw_log(FW_LOG_ERROR, "event_%s: cannot watch connection %d", on ? "add" : "del", c->fd);
		fw_conn_break(c);
		return;
	}
	c->reading = on;
}

static void writing(struct fw_conn *c, bool on)
{
	if (on == c->writing)
		return;
	if ((on ? event_add(&c->wev, NULL) : event_del(&c->wev)) != 0) {
		fw_log(FW_LOG_ERROR, "event_%s: cannot watch connection %d", on ? "add" : "del", c->fd);
		fw_conn_break(c);
		return;
	}
	c->writing = on;
}

static bool transient(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

static void io_error(struct fw_conn *c, const char *call)
{
	/* A peer that resets is routine (nginx gave up on a slow request). */
	fw_log_errno(errno == ECONNRESET || errno == EPIPE ? FW_LOG_DEBUG : FW_LOG_WARN, "%s(fd %d)",
		     call, c->fd);
	fw_conn_break(c);
}

static bool backed_up(const struct fw_conn *c)
{
	return c->out.len - c->out_off > OUT_HIGH_WATER;
}

/* Stop parsing: the output is backed up, or a streamed body's handler paused it. */
static bool feed_stop(const struct fw_conn *c)
{
	return backed_up(c) || fw_body_paused(c);
}

/*
 * Feed input to the protocol, one request at a time while the peer reads
 * its answers. A peer that pipelines requests without reading would
 * otherwise have every answer queued in memory: once the unsent output
 * passes the high-water mark, what is left of the input is held unparsed
 * and reading stops until the output drains.
 */
static void conn_feed(struct fw_conn *c, const uint8_t *data, size_t len)
{
	size_t used;

	if (fw_session_feed(c, data, len, feed_stop, &used) != FW_OK) {
		fw_conn_break(c);
		return;
	}
	if (used < len) {
		if (fw_buf_append(&c->held, data + used, len - used) != 0) {
			fw_log(FW_LOG_ERROR, "out of memory holding %zu bytes of input", len - used);
			fw_conn_break(c);
			return;
		}
		reading(c, false);
	}
}

/*
 * request_timeout counts from the first byte of a request (or the accept)
 * to its last: once that has been parsed the clock stops, whether the last
 * byte came from a read or from input held while the body was paused.
 */
static bool request_arrived(struct fw_conn *c)
{
	if (c->input_open || !fw_session_at_boundary(c))
		return false;
	c->recv_since = 0;
	return true;
}

/*
 * The output drained (or a paused body resumed): parse what was held, then
 * read again. With nothing held the parser is still given a turn, on no
 * input: an SCGI body ends by its length, so a parse that stopped after
 * its last byte has an end to report that no read would bring.
 */
static void conn_resume(struct fw_conn *c)
{
	static const uint8_t none[1];
	size_t used, held = c->held.len;

	if (fw_session_feed(c, held > 0 ? (const uint8_t *)c->held.data : none, held, feed_stop,
			    &used) != FW_OK) {
		fw_conn_break(c);
		return;
	}
	if (held > 0) {
		fw_buf_consume(&c->held, used);
		if (c->held.len > 0)
			return; /* backed up again */
		fw_buf_release(&c->held);
	}
	request_arrived(c);
	if (c->state != FW_CONN_PEER_GONE && !feed_stop(c))
		reading(c, true);
}

void fw_conn_resume(struct fw_conn *c)
{
	conn_resume(c);
}

/*
 * The peer closed its side. A request in progress is abandoned (that is
 * how nginx says its client went away: it closes the connection); output
 * already queued for an answered request is still sent, then the
 * connection closes.
 */
static void conn_eof(struct fw_conn *c)
{
	if (c->req != NULL || c->out.len - c->out_off == 0) {
		fw_conn_close(c, "closed by peer");
		return;
	}
	c->state = FW_CONN_PEER_GONE;
	reading(c, false);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct fw_conn *c = arg;
	ssize_t n;

	FW_UNUSED(what);
	n = read(fd, read_buf, sizeof(read_buf));
	if (c->state == FW_CONN_LINGERING) {
		/* Whatever comes now is dropped; the peer's close ends it. */
		if (n == 0 || (n < 0 && !transient(errno)))
			fw_conn_close(c, NULL);
		return;
	}
	if (n > 0) {
		c->active_ms = fw_now_ms();
		conn_feed(c, read_buf, (size_t)n);
		if (!request_arrived(c) && c->recv_since == 0)
			c->recv_since = c->active_ms;
	} else if (n == 0) {
		conn_eof(c);
		return;
	} else if (!transient(errno)) {
		io_error(c, "read");
	}
	conn_settle(c);
}

void fw_conn_read_now(struct fw_conn *c)
{
	struct fw_worker *w = c->w;

	w->reading_now = c;
	w->reading_now_closed = false;
	on_read(c->fd, EV_READ, c);
	w->reading_now = NULL;
	if (w->reading_now_closed)
		return; /* c is on the free list (fw_conn_close kept it for this check) */
	/*
	 * Watch it from now on unless what happened says otherwise: it
	 * lingers (swept, not watched), the peer closed, or reading waits
	 * for output to drain (conn_resume turns it on).
	 */
	if (!c->reading && (c->state == FW_CONN_ACTIVE || c->state == FW_CONN_LAST) &&
	    c->held.len == 0) {
		reading(c, true);
		conn_settle(c); /* closes it if event_add failed */
	}
}

/* Write as much of p[0..len) as the socket takes; *sent says how much. */
static int write_some(struct fw_conn *c, const char *p, size_t len, size_t *sent)
{
	*sent = 0;
	while (*sent < len) {
		ssize_t n = write(c->fd, p + *sent, len - *sent);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (transient(errno))
				return FW_AGAIN;
			io_error(c, "write");
			return FW_ERROR;
		}
		*sent += (size_t)n;
	}
	return FW_OK;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct fw_conn *c = arg;
	size_t sent;
	int r;

	FW_UNUSED(fd);
	FW_UNUSED(what);
	r = write_some(c, c->out.data + c->out_off, c->out.len - c->out_off, &sent);
	c->out_off += sent;
	if (sent > 0)
		c->active_ms = c->send_ms =
			fw_now_ms(); /* send_timeout: between two writes, as nginx's */
	if (r == FW_OK) {
		bool big = (size_t)c->w->cfg->heap_release_kb * 1024 != 0 &&
			   c->out.cap >= (size_t)c->w->cfg->heap_release_kb * 1024;

		writing(c, false);
		c->out_off = 0;
		fw_buf_reset(&c->out, 0); /* an idle connection keeps no buffer */
		if (big)
			fw_worker_heap_release(c->w); /* the rest of a big answer, sent at last */
		conn_resume(c);                       /* if the high-water mark had paused reading */
	} else if (c->out_off > c->out.len / 2) {
		/* Compact now and then, not at every partial write: linear, not quadratic. */
		fw_buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	if (sent > 0)
		fw_stream_drained(c); /* a writable callback may be due */
	conn_settle(c);
}

struct fw_buf *fw_conn_outbuf(struct fw_conn *c)
{
	return c->out.len > 0 ? &c->out : &c->w->scratch;
}

void fw_conn_send(struct fw_conn *c)
{
	struct fw_buf *scratch = &c->w->scratch, swap;
	size_t sent = 0;
	int r;

	if (c->out.len > 0 || scratch->len == 0) {
		/* Queued behind earlier output, which wev flushes. */
		if (backed_up(c))
			reading(c, false);
		return;
	}
	if (fw_conn_broken(c)) {
		fw_buf_reset(scratch, SCRATCH_KEEP);
		return;
	}
	r = write_some(c, scratch->data, scratch->len, &sent);
	if (r == FW_AGAIN) {
		/* The connection takes the scratch buffer over: no copy of what is left. */
		swap = c->out;
		c->out = *scratch;
		*scratch = swap;
		c->out_off = sent;
		c->send_ms = fw_now_ms();
	}
	if (sent > 0)
		c->active_ms = c->send_ms;
	fw_buf_reset(scratch, SCRATCH_KEEP);
	if (c->out.len > 0) {
		writing(c, true);
		if (backed_up(c))
			reading(c, false);
	}
}

/*
 * Idle: nothing to answer, nothing unsent, and no input still owed by the
 * peer. A request answered early (413) still has its body on the way;
 * closing before it arrives would make the kernel send a reset, and the
 * peer could lose the answer with it.
 */
bool fw_conn_idle(const struct fw_conn *c)
{
	/* Part of a record read (a request starting) is not idle either. */
	return c->req == NULL && c->out.len == 0 && c->held.len == 0 && !c->input_open &&
	       fw_session_at_boundary(c);
}

/*
 * Can the connection change hands now? Only between requests (or, for
 * SCGI, before its only one), with the parser at a record boundary and all
 * output in the kernel: then every byte the front end sends from here on
 * is still unread in the socket, and the next owner reads it from the
 * start. A connection the front end opened and has not written to yet is
 * one of these: front ends connect before they write, so a worker that
 * closed it while draining would fail that request.
 */
static bool handoff_ready(const struct fw_conn *c)
{
	return fw_worker_draining(c->w) && fw_conn_idle(c) && fw_session_movable(c);
}

/*
 * Give idle connections to the master, which passes them to other
 * workers. The sockets never close, so nginx never sees a reset or races
 * a close: this is what lets a worker retire under keepalive load without
 * a failed request. Connections are collected first (conn_settle marks
 * them) and sent many to a message. Their events go first, so that this
 * process's epoll stops watching files that live on elsewhere.
 */
static void handoff_mark(struct fw_conn *c)
{
	reading(c, false);
	writing(c, false);
	c->state = FW_CONN_MOVING;
	event_active(&c->w->handoff_ev, EV_TIMEOUT, 0);
}

/* Send up to FW_CHAN_MAX_FDS marked connections. FW_OK, FW_AGAIN (retry), FW_ERROR. */
static int handoff_batch(struct fw_worker *w, bool *more)
{
	struct fw_conn *batch[FW_CHAN_MAX_FDS], *c;
	int fds[FW_CHAN_MAX_FDS], n = 0;
	struct fw_msg m = {.type = FW_MSG_HANDOFF};

	*more = false;
	for (c = w->conns; c != NULL; c = c->next) {
		if (c->state != FW_CONN_MOVING)
			continue;
		if (n == FW_CHAN_MAX_FDS) {
			*more = true;
			break;
		}
		batch[n] = c;
		fw_msg_kind_set(&m, n,
				(c->proto == FW_PROTO_SCGI ? FW_CONN_SCGI : 0) |
					(c->status_only ? FW_CONN_STATUS : 0));
		fds[n++] = c->fd;
	}
	if (n == 0)
		return FW_OK;
	m.arg = (uint32_t)n;
	if (w->peer_out >= 0) {
		/* Straight to the replacement: one hop, and the master is not woken. */
		m.type = FW_MSG_CONN;
		if (fw_chan_sendv(w->peer_out, &m, fds, n) == 0)
			goto sent;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ENOMEM)
			return FW_AGAIN;
		/* It is gone (or stopping it refused more): the master places them. */
		fw_log_errno(FW_LOG_DEBUG,
			     "sendmsg(to the replacement); handing over through the master");
		close(w->peer_out);
		w->peer_out = -1;
		m.type = FW_MSG_HANDOFF;
	}
	if (fw_chan_sendv(w->chan_fd, &m, fds, n) != 0) {
		/* A full channel, or the kernel's limit on descriptors in flight. */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ||
		    errno == ETOOMANYREFS || errno == ENOMEM)
			return FW_AGAIN;
		fw_log_errno(FW_LOG_WARN, "sendmsg(handing over %d connections)", n);
		for (int i = 0; i < n; i++)
			fw_conn_break(batch[i]);
		for (int i = 0; i < n; i++)
			fw_conn_close(batch[i], NULL);
		return FW_ERROR;
	}
sent:
	for (int i = 0; i < n; i++)
		fw_conn_close(batch[i], NULL); /* our copy of the descriptor only */
	return FW_OK;
}

void fw_conn_send_handoffs(struct fw_worker *w)
{
	bool more = true;

	while (more) {
		int r = handoff_batch(w, &more);

		if (r == FW_AGAIN) {
			struct timeval tv = {0, HANDOFF_RETRY_MS * 1000};
			evtimer_add(&w->handoff_ev, &tv);
			return;
		}
	}
}

/* After the last answer: a bare close, or a lingering one (linger.c). */
static void conn_finish(struct fw_conn *c)
{
	if (!fw_conn_linger_needed(c)) {
		fw_conn_close(c, NULL);
		return;
	}
	reading(c, false);
	writing(c, false);
	if (fw_conn_broken(c) || fw_conn_linger(c) != 0)
		fw_conn_close(c, NULL);
}

size_t fw_conn_unsent(const struct fw_conn *c)
{
	return c->out.len - c->out_off;
}

/* The safe point: close the connection if it failed or is done. */
static void conn_settle(struct fw_conn *c)
{
	bool stopping = fw_worker_stopping(c->w);

	switch (c->state) {
	case FW_CONN_BROKEN:
		fw_conn_close(c, "I/O or protocol error");
		return;
	case FW_CONN_LINGERING:
		/* Exiting, its answer is out: no need to wait for the peer (linger.c says why not draining). */
		if (fw_worker_leaving(c->w))
			fw_conn_close(c, NULL);
		return;
	case FW_CONN_MOVING:
		return;
	case FW_CONN_PEER_GONE:
	case FW_CONN_LAST:
		if (fw_conn_idle(c))
			conn_finish(c);
		return;
	case FW_CONN_ACTIVE:
		if (!stopping || !fw_conn_idle(c))
			return;
		if (handoff_ready(c))
			handoff_mark(c);
		else
			fw_conn_close(c, NULL);
		return;
	}
}

void fw_conn_settle(struct fw_conn *c)
{
	conn_settle(c);
}

struct fw_conn *fw_conn_open(struct fw_worker *w, int fd, enum fw_proto proto, bool watch, bool fresh)
{
	struct fw_conn *c = w->free_conns;

	if (c != NULL) {
		w->free_conns = c->next;
		w->nfree_conns--;
	} else if ((c = calloc(1, sizeof(*c))) == NULL) {
		fw_log(FW_LOG_ERROR, "out of memory for a connection");
		return NULL;
	}
	c->w = w;
	c->fd = fd;
	c->proto = proto;
	c->active_ms = fw_now_ms();
	c->recv_since = fresh ? c->active_ms : 0;
	fw_session_init(c);
	event_assign(&c->rev, w->base, fd, EV_READ | EV_PERSIST, on_read, c);
	event_assign(&c->wev, w->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	evtimer_assign(&c->stream_ev, w->base, fw_stream_event, c);
	if (watch && event_add(&c->rev, NULL) != 0) {
		fw_log(FW_LOG_ERROR, "event_add: cannot watch a new connection");
		memset(c, 0, sizeof(*c));
		free(c);
		return NULL;
	}
	c->reading = watch;
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	fw_slot_store(w->slot->conns, (uint32_t)w->nconns);
	return c;
}

void fw_conn_close(struct fw_conn *c, const char *why)
{
	struct fw_worker *w = c->w;

	/* Closed inside a callback (fw_finish in it): the stuck signal must not write on it. */
	fw_stuck_forget(w, c, NULL);
	if (why != NULL && c->req != NULL)
		fw_log(FW_LOG_DEBUG, "connection %d %s with a request in progress", c->fd, why);
	if (c->req != NULL)
		fw_request_abandon(c, c->req);
	/* By membership, not state: a lingering connection may have been broken since. */
	if (fw_conn_lingering(c))
		fw_conn_linger_forget(c);
	if (c->reading)
		event_del(&c->rev);
	if (c->writing)
		event_del(&c->wev);
	event_del(&c->stream_ev); /* pending or active: it must not run on a closed connection */
	if (close(c->fd) != 0)
		fw_log_errno(FW_LOG_WARN, "close(fd %d)", c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->nconns--;
	fw_slot_store(w->slot->conns, (uint32_t)w->nconns);
	fw_buf_release(&c->out);
	fw_buf_release(&c->held);
	fw_buf_release(&c->mgmt);
	memset(c, 0, sizeof(*c));
	if (c == w->reading_now)
		w->reading_now_closed = true; /* and kept below: fw_conn_read_now() looks */
	/*
	 * Kept for reuse up to max_conns, as many as can ever be open: closed
	 * connections linger a few ms, so how many are open swings with the
	 * rate of connections, and a smaller cap would free and calloc at
	 * every swing. At most max_conns x 464 bytes stay after a peak.
	 */
	if (w->nfree_conns < (size_t)w->cfg->max_conns || c == w->reading_now) {
		c->next = w->free_conns;
		w->free_conns = c;
		w->nfree_conns++;
	} else {
		free(c);
	}
	fw_listener_conn_closed(w);
	fw_worker_check_stopped(w);
}

void fw_conn_for_each(struct fw_worker *w, bool (*fn)(struct fw_conn *c, void *arg), void *arg)
{
	struct fw_conn *c;

	/*
	 * fn may run an application's cancel callback, which may finish (and
	 * so close) any connection: visit marks say which are left, and the
	 * walk starts again from the head whenever fn says it changed things.
	 */
	for (c = w->conns; c != NULL; c = c->next)
		c->visit = true;
	for (c = w->conns; c != NULL;) {
		if (!c->visit) {
			c = c->next;
			continue;
		}
		c->visit = false;
		c = fn(c, arg) ? w->conns : c->next;
	}
}

void fw_conn_close_all(struct fw_worker *w)
{
	while (w->conns != NULL) {
		fw_stream_closing(w->conns); /* a stream cut off by graceful_timeout: say so */
		fw_conn_close(w->conns, "closed by the worker stopping");
	}
}

void fw_conn_free_all(struct fw_worker *w)
{
	fw_conn_close_all(w);
	while (w->free_conns != NULL) {
		struct fw_conn *c = w->free_conns;
		w->free_conns = c->next;
		free(c);
	}
	w->nfree_conns = 0;
	fw_conn_linger_free(w);
}
