#include "worker/scgi_session.h"

#include <string.h>

#include "core/log.h"
#include "core/result.h"
#include "http/resp.h"
#include "proto/scgi.h"
#include "worker/worker.h"

void fw_scgi_session_init(struct fw_conn *c)
{
	fw_scgi_parser_init(&c->p.scgi, (size_t)c->w->cfg->max_params_kb * 1024);
	c->keepalive = false; /* one request per connection: handed over only before it begins */
}

bool fw_scgi_at_boundary(const struct fw_conn *c)
{
	/* Nothing read yet, or the body complete (the connection only closes then). */
	return !c->input_open &&
	       (c->req != NULL || fw_scgi_parser_untouched(&c->p.scgi) || fw_conn_ending(c));
}

bool fw_scgi_fresh(const struct fw_conn *c)
{
	return c->req == NULL && !c->input_open && !fw_conn_ending(c) &&
	       fw_scgi_parser_untouched(&c->p.scgi);
}

static int malformed(struct fw_conn *c, const char *what)
{
	fw_log(FW_LOG_WARN, "SCGI request on connection %d is malformed: %s; closing it", c->fd, what);
	return FW_ERROR;
}

/* The first header bytes: the request begins. */
static int begin(struct fw_conn *c)
{
	fw_req *req = fw_request_get(c->w);

	if (req == NULL)
		return malformed(c, "out of memory for a request");
	req->owner = c;
	req->keep_conn = false;
	c->req = req;
	c->input_open = true;
	return FW_OK;
}

static int headers_end(struct fw_conn *c)
{
	fw_req *req = c->req;
	const char *err = NULL;
	uint64_t content_length = 0;
	size_t count = 0;

	if (fw_scgi_headers(req->params.data, req->params.len, NULL, &count, &content_length, &err) !=
	    FW_OK)
		return malformed(c, err);
	/* Read the body to its end whatever happens to the request. */
	fw_scgi_parser_body(&c->p.scgi, content_length);
	if (fw_request_params_count(c, req, count) != FW_OK)
		return FW_OK;
	req->env = fw_pool_alloc(&req->pool, count * sizeof(*req->env));
	if (req->env == NULL) {
		fw_request_reject(c, req, 500);
		return FW_OK;
	}
	fw_scgi_headers(req->params.data, req->params.len, req->env, &count, &content_length, &err);
	req->nenv = count;
	fw_request_params(c, req);
	return FW_OK;
}

static int on_event(struct fw_conn *c, const struct fw_scgi_event *ev)
{
	fw_req *req = c->req;

	switch (ev->ev) {
	case FW_SCGI_EV_HEADERS:
		if (req == NULL && !c->input_open) {
			if (begin(c) != FW_OK)
				return FW_ERROR;
			req = c->req;
		}
		/* The parser holds the block to max_params_kb: no check needed here. */
		if (fw_buf_append(&req->params, ev->data, ev->len) != 0)
			return malformed(c, "out of memory for the header block");
		return FW_OK;
	case FW_SCGI_EV_HEADERS_END:
		if (req == NULL)
			return malformed(c, "empty header block (no CONTENT_LENGTH)");
		return headers_end(c);
	case FW_SCGI_EV_BODY:
		if (req == NULL || req->state != FW_REQ_READING)
			return FW_OK; /* answered early (413): read and drop the rest */
		/* Held to max_body_kb as it arrives, as FastCGI's STDIN is. */
		if (req->body.len + ev->len > c->w->max_body) {
			fw_log(FW_LOG_INFO, "%s %s: body over max_body_kb; answering 413", req->method,
			       req->path);
			fw_request_reject(c, req, 413);
			return FW_OK;
		}
		if (fw_buf_append(&req->body, ev->data, ev->len) != 0)
			fw_request_reject(c, req, 500);
		return FW_OK;
	case FW_SCGI_EV_END:
		c->input_open = false;
		if (req != NULL && req->state == FW_REQ_READING)
			fw_request_run(c, req);
		return FW_OK;
	}
	return FW_OK;
}

int fw_scgi_feed(struct fw_conn *c, const uint8_t *data, size_t len, size_t *consumed)
{
	struct fw_scgi_event ev;
	size_t pos = 0, used;

	*consumed = len;
	/* Until the parser says AGAIN: a body of 0 bytes ends without any input. */
	while (!fw_conn_broken(c)) {
		int r = fw_scgi_parse(&c->p.scgi, data + pos, len - pos, &used, &ev);

		pos += used;
		if (r == FW_AGAIN)
			break; /* all read, or the body is complete: the rest is not parsed */
		if (r == FW_ERROR)
			return malformed(c, c->p.scgi.error);
		if (on_event(c, &ev) != FW_OK)
			return FW_ERROR;
	}
	return FW_OK;
}

void fw_scgi_respond(struct fw_conn *c, fw_req *req, int status)
{
	struct fw_buf *out = fw_conn_outbuf(c);
	const char *body;
	size_t blen = fw_resp_body(req, status, &body);

	if (fw_resp_head(req, status, out) != FW_OK ||
	    (blen > 0 && fw_buf_append(out, body, blen) != 0)) {
		fw_log(FW_LOG_ERROR, "out of memory building a %zu-byte response; closing", blen);
		fw_conn_break(c);
	}
	fw_conn_last(c);
	fw_conn_send(c);
}
