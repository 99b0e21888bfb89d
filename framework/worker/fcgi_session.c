#include "worker/fcgi_session.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/result.h"
#include "http/resp.h"
#include "worker/worker.h"

/* A GET_VALUES record names a few variables; anything bigger is not one. */
#define MAX_MGMT_BYTES 4096

void fw_fcgi_session_init(struct fw_conn *c)
{
	fw_fcgi_parser_init(&c->p.fcgi);
	c->keepalive = true; /* until a request says otherwise */
}

bool fw_fcgi_at_boundary(const struct fw_conn *c)
{
	return fw_fcgi_parser_at_boundary(&c->p.fcgi) && c->mgmt.len == 0;
}

static int protocol_error(struct fw_conn *c, const char *what)
{
	fw_log(FW_LOG_WARN, "FastCGI protocol error on connection %d: %s; closing it", c->fd, what);
	return FW_ERROR;
}

void fw_fcgi_end(struct fw_conn *c, uint16_t id, uint8_t protocol_status)
{
	if (fw_fcgi_put_end(fw_conn_outbuf(c), id, 0, protocol_status) != 0)
		fw_conn_break(c);
	fw_conn_send(c);
}

/*
 * Is this record for the connection's current request? Records for other
 * ids are ignored (spec 3.3). The input of a request answered early is
 * still read to its end, with no request object behind it, until its
 * empty STDIN record or the next BEGIN_REQUEST.
 */
static bool current(struct fw_conn *c, uint16_t id)
{
	return c->input_open && c->cur_id == id;
}

static int on_begin(struct fw_conn *c, const struct fw_fcgi_event *ev)
{
	fw_req *req;

	if (c->req != NULL) {
		if (c->cur_id == ev->id)
			return protocol_error(c, "BEGIN_REQUEST for a request id already in progress");
		fw_fcgi_end(c, ev->id, FCGI_CANT_MPX_CONN);
		return FW_OK;
	}
	c->input_done = false; /* this request's records come, taken or refused */
	c->quiet_peer = false;
	/*
	 * A request answered early (413 before its body) had its END_REQUEST,
	 * so its id is free again (spec 3.3): Apache's mod_proxy_fcgi with
	 * enablereuse=on stops sending the body and reuses the id at once.
	 * Records come in order, so this BEGIN_REQUEST ends the old input:
	 * PARAMS and STDIN from here on belong to the new request, whatever
	 * its id. After a request without FCGI_KEEP_CONN the connection
	 * closes, and the new one is dropped with the rest of the input.
	 */
	if (c->input_open) {
		c->input_open = false;
		if (fw_conn_ending(c))
			return FW_OK;
	}
	if (ev->role != FCGI_RESPONDER || (req = fw_request_get(c->w)) == NULL) {
		/* Refused; without FCGI_KEEP_CONN the application closes (spec 5.1). */
		if ((ev->flags & FCGI_KEEP_CONN) == 0)
			fw_conn_last(c);
		fw_fcgi_end(c, ev->id, ev->role != FCGI_RESPONDER ? FCGI_UNKNOWN_ROLE : FCGI_OVERLOADED);
		return FW_OK;
	}
	req->id = ev->id;
	req->keep_conn = (ev->flags & FCGI_KEEP_CONN) != 0;
	c->keepalive = req->keep_conn;
	req->owner = c;
	c->req = req;
	c->cur_id = ev->id;
	c->input_open = true;
	c->params_done = false;
	return FW_OK;
}

static int params_end(struct fw_conn *c, fw_req *req)
{
	const char *err = NULL;
	size_t count;

	c->params_done = true;
	if (fw_fcgi_nv_count((const uint8_t *)req->params.data, req->params.len, &count, &err) != FW_OK)
		return protocol_error(c, err);
	if (fw_request_params_count(c, req, count) != FW_OK)
		return FW_OK;
	if (count > 0) {
		req->env = fw_pool_alloc(&req->pool, count * sizeof(*req->env));
		if (req->env == NULL) {
			fw_request_reject(c, req, 500);
			return FW_OK;
		}
		fw_fcgi_nv_unpack((uint8_t *)req->params.data, req->params.len, req->env, count);
	}
	req->nenv = count;
	if (!c->keepalive && !c->inet)
		c->quiet_peer = fw_linger_quiet_peer(req->env, count);
	fw_request_params(c, req);
	return FW_OK;
}

static int on_params(struct fw_conn *c, const struct fw_fcgi_event *ev)
{
	fw_req *req = c->req;

	if (!current(c, ev->id))
		return FW_OK;
	if (c->params_done)
		return protocol_error(c, "PARAMS after the end of the params stream");
	if (req == NULL) {
		c->params_done = ev->len == 0;
		return FW_OK;
	}
	if (ev->len == 0)
		return params_end(c, req);
	if (req->params.len + ev->len > (size_t)c->w->cfg->max_params_kb * 1024) {
		fw_log(FW_LOG_WARN, "request params exceed max_params_kb (%d); answering 431",
		       c->w->cfg->max_params_kb);
		fw_request_reject(c, req, 431);
		return FW_OK;
	}
	if (fw_buf_append(&req->params, ev->data, ev->len) != 0) {
		fw_request_reject(c, req, 500);
		return FW_OK;
	}
	return FW_OK;
}

static int on_stdin(struct fw_conn *c, const struct fw_fcgi_event *ev)
{
	fw_req *req = c->req;

	if (!current(c, ev->id))
		return FW_OK;
	if (!c->params_done)
		return protocol_error(c, "STDIN before the end of PARAMS");
	if (ev->len == 0) {
		c->input_open = false;
		c->input_done = true;
		if (req != NULL && req->stream.route)
			fw_body_end(c, req);
		else if (req != NULL && req->state == FW_REQ_READING)
			fw_request_run(c, req);
		return FW_OK;
	}
	if (req != NULL && req->stream.route)
		return fw_body_chunk(c, req, ev->data, ev->len);
	if (req == NULL || req->state != FW_REQ_READING)
		return FW_OK; /* answered early: read and drop the rest */
	if (req->body.len + ev->len > c->w->max_body) {
		fw_log(FW_LOG_INFO, "%s %s: body over max_body_kb; answering 413", req->method,
		       req->path);
		fw_request_reject(c, req, 413);
		return FW_OK;
	}
	if (fw_buf_append(&req->body, ev->data, ev->len) != 0)
		fw_request_reject(c, req, 500);
	return FW_OK;
}

static int on_abort(struct fw_conn *c, const struct fw_fcgi_event *ev)
{
	if (!current(c, ev->id) && (c->req == NULL || c->req->id != ev->id))
		return FW_OK;  /* not a request of this connection */
	c->input_open = false; /* also for one answered early: nothing more comes */
	c->input_done = true;
	if (c->req == NULL || c->req->id != ev->id)
		return FW_OK; /* answered already: END_REQUEST is on its way */
	if (!c->keepalive)
		fw_conn_last(c);
	fw_request_abandon(c, c->req);
	fw_fcgi_end(c, ev->id, FCGI_REQUEST_COMPLETE);
	return FW_OK;
}

/* Answer the variables we know; the spec says to leave out the others. */
static void get_values_answer(struct fw_conn *c)
{
	struct fw_buf *out = fw_conn_outbuf(c);
	struct fw_buf body = FW_BUF_INIT;
	struct fw_nv *nv = NULL;
	const char *err;
	size_t count = 0;
	char conns[24];

	snprintf(conns, sizeof(conns), "%d", c->w->cfg->max_conns);
	if (fw_fcgi_nv_count((uint8_t *)c->mgmt.data, c->mgmt.len, &count, &err) == FW_OK && count > 0 &&
	    (nv = calloc(count, sizeof(*nv))) != NULL)
		fw_fcgi_nv_unpack((uint8_t *)c->mgmt.data, c->mgmt.len, nv, count);
	for (size_t i = 0; nv != NULL && i < count; i++) {
		const char *v = strcmp(nv[i].name, FCGI_MAX_CONNS) == 0    ? conns
				: strcmp(nv[i].name, FCGI_MAX_REQS) == 0   ? conns
				: strcmp(nv[i].name, FCGI_MPXS_CONNS) == 0 ? "0"
									   : NULL;
		if (v != NULL)
			fw_fcgi_nv_put(&body, nv[i].name, nv[i].name_len, v, strlen(v));
	}
	uint8_t h[FCGI_HEADER_LEN];
	fw_fcgi_header(h, FCGI_GET_VALUES_RESULT, 0, (uint16_t)body.len, 0);
	if (fw_buf_append(out, h, sizeof(h)) != 0 || fw_buf_append(out, body.data, body.len) != 0)
		fw_conn_break(c);
	free(nv);
	fw_buf_release(&body);
	fw_buf_release(&c->mgmt);
	fw_conn_send(c);
}

static int on_get_values(struct fw_conn *c, const struct fw_fcgi_event *ev)
{
	if (c->mgmt.len + ev->len > MAX_MGMT_BYTES)
		return protocol_error(c, "GET_VALUES record too large");
	if (ev->len > 0 && fw_buf_append(&c->mgmt, ev->data, ev->len) != 0)
		return protocol_error(c, "out of memory for GET_VALUES");
	if (ev->last)
		get_values_answer(c);
	return FW_OK;
}

static int dispatch(struct fw_conn *c, const struct fw_fcgi_event *ev)
{
	switch (ev->ev) {
	case FW_FCGI_EV_BEGIN:
		return on_begin(c, ev);
	case FW_FCGI_EV_PARAMS:
		return on_params(c, ev);
	case FW_FCGI_EV_STDIN:
		return on_stdin(c, ev);
	case FW_FCGI_EV_ABORT:
		return on_abort(c, ev);
	case FW_FCGI_EV_GET_VALUES:
		return on_get_values(c, ev);
	case FW_FCGI_EV_UNKNOWN:
		if (ev->last || ev->len == 0) {
			if (fw_fcgi_put_unknown_type(fw_conn_outbuf(c), ev->type) != 0)
				fw_conn_break(c);
			fw_conn_send(c);
		}
		return FW_OK;
	case FW_FCGI_EV_DATA:
		return FW_OK; /* only the FILTER role reads DATA; we refuse that role */
	}
	return FW_OK;
}

int fw_fcgi_feed(struct fw_conn *c, const uint8_t *data, size_t len,
		 bool (*stop)(const struct fw_conn *c), size_t *used)
{
	struct fw_fcgi_event ev;
	size_t pos = 0, n;

	*used = 0;
	while (pos < len && !fw_conn_broken(c) && !(fw_conn_ending(c) && !c->input_open)) {
		int r;

		/* The parser resumes anywhere: stopping between two events is safe. */
		if (stop(c))
			break;
		r = fw_fcgi_parse(&c->p.fcgi, data + pos, len - pos, &n, &ev);
		pos += n;
		if (r == FW_AGAIN)
			break;
		if (r == FW_ERROR)
			return protocol_error(c, c->p.fcgi.error);
		if (dispatch(c, &ev) != FW_OK)
			return FW_ERROR;
	}
	/* After the last request of a connection that closes, the rest is dropped. */
	*used = fw_conn_ending(c) && !c->input_open ? len : pos;
	return FW_OK;
}

/*
 * The head goes straight into the output buffer behind a placeholder
 * record header that is filled in once its length is known: the CGI header
 * block is never built twice. A head over 64 KiB (a handler setting huge
 * headers) takes the slow path through a copy.
 */
static int put_head(struct fw_buf *out, fw_req *req, int status)
{
	size_t mark = out->len, hlen;
	uint8_t h[FCGI_HEADER_LEN] = {0}; /* a placeholder, filled in below */

	if (fw_buf_append(out, h, sizeof(h)) != 0 || fw_resp_head(req, status, out) != FW_OK)
		return -1;
	hlen = out->len - mark - FCGI_HEADER_LEN;
	if (hlen <= FCGI_MAX_LENGTH) {
		fw_fcgi_header((uint8_t *)out->data + mark, FCGI_STDOUT, req->id, (uint16_t)hlen, 0);
		return 0;
	}
	struct fw_buf copy = FW_BUF_INIT;
	int r = fw_buf_append(&copy, out->data + mark + FCGI_HEADER_LEN, hlen);
	out->len = mark;
	if (r == 0)
		r = fw_fcgi_put_stream(out, FCGI_STDOUT, req->id, copy.data, hlen);
	fw_buf_release(&copy);
	return r;
}

/* Lines the handler logged since the last piece (fcgi_stderr), without the stream's end. */
static int put_err(struct fw_buf *out, fw_req *req)
{
	if (req->err.len == 0)
		return 0;
	req->stream.err_sent = true;
	if (fw_fcgi_put_stream(out, FCGI_STDERR, req->id, req->err.data, req->err.len) != 0)
		return -1;
	fw_buf_clear(&req->err);
	return 0;
}

void fw_fcgi_stream(struct fw_conn *c, fw_req *req, int status, bool end)
{
	struct fw_buf *out = fw_conn_outbuf(c);
	const char *body;
	size_t blen = fw_resp_body(req, status, &body);
	int r = put_err(out, req);

	if (r == 0 && !req->stream.head_sent) {
		req->stream.building = true;
		req->stream.head_sent = true;
		r = put_head(out, req, status);
	}
	if (r == 0 && blen > 0)
		r = fw_fcgi_put_stream(out, FCGI_STDOUT, req->id, body, blen);
	if (r == 0 && end)
		r = (req->stream.err_sent &&
		     fw_fcgi_put_stream(out, FCGI_STDERR, req->id, NULL, 0) != 0) ||
		    fw_fcgi_put_stream(out, FCGI_STDOUT, req->id, NULL, 0) != 0 ||
		    fw_fcgi_put_end(out, req->id, 0, FCGI_REQUEST_COMPLETE) != 0;
	if (r != 0) {
		fw_log(FW_LOG_ERROR, "out of memory sending %zu bytes of a streamed response; closing",
		       blen);
		fw_conn_break(c);
	}
	req->stream.sent += blen;
	fw_buf_clear(&req->out);
	if (end && !req->keep_conn)
		fw_conn_last(c);
	fw_conn_send(c);
}

/*
 * FastCGI has no way to say "this response is broken" once STDOUT has
 * begun: END_REQUEST's status is ignored by nginx, and a connection that
 * closes before it looks, to nginx's unbuffered FastCGI (1.22), like the
 * normal end of the body: it would finish the chunked answer as if whole,
 * or keep a client waiting for the rest of a Content-Length. A record of
 * version 0 is a protocol error nginx acts on: it closes its client's
 * connection, which then sees an incomplete answer. The STDERR record
 * before it makes nginx log why, next to its own complaint about the
 * version.
 */
void fw_fcgi_abort(struct fw_conn *c, uint16_t id, const char *why)
{
	static const uint8_t marker[FCGI_HEADER_LEN]; /* version 0 */
	struct fw_buf *out = fw_conn_outbuf(c);

	if (fw_fcgi_put_stream(out, FCGI_STDERR, id, why, strlen(why)) != 0 ||
	    fw_buf_append(out, marker, sizeof(marker)) != 0) {
		fw_conn_break(c);
		return;
	}
	fw_conn_last(c); /* closed once that is out */
	fw_conn_send(c);
}

void fw_fcgi_respond(struct fw_conn *c, fw_req *req, int status)
{
	struct fw_buf *out = fw_conn_outbuf(c);
	const char *body;
	size_t blen = fw_resp_body(req, status, &body);

	/* fcgi_stderr: nginx logs these at error level, before it reads the answer. */
	if (req->err.len > 0 &&
	    (fw_fcgi_put_stream(out, FCGI_STDERR, req->id, req->err.data, req->err.len) != 0 ||
	     fw_fcgi_put_stream(out, FCGI_STDERR, req->id, NULL, 0) != 0))
		fw_conn_break(c);
	if (put_head(out, req, status) != 0 ||
	    (blen > 0 && fw_fcgi_put_stream(out, FCGI_STDOUT, req->id, body, blen) != 0) ||
	    fw_fcgi_put_stream(out, FCGI_STDOUT, req->id, NULL, 0) != 0 ||
	    fw_fcgi_put_end(out, req->id, 0, FCGI_REQUEST_COMPLETE) != 0) {
		fw_log(FW_LOG_ERROR, "out of memory building a %zu-byte response; closing", blen);
		fw_conn_break(c);
	}
	if (!req->keep_conn)
		fw_conn_last(c);
	fw_conn_send(c);
}
