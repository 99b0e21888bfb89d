/*
 * A worker's PostgreSQL pool: up to pool_size connections, opened when a
 * batch needs one (never in the master), a queue of batches waiting for
 * one, and the backoff of connection attempts after failures.
 *
 * A connection (conn.c) runs one batch at a time, in pipeline mode: every
 * query followed by its Sync, results read as they come. Its states:
 *
 *   CLOSED --open--> CONNECTING --> PREPARING --> IDLE <--> BUSY
 *      ^                 |  (timeout,      |                 | batch cancelled
 *      |                 |   refused)      |                 v  (client gone, timeout)
 *      +-----------------+-----------------+---- lost ---  DRAINING: PQcancel in a
 *                                                          thread, results thrown away,
 *                                                          IDLE again when both are over
 */
#ifndef FW_PG_POOL_H
#define FW_PG_POOL_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <fw/pg.h>

#include "config/config.h"

struct fw_pg;

enum pg_conn_state { PGC_CLOSED, PGC_CONNECTING, PGC_PREPARING, PGC_IDLE, PGC_BUSY, PGC_DRAINING };

struct pg_conn {
	struct pg_pool *pool;
	int index;
	unsigned gen; /* connections made on this slot: tells a late cancel notice */
	enum pg_conn_state state;
	PGconn *pg;
	evutil_socket_t fd; /* the socket events are assigned to, or -1 */
	struct event rev;   /* connecting: one-shot, as PQconnectPoll asks; then persistent reads */
	struct event wev;   /* a flush that could not finish */
	struct event timer; /* the connect deadline; a drain's deadline */
	bool rev_on, wev_on, timer_on;
	struct fw_pg *batch; /* BUSY: the batch; NULL while DRAINING or PREPARING */
	int syncs;           /* queries whose Sync has not come back */
	int cur;             /* the query whose results come next */
	bool want_sync;      /* cur's results are over: its Sync comes next */
	bool cancelling;     /* a cancel request is on its way (cancel.c) */
};

struct pg_pool {
	struct fw_pg_settings cfg;
	struct event_base *base;
	struct pg_conn *conns;
	int nconns;
	struct fw_pg *wait_head, *wait_tail;
	int nwaiting;
	int failures;         /* connection attempts failed in a row */
	uint64_t retry_at_ms; /* no attempt before this (backoff) */
	uint64_t rnd;         /* the backoff's jitter */
	int notify[2];        /* cancel threads -> the loop */
	struct event notify_ev;
	int cancels; /* cancel threads running */
	bool closing;
	bool draining;         /* the worker takes no new request: connections close once idle */
	struct event sweep_ev; /* draining: closes the idle ones, after the callbacks due */
};

/* The pool of this worker, or NULL (not set up, or not a worker). */
struct pg_pool *pg_pool_get(void);

/* fw_on_worker_start / fw_on_worker_drain / fw_on_worker_exit hooks (setup.c registers them). */
int pg_pool_start(void *arg);
void pg_pool_drain(void *arg);
void pg_pool_stop(void *arg);

/* A batch to run: FW_ASYNC, or the HTTP status to answer now (b->error says why). */
int pg_pool_submit(struct pg_pool *p, struct fw_pg *b);

/* Take a WAITING batch out of the queue. */
void pg_pool_unwait(struct pg_pool *p, struct fw_pg *b);

/* From conn.c: a connection is ready for a batch / made it / could not be made / closed. */
void pg_pool_conn_idle(struct pg_conn *c);
void pg_pool_connected(struct pg_conn *c);
void pg_pool_connect_failed(struct pg_conn *c, const char *why);
void pg_pool_conn_closed(struct pg_conn *c);

/* Is any connection open or opening (a queued batch may still get one)? */
bool pg_pool_alive(const struct pg_pool *p);

/* The pause before connection attempt number failures + 1 (pure; rnd: 32 random bits). */
int pg_backoff_ms(int failures, int max_ms, uint32_t rnd);

/* ---- conn.c ---- */

/* Start connecting a CLOSED connection. 0, or -1 (it failed at once; the pool was told). */
int pg_conn_open(struct pg_conn *c);

/* Run b on an IDLE connection. 0, or -1: the connection broke (closed; b untouched). */
int pg_conn_send(struct pg_conn *c, struct fw_pg *b);

/* The RUNNING batch is gone (its request ended, or it timed out): cancel, drain, reuse. */
void pg_conn_abandon(struct pg_conn *c);

/* Close now (PQfinish sends the server a Terminate), whatever the state. */
void pg_conn_close(struct pg_conn *c);

/* Worker exit: let what is in flight end (bounded by deadline_ms), then close. */
void pg_conn_settle(struct pg_conn *c, uint64_t deadline_ms);

/* cancel.c said the cancel request of this connection (generation gen) is done. */
void pg_conn_cancel_done(struct pg_conn *c);

/* ---- cancel.c ---- */

/* Send the server a cancel request for c's query, from a thread. 0, or -1 (none started). */
int pg_cancel_start(struct pg_conn *c);

/* Read the notices of finished cancel threads (the pool's notify pipe). */
void pg_cancel_notified(evutil_socket_t fd, short what, void *arg);

/* ---- setup.c: what main() registers; the statements of fw_pg_prepare() ---- */

struct pg_stmt {
	char *name;
	char *sql;
};

const struct pg_stmt *pg_stmt_find(const char *name);
int pg_stmt_count(void);
const struct pg_stmt *pg_stmt_at(int i);

/* ---- oneline.c ---- */

/* msg on one line in buf: newlines and tabs as single spaces, none at the end. Returns buf. */
const char *pg_one_line(char *buf, size_t len, const char *msg);

/* ---- sqlstate.c ---- */

/* The HTTP status for a failed result (NULL: no result, the connection failed). Pure. */
int pg_http_status(const char *sqlstate);

#endif
