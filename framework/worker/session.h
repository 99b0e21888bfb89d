/*
 * The protocol side of a connection (FastCGI or SCGI): bytes in become
 * requests, responses become bytes out. conn.c and request.c call these
 * and know nothing of either protocol.
 */
#ifndef FW_WORKER_SESSION_H
#define FW_WORKER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/req.h"
#include "worker/fcgi_session.h"
#include "worker/scgi_session.h"
#include "worker/worker.h"

static inline void fw_session_init(struct fw_conn *c)
{
	if (c->proto == FW_PROTO_SCGI)
		fw_scgi_session_init(c);
	else
		fw_fcgi_session_init(c);
}

/*
 * Feed received bytes; *used gets how many were consumed. Parsing stops
 * early (used < len) when stop(c) says so between two events: the caller
 * holds the rest and feeds it again later. FW_OK, or FW_ERROR: malformed
 * input, logged; close.
 */
static inline int fw_session_feed(struct fw_conn *c, const uint8_t *data, size_t len,
				  bool (*stop)(const struct fw_conn *c), size_t *used)
{
	if (c->proto == FW_PROTO_SCGI)
		return fw_scgi_feed(c, data, len, stop, used);
	return fw_fcgi_feed(c, data, len, stop, used);
}

/* Queue the response of req on c. */
static inline void fw_session_respond(struct fw_conn *c, fw_req *req, int status)
{
	if (c->proto == FW_PROTO_SCGI)
		fw_scgi_respond(c, req, status);
	else
		fw_fcgi_respond(c, req, status);
}

/* A streamed response: its head (once), the body written since, and with end its end. */
static inline void fw_session_stream(struct fw_conn *c, fw_req *req, int status, bool end)
{
	if (c->proto == FW_PROTO_SCGI)
		fw_scgi_stream(c, req, status, end);
	else
		fw_fcgi_stream(c, req, status, end);
}

/*
 * Cut a streamed response off (its head was sent) so that the front end
 * sees it broken, where the protocol allows: FastCGI (fw_fcgi_abort).
 * SCGI has no framing: its connection just breaks, which nginx cannot
 * tell from the end of a body without Content-Length.
 */
static inline void fw_session_abort(struct fw_conn *c, fw_req *req, const char *why)
{
	if (c->proto == FW_PROTO_FASTCGI)
		fw_fcgi_abort(c, req->id, why);
	else
		fw_conn_break(c);
}

/*
 * May an idle connection change hands? A FastCGI one that nginx keeps
 * (between its requests); an SCGI one only before its request begins.
 */
static inline bool fw_session_movable(const struct fw_conn *c)
{
	return c->proto == FW_PROTO_SCGI ? fw_scgi_fresh(c) : c->keepalive && c->state == FW_CONN_ACTIVE;
}

/* Between requests, with nothing of the next one read? */
static inline bool fw_session_at_boundary(const struct fw_conn *c)
{
	return c->proto == FW_PROTO_SCGI ? fw_scgi_at_boundary(c) : fw_fcgi_at_boundary(c);
}

#endif
