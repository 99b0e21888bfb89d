/*
 * The request and its response.
 *
 * Ownership and lifetime: a fw_req belongs to fw. It is valid from the call
 * of the handler until the response is finished: when the handler returns a
 * status, or, after it returned FW_ASYNC, until fw_finish() or the cancel
 * callback (fw_on_cancel) returns. Every pointer obtained from these
 * functions (strings, body, fw_alloc memory) lives exactly as long; keep
 * nothing of it past the end of the request, copy what you need.
 *
 * A fw_req is used by one worker process, in its event loop thread only
 * (offload pool threads get only what fw_offload() hands them: <fw/offload.h>).
 */
#ifndef FW_REQ_H
#define FW_REQ_H

#include <stddef.h>
#include <fw/api.h>
#include <fw/app.h>
#include <fw/buf.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- reading the request; a missing value is NULL ---- */

/* The method ("GET", "POST", ...; HEAD stays "HEAD" in a GET handler). */
FW_API const char *fw_method(fw_req *req);

/*
 * The path the router matched, percent-decoded and normalised by nginx,
 * without the query string. Taken from DOCUMENT_URI; without it (clients
 * other than nginx) from SCRIPT_NAME + PATH_INFO; without those, from
 * REQUEST_URI up to '?', percent-decoded. docs/handlers.md explains why.
 */
FW_API const char *fw_path(fw_req *req);

/* A route parameter: fw_param(req, "id") for "/users/:id", "*" for the tail. */
FW_API const char *fw_param(fw_req *req, const char *name);

/*
 * The first value of a query-string parameter, percent-decoded ('+' is a
 * space). "?a" and "?a=" both give "". A value holding a NUL byte after
 * decoding ends at that byte; read fw_env(req, "QUERY_STRING") for the raw form.
 */
FW_API const char *fw_query(fw_req *req, const char *name);

/*
 * Every query-string parameter, in order, repeated names included
 * ("?tag=a&tag=b"): the count, and the i-th name and value (decoded as by
 * fw_query). fw_query_at returns 0, or -1 when i is not below the count
 * (name and value are then untouched).
 */
FW_API size_t fw_query_count(fw_req *req);
FW_API int fw_query_at(fw_req *req, size_t i, const char **name, const char **value);

/*
 * A request header by its HTTP name, case-insensitively: "Content-Type",
 * "user-agent". Read from the CGI params (HTTP_USER_AGENT, CONTENT_TYPE,
 * CONTENT_LENGTH), so it holds what the front end passed on. An empty
 * CONTENT_TYPE or CONTENT_LENGTH (nginx sends both on every request) is a
 * missing header: NULL.
 */
FW_API const char *fw_header(fw_req *req, const char *name);

/* A raw FastCGI/CGI param by exact name: fw_env(req, "SCRIPT_NAME"). */
FW_API const char *fw_env(fw_req *req, const char *name);

/* Number of params, and the i-th one (0 <= i < count), in arrival order. */
FW_API size_t fw_env_count(fw_req *req);
FW_API int fw_env_at(fw_req *req, size_t i, const char **name, const char **value);

/*
 * The request body; *len (if len is not NULL) gets its size. NULL with
 * *len = 0 when there is no body. The bytes are followed by a NUL that is
 * not counted, so a text body can be read as a string.
 */
FW_API const void *fw_body(fw_req *req, size_t *len);

/* ---- memory that lives as long as the request ---- */

/*
 * Request-scoped memory: `size` bytes aligned for any type, given back all
 * at once when the request ends (nginx's pools are the model). NULL when
 * out of memory. The memory is reused by the next request of the worker.
 */
FW_API void *fw_alloc(fw_req *req, size_t size);

/* A copy of s in request memory. */
FW_API char *fw_strdup(fw_req *req, const char *s);

/*
 * Run fn(arg) when the request ends (last registered, first run): close a
 * file, give back a database connection. 0, or -1 when out of memory
 * (fn is not registered).
 */
FW_API int fw_on_request_end(fw_req *req, void (*fn)(void *arg), void *arg);

/*
 * Borrow an empty scratch buffer for this request. It comes from a
 * per-worker free list and goes back there when the request ends, emptied,
 * its memory kept for the next request up to buffer_keep_kb (what one huge
 * request grew beyond that is freed). Every call lends another buffer.
 * NULL when out of memory. Never release it, never keep it.
 */
FW_API fw_buf *fw_scratch(fw_req *req);

/*
 * The request body as a buffer the handler may change in place (decode,
 * trim, transform, then answer with it): it is the request's own and is
 * reused by the next request. Empty when there is no body.
 */
FW_API fw_buf *fw_request_body(fw_req *req);

/* The response body being built: fw_write() appends here. */
FW_API fw_buf *fw_response_body(fw_req *req);

/*
 * Make b's bytes the response body without copying them: when b is this
 * request's own (from fw_scratch, fw_request_body) the buffers trade
 * places, and b is left empty, holding the old response body's memory for
 * reuse. Any other buffer is copied. Returns 0, or -1 (finished response,
 * no memory).
 */
FW_API int fw_respond_with(fw_req *req, fw_buf *b);

/* ---- writing the response ---- */

/*
 * Set a response header, replacing any earlier value of the same name
 * (case-insensitive); value NULL removes it. fw_add_header adds one more
 * line of the same name (Set-Cookie). Name and value are copied. Returns
 * 0, or -1 for a name that is not an HTTP token, a value with CR, LF or
 * NUL, a "Status" header (return the status from the handler instead),
 * no memory, or a finished response.
 */
FW_API int fw_set_header(fw_req *req, const char *name, const char *value);
FW_API int fw_add_header(fw_req *req, const char *name, const char *value);

/* Append to the response body. Returns 0, or -1 (no memory, finished). */
FW_API int fw_write(fw_req *req, const void *data, size_t len);
FW_API int fw_printf(fw_req *req, const char *fmt, ...) FW_PRINTF(2, 3);

/* Append `len` bytes of `s` as a quoted, escaped JSON string. */
FW_API int fw_write_json(fw_req *req, const char *s, size_t len);

/*
 * Append `len` bytes of `s` as HTML text: & < > " ' become &amp; &lt; &gt;
 * &quot; &#39;, safe inside elements and quoted attribute values (not in
 * scripts, styles or unquoted attributes). Returns 0, or -1 (no memory,
 * finished response).
 */
FW_API int fw_write_html(fw_req *req, const char *s, size_t len);

/*
 * Set Location and return `status` (300..399), so that a handler can end
 * with `return fw_redirect(req, 303, "/notes");`. The location is sent as
 * given (a path, or an absolute URL). A location with CR, LF or another
 * control character, an empty one, or a status outside 300..399 is
 * refused (logged): the return is then 500, and nothing is set.
 */
FW_API int fw_redirect(fw_req *req, int status, const char *location);

/*
 * Record why the request fails and return `status`:
 * `return fw_error(req, 422, "title must be a string");`. The message
 * (printf-style, copied into request memory) is for the error page:
 * fw_on_error() hooks read it with fw_error_message(), and fw's own
 * error body shows it under the status line. Nothing is written to the
 * body here.
 */
FW_API int fw_error(fw_req *req, int status, const char *fmt, ...) FW_PRINTF(3, 4);

/*
 * The message given to fw_error(), or the one fw recorded when it found
 * the request at fault (a malformed form or JSON body, say), or NULL. It
 * is meant for the client: fw never puts internal details there.
 */
FW_API const char *fw_error_message(fw_req *req);

/*
 * A value kept with the request under `key` (copied), for the handler to
 * read with fw_data(): what a fw_before() hook found out (the user of a
 * session, a request id). Setting a key again replaces its value. fw
 * never looks at `value`; it must stay valid until the request ends.
 * fw_set_data returns 0, or -1 when out of memory; fw_data NULL when the
 * key was never set.
 */
FW_API int fw_set_data(fw_req *req, const char *key, void *value);
FW_API void *fw_data(fw_req *req, const char *key);

/*
 * Complete a response whose handler returned FW_ASYNC, with an HTTP status
 * (200..599). The request is gone when it returns. It may also be called
 * inside the handler (a client library answered at once): the answer then
 * goes out when the handler returns, which should return FW_ASYNC.
 * Returns 0, or -1 (logged, nothing happens) when the request was
 * finished already; -1 without a log line in an offload's done callback
 * for a cancelled request (fw_cancelled()).
 * If the client went away meanwhile and no cancel callback was set, the
 * request stayed valid for this call, which then only frees it.
 * A streamed response (fw_flush(), <fw/stream.h>) has sent its status
 * already: this ends its body, and a status of 500 or more cuts it off.
 */
FW_API int fw_finish(fw_req *req, int status);

/*
 * For a deferred request: call fn(req, arg) if the request ends before
 * fw_finish(): the client goes away (nginx closed the connection),
 * `timeout` passed (the client gets a 504; for a streamed response,
 * `timeout` without a new piece, and the stream is cut off), a streamed
 * body went over max_stream_body_mb (the client gets a 413), or the
 * worker is stopping. fn must stop whatever would call fw_finish() later
 * (free the timer, cancel the query); the request is freed when fn
 * returns (with offload jobs in flight, after their done callbacks), and
 * calling fw_finish() on it afterwards is a use-after-free. Without a
 * callback, a cancelled request stays valid until fw_finish(), which then
 * discards it (or until the last done of its offload jobs returns).
 */
FW_API void fw_on_cancel(fw_req *req, void (*fn)(fw_req *req, void *arg), void *arg);

/*
 * The cancel callback set last (fw_on_cancel) and its arg, or NULL and
 * NULL: for code that holds the callback for a while (a library's query)
 * and must give back the one it found, or call it in turn.
 */
FW_API void fw_cancel_callback(fw_req *req, void (**fn)(fw_req *req, void *arg), void **arg);

#ifdef __cplusplus
}
#endif

#endif
