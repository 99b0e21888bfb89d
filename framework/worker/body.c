/*
 * Streamed request bodies (fw_route_stream): the request is routed and
 * its handler run when the params are in (request.c); each piece of the
 * body the protocol parser hands out goes straight to the handler's chunk
 * callback, from the worker's read buffer, and nothing of it is kept. A
 * callback that returns FW_ASYNC pauses the body: the parser stops between
 * two events, what is left of the read is held (one read at most) and the
 * connection is not read until fw_body_resume(), so the client's upload
 * waits in the socket and in nginx.
 */
#include <fw/stream.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "worker/worker.h"

FW_API int fw_on_body(fw_req *req, fw_body_chunk_fn chunk, fw_body_end_fn end, void *arg)
{
	const char *why = NULL;

	if (!req->stream.route)
		why = "not a request of a fw_route_stream() route";
	else if (chunk == NULL || end == NULL)
		why = "chunk and end are needed";
	else if (req->stream.body_ended ||
		 (req->state != FW_REQ_RUNNING && req->state != FW_REQ_DEFERRED))
		why = "the body is over";
	if (why != NULL) {
		fw_log(FW_LOG_ERROR, "fw_on_body(%s %s): %s", req->method, req->path, why);
		return -1;
	}
	req->stream.chunk = chunk;
	req->stream.end = end;
	req->stream.body_arg = arg;
	return 0;
}

FW_API int fw_body_resume(fw_req *req)
{
	struct fw_conn *c = req->owner;

	if (!req->stream.body_paused || c == NULL)
		return -1;
	req->stream.body_paused = false;
	req->stream.body_resume = true;
	/* From the loop: this may be called inside any callback, with the connection's input on the stack. */
	event_active(&c->stream_ev, EV_TIMEOUT, 0);
	return 0;
}

/*
 * A body callback runs in the handler's place: the request is RUNNING
 * meanwhile, so that fw_finish() in it is recorded and answered when it
 * returns, as in a handler (the connection cannot close under it).
 */
static void body_call(struct fw_conn *c, fw_req *req, const uint8_t *data, size_t len, bool end)
{
	struct fw_worker *w = c->w;
	void *arg = req->stream.body_arg;
	int r;

	req->state = FW_REQ_RUNNING;
	fw_request_app_begin(w, c, req);
	r = end ? req->stream.end(req, arg) : req->stream.chunk(req, data, len, arg);
	fw_request_app_end(w);
	if (!end && (r == 0 || r == FW_ASYNC)) {
		req->stream.body_paused = r == FW_ASYNC;
		/* The client is not late while its handler holds the body. */
		if (req->stream.body_paused)
			c->recv_since = 0;
		r = FW_ASYNC;
	}
	fw_request_returned(c, req, r);
}

int fw_body_chunk(struct fw_conn *c, fw_req *req, const uint8_t *data, size_t len)
{
	uint64_t limit = (uint64_t)c->w->cfg->max_stream_body_mb << 20;

	req->stream.received += len;
	if (limit != 0 && req->stream.received > limit) {
		fw_log(FW_LOG_INFO, "%s %s: streamed body over max_stream_body_mb (%d); answering 413",
		       req->method, req->path, c->w->cfg->max_stream_body_mb);
		fw_request_fail(c, req, 413);
		return FW_OK;
	}
	/* request_timeout counts between two pieces of a streamed body, as nginx's client_body_timeout. */
	c->recv_since = req->stream.progress_ms = fw_now_ms();
	if (req->stream.chunk != NULL && req->state == FW_REQ_DEFERRED)
		body_call(c, req, data, len, false);
	return FW_OK; /* without callbacks the body is dropped */
}

void fw_body_end(struct fw_conn *c, fw_req *req)
{
	if (req->has_content_length && req->stream.received != req->content_length) {
		fw_log(FW_LOG_INFO, "%s %s: body is %llu bytes, CONTENT_LENGTH says %llu; answering 400",
		       req->method, req->path, req->stream.received, req->content_length);
		fw_request_fail(c, req, 400);
		return;
	}
	req->stream.body_ended = true;
	req->stream.progress_ms = fw_now_ms();
	if (req->stream.end != NULL && req->state == FW_REQ_DEFERRED)
		body_call(c, req, NULL, 0, true);
}

bool fw_body_paused(const struct fw_conn *c)
{
	return c->req != NULL && c->req->stream.body_paused;
}
