/*
 * Application set-up: routes, hooks and the entry point.
 *
 * Everything in this header is called from main() before fw_main(), in the
 * single-threaded start-up of the process. fw copies what it needs (method,
 * pattern); the `arg` pointers are stored as given and handed back to the
 * callbacks in every worker, so they must stay valid for the life of the
 * process (static data, or memory allocated before fw_main()).
 */
#ifndef FW_APP_H
#define FW_APP_H

#include <fw/api.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
typedef struct fw_req fw_req;

/*
 * A request handler. It returns the HTTP status of the response (200..599),
 * or FW_ASYNC to finish the response later with fw_finish() (see fw/req.h).
 * Returning a status outside 200..599 (1xx are not final answers) is a
 * programming error: the client
 * gets a 500 and the error is logged.
 */
typedef int (*fw_handler)(fw_req *req, void *arg);

/* Returned by a handler that will complete its response later. */
#define FW_ASYNC (-1)

/*
 * Route requests for `method` and `pattern` to `fn`.
 *
 * method: an HTTP method token of at most 32 characters ("GET", "POST",
 *         ...), or "*" for any method.
 *         A GET route also answers HEAD (the body is dropped), unless a HEAD
 *         route for the same pattern exists.
 * pattern: starts with '/'; segments are literal ("/users"), parameters
 *         (":id", read with fw_param(req, "id")) or, as the last segment
 *         only, "*" (the rest of the path, possibly empty, read with
 *         fw_param(req, "*")). Literal segments win over parameters, which
 *         win over "*".
 *
 * Returns 0, or -1 after logging why (bad method or pattern, duplicate
 * route, two parameter names at the same place, out of memory).
 * The path picks the pattern (the most specific that matches), then the
 * method picks among its routes: unknown paths are answered 404; a path
 * whose pattern has no route for the method (nor "*") is answered 405
 * with an Allow header, even when a less specific pattern (a ":param", a
 * "*" catch-all) would take the method.
 */
FW_API int fw_route(const char *method, const char *pattern, fw_handler fn, void *arg);

/*
 * Run fn(arg) in each worker after fork, before it accepts requests
 * (open per-process connections here: database clients, files). Hooks run
 * in registration order; a non-zero return is a failed boot: the worker
 * exits and the master retries with backoff. Returns 0, or -1 on no memory.
 */
FW_API int fw_on_worker_start(int (*fn)(void *arg), void *arg);

/*
 * Request hooks (middleware). Registered before fw_main(), run in every
 * worker, in registration order.
 *
 * fw_before: fn(req, arg) runs after a route matched, before its handler,
 * with fw_param() and everything else of the request available (not for
 * 404, 405 and the status page). It returns 0 to go on, or an HTTP status
 * (200..599) to answer with instead: the handler and later hooks are
 * skipped, and for a status >= 400 with no body written the error hook
 * writes one. `return fw_redirect(req, 303, "/login");` works too. It
 * must not return FW_ASYNC.
 *
 * fw_after: fn(req, status, arg) runs once per request, after the final
 * status is known and the response is queued: handler answers, deferred
 * ones when fw_finish() sends them, fw's own 4xx/5xx, and 499 for a
 * deferred request whose client went away (as nginx logs it). The request
 * can be read but no longer written. For logging and metrics.
 *
 * Each returns 0, or -1 (logged) when fn is NULL, fw_main() was called,
 * or out of memory.
 */
FW_API int fw_before(int (*fn)(fw_req *req, void *arg), void *arg);
FW_API int fw_after(void (*fn)(fw_req *req, int status, void *arg), void *arg);

/*
 * The error page: fn(req, status, arg) writes the body of every response
 * of status >= 400 whose body is empty: fw's own (404, 405 with its Allow
 * header, 400, 413, 431, 500, a deferred request's 504, ...) and a
 * handler's or fw_before hook's `return 404;`. fw_error_message(req) says
 * why, when known. It sets Content-Type and writes the body (fw_write,
 * the JSON writer, ...) and returns the status to send, usually `status`.
 * When it writes nothing, fw's short text body is used. Not called for a
 * 504 the master writes for a worker stuck in a handler (the worker
 * cannot run code then). One hook: a second call returns -1, as do a
 * NULL fn and a call after fw_main().
 */
FW_API int fw_on_error(int (*fn)(fw_req *req, int status, void *arg), void *arg);

/*
 * Run fn(arg) in a worker just before it exits normally (recycled,
 * reloaded, stopped), after its last response and after the cancel
 * callbacks of what was still deferred: close database connections, flush
 * buffers. Hooks run in registration order. Not run when a worker is
 * killed (a handler stuck past `timeout`, SIGKILL) or crashes, nor when
 * its start-up hooks failed. Returns 0, or -1 as fw_before.
 */
FW_API int fw_on_worker_exit(void (*fn)(void *arg), void *arg);

/*
 * Run fn(arg) in a worker once, when it stops taking new requests: its
 * replacement serves in its place (a recycle, a reload), or it stops.
 * Its requests in flight still run and finish afterwards; release here
 * what the worker will not need for them and a replacement will (idle
 * database connections, so that the old and the new worker together do
 * not hold twice their share). Hooks run in registration order; not run
 * when a worker is killed or crashes. Returns 0, or -1 as fw_before.
 */
FW_API int fw_on_worker_drain(void (*fn)(void *arg), void *arg);

/*
 * A setting of the application: the key `name` (any case; '.', '-' and
 * '_' alike) of the ini's
 * [app] section, or the environment's FW_APP_<NAME> (upper case, '.' and
 * '-' as '_'), which wins over the file; NULL when neither has it. Read in
 * workers (start and exit hooks, handlers): NULL in main() before
 * fw_main(), which has not read the file yet. A reload (SIGHUP) reads the
 * file again; workers started after it see the new values. The string
 * lives as long as the worker.
 */
FW_API const char *fw_setting(const char *name);

/*
 * The application's version, shown beside the build's identity on the
 * status page and in the master's log lines (an upgrade logs the old and
 * the new). Call it before fw_main(); v is copied (31 characters kept;
 * anything but printable ASCII, '"' and '\\' becomes '_'). NULL clears it.
 */
FW_API void fw_set_version(const char *v);

/*
 * The entry point. Command line:
 *   -c FILE   configuration (ini); without it, built-in defaults and
 *             FW_<SECTION>_<KEY> environment variables
 *   -t        check the configuration and exit: 0, or 1 with
 *             "FILE:LINE: message" on stderr
 *   -h        usage;  -V  version
 * Runs the master until it stops and returns the process exit status
 * (0 after a clean stop). Call it once, from main().
 */
FW_API int fw_main(int argc, char **argv);

/*
 * The libevent base of the calling worker, for handlers that wait on
 * asynchronous clients (timers, hiredis, libpq adapters). NULL outside a
 * worker (for instance in main() before fw_main()). It is owned by fw: add
 * events to it, never free or dispatch it.
 */
FW_API struct event_base *fw_event_base(void);

#ifdef __cplusplus
}
#endif

#endif
