/*
 * The offload pool. Written here rather than taken from a library:
 * libevent has none, and GLib's GThreadPool or libuv's pool would bring a
 * second runtime (and its main loop) into every worker for what is a
 * mutex, a condition variable, two lists and an eventfd.
 */
#include "worker/threads.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fw/offload.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "core/thread.h"

#define FREE_JOBS_MAX 64 /* kept for reuse after a burst */

/* The job this pool thread runs now, for fw_offload_cancelled(). */
static _Thread_local struct fw_job *current_job;

struct start {
	struct fw_threads *t;
	size_t index;
};

void fw_threads_init(struct fw_threads *t, struct event_base *base, size_t max,
		     void (*complete)(struct fw_job *job))
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	t->base = base;
	t->max = max;
	t->complete = complete;
	t->efd = -1;
}

struct fw_job *fw_threads_job(struct fw_threads *t)
{
	struct fw_job *job = t->free;

	if (job != NULL) {
		t->free = job->next;
		t->nfree--;
		memset(job, 0, sizeof(*job));
		return job;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL)
		fw_log(FW_LOG_ERROR, "out of memory for an offload job");
	return job;
}

static void job_put(struct fw_threads *t, struct fw_job *job)
{
	if (t->nfree >= FREE_JOBS_MAX) {
		free(job);
		return;
	}
	job->next = t->free;
	t->free = job;
	t->nfree++;
}

static void push(struct fw_job **head, struct fw_job **tail, struct fw_job *job)
{
	job->next = NULL;
	if (*tail != NULL)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

/* Hand a finished job to the loop; the eventfd is written only when the list was empty. */
static void finish(struct fw_threads *t, struct fw_job *job)
{
	uint64_t one = 1;
	bool wake = t->finished == NULL;

	push(&t->finished, &t->finished_tail, job);
	if (!wake)
		return;
	/* EAGAIN is a counter at its maximum: the loop is woken all the same. */
	if (write(t->efd, &one, sizeof(one)) != (ssize_t)sizeof(one) && errno != EAGAIN)
		fw_log_errno(FW_LOG_ERROR, "write(offload eventfd)");
}

static void run(struct fw_job *job)
{
	if (__atomic_load_n(&job->cancelled, __ATOMIC_ACQUIRE))
		return; /* its request ended before a thread was free: done alone runs */
	current_job = job;
	job->work(job->arg);
	current_job = NULL;
	job->ran = true;
}

static void *thread_main(void *arg)
{
	struct start s = *(struct start *)arg;
	struct fw_threads *t = s.t;

	free(arg);
	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct fw_job *job;

		while (!t->stop && t->queue == NULL) {
			t->idle++;
			pthread_cond_wait(&t->wake, &t->lock);
			t->idle--;
		}
		if (t->stop)
			break;
		job = t->queue;
		t->queue = job->next;
		if (t->queue == NULL)
			t->queue_tail = NULL;
		t->queued--;
		job->started_ms = fw_now_ms();
		t->running[s.index] = job;
		pthread_mutex_unlock(&t->lock);
		run(job);
		pthread_mutex_lock(&t->lock);
		t->running[s.index] = NULL;
		finish(t, job);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Finished jobs, in the loop thread: complete() each, then reuse it. */
static void on_finished(evutil_socket_t fd, short what, void *arg)
{
	struct fw_threads *t = arg;
	struct fw_job *job, *next;
	uint64_t n;

	FW_UNUSED(what);
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		fw_log_errno(FW_LOG_ERROR, "read(offload eventfd)");
	pthread_mutex_lock(&t->lock);
	job = t->finished;
	t->finished = t->finished_tail = NULL;
	pthread_mutex_unlock(&t->lock);
	for (; job != NULL; job = next) {
		next = job->next;
		t->pending--;
		t->complete(job);
		job_put(t, job);
	}
}

/* The first job: the eventfd, its event, and the thread table. */
static int setup(struct fw_threads *t)
{
	if (t->efd >= 0)
		return 0;
	t->running = calloc(t->max, sizeof(*t->running));
	t->tids = calloc(t->max, sizeof(*t->tids));
	if (t->running == NULL || t->tids == NULL) {
		fw_log(FW_LOG_ERROR, "out of memory for the offload pool");
		goto fail;
	}
	if ((t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		fw_log_errno(FW_LOG_ERROR, "eventfd (offload pool)");
		goto fail;
	}
	event_assign(&t->ev, t->base, t->efd, EV_READ | EV_PERSIST, on_finished, t);
	if (event_add(&t->ev, NULL) != 0) {
		fw_log(FW_LOG_ERROR, "event_add: cannot watch the offload eventfd");
		close(t->efd);
		t->efd = -1;
		goto fail;
	}
	return 0;
fail:
	free(t->running);
	free(t->tids);
	t->running = NULL;
	t->tids = NULL;
	return -1;
}

/* One more thread, with every signal blocked: they are the loop thread's. 0, or -1 (logged). */
static int thread_start(struct fw_threads *t)
{
	struct start *s = malloc(sizeof(*s));
	int r;

	if (s == NULL) {
		fw_log(FW_LOG_ERROR, "out of memory for an offload thread");
		return -1;
	}
	s->t = t;
	s->index = t->nthreads;
	if ((r = fw_thread_create(&t->tids[t->nthreads], NULL, thread_main, s)) != 0) {
		errno = r;
		fw_log_errno(FW_LOG_ERROR, "pthread_create (offload thread %zu of %zu)", t->nthreads + 1,
			     t->max);
		free(s);
		return -1;
	}
	pthread_setname_np(t->tids[t->nthreads], "fw-offload");
	t->nthreads++;
	return 0;
}

int fw_threads_submit(struct fw_threads *t, struct fw_job *job)
{
	bool more;

	if (t->max == 0 || setup(t) != 0) {
		job_put(t, job);
		return -1;
	}
	pthread_mutex_lock(&t->lock);
	push(&t->queue, &t->queue_tail, job);
	t->queued++;
	more = t->idle < t->queued && t->nthreads < t->max;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	/* A thread that cannot start is no failure while another runs: the job waits its turn. */
	if (more && thread_start(t) != 0 && t->nthreads == 0) {
		pthread_mutex_lock(&t->lock);
		t->queue = t->queue_tail = NULL; /* it was the only one: no thread ever took any */
		t->queued = 0;
		pthread_mutex_unlock(&t->lock);
		job_put(t, job);
		return -1;
	}
	t->pending++;
	return 0;
}

void fw_threads_cancel(struct fw_job *job)
{
	__atomic_store_n(&job->cancelled, 1, __ATOMIC_RELEASE);
}

FW_API int fw_offload_cancelled(void)
{
	return current_job != NULL && __atomic_load_n(&current_job->cancelled, __ATOMIC_ACQUIRE);
}

uint64_t fw_threads_oldest(struct fw_threads *t)
{
	uint64_t oldest = 0;

	if (t->nthreads == 0)
		return 0;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nthreads; i++) {
		if (t->running[i] != NULL && (oldest == 0 || t->running[i]->started_ms < oldest))
			oldest = t->running[i]->started_ms;
	}
	pthread_mutex_unlock(&t->lock);
	return oldest;
}

static void jobs_free(struct fw_job *job)
{
	while (job != NULL) {
		struct fw_job *next = job->next;
		free(job);
		job = next;
	}
}

void fw_threads_stop(struct fw_threads *t)
{
	bool busy = false;

	if (t->efd < 0)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	for (size_t i = 0; i < t->nthreads; i++)
		busy |= t->running[i] != NULL;
	pthread_cond_broadcast(&t->wake);
	jobs_free(t->queue);
	jobs_free(t->finished);
	t->queue = t->queue_tail = t->finished = t->finished_tail = NULL;
	pthread_mutex_unlock(&t->lock);
	/* A thread inside work cannot be stopped; the process's exit ends it. */
	if (busy)
		return;
	for (size_t i = 0; i < t->nthreads; i++)
		pthread_join(t->tids[i], NULL);
	event_del(&t->ev);
	close(t->efd);
	t->efd = -1;
	jobs_free(t->free);
	t->free = NULL;
	free(t->running);
	free(t->tids);
	t->running = NULL;
	t->tids = NULL;
	t->nthreads = 0;
}
