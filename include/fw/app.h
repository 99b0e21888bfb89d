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
