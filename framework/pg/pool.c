/*
 * The worker's pool: which connection takes a batch, the queue of those
 * waiting for one, when to open another connection, and the backoff
 * after failed attempts. Connections are opened in the worker when a
 * batch needs one, up to pool_size, so a worker never holds more and the
 * master never holds any.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fw.h>

#include "config/current.h"
#include "core/clock.h"
#include "core/log.h"
#include "pg/batch.h"
#include "pg/pool.h"

#define BACKOFF_FIRST_MS 100

static struct pg_pool *pool;

struct pg_pool *pg_pool_get(void)
{
	return pool;
}

int pg_backoff_ms(int failures, int max_ms, uint32_t rnd)
{
	long ms = BACKOFF_FIRST_MS;

	if (failures <= 0)
		return 0;
	for (int i = 1; i < failures && ms < max_ms; i++)
		ms *= 2;
	if (ms > max_ms)
		ms = max_ms;
	/* 75% to 125%, so that the workers of a server do not all knock at once. */
	ms = ms * 3 / 4 + (long)((uint64_t)(ms / 2) * rnd >> 32);
	return ms > max_ms ? max_ms : (int)ms;
}

static uint32_t pool_random(struct pg_pool *p)
{
	p->rnd ^= p->rnd << 13; /* xorshift64: jitter, nothing secret */
	p->rnd ^= p->rnd >> 7;
	p->rnd ^= p->rnd << 17;
	return (uint32_t)(p->rnd >> 32);
}

bool pg_pool_alive(const struct pg_pool *p)
{
	for (int i = 0; i < p->nconns; i++)
		if (p->conns[i].state != PGC_CLOSED)
			return true;
	return false;
}

static void wait_push(struct pg_pool *p, struct fw_pg *b)
{
	b->state = PG_BATCH_WAITING;
	b->next = NULL;
	b->prev = p->wait_tail;
	if (p->wait_tail != NULL)
		p->wait_tail->next = b;
	else
		p->wait_head = b;
	p->wait_tail = b;
	p->nwaiting++;
}

void pg_pool_unwait(struct pg_pool *p, struct fw_pg *b)
{
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		p->wait_head = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	else
		p->wait_tail = b->prev;
	b->prev = b->next = NULL;
	p->nwaiting--;
}

/* Every waiting batch fails: no connection is left that could take them. */
static void fail_waiting(struct pg_pool *p, const char *why)
{
	while (p->wait_head != NULL) {
		struct fw_pg *b = p->wait_head;

		pg_pool_unwait(p, b);
		pg_batch_fail(b, 503, "%s", why);
	}
}

/*
 * Open connections for the batches that wait, as long as fewer are being
 * opened than batches wait, a slot is free and the backoff allows it.
 */
static int opening(const struct pg_pool *p)
{
	int n = 0;

	for (int i = 0; i < p->nconns; i++)
		if (p->conns[i].state == PGC_CONNECTING || p->conns[i].state == PGC_PREPARING)
			n++;
	return n;
}

static void maybe_open(struct pg_pool *p, int wanted)
{
	int n = opening(p);

	for (int i = 0; i < p->nconns && n < wanted; i++) {
		if (p->conns[i].state != PGC_CLOSED)
			continue;
		if (fw_now_ms() < p->retry_at_ms)
			return;
		if (pg_conn_open(&p->conns[i]) != 0)
			return; /* the pool was told, and backs off */
		n++;
	}
}

int pg_pool_submit(struct pg_pool *p, struct fw_pg *b)
{
	uint64_t now = fw_now_ms();

	if (p->closing) {
		pg_batch_error(b, "the worker is stopping");
		return 503;
	}
	for (int i = 0; i < p->nconns; i++) {
		struct pg_conn *c = &p->conns[i];

		if (c->state == PGC_IDLE && pg_conn_send(c, b) == 0)
			return FW_ASYNC; /* a connection that broke on the way is closed: try the next */
	}
	/*
	 * Opened first: max_waiting bounds the batches that wait for a busy
	 * connection, not those a connection being opened will take (with
	 * max_waiting = 0, a cold pool would otherwise never open one).
	 */
	maybe_open(p, p->nwaiting + 1);
	if (p->nwaiting >= p->cfg.max_waiting + opening(p)) {
		pg_batch_error(b, "%d queries wait for a database connection already (max_waiting)",
			       p->nwaiting);
		fw_log(FW_LOG_WARN, "pg: %s; answering 503", b->error ? b->error : "max_waiting");
		return 503;
	}
	if (!pg_pool_alive(p)) {
		pg_batch_error(
			b, "the database is unavailable (%d failed connection attempts; the next in %llu ms)",
			p->failures,
			(unsigned long long)(p->retry_at_ms > now ? p->retry_at_ms - now : 0));
		return 503;
	}
	wait_push(p, b);
	return FW_ASYNC;
}

/* Back to the head of the queue: the connection it was given broke before it went out. */
static void wait_push_front(struct pg_pool *p, struct fw_pg *b)
{
	b->state = PG_BATCH_WAITING;
	b->prev = NULL;
	b->next = p->wait_head;
	if (p->wait_head != NULL)
		p->wait_head->prev = b;
	else
		p->wait_tail = b;
	p->wait_head = b;
	p->nwaiting++;
}

void pg_pool_conn_idle(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;

	while (c->state == PGC_IDLE && p->wait_head != NULL) {
		struct fw_pg *b = p->wait_head;

		pg_pool_unwait(p, b);
		if (pg_conn_send(c, b) != 0) {
			wait_push_front(p, b); /* c is closed now */
			pg_pool_conn_closed(c);
			return;
		}
	}
	/*
	 * Draining, a connection nothing waits for is let go (the replacement
	 * needs it), but only after the done callback activated with it has
	 * run (the same priority, activated later): a batch that callback
	 * chains takes this connection rather than open another.
	 */
	if (p->draining && c->state == PGC_IDLE)
		event_active(&p->sweep_ev, EV_TIMEOUT, 1);
}

static void close_idle(struct pg_pool *p)
{
	int closed = 0;

	for (int i = 0; i < p->nconns; i++)
		if (p->conns[i].state == PGC_IDLE) {
			pg_conn_close(&p->conns[i]);
			closed++;
		}
	if (closed > 0)
		fw_log(FW_LOG_DEBUG, "pg: draining: closed %d idle connection%s", closed,
		       closed == 1 ? "" : "s");
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	close_idle(arg);
}

void pg_pool_connected(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;

	if (p->failures > 0)
		fw_log(FW_LOG_INFO, "pg: connected to the database again after %d failed attempt%s",
		       p->failures, p->failures == 1 ? "" : "s");
	p->failures = 0;
	p->retry_at_ms = 0;
}

void pg_pool_connect_failed(struct pg_conn *c, const char *why)
{
	struct pg_pool *p = c->pool;
	int ms;

	p->failures++;
	ms = pg_backoff_ms(p->failures, p->cfg.reconnect_max_ms, pool_random(p));
	p->retry_at_ms = fw_now_ms() + (uint64_t)ms;
	fw_log(FW_LOG_ERROR,
	       "pg: cannot connect to the database (attempt %d): %s; next attempt in %d ms at the "
	       "earliest, queries meanwhile get 503",
	       p->failures, why, ms);
	if (!pg_pool_alive(p))
		fail_waiting(p, "the database is unavailable");
}

void pg_pool_conn_closed(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;

	if (p->closing || p->wait_head == NULL)
		return;
	maybe_open(p, p->nwaiting);
	if (!pg_pool_alive(p))
		fail_waiting(p, "the database connection was lost");
}

/* ---- the worker's hooks ---- */

static void pool_free(struct pg_pool *p)
{
	free(p->conns);
	free(p);
}

int pg_pool_start(void *arg)
{
	const struct fw_config *cfg = fw_config_current();
	PQconninfoOption *opts;
	char *err = NULL;
	struct pg_pool *p;

	(void)arg;
	if (cfg == NULL || fw_event_base() == NULL) {
		fw_log(FW_LOG_ERROR, "pg: the pool starts in a worker only");
		return -1;
	}
	/* A connection string that cannot work is a configuration error: the boot fails and says why. */
	if (cfg->pg.conninfo[0] != '\0' && (opts = PQconninfoParse(cfg->pg.conninfo, &err)) == NULL) {
		fw_log(FW_LOG_ERROR, "pg: [pg] conninfo: %s", err != NULL ? err : "out of memory");
		PQfreemem(err);
		return -1;
	} else if (cfg->pg.conninfo[0] != '\0') {
		PQconninfoFree(opts);
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->conns = calloc((size_t)cfg->pg.pool_size, sizeof(*p->conns))) == NULL) {
		free(p);
		fw_log(FW_LOG_ERROR, "pg: out of memory");
		return -1;
	}
	p->cfg = cfg->pg;
	p->base = fw_event_base();
	p->nconns = cfg->pg.pool_size;
	p->rnd = ((uint64_t)getpid() << 32) ^ fw_now_us() ^ 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < p->nconns; i++) {
		p->conns[i].pool = p;
		p->conns[i].index = i;
		p->conns[i].fd = -1;
	}
	if (pipe2(p->notify, O_CLOEXEC | O_NONBLOCK) != 0) {
		fw_log_errno(FW_LOG_ERROR, "pg: pipe2");
		pool_free(p);
		return -1;
	}
	evtimer_assign(&p->sweep_ev, p->base, on_sweep, p);
	event_assign(&p->notify_ev, p->base, p->notify[0], EV_READ | EV_PERSIST, pg_cancel_notified, p);
	if (event_add(&p->notify_ev, NULL) != 0) {
		fw_log(FW_LOG_ERROR, "pg: event_add: cannot watch the cancel pipe");
		close(p->notify[0]);
		close(p->notify[1]);
		pool_free(p);
		return -1;
	}
	pool = p;
	return 0;
}

/*
 * The worker takes no new request (its replacement serves, or it stops):
 * idle connections close now (a Terminate each), busy ones once their
 * batch and the queue are done (pg_pool_conn_idle), so that this worker
 * and its replacement together hold little more than pool_size. A batch
 * still to come here is served as before: chained from a callback it
 * takes the connection that just finished; else one is opened if none is
 * free, rather than have it wait behind another request's long query.
 */
void pg_pool_drain(void *arg)
{
	struct pg_pool *p = pool;

	(void)arg;
	if (p == NULL || p->draining)
		return;
	p->draining = true;
	/* Not now: this may run inside a callback of one of them. */
	event_active(&p->sweep_ev, EV_TIMEOUT, 1);
}

/* Worker exit: every connection ends cleanly (a Terminate, no "unexpected EOF" on the server). */
void pg_pool_stop(void *arg)
{
	struct pg_pool *p = pool;
	uint64_t deadline;

	(void)arg;
	if (p == NULL)
		return;
	p->closing = true;
	fail_waiting(p, "the worker is stopping");
	deadline = fw_now_ms() + 2000;
	for (int i = 0; i < p->nconns; i++)
		pg_conn_settle(&p->conns[i], deadline);
	event_del(&p->notify_ev);
	event_del(&p->sweep_ev);
	/* A cancel thread still running writes to the pipe when it ends: keep it open then. */
	if (p->cancels == 0) {
		close(p->notify[0]);
		close(p->notify[1]);
	}
	pool = NULL;
	pool_free(p);
}
