/*
 * Streaming: a response sent while it is produced, paced by the
 * connection (backpressure), and a request body handed to the handler
 * piece by piece as it arrives.
 *
 * Like the rest of <fw/req.h>, everything here is called in the worker's
 * event loop thread, on a request that is still the handler's (from the
 * handler, or after it returned FW_ASYNC until fw_finish() or the cancel
 * callback). The callbacks run in that same thread, from the event loop.
 */
#ifndef FW_STREAM_H
#define FW_STREAM_H

#include <stddef.h>
#include <fw/api.h>
#include <fw/app.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- streamed responses ---- */

/*
 * The status fw_flush() sends with the head (200 unless set). Returns 0,
 * or -1 (logged) for a status outside 200..599, a head already sent, or
 * a finished response. A handler that never flushes returns its status
 * as usual; this one is then ignored.
 */
FW_API int fw_set_status(fw_req *req, int status);

/*
 * Send what the response has so far: the first call sends the status
 * (fw_set_status), the headers and the body written until now; each later
 * call sends the body written since the one before. The response then
 * stays open: fw_write() and its kin keep adding to the body, until the
 * handler returns a status or, after FW_ASYNC, fw_finish() ends it (their
 * status is then only for the logs: the one sent stands; but a status of
 * 500 or more cuts the stream off instead of ending it, so that the
 * client sees a broken response rather than a short one that looks whole;
 * over FastCGI only: docs/nginx.md says how, and what nginx logs).
 *
 * A streamed response has no Content-Length (nginx sends it chunked to
 * HTTP/1.1 clients) unless the handler set one: then fw sends it and
 * holds the body to it, cutting the stream off when it ends short or runs
 * over. fw adds "X-Accel-Buffering: no" (unless the handler set that
 * header), so that nginx passes each piece on at once even with
 * fastcgi_buffering on. Setting a header after the first flush is
 * refused (-1, logged): the head is gone.
 *
 * What the connection cannot take at once is queued in the worker; pace
 * big bodies with fw_on_writable(). Returns 0, or -1 when the response is
 * finished or its connection failed (the client is gone: the cancel
 * callback follows from the event loop; without one, the request stays
 * orphaned until fw_finish(), which the caller may call at once).
 */
FW_API int fw_flush(fw_req *req);

/*
 * Backpressure: call fn(req, arg) once, from the event loop, when the
 * connection has room: when less than 256 KiB of this response is
 * waiting to be sent (at once, from the next turn of the loop, if that is
 * already so). A handler that writes its next piece and calls
 * fw_on_writable() again from fn sends a body of any size while the
 * worker holds a bounded amount. A new call replaces the previous one;
 * fn NULL cancels it. A client that reads nothing for send_timeout
 * seconds is cut off; the cancel callback runs then, not fn. When the
 * connection goes while fn is pending and no cancel callback is set, the
 * request is freed then (fn was all it waited for): whatever else may
 * still call fw_finish() on it must be stopped by a cancel callback.
 * Returns 0, or -1 (finished response, connection failed).
 */
FW_API int fw_on_writable(fw_req *req, void (*fn)(fw_req *req, void *arg), void *arg);

/* ---- streamed request bodies ---- */

/*
 * A body chunk: data[0..len) is valid during the call only. Return 0 for
 * more, FW_ASYNC to pause (no more chunks until fw_body_resume(); the
 * rest of the body waits in the socket), or an HTTP status (200..599) to
 * answer now: the rest of the body is read and dropped, and no end
 * callback runs.
 */
typedef int (*fw_body_chunk_fn)(fw_req *req, const void *data, size_t len, void *arg);

/*
 * The body is complete. Return the HTTP status of the response, or
 * FW_ASYNC to finish it later with fw_finish(), as a handler does.
 */
typedef int (*fw_body_end_fn)(fw_req *req, void *arg);

/*
 * Route as fw_route(), for requests whose body is streamed to the
 * handler: fn runs as soon as the params are in, before any of the body
 * (fw_body() is empty; forms and JSON bodies are not parsed). It calls
 * fw_on_body() and returns FW_ASYNC, or answers at once with a status
 * (a 401, a 415: the body is then read and dropped). max_body_kb does
 * not apply; max_stream_body_mb does (off by default): a body over it is
 * answered 413 and the request is cancelled (fw_on_cancel). Front ends
 * must pass bodies as they arrive for this to save memory: nginx's
 * `fastcgi_request_buffering off`. Call before fw_main(), as fw_route().
 */
FW_API int fw_route_stream(const char *method, const char *pattern, fw_handler fn, void *arg);

/*
 * In a handler of a fw_route_stream() route: chunk(req, data, len, arg)
 * for each piece of the body as it arrives, then end(req, arg) once it
 * is complete (at once for a request without a body). While they run,
 * the request is the handler's as in the handler itself: fw_finish()
 * there answers when the callback returns. A client that goes away
 * mid-body cancels the request (fw_on_cancel); without a cancel callback
 * (and offload jobs), a request cancelled before its body ended is freed
 * at once, as nothing more of it will come: whatever else may still call
 * fw_finish() or fw_body_resume() on it must be stopped by a cancel
 * callback. Returns 0, or -1 (logged)
 * outside such a handler, or with chunk or end NULL.
 */
FW_API int fw_on_body(fw_req *req, fw_body_chunk_fn chunk, fw_body_end_fn end, void *arg);

/*
 * Deliver chunks again after a chunk callback returned FW_ASYNC (from an
 * offload's done callback, say), from the next turn of the event loop.
 * Returns 0, or -1 when the body was not paused.
 */
FW_API int fw_body_resume(fw_req *req);

#ifdef __cplusplus
}
#endif

#endif
