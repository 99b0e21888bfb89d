/*
 * Cancelling a query whose request went away or timed out.
 *
 * libpq 15's PQcancel() blocks: it opens a new connection to the server,
 * sends the cancel request and waits for the server to close it. To a
 * server that does not answer (a host gone from the network) that is the
 * kernel's connect timeout, minutes, which would stall every request of
 * the worker. So each cancel runs in a short detached thread, with a copy
 * of the connection's cancel key (PQgetCancel; PQcancel is documented as
 * thread-safe), and reports over the pool's pipe. (libpq 17 has
 * PQcancelStart for this; Debian 12 ships 15.) The connection is not
 * given another query before the report: a cancel request that lands late
 * could otherwise stop the next query. (A cancel that reaches a backend
 * that has gone idle is ignored by the server.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fw.h>

#include "core/log.h"
#include "core/thread.h"
#include "pg/pool.h"

/* One report, written at once (under PIPE_BUF, so never torn). */
struct cancel_note {
	uint32_t index; /* the connection's slot */
	uint32_t gen;   /* its generation when the cancel started */
	int32_t ok;
	char error[116];
};

struct cancel_job {
	PGcancel *cancel;
	int fd;
	struct cancel_note note;
};

static void *cancel_thread(void *arg)
{
	struct cancel_job *job = arg;
	ssize_t n;

	job->note.ok = PQcancel(job->cancel, job->note.error, (int)sizeof(job->note.error));
	PQfreeCancel(job->cancel);
	do
		n = write(job->fd, &job->note, sizeof(job->note));
	while (n < 0 && errno == EINTR);
	free(job);
	return NULL;
}

int pg_cancel_start(struct pg_conn *c)
{
	struct cancel_job *job;
	pthread_attr_t attr;
	pthread_t t;
	int err;

	if (c->pg == NULL || (job = calloc(1, sizeof(*job))) == NULL)
		return -1;
	if ((job->cancel = PQgetCancel(c->pg)) == NULL) {
		free(job);
		return -1;
	}
	job->fd = c->pool->notify[1];
	job->note.index = (uint32_t)c->index;
	job->note.gen = c->gen;
	if ((err = pthread_attr_init(&attr)) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024); /* PQcancel needs little */
		/* No signal of the worker's may land here: they are the loop thread's. */
		err = fw_thread_create(&t, &attr, cancel_thread, job);
		pthread_attr_destroy(&attr);
	}
	if (err != 0) {
		errno = err;
		fw_log_errno(FW_LOG_ERROR, "pg: pthread_create (a cancel request)");
		PQfreeCancel(job->cancel);
		free(job);
		return -1;
	}
	c->pool->cancels++;
	return 0;
}

void pg_cancel_notified(evutil_socket_t fd, short what, void *arg)
{
	struct pg_pool *p = arg;
	struct cancel_note note;
	ssize_t n;

	(void)what;
	while ((n = read(fd, &note, sizeof(note))) == (ssize_t)sizeof(note)) {
		struct pg_conn *c;

		p->cancels--;
		if (note.index >= (uint32_t)p->nconns)
			continue;
		c = &p->conns[note.index];
		if (!note.ok) {
			note.error[sizeof(note.error) - 1] = '\0';
			note.error[strcspn(note.error, "\n")] = '\0';
			fw_log(FW_LOG_WARN, "pg: the cancel request failed: %s", note.error);
		}
		if (c->gen == note.gen && c->cancelling)
			pg_conn_cancel_done(c);
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		fw_log_errno(FW_LOG_ERROR, "pg: read (the cancel pipe)");
}
