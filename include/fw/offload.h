/*
 * Offload: blocking work (a synchronous database driver, hashing a big
 * file, resizing an image) run on a thread pool of the worker, so that
 * the event loop keeps serving every other connection meanwhile.
 *
 * Threads. Each worker has its own pool of up to `offload_threads`
 * threads (4 by default), started in the worker after fork, when the
 * first job needs one; the master never starts a thread. A pool thread
 * may call fw_log(), fw_offload_cancelled() and the fw_buf functions on
 * buffers it owns, and nothing else of fw: a fw_req and everything it
 * lends (strings, fw_alloc memory read and written by the event loop)
 * belong to the event loop thread. Hand the work what it needs in `arg`.
 */
#ifndef FW_OFFLOAD_H
#define FW_OFFLOAD_H

#include <fw/api.h>
#include <fw/app.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Run work(arg) on a pool thread, then done(req, arg) back in the event
 * loop thread, which then may write the response and fw_finish() it.
 * Call it from a handler (which then returns FW_ASYNC) or from any later
 * callback of a request that is still the handler's. Jobs start in the
 * order given; several may run for one request.
 *
 * Cancellation: if the request ends first (the client goes away,
 * `timeout` passes and the client gets a 504, the worker stops, or the
 * response was finished meanwhile), done still runs, with
 * fw_cancelled(req) true: the request and its memory (fw_alloc) stay
 * valid until the last done of its jobs returns, and are freed then. So
 * `arg` may live in request memory, or be the caller's to free in done;
 * nothing is freed while work may use it. done must then write nothing
 * (a fw_finish() there does nothing). A job cancelled before a thread
 * took it does not run work at all.
 *
 * Stopping: a retiring or stopping worker waits for its jobs (and their
 * done) within graceful_timeout; work still running after it is abandoned
 * with the process (done does not run). A job still running twice
 * `timeout` after it started makes its worker retire, so that a thread
 * stuck for good is replaced with the process.
 *
 * Returns 0, or -1 (logged; nothing runs): offload_threads is 0, work or
 * done is NULL, the request is not the handler's any more, no thread
 * could be started, or out of memory.
 */
FW_API int fw_offload(fw_req *req, void (*work)(void *arg), void (*done)(fw_req *req, void *arg),
		      void *arg);

/*
 * In a done callback (or any callback of the request): 1 when the
 * request can no longer be answered (see fw_offload), else 0.
 */
FW_API int fw_cancelled(fw_req *req);

/*
 * In work, on its pool thread: 1 once the request it serves is
 * cancelled, so that long work can stop early (done runs as usual);
 * 0 otherwise, and outside a job.
 */
FW_API int fw_offload_cancelled(void);

#ifdef __cplusplus
}
#endif

#endif
