/*
 * The public side of a batch: built in request memory, sent to the pool,
 * its done callback called once from the loop, its results freed when the
 * request ends (fw_on_request_end), however it ends.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fw.h>
#include <fw/pg.h>

#include "core/clock.h"
#include "pg/batch.h"
#include "pg/pool.h"

#define MAX_QUERIES 100000

static void batch_set_error(struct fw_pg *b, const char *fmt, va_list ap) FW_PRINTF(2, 0);

static void batch_set_error(struct fw_pg *b, const char *fmt, va_list ap)
{
	char msg[512], line[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (b->error == NULL)
		b->error = fw_strdup(b->req, pg_one_line(line, sizeof(line), msg));
}

void pg_batch_error(struct fw_pg *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	batch_set_error(b, fmt, ap);
	va_end(ap);
}

/* The request ended (answered, cancelled, timed out): nothing of the batch may outlive it. */
static void batch_end(void *arg)
{
	struct fw_pg *b = arg;
	struct pg_pool *p = pg_pool_get();

	if (b->state == PG_BATCH_WAITING && p != NULL)
		pg_pool_unwait(p, b);
	else if (b->state == PG_BATCH_RUNNING && b->conn != NULL)
		pg_conn_abandon(b->conn);
	if (b->ev_set)
		event_del(&b->ev);
	for (int i = 0; i < b->n; i++) {
		PQclear(b->q[i].res);
		b->q[i].res = NULL;
	}
	b->state = PG_BATCH_DONE;
}

/*
 * The request's cancel callback while a batch runs: ending the request is
 * what cancels it (batch_end). The callback it found (the handler's own
 * timer, an earlier batch) must hear of the cancel too.
 */
static void batch_cancelled(fw_req *req, void *arg)
{
	struct fw_pg *b = arg;

	if (b->state != PG_BATCH_DONE)
		fw_log(FW_LOG_DEBUG,
		       "pg: the request of a batch of %d queries ended before its answer; cancelling",
		       b->n);
	if (b->prev_cancel != NULL)
		b->prev_cancel(req, b->prev_cancel_arg);
}

/*
 * Give the request back the cancel callback fw_pg_send() found, unless
 * someone set another meanwhile (the handler, a later batch): theirs
 * stays. Batches that ended meanwhile are skipped, so that a callback
 * outlives no batch that set it.
 */
static void batch_release_cancel(struct fw_pg *b)
{
	void (*fn)(fw_req *, void *);
	void *arg;

	fw_cancel_callback(b->req, &fn, &arg);
	if (fn != batch_cancelled || arg != b)
		return;
	fn = b->prev_cancel;
	arg = b->prev_cancel_arg;
	while (fn == batch_cancelled && ((struct fw_pg *)arg)->state == PG_BATCH_DONE) {
		const struct fw_pg *ended = arg;

		fn = ended->prev_cancel;
		arg = ended->prev_cancel_arg;
	}
	fw_on_cancel(b->req, fn, arg);
}

static void batch_call_done(struct fw_pg *b)
{
	b->state = PG_BATCH_DONE;
	batch_release_cancel(b);
	b->done(b->req, b, b->arg); /* may finish the request: b is gone after this */
}

/* b->ev: the query timeout, or the batch finished and done is due. */
static void batch_event(evutil_socket_t fd, short what, void *arg)
{
	struct fw_pg *b = arg;
	struct pg_pool *p = pg_pool_get();
	int ms = p != NULL ? p->cfg.query_timeout_ms : 0;

	(void)fd;
	(void)what;
	if (b->state == PG_BATCH_DONE)
		return;
	if (b->state == PG_BATCH_FINISHED) {
		batch_call_done(b);
		return;
	}
	fw_log(FW_LOG_WARN, "pg: a batch of %d queries timed out after %d ms (%s); cancelling it", b->n,
	       ms, b->state == PG_BATCH_WAITING ? "waiting for a connection" : "running");
	if (b->state == PG_BATCH_WAITING && p != NULL)
		pg_pool_unwait(p, b);
	else if (b->state == PG_BATCH_RUNNING && b->conn != NULL)
		pg_conn_abandon(b->conn);
	b->conn = NULL;
	b->status = 504;
	pg_batch_error(b, "query_timeout_ms (%d ms) passed", ms);
	batch_call_done(b);
}

/* Done is called from the loop, never from inside a fw_pg_* call of the application. */
static void batch_finished(struct fw_pg *b)
{
	b->state = PG_BATCH_FINISHED;
	b->conn = NULL;
	event_del(&b->ev);
	event_active(&b->ev, EV_TIMEOUT, 1);
}

void pg_batch_result(struct fw_pg *b, int i, PGresult *res)
{
	if (i < 0 || i >= b->n) {
		PQclear(res);
		return;
	}
	PQclear(b->q[i].res); /* a statement has one result in the extended protocol; keep the last */
	b->q[i].res = res;
}

void pg_batch_complete(struct fw_pg *b)
{
	for (int i = 0; i < b->n && b->status == 0; i++) {
		PGresult *r = b->q[i].res;
		ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY)
			continue;
		b->status = pg_http_status(r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
		pg_batch_error(b, "query %d of %d%s%s: %s", i + 1, b->n, b->q[i].stmt ? " " : "",
			       b->q[i].stmt ? b->q[i].stmt->name : "",
			       r != NULL ? PQresultErrorMessage(r) : "no result");
	}
	batch_finished(b);
}

void pg_batch_fail(struct fw_pg *b, int status, const char *fmt, ...)
{
	va_list ap;

	b->status = status;
	va_start(ap, fmt);
	batch_set_error(b, fmt, ap);
	va_end(ap);
	batch_finished(b);
}

FW_API fw_pg *fw_pg_new(fw_req *req)
{
	struct fw_pg *b;

	if (req == NULL)
		return NULL;
	if (pg_pool_get() == NULL) {
		fw_log(FW_LOG_ERROR, "fw_pg_new: no pool in this process (call fw_pg_setup() in main(), "
				     "before fw_main())");
		return NULL;
	}
	if ((b = fw_alloc(req, sizeof(*b))) == NULL) {
		fw_log(FW_LOG_ERROR, "fw_pg_new: out of memory");
		return NULL;
	}
	memset(b, 0, sizeof(*b));
	b->req = req;
	if (fw_on_request_end(req, batch_end, b) != 0) {
		fw_log(FW_LOG_ERROR, "fw_pg_new: out of memory");
		return NULL;
	}
	return b;
}

/* Room for one more query; NULL when out of memory (logged). */
static struct pg_query *batch_slot(struct fw_pg *b)
{
	if (b->n == b->cap) {
		int cap = b->cap == 0 ? 4 : b->cap * 2;
		struct pg_query *q = fw_alloc(b->req, (size_t)cap * sizeof(*q));

		if (q == NULL) {
			fw_log(FW_LOG_ERROR, "fw_pg_add: out of memory");
			return NULL;
		}
		if (b->n > 0)
			memcpy(q, b->q, (size_t)b->n * sizeof(*q));
		b->q = q;
		b->cap = cap;
	}
	memset(&b->q[b->n], 0, sizeof(b->q[b->n]));
	return &b->q[b->n];
}

static int batch_add(struct fw_pg *b, const struct pg_stmt *stmt, const char *sql, int nparams,
		     const char *const *values)
{
	struct pg_query *q;

	if (b == NULL || b->state != PG_BATCH_NEW || nparams < 0 || nparams > 65535 ||
	    (nparams > 0 && values == NULL) || (stmt == NULL && sql == NULL) || b->n >= MAX_QUERIES) {
		fw_log(FW_LOG_ERROR, "fw_pg_add: %s",
		       b == NULL                  ? "no batch"
		       : b->state != PG_BATCH_NEW ? "the batch was sent"
		       : b->n >= MAX_QUERIES      ? "more than 100000 queries in one batch"
						  : "bad arguments");
		return -1;
	}
	if ((q = batch_slot(b)) == NULL)
		return -1;
	q->stmt = stmt;
	q->nparams = nparams;
	if ((sql != NULL && (q->sql = fw_strdup(b->req, sql)) == NULL) ||
	    (nparams > 0 && (q->values = fw_alloc(b->req, (size_t)nparams * sizeof(char *))) == NULL)) {
		fw_log(FW_LOG_ERROR, "fw_pg_add: out of memory");
		return -1;
	}
	for (int i = 0; i < nparams; i++)
		if (values[i] != NULL && (q->values[i] = fw_strdup(b->req, values[i])) == NULL) {
			fw_log(FW_LOG_ERROR, "fw_pg_add: out of memory");
			return -1;
		} else if (values[i] == NULL) {
			q->values[i] = NULL;
		}
	b->n++;
	return 0;
}

FW_API int fw_pg_add(fw_pg *pg, const char *sql, int nparams, const char *const *values)
{
	return batch_add(pg, NULL, sql, nparams, values);
}

FW_API int fw_pg_add_prepared(fw_pg *pg, const char *name, int nparams, const char *const *values)
{
	const struct pg_stmt *s = name != NULL ? pg_stmt_find(name) : NULL;

	if (s == NULL) {
		fw_log(FW_LOG_ERROR,
		       "fw_pg_add_prepared: no statement '%s' (fw_pg_prepare() it in main())",
		       name ? name : "(null)");
		return -1;
	}
	return batch_add(pg, s, NULL, nparams, values);
}

FW_API int fw_pg_send(fw_pg *pg, fw_pg_done done, void *arg)
{
	struct pg_pool *p = pg_pool_get();
	struct fw_pg *b = pg;
	int st;

	if (b == NULL)
		return 500;
	if (b->state != PG_BATCH_NEW || b->n == 0 || done == NULL || p == NULL) {
		pg_batch_error(b, "fw_pg_send: %s",
			       b->state != PG_BATCH_NEW ? "the batch was sent already"
			       : b->n == 0              ? "an empty batch"
			       : done == NULL           ? "no done callback"
							: "no pool");
		fw_log(FW_LOG_ERROR, "pg: %s", b->error ? b->error : "fw_pg_send: refused");
		return 500;
	}
	b->done = done;
	b->arg = arg;
	b->sent_ms = fw_now_ms();
	event_assign(&b->ev, p->base, -1, 0, batch_event, b);
	b->ev_set = true;
	if (p->cfg.query_timeout_ms > 0) {
		struct timeval tv = {p->cfg.query_timeout_ms / 1000,
				     (p->cfg.query_timeout_ms % 1000) * 1000};

		/* Without its timer a batch could wait for ever: refused rather than sent unbounded. */
		if (event_add(&b->ev, &tv) != 0) {
			b->state = PG_BATCH_DONE;
			pg_batch_error(b, "fw_pg_send: event_add: cannot arm query_timeout_ms");
			fw_log(FW_LOG_ERROR, "pg: %s; answering 500", b->error ? b->error : "event_add");
			return 500;
		}
	}
	if ((st = pg_pool_submit(p, b)) != FW_ASYNC) {
		event_del(&b->ev);
		b->state = PG_BATCH_DONE;
		return st;
	}
	fw_cancel_callback(b->req, &b->prev_cancel, &b->prev_cancel_arg);
	fw_on_cancel(b->req, batch_cancelled, b);
	return FW_ASYNC;
}

FW_API int fw_pg_status(const fw_pg *pg)
{
	return pg != NULL ? pg->status : 500;
}

FW_API const char *fw_pg_error(const fw_pg *pg)
{
	return pg != NULL ? pg->error : NULL;
}

FW_API int fw_pg_count(const fw_pg *pg)
{
	return pg != NULL ? pg->n : 0;
}

FW_API PGresult *fw_pg_result(const fw_pg *pg, int i)
{
	return pg != NULL && i >= 0 && i < pg->n ? pg->q[i].res : NULL;
}
