/*
 * A worker's offload pool: threads that run blocking jobs, and an eventfd
 * that hands finished jobs back to the event loop (worker/offload.c ties
 * jobs to requests).
 *
 * Threads start lazily, when a job is queued and no thread is idle, up to
 * `max`: a worker that never offloads has none, and its fork, boot and
 * exit cost nothing more. They are started in the worker after fork (the
 * master never has one) with every signal blocked, so that the worker's
 * signals (SIGTERM, FW_SIG_STUCK, libevent's) reach its loop thread.
 *
 * Who touches what: the queue, the finished list, `idle`, `stop` and each
 * thread's running job under `lock`; a job's `cancelled` atomically; the
 * rest (free list, `pending`, the thread table) in the loop thread only.
 * A job is the pool's from fw_threads_submit() until complete(job)
 * returns, in the loop thread; then it goes back to the free list.
 */
#ifndef FW_WORKER_THREADS_H
#define FW_WORKER_THREADS_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/req.h"

struct fw_job {
	struct fw_job *next;     /* in the queue, the finished list or the free list */
	struct fw_job *req_next; /* the jobs of one request (worker/offload.c) */
	void (*work)(void *arg);
	void (*done)(fw_req *req, void *arg);
	void *arg;
	fw_req *req;
	int cancelled;       /* atomic: the loop sets it, work reads it (fw_offload_cancelled) */
	bool ran;            /* work ran (not when cancelled before a thread took it) */
	uint64_t started_ms; /* when a thread took it (under lock) */
};

struct fw_threads {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct fw_job *queue, *queue_tail;       /* waiting for a thread (lock) */
	struct fw_job *finished, *finished_tail; /* work over, for the loop (lock) */
	size_t queued;                           /* in the queue (lock) */
	size_t idle;                             /* threads waiting for a job (lock) */
	bool stop;                               /* threads exit once idle (lock) */
	struct fw_job **running;                 /* per thread: its job, or NULL (lock) */
	pthread_t *tids;                         /* loop thread: nthreads of them */
	size_t nthreads, max;
	int efd; /* eventfd: "finished jobs wait"; -1 until the first job */
	struct event ev;
	struct event_base *base;
	size_t pending;      /* submitted, complete() not run yet (loop thread) */
	struct fw_job *free; /* loop thread */
	size_t nfree;
	void (*complete)(struct fw_job *job); /* loop thread, once per job */
};

/* Nothing is started: no thread, no descriptor, no allocation. */
void fw_threads_init(struct fw_threads *t, struct event_base *base, size_t max,
		     void (*complete)(struct fw_job *job));

/* A zeroed job, for fw_threads_submit(). NULL when out of memory (logged). */
struct fw_job *fw_threads_job(struct fw_threads *t);

/*
 * Queue a job, starting a thread when none is idle and fewer than max
 * run. 0, or -1 (logged; the job is given back): no thread could be
 * started and none runs, or the eventfd could not be set up.
 */
int fw_threads_submit(struct fw_threads *t, struct fw_job *job);

/* The job's request ended: work is skipped if not started; it reads 1 in fw_offload_cancelled(). */
void fw_threads_cancel(struct fw_job *job);

/* The start (ms) of the job that has run longest now, or 0 when none runs. */
uint64_t fw_threads_oldest(struct fw_threads *t);

/*
 * At exit: threads stop once idle, and are joined when all are idle
 * (a job still running past graceful_timeout is left to the process's
 * exit). Queued and unfinished jobs are dropped without complete().
 */
void fw_threads_stop(struct fw_threads *t);

#endif
