/*
 * The request hooks the application registered before fw_main()
 * (fw_before, fw_after, fw_on_error) and the worker-drain and -exit
 * hooks, and where the worker calls them. Like the routes, they are filled in
 * main() and read-only afterwards (workers inherit them by fork).
 */
#ifndef FW_HTTP_HOOKS_H
#define FW_HTTP_HOOKS_H

#include <fw.h>

/* After the route matched, before the handler: 0 to go on, or the status to answer with. */
int fw_hooks_before(fw_req *req);

/*
 * The error-page hook, for a response of `status` >= 400 whose body is
 * empty: it writes the body and returns the status to send. Without a
 * hook, or when it writes nothing, `status` is returned unchanged (and
 * fw's default text body follows).
 */
int fw_hooks_error(fw_req *req, int status);

/* Once per request, after the response (or 499: the client left first). */
void fw_hooks_after(fw_req *req, int status);

/* A request fw lets go of: its after hooks, with 499, if it never got an answer. */
void fw_hooks_request_end(fw_req *req);

/* In a worker that stops taking new requests (draining, stopping): once, its requests still running. */
void fw_hooks_worker_drain(void);

/* In a worker that exits normally, after its last response. */
void fw_hooks_worker_exit(void);

#endif
