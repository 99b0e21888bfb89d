/*
 * A request's life in the worker: taken from the free list when its
 * BEGIN_REQUEST arrives, routed and handed to the handler once its body is
 * complete, answered (now, or later after FW_ASYNC), and put back on the
 * free list with its buffers, so a warm worker does not allocate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/hooks.h"
#include "http/registry.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/reuse.h"
#include "core/result.h"
#include "http/resp.h"
#include "http/router.h"
#include "statuspage/statuspage.h"
#include "worker/session.h"
#include "worker/worker.h"

#define FREE_REQS_MAX 64
#define BODY_RESERVE (1024 * 1024) /* reserved for a body before its bytes arrive, at most */

fw_req *fw_request_get(struct fw_worker *w)
{
	fw_req *req = w->free_reqs;

	if (req != NULL) {
		w->free_reqs = req->next_free;
		w->nfree_reqs--;
	} else if ((req = fw_req_create()) == NULL) {
		fw_log(FW_LOG_ERROR, "out of memory for a request");
		return NULL;
	}
	req->next_free = NULL;
	req->state = FW_REQ_READING;
	req->start_us = fw_now_us();
	req->start_ms = req->start_us / 1000;
	return req;
}

void fw_request_put(struct fw_worker *w, fw_req *req)
{
	fw_hooks_request_end(req);
	fw_req_reset(req, (size_t)w->cfg->buffer_keep_kb * 1024);
	/* Under ASan a request object is never reused: see core/reuse.h. */
	if (!FW_REUSE || w->nfree_reqs >= FREE_REQS_MAX) {
		fw_req_destroy(req);
		return;
	}
	req->next_free = w->free_reqs;
	w->free_reqs = req;
	w->nfree_reqs++;
}

/* Leave the handler's hands: scoreboard and in-flight count. */
static void handler_done(struct fw_worker *w)
{
	w->in_flight--;
	fw_slot_store(w->slot->in_flight, (uint32_t)w->in_flight);
}

static void respond(struct fw_conn *c, fw_req *req, int status)
{
	struct fw_worker *w = c->w;

	uint64_t us;
	const char *body;
	size_t bytes;

	status = fw_resp_settle_with(req, status, fw_hooks_error);
	bytes = fw_resp_body(req, status, &body);
	fw_session_respond(c, req, status);
	fw_hooks_after(req->log_as != NULL ? req->log_as : req, status);
	c->req = NULL;
	w->requests++;
	/* A probe polling the status page must not recycle the workers it watches. */
	w->app_requests += !req->internal;
	us = fw_now_us() - req->start_us;
	fw_slot_store(w->slot->requests, w->requests);
	fw_slot_observe(w->slot, us);
	fw_access_log(w, req->log_as != NULL ? req->log_as : req, status, bytes, us);
	fw_request_put(w, req);
	fw_retire_check(w);
}

void fw_request_reject(struct fw_conn *c, fw_req *req, int status)
{
	if (req->method == NULL)
		req->method = "-";
	if (req->path == NULL)
		req->path = "-";
	req->state = FW_REQ_RUNNING; /* lets fw_resp_settle() write the default body */
	respond(c, req, status);
}

/*
 * The limits on params a peer may send: their number, one name or value,
 * the number of HTTP headers. Over any of them: 431, before the handler.
 */
static const char *params_over_limits(const struct fw_config *cfg, const fw_req *req)
{
	size_t headers = 0, longest = (size_t)cfg->max_param_kb * 1024;

	for (size_t i = 0; i < req->nenv; i++) {
		const struct fw_nv *nv = &req->env[i];

		if (nv->name_len > longest || nv->value_len > longest)
			return "a param name or value longer than max_param_kb";
		headers += nv->name_len >= 5 && nv->name[0] == 'H' && memcmp(nv->name, "HTTP_", 5) == 0;
	}
	return headers > (size_t)cfg->max_headers ? "more request headers than max_headers" : NULL;
}

/*
 * Before the params index is allocated: a pair can be 2 bytes on the wire
 * and its index entry is 24, so the count is held to max_params first.
 */
int fw_request_params_count(struct fw_conn *c, fw_req *req, size_t count)
{
	if (count <= (size_t)c->w->cfg->max_params)
		return FW_OK;
	fw_log(FW_LOG_INFO,
	       "request on connection %d has more params than max_params (%zu > %d); "
	       "answering 431",
	       c->fd, count, c->w->cfg->max_params);
	fw_request_reject(c, req, 431);
	return FW_DONE;
}

int fw_request_params(struct fw_conn *c, fw_req *req)
{
	const char *err = NULL;

	if ((err = params_over_limits(c->w->cfg, req)) != NULL) {
		fw_log(FW_LOG_INFO, "request on connection %d has %s; answering 431", c->fd, err);
		fw_request_reject(c, req, 431);
		return FW_DONE;
	}

	if (fw_req_prepare(req, &err) != FW_OK) {
		fw_log(FW_LOG_INFO, "bad request on connection %d: %s; answering 400", c->fd, err);
		fw_request_reject(c, req, 400);
		return FW_DONE;
	}
	if (req->content_length > c->w->max_body) {
		fw_log(FW_LOG_INFO, "%s %s: CONTENT_LENGTH %llu over max_body_kb; answering 413",
		       req->method, req->path, req->content_length);
		fw_request_reject(c, req, 413);
		return FW_DONE;
	}
	/*
	 * One allocation for the whole body instead of doubling through it, up
	 * to BODY_RESERVE: a peer that declares a large body and sends none of
	 * it must not make the worker hold that memory (reused free heap is
	 * resident) on every connection it opens. Beyond, the buffer grows
	 * with what arrives.
	 */
	if (req->content_length > 0 &&
	    fw_buf_reserve(&req->body, (size_t)FW_MIN(req->content_length, BODY_RESERVE)) != 0) {
		fw_request_reject(c, req, 500);
		return FW_DONE;
	}
	return FW_OK;
}

/* Async completion, called through fw_finish(). */
static void complete(fw_req *req, int status)
{
	struct fw_conn *c = req->owner;
	struct fw_worker *w = fw_current_worker;

	if (req->state == FW_REQ_ORPHANED) {
		fw_request_put(w, req); /* the client left; nothing to send */
		return;
	}
	handler_done(w);
	respond(c, req, status);
	fw_conn_settle(c);
}

/* snprintf("%s") without the formatting machinery: it runs on every request. */
static void copy_cut(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int call_handler(struct fw_worker *w, struct fw_conn *c, fw_req *req,
			const struct fw_route_match *m)
{
	struct fw_slot_request sr;
	uint64_t now = fw_now_ms();
	int status;

	if (fw_req_set_route_params(req, m) != FW_OK)
		return 500;
	/* The master reads this to find a handler stuck past `timeout` (stuck.c answers it). */
	copy_cut(sr.method, sizeof(sr.method), req->method);
	copy_cut(sr.path, sizeof(sr.path), req->path);
	fw_stuck_begin(c, req, now);
	fw_slot_request_begin(w->slot, &sr, now);
	/* fcgi_stderr: what the handler logs also goes to nginx with the answer. */
	if (w->cfg->fcgi_stderr && c->proto == FW_PROTO_FASTCGI)
		fw_log_capture(&req->err);
	if ((status = fw_hooks_before(req)) == 0)
		status = m->fn(req, m->arg);
	fw_log_capture(NULL);
	fw_slot_request_end(w->slot);
	fw_stuck_end(w);
	return status;
}

/*
 * With status_listen, the status page is answered there only, and
 * status_path on the app's own sockets is the app's: no location of the
 * front end that passes requests to the app can show it, whatever it
 * rewrites. Without it, on every socket at status_path.
 */
static bool is_status_page(const struct fw_worker *w, const struct fw_conn *c, const fw_req *req)
{
	if (w->cfg->status_listen.n > 0 && !c->status_only)
		return false;
	return w->cfg->status_path[0] != '\0' && strcmp(req->path, w->cfg->status_path) == 0 &&
	       (strcmp(req->method, "GET") == 0 || req->head);
}

void fw_request_run(struct fw_conn *c, fw_req *req)
{
	struct fw_worker *w = c->w;
	struct fw_route_match m;
	int status;

	if (req->has_content_length && req->body.len != req->content_length) {
		fw_log(FW_LOG_INFO, "%s %s: body is %zu bytes, CONTENT_LENGTH says %llu; answering 400",
		       req->method, req->path, req->body.len, req->content_length);
		fw_request_reject(c, req, 400);
		return;
	}
	req->state = FW_REQ_RUNNING;
	req->complete = complete;
	w->in_flight++;
	fw_slot_store(w->slot->in_flight, (uint32_t)w->in_flight);
	if ((req->internal = is_status_page(w, c, req)))
		status = fw_status_page(req, w->sb);
	else if ((req->internal = c->status_only))
		status = 404; /* nothing but the status page on its own socket */
	else if ((status = fw_router_match(fw_registry_router(), req->method, req->path, &m)) == 200)
		status = call_handler(w, c, req, &m);
	else if (status == 405)
		fw_set_header(req, "Allow", m.allow);
	if (req->finish_status != 0) {
		if (status != FW_ASYNC)
			fw_log(FW_LOG_WARN,
			       "%s %s: handler called fw_finish() and returned %d; "
			       "using the status given to fw_finish()",
			       req->method, req->path, status);
		status = req->finish_status;
	} else if (status == FW_ASYNC) {
		req->state = FW_REQ_DEFERRED;
		return;
	}
	handler_done(w);
	respond(c, req, status);
}

/*
 * A deferred request loses its connection (client gone, timeout, stop):
 * its cancel callback runs and it is freed; without a callback it stays
 * valid, orphaned, until the application's fw_finish() frees it.
 */
static void detach_deferred(struct fw_worker *w, fw_req *req)
{
	handler_done(w);
	if (req->cancel_fn != NULL) {
		req->state = FW_REQ_CANCELLED; /* fw_finish() is refused from here on */
		req->cancel_fn(req, req->cancel_arg);
		fw_request_put(w, req);
	} else {
		req->state = FW_REQ_ORPHANED;
		req->owner = NULL;
	}
}

void fw_request_time_out(struct fw_conn *c, fw_req *req)
{
	struct fw_worker *w = c->w;
	uint16_t id = req->id;
	bool keep = req->keep_conn;
	fw_req *answer;

	fw_log(FW_LOG_WARN, "%s %s: no answer after timeout (%d s); cancelling it and answering 504",
	       req->method, req->path, w->cfg->timeout);
	c->req = NULL;
	/*
	 * A fresh request object carries the 504, since the old one may be
	 * orphaned. It is taken, and the 504 logged under the old request's
	 * method, URI and start, before the old one is cancelled and perhaps
	 * recycled.
	 */
	if ((answer = fw_request_get(w)) == NULL) {
		fw_conn_break(c);
		detach_deferred(w, req);
		return;
	}
	answer->id = id;
	answer->keep_conn = keep;
	answer->owner = c;
	answer->start_us = req->start_us;
	answer->log_as = req;
	fw_req_view_of(answer, req);
	c->req = answer;
	fw_request_reject(c, answer, 504);
	detach_deferred(w, req);
}

void fw_request_abandon(struct fw_conn *c, fw_req *req)
{
	struct fw_worker *w = c->w;

	c->req = NULL;
	switch (req->state) {
	case FW_REQ_DEFERRED:
		detach_deferred(w, req);
		return;
	case FW_REQ_RUNNING:
		/* Not reached: connections close only outside their own handlers. */
		fw_log(FW_LOG_ERROR, "abandoning a request whose handler is running");
		return;
	default:
		fw_request_put(w, req);
		return;
	}
}
