/* Building the response: the CGI header block a protocol sends before the body. */
#ifndef FW_HTTP_RESP_H
#define FW_HTTP_RESP_H

#include "core/buf.h"
#include "http/req.h"

/*
 * Settle the response for `status` before it is sent: an invalid status
 * becomes 500 (logged); an error status without a body gets a short
 * text/plain one. Returns the final status.
 */
int fw_resp_settle(fw_req *req, int status);

/*
 * Append the CGI header block ("Status: 200 OK\r\n", the headers,
 * Content-Length, blank line) to out. FW_OK or FW_ERROR (no memory).
 */
int fw_resp_head(fw_req *req, int status, struct fw_buf *out);

/* The body bytes to send after the head (none for HEAD, 204, 304, 1xx). */
size_t fw_resp_body(fw_req *req, int status, const char **data);

/* Is the request in a state where the handler may still write? */
bool fw_resp_writable(fw_req *req, const char *what);

#endif
