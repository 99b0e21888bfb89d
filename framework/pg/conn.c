/*
 * One connection of the pool, on the worker's event loop: connecting
 * without blocking (PQconnectPoll), preparing the statements, running one
 * batch at a time in pipeline mode (every query followed by its Sync, so
 * that each runs as its own statement), reading results as they come,
 * and giving a cancelled batch's connection back once the server is done
 * with it.
 *
 * libpq's pipeline yields, per query: its result, NULL, then the Sync's
 * PGRES_PIPELINE_SYNC (no NULL after that). `want_sync` tells which of the
 * two comes next.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <fw.h>

#include "core/clock.h"
#include "pg/batch.h"
#include "pg/pool.h"

static void conn_io(evutil_socket_t fd, short what, void *arg);
static void conn_connecting(evutil_socket_t fd, short what, void *arg);
static void conn_timer(evutil_socket_t fd, short what, void *arg);

static const char *conn_message(const struct pg_conn *c, char *buf, size_t len)
{
	pg_one_line(buf, len, c->pg != NULL ? PQerrorMessage(c->pg) : "out of memory");
	return buf[0] != '\0' ? buf : "no message from libpq";
}

/* The server's notices (a WARNING, a NOTICE) go to the error log, not to stderr as libpq would. */
static void conn_notice(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	(void)arg;
	fw_log(sev != NULL && strcmp(sev, "WARNING") == 0 ? FW_LOG_WARN : FW_LOG_INFO,
	       "pg: server %s: %s", sev != NULL ? sev : "notice", msg != NULL ? msg : "");
}

/* The connection's deadline. 0, or -1: the caller closes, as nothing would bound the wait. */
static int timer_arm(struct pg_conn *c, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (!c->timer_on)
		evtimer_assign(&c->timer, c->pool->base, conn_timer, c);
	if (evtimer_add(&c->timer, &tv) != 0) {
		if (c->timer_on)
			event_del(&c->timer);
		c->timer_on = false;
		return -1;
	}
	c->timer_on = true;
	return 0;
}

static void events_off(struct pg_conn *c)
{
	if (c->rev_on)
		event_del(&c->rev);
	if (c->wev_on)
		event_del(&c->wev);
	if (c->timer_on)
		event_del(&c->timer);
	c->rev_on = c->wev_on = c->timer_on = false;
	c->fd = -1;
}

void pg_conn_close(struct pg_conn *c)
{
	events_off(c);
	if (c->pg != NULL)
		PQfinish(c->pg); /* a Terminate first, when the connection is up */
	c->pg = NULL;
	c->state = PGC_CLOSED;
	c->batch = NULL;
	c->syncs = 0;
	c->cur = 0;
	c->want_sync = false;
	/* A cancel thread of the old connection reports to a newer generation: ignored. */
	c->cancelling = false;
}

/* The connection broke: its batch fails with 503, and the pool may open another. */
static void conn_lost(struct pg_conn *c, const char *what)
{
	char msg[512];
	struct fw_pg *b = c->batch;
	enum pg_conn_state was = c->state;

	conn_message(c, msg, sizeof(msg));
	if (was == PGC_CONNECTING || was == PGC_PREPARING) {
		pg_conn_close(c);
		pg_pool_connect_failed(c, msg);
		return;
	}
	fw_log(FW_LOG_ERROR, "pg: %s: %s", what, msg);
	c->batch = NULL;
	pg_conn_close(c);
	if (b != NULL)
		pg_batch_fail(b, 503, "the database connection was lost: %s", msg);
	pg_pool_conn_closed(c);
}

/* Watch the socket, once, for what PQconnectPoll asked (the socket may change between calls). */
static int watch_connect(struct pg_conn *c, short what)
{
	if (c->rev_on)
		event_del(&c->rev);
	c->fd = PQsocket(c->pg);
	event_assign(&c->rev, c->pool->base, c->fd, what, conn_connecting, c);
	c->rev_on = event_add(&c->rev, NULL) == 0;
	if (!c->rev_on)
		fw_log(FW_LOG_ERROR, "pg: event_add: cannot watch a connection being opened");
	return c->rev_on ? 0 : -1;
}

/* Connected: the socket is watched for reads for good, and for writes while a flush is due. */
static int watch_io(struct pg_conn *c)
{
	if (c->rev_on)
		event_del(&c->rev);
	c->fd = PQsocket(c->pg);
	event_assign(&c->rev, c->pool->base, c->fd, EV_READ | EV_PERSIST, conn_io, c);
	event_assign(&c->wev, c->pool->base, c->fd, EV_WRITE, conn_io, c);
	c->rev_on = event_add(&c->rev, NULL) == 0;
	if (!c->rev_on)
		fw_log(FW_LOG_ERROR, "pg: event_add: cannot watch a connection");
	return c->rev_on ? 0 : -1;
}

/* Push what libpq holds to the socket; wait for writability if it does not all go. 0, or -1: broken. */
static int conn_flush(struct pg_conn *c)
{
	int r = PQflush(c->pg);

	if (r < 0)
		return -1;
	if (r == 1 && !c->wev_on) {
		/* Unwatched, the rest would never go out and the batch would wait for ever. */
		if (event_add(&c->wev, NULL) != 0) {
			fw_log(FW_LOG_ERROR, "pg: event_add: cannot wait to send the rest of a query");
			return -1;
		}
		c->wev_on = true;
	}
	return 0;
}

/* Start the pipeline of one query per Sync; the caller sets what the results are for. */
static int conn_send_query(struct pg_conn *c, const struct pg_query *q)
{
	int ok;

	if (q->stmt != NULL)
		ok = PQsendQueryPrepared(c->pg, q->stmt->name, q->nparams,
					 (const char *const *)q->values, NULL, NULL, 0);
	else
		ok = PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, (const char *const *)q->values,
				       NULL, NULL, 0);
	return ok && PQpipelineSync(c->pg) ? 0 : -1;
}

/* Right after connecting: prepare every statement of fw_pg_prepare(), each with its own Sync. */
static int conn_prepare(struct pg_conn *c)
{
	int n = pg_stmt_count();

	for (int i = 0; i < n; i++) {
		const struct pg_stmt *s = pg_stmt_at(i);

		if (!PQsendPrepare(c->pg, s->name, s->sql, 0, NULL) || !PQpipelineSync(c->pg))
			return -1;
	}
	c->syncs = n;
	c->cur = 0;
	c->want_sync = false;
	return conn_flush(c);
}

static void conn_ready(struct pg_conn *c)
{
	if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1 || watch_io(c) != 0) {
		conn_lost(c, "setting up the connection");
		return;
	}
	PQsetNoticeReceiver(c->pg, conn_notice, c);
	c->state = PGC_PREPARING;
	if (conn_prepare(c) != 0) {
		conn_lost(c, "preparing statements");
		return;
	}
	if (c->syncs == 0) {
		if (c->timer_on)
			event_del(&c->timer);
		c->state = PGC_IDLE;
		pg_pool_connected(c);
		pg_pool_conn_idle(c);
	}
}

static void conn_connecting(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *c = arg;

	(void)fd;
	(void)what;
	c->rev_on = false; /* one-shot */
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		if (watch_connect(c, EV_READ) != 0)
			conn_lost(c, "connecting");
		return;
	case PGRES_POLLING_WRITING:
		if (watch_connect(c, EV_WRITE) != 0)
			conn_lost(c, "connecting");
		return;
	case PGRES_POLLING_OK:
		conn_ready(c);
		return;
	default:
		conn_lost(c, "connecting");
		return;
	}
}

int pg_conn_open(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;
	/* The configured string may be a URI or key=value pairs: expand_dbname reads either. */
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *values[] = {p->cfg.conninfo, "fw", NULL};

	c->gen++;
	c->pg = PQconnectStartParams(keys, values, 1);
	c->state = PGC_CONNECTING;
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c, "connecting");
		return -1;
	}
	if (timer_arm(c, p->cfg.connect_timeout_ms) != 0) {
		pg_conn_close(c);
		pg_pool_connect_failed(c, "event_add: cannot arm connect_timeout_ms");
		return -1;
	}
	if (watch_connect(c, EV_WRITE) != 0) { /* libpq: begin as if PGRES_POLLING_WRITING */
		conn_lost(c, "connecting");
		return -1;
	}
	return 0;
}

int pg_conn_send(struct pg_conn *c, struct fw_pg *b)
{
	for (int i = 0; i < b->n; i++)
		if (conn_send_query(c, &b->q[i]) != 0) {
			char msg[512];

			fw_log(FW_LOG_ERROR, "pg: sending a query: %s",
			       conn_message(c, msg, sizeof(msg)));
			pg_conn_close(c);
			return -1;
		}
	if (conn_flush(c) != 0) {
		char msg[512];

		fw_log(FW_LOG_ERROR, "pg: sending a query: %s", conn_message(c, msg, sizeof(msg)));
		pg_conn_close(c);
		return -1;
	}
	c->state = PGC_BUSY;
	c->batch = b;
	c->syncs = b->n;
	c->cur = 0;
	c->want_sync = false;
	b->state = PG_BATCH_RUNNING;
	b->conn = c;
	return 0;
}

/* A result of query c->cur: to the batch, into the log (preparing), or away (draining). */
static void conn_deliver(struct pg_conn *c, PGresult *r)
{
	if (c->state == PGC_BUSY && c->batch != NULL) {
		pg_batch_result(c->batch, c->cur, r);
		return;
	}
	if (c->state == PGC_PREPARING && PQresultStatus(r) != PGRES_COMMAND_OK &&
	    c->cur < pg_stmt_count()) {
		char msg[512];

		fw_log(FW_LOG_ERROR, "pg: cannot prepare statement '%s': %s", pg_stmt_at(c->cur)->name,
		       pg_one_line(msg, sizeof(msg), PQresultErrorMessage(r)));
	}
	PQclear(r);
}

/*
 * Read the results that are there. 1: every Sync came back; 0: more to
 * come; -1: the stream is not what was sent (the connection is unusable).
 */
static int conn_results(struct pg_conn *c)
{
	while (c->syncs > 0 && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);

		if (!c->want_sync) {
			if (r == NULL) {
				c->want_sync = true; /* cur's results are over */
				continue;
			}
			if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
				PQclear(r);
				return -1;
			}
			conn_deliver(c, r);
			continue;
		}
		if (r == NULL)
			break; /* the Sync is not here yet */
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			c->syncs--;
			c->cur++;
			c->want_sync = false;
		}
		PQclear(r);
	}
	return c->syncs == 0 ? 1 : 0;
}

/* The connection has nothing in flight any more: what now depends on why it was busy. */
static void conn_settled(struct pg_conn *c)
{
	struct fw_pg *b = c->batch;

	switch (c->state) {
	case PGC_PREPARING:
		if (c->timer_on)
			event_del(&c->timer);
		c->state = PGC_IDLE;
		pg_pool_connected(c);
		pg_pool_conn_idle(c);
		return;
	case PGC_BUSY:
		c->batch = NULL;
		c->state = PGC_IDLE;
		if (b != NULL)
			pg_batch_complete(b);
		pg_pool_conn_idle(c);
		return;
	case PGC_DRAINING:
		if (c->cancelling)
			return; /* the cancel request may still land: no new query before it has */
		if (c->timer_on)
			event_del(&c->timer);
		c->state = PGC_IDLE;
		pg_pool_conn_idle(c);
		return;
	default:
		return;
	}
}

static void conn_io(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *c = arg;
	int r = 0;

	(void)fd;
	if (what & EV_WRITE)
		c->wev_on = false;
	if ((what & EV_READ) && !PQconsumeInput(c->pg)) {
		conn_lost(c,
			  c->state == PGC_IDLE ? "the idle connection was closed" : "reading results");
		return;
	}
	if (conn_flush(c) != 0) {
		conn_lost(c, "sending queries");
		return;
	}
	if (c->syncs > 0 && (r = conn_results(c)) < 0) {
		fw_log(FW_LOG_ERROR,
		       "pg: the results do not match the queries sent; closing the connection");
		conn_lost(c, "reading results");
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c,
			  c->state == PGC_IDLE ? "the idle connection was closed" : "reading results");
		return;
	}
	if (r == 1)
		conn_settled(c);
}

static void conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *c = arg;
	char msg[160];

	(void)fd;
	(void)what;
	if (c->state == PGC_CONNECTING || c->state == PGC_PREPARING) {
		snprintf(msg, sizeof(msg), "no connection within connect_timeout_ms (%d ms)",
			 c->pool->cfg.connect_timeout_ms);
		pg_conn_close(c);
		pg_pool_connect_failed(c, msg);
		return;
	}
	if (c->state == PGC_DRAINING) {
		fw_log(FW_LOG_WARN,
		       "pg: a cancelled query did not end within %d ms; closing its connection",
		       c->pool->cfg.connect_timeout_ms);
		pg_conn_close(c);
		pg_pool_conn_closed(c);
	}
}

void pg_conn_abandon(struct pg_conn *c)
{
	c->batch = NULL;
	c->state = PGC_DRAINING;
	if (pg_cancel_start(c) == 0)
		c->cancelling = true;
	else
		fw_log(FW_LOG_WARN, "pg: could not send a cancel request; the query runs to its end");
	/* A server that never answers does not keep the connection from the pool for ever. */
	if (timer_arm(c, c->pool->cfg.connect_timeout_ms) != 0) {
		/* Unbounded, the drain could hold the slot for good. */
		fw_log(FW_LOG_ERROR, "pg: event_add: cannot bound a cancelled query's drain; "
				     "closing its connection");
		pg_conn_close(c);
		pg_pool_conn_closed(c);
	}
}

void pg_conn_cancel_done(struct pg_conn *c)
{
	c->cancelling = false;
	if (c->state == PGC_DRAINING && c->syncs == 0)
		conn_settled(c);
}

/* Wait (blocking: the worker is exiting) for the socket, until deadline_ms. 0, or -1 when it passed. */
static int settle_wait(struct pg_conn *c, short events, uint64_t deadline_ms)
{
	uint64_t now = fw_now_ms();
	struct pollfd pfd = {PQsocket(c->pg), events, 0};

	if (now >= deadline_ms || pfd.fd < 0)
		return -1;
	return poll(&pfd, 1, (int)(deadline_ms - now)) > 0 ? 0 : -1;
}

void pg_conn_settle(struct pg_conn *c, uint64_t deadline_ms)
{
	events_off(c);
	/* A connection half open would leave "incomplete startup packet" behind: finish opening it. */
	while (c->state == PGC_CONNECTING) {
		PostgresPollingStatusType st = PQconnectPoll(c->pg);

		if (st == PGRES_POLLING_OK)
			c->state = PGC_PREPARING;
		else if (st == PGRES_POLLING_FAILED ||
			 settle_wait(c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline_ms) !=
				 0)
			break;
	}
	if (c->state == PGC_PREPARING && c->syncs == 0)
		c->state = PGC_IDLE;
	/*
	 * What is in flight ends first (cancelled queries end quickly), so the
	 * close is clean. A query libpq could not send whole yet is sent on
	 * as the socket takes it: the server answers nothing before its Sync,
	 * and a close mid-message leaves "unexpected EOF" in the server's log.
	 */
	while (c->pg != NULL && c->syncs > 0 && PQstatus(c->pg) == CONNECTION_OK) {
		int unsent = PQflush(c->pg);

		if (unsent < 0 ||
		    settle_wait(c, unsent == 1 ? POLLIN | POLLOUT : POLLIN, deadline_ms) != 0 ||
		    !PQconsumeInput(c->pg))
			break;
		c->batch = NULL;
		if (conn_results(c) != 0)
			break;
	}
	pg_conn_close(c);
}
