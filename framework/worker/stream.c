/*
 * Streamed responses: fw_flush() sends the head and then each piece of
 * body as the handler produces it; fw_on_writable() paces the handler by
 * what the connection has not sent yet. The response is still ended by
 * the handler's status or fw_finish() (request.c), which send the end of
 * the stream here.
 *
 * Each connection has one event for its stream (c->stream_ev), made active
 * whenever the loop must come back to it outside its own I/O: a writable
 * callback that is due, a body to feed again (fw_body_resume), or a
 * connection a flush found broken, to be closed at a safe point (a flush
 * may run inside any callback, with any connection's input on the stack).
 */
#include <fw/stream.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "http/resp.h"
#include "worker/session.h"
#include "worker/worker.h"

#define LOW_WATER (256 * 1024) /* fw_on_writable(): room, below this much unsent */

/* The connection of a request the handler may still write, or NULL (logged). */
static struct fw_conn *stream_conn(fw_req *req, const char *what)
{
	struct fw_conn *c;

	if (!fw_resp_writable(req, what))
		return NULL;
	c = req->owner;
	if (c == NULL || fw_conn_broken(c) || req->stream.cut)
		return NULL; /* the client is gone, or the stream cut off: its cancel callback follows */
	return c;
}

/* Come back to c from the loop. */
static void kick(struct fw_conn *c)
{
	event_active(&c->stream_ev, EV_TIMEOUT, 0);
}

/*
 * A stream must not claim more or less than its Content-Length: nginx
 * would pass a wrong one on. Over it, the stream is cut off now; short of
 * it at the end (fw_stream_finish), too.
 */
static bool over_length(fw_req *req)
{
	return req->stream.has_length && !req->head &&
	       req->stream.sent + req->out.len > req->stream.length;
}

void fw_stream_cut(struct fw_conn *c, fw_req *req, enum fw_log_level level, const char *why)
{
	char line[256];

	fw_log(level, "%s %s: %s after %llu bytes of a streamed response; cutting it off", req->method,
	       req->path, why, req->stream.sent);
	if (fw_conn_broken(c))
		return;
	snprintf(line, sizeof(line), "fw: streamed response cut off after %llu bytes: %s",
		 req->stream.sent, why);
	fw_session_abort(c, req, line);
}

void fw_stream_closing(struct fw_conn *c)
{
	fw_req *req = c->req;
	uint8_t rec[2 * FCGI_HEADER_LEN + 64] = {0};
	static const char why[] = "fw: streamed response cut off: its connection closes";
	ssize_t n;

	_Static_assert(sizeof(rec) >= 2 * FCGI_HEADER_LEN + sizeof(why) - 1, "rec holds both records");
	/* Only at a record boundary, and without waiting: it is closing now. */
	if (req == NULL || !req->stream.head_sent || c->proto != FW_PROTO_FASTCGI || fw_conn_broken(c) ||
	    fw_conn_unsent(c) > 0)
		return;
	fw_fcgi_header(rec, FCGI_STDERR, req->id, sizeof(why) - 1, 0);
	memcpy(rec + FCGI_HEADER_LEN, why, sizeof(why) - 1);
	/* Then a record header of version 0 (zeroes), as fw_fcgi_abort(). */
	n = write(c->fd, rec, FCGI_HEADER_LEN + sizeof(why) - 1 + FCGI_HEADER_LEN);
	(void)n; /* nothing more can be done on a connection that closes */
}

FW_API int fw_flush(fw_req *req)
{
	struct fw_conn *c = stream_conn(req, "fw_flush");

	if (c == NULL)
		return -1;
	if (!req->stream.head_sent)
		req->stream.status = fw_resp_settle_stream(req);
	if (over_length(req)) {
		/*
		 * Not fw_conn_break(): that would drop the cut-off's records
		 * if output is still queued. The connection closes once they
		 * are out (fw_stream_cut), and the request is cancelled from
		 * the loop (fw_stream_event).
		 */
		fw_stream_cut(c, req, FW_LOG_ERROR, "a body longer than its Content-Length");
		req->stream.cut = true;
		kick(c);
		return -1;
	}
	if (req->stream.head_sent && req->out.len == 0 && req->err.len == 0)
		return 0; /* nothing new */
	fw_session_stream(c, req, req->stream.status, false);
	req->stream.progress_ms = fw_now_ms();
	if (fw_conn_broken(c)) {
		kick(c); /* closed at the loop's next turn: the cancel callback runs then */
		return -1;
	}
	return 0;
}

FW_API int fw_on_writable(fw_req *req, void (*fn)(fw_req *req, void *arg), void *arg)
{
	struct fw_conn *c = stream_conn(req, "fw_on_writable");

	if (c == NULL)
		return -1;
	req->stream.writable_fn = fn;
	req->stream.writable_arg = arg;
	if (fn != NULL && fw_conn_unsent(c) < LOW_WATER)
		kick(c);
	return 0;
}

void fw_stream_drained(struct fw_conn *c)
{
	if (c->req != NULL && c->req->stream.writable_fn != NULL && fw_conn_unsent(c) < LOW_WATER)
		kick(c);
}

int fw_stream_finish(struct fw_conn *c, fw_req *req, int status)
{
	int sent = req->stream.status;

	if (fw_conn_broken(c) || req->stream.cut)
		return sent; /* cut off already (a flush over its length, the client gone) */
	if (status >= 500 && status != sent)
		fw_stream_cut(c, req, FW_LOG_WARN, "the handler ended with an error status");
	else if (over_length(req))
		fw_stream_cut(c, req, FW_LOG_ERROR, "a body longer than its Content-Length");
	else if (req->stream.has_length && !req->head &&
		 req->stream.sent + req->out.len < req->stream.length)
		fw_stream_cut(c, req, FW_LOG_ERROR, "a body shorter than its Content-Length");
	else
		fw_session_stream(c, req, sent, true);
	return sent;
}

/* The writable callback, as a handler runs: watched for `timeout`, its lines captured. */
static void writable_call(struct fw_conn *c, fw_req *req)
{
	void (*fn)(fw_req *, void *) = req->stream.writable_fn;
	struct fw_worker *w = c->w;

	req->stream.writable_fn = NULL; /* once per fw_on_writable() */
	fw_request_app_begin(w, c, req);
	fn(req, req->stream.writable_arg);
	/* c may be gone now (fw_finish in fn answers and settles it): not c->w. */
	fw_request_app_end(w);
}

void fw_stream_event(evutil_socket_t fd, short what, void *arg)
{
	struct fw_conn *c = arg;
	fw_req *req = c->req;

	FW_UNUSED(fd);
	FW_UNUSED(what);
	if (fw_conn_broken(c) || req == NULL) {
		fw_conn_settle(c);
		return;
	}
	if (req->stream.cut) {
		if (req->state == FW_REQ_DEFERRED)
			fw_request_abandon(c, req); /* its cancel callback runs */
		fw_conn_settle(c);
		return;
	}
	if (req->stream.body_resume) {
		req->stream.body_resume = false;
		if (req->stream.writable_fn != NULL)
			kick(c); /* its turn comes next */
		c->recv_since = fw_now_ms();
		fw_conn_resume(c);
		fw_conn_settle(c);
		return;
	}
	if (req->stream.writable_fn != NULL && req->state == FW_REQ_DEFERRED &&
	    fw_conn_unsent(c) < LOW_WATER)
		writable_call(c, req);
}
