/*
 * FastCGI on one connection: records in, requests out. The record parser
 * (proto/) says what arrived; this file decides what it means for the
 * connection's request (one at a time: we advertise FCGI_MPXS_CONNS=0 and
 * refuse a second id with FCGI_CANT_MPX_CONN) and writes the response.
 */
#ifndef FW_WORKER_FCGI_SESSION_H
#define FW_WORKER_FCGI_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/req.h"

struct fw_conn;

void fw_fcgi_session_init(struct fw_conn *c);

/* Between records, with nothing of the next one read? */
bool fw_fcgi_at_boundary(const struct fw_conn *c);

/* Feed received bytes (see fw_session_feed). FW_OK, or FW_ERROR: a framing error, logged; close. */
int fw_fcgi_feed(struct fw_conn *c, const uint8_t *data, size_t len,
		 bool (*stop)(const struct fw_conn *c), size_t *used);

/* Queue the response of req (head, body, end of request) on c. */
void fw_fcgi_respond(struct fw_conn *c, fw_req *req, int status);

/*
 * A streamed response: its head the first time, then the body written
 * since (req->out, emptied), and with end the end of its streams and
 * END_REQUEST.
 */
void fw_fcgi_stream(struct fw_conn *c, fw_req *req, int status, bool end);

/*
 * Cut a streamed response off so that nginx notices (a plain close looks
 * like its end): `why` as STDERR, then an invalid record; the connection
 * closes once they are out.
 */
void fw_fcgi_abort(struct fw_conn *c, uint16_t id, const char *why);

/* Queue END_REQUEST for id with no output (refusals, aborts). */
void fw_fcgi_end(struct fw_conn *c, uint16_t id, uint8_t protocol_status);

#endif
