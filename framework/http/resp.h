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
 * The same, with error_body (may be NULL) asked first to write the body
 * of an error status left empty (it returns the status to send), and the
 * default Content-Type added to a response that may have a body and set
 * none.
 */
int fw_resp_settle_with(fw_req *req, int status, int (*error_body)(fw_req *req, int status));

/*
 * The status of a streamed response's head (fw_set_status, else 200),
 * with the default Content-Type added as fw_resp_settle_with() does, and
 * the handler's Content-Length, if a number, in req->stream.length.
 */
int fw_resp_settle_stream(fw_req *req);

/* The default Content-Type (default_type; "" for none). The string must outlive the worker. */
void fw_resp_configure(const char *default_type);

/*
 * Append the CGI header block ("Status: 200 OK\r\n", the headers,
 * Content-Length, blank line) to out. FW_OK or FW_ERROR (no memory).
 * With req->stream.building, a streamed response's head (after
 * fw_resp_settle_stream): without a Content-Length of fw's own (the
 * handler's valid one is passed on), with X-Accel-Buffering: no.
 */
int fw_resp_head(fw_req *req, int status, struct fw_buf *out);

/* The body bytes to send after the head (none for HEAD, 204, 304, 1xx). */
size_t fw_resp_body(fw_req *req, int status, const char **data);

/* Has the response a header of this name (any case)? */
bool fw_resp_has_header(fw_req *req, const char *name);

/* Is the request in a state where the handler may still write? */
bool fw_resp_writable(fw_req *req, const char *what);

#endif
