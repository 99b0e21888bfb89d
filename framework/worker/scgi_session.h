/*
 * SCGI on one connection: one request, its answer, then the connection
 * closes. Bytes after the body are never parsed as another request.
 */
#ifndef FW_WORKER_SCGI_SESSION_H
#define FW_WORKER_SCGI_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/req.h"

struct fw_conn;

void fw_scgi_session_init(struct fw_conn *c);
/*
 * Every byte is consumed (after the body, the rest is dropped, never
 * parsed), unless stop(c) says so between two events (see fw_session_feed).
 */
int fw_scgi_feed(struct fw_conn *c, const uint8_t *data, size_t len,
		 bool (*stop)(const struct fw_conn *c), size_t *used);
void fw_scgi_respond(struct fw_conn *c, fw_req *req, int status);
/* A streamed response (see fw_fcgi_stream); with end, the connection closes after it. */
void fw_scgi_stream(struct fw_conn *c, fw_req *req, int status, bool end);
bool fw_scgi_at_boundary(const struct fw_conn *c);
/* Nothing of its request read yet: another worker can serve it from the first byte. */
bool fw_scgi_fresh(const struct fw_conn *c);

#endif
