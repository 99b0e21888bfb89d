/*
 * fw_offload(): a job of the worker's pool (worker/threads.c) tied to the
 * life of its request. A request with jobs in flight is never freed: when
 * it ends first (client gone, `timeout`, stop, or answered), its jobs are
 * marked cancelled and it is parked, off its connection, until the last
 * of their done callbacks returns (fw_request_put()). That is what lets
 * `arg` live in request memory without a use-after-free.
 */
#include <fw/offload.h>

#include "core/log.h"
#include "worker/threads.h"
#include "worker/worker.h"

/* May work still be started for req, and its done write an answer? */
static bool answerable(const fw_req *req)
{
	return !req->stream.cancelled && (req->state == FW_REQ_RUNNING || req->state == FW_REQ_DEFERRED);
}

FW_API int fw_cancelled(fw_req *req)
{
	return !answerable(req);
}

FW_API int fw_offload(fw_req *req, void (*work)(void *arg), void (*done)(fw_req *req, void *arg),
		      void *arg)
{
	struct fw_worker *w = fw_current_worker;
	struct fw_job *job;

	if (w == NULL || work == NULL || done == NULL) {
		fw_log(FW_LOG_ERROR, "fw_offload: %s",
		       w == NULL ? "not in a worker" : "work and done are needed");
		return -1;
	}
	if (w->cfg->offload_threads == 0) {
		fw_log(FW_LOG_ERROR, "fw_offload(%s %s): offload_threads is 0", req->method, req->path);
		return -1;
	}
	/* An orphaned request (client gone, no cancel callback) may still offload: done is cancelled. */
	if (!answerable(req) && req->state != FW_REQ_ORPHANED) {
		fw_log(FW_LOG_ERROR, "fw_offload(%s %s): the request is finished", req->method,
		       req->path);
		return -1;
	}
	if ((job = fw_threads_job(&w->threads)) == NULL)
		return -1;
	job->work = work;
	job->done = done;
	job->arg = arg;
	job->req = req;
	if (req->state == FW_REQ_ORPHANED) {
		req->stream.cancelled = true; /* its last done frees it now, not fw_finish() */
		fw_threads_cancel(job);
	}
	if (fw_threads_submit(&w->threads, job) != 0)
		return -1;
	job->req_next = req->stream.job_list;
	req->stream.job_list = job;
	req->stream.jobs++;
	return 0;
}

/* The request ended with jobs in flight: off its connection, they are cancelled, it waits. */
void fw_offload_park(fw_req *req)
{
	req->stream.cancelled = true;
	req->stream.writable_fn = NULL;
	req->state = FW_REQ_CANCELLED;
	req->owner = NULL;
	for (struct fw_job *job = req->stream.job_list; job != NULL; job = job->req_next)
		fw_threads_cancel(job);
}

static void unlink_job(fw_req *req, struct fw_job *job)
{
	for (struct fw_job **p = &req->stream.job_list; *p != NULL; p = &(*p)->req_next) {
		if (*p == job) {
			*p = job->req_next;
			return;
		}
	}
}

/* In the loop thread, once the pool is done with a job: its done, then perhaps the request's end. */
void fw_offload_complete(struct fw_job *job)
{
	struct fw_worker *w = fw_current_worker;
	fw_req *req = job->req;

	unlink_job(req, job);
	fw_request_app_begin(w, answerable(req) ? req->owner : NULL, req);
	job->done(req, job->arg);
	fw_request_app_end(w);
	if (--req->stream.jobs == 0 && req->stream.cancelled)
		fw_request_put(w, req); /* parked: this was the last thing it waited for */
	fw_worker_check_stopped(w);
}
