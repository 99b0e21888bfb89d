/*
 * A batch of queries of one request (the public fw_pg): built by the
 * handler (fw_pg_add*), sent to the pool, answered by a connection.
 * It lives in request memory; the request's end (fw_on_request_end)
 * takes it out of the pool or off its connection and frees its results.
 *
 * States: NEW (being built) -> WAITING (in the pool's queue) -> RUNNING
 * (on a connection) -> FINISHED (status known; done is due, from the
 * loop) -> DONE (done called, or the batch failed at fw_pg_send()).
 */
#ifndef FW_PG_BATCH_H
#define FW_PG_BATCH_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <fw.h>
#include <fw/pg.h>

struct pg_conn;
struct pg_stmt;

struct pg_query {
	const struct pg_stmt *stmt; /* a prepared statement, or NULL */
	const char *sql;            /* else the SQL text (request memory) */
	int nparams;
	const char **values; /* request memory; an element NULL is SQL NULL */
	PGresult *res;       /* the answer, freed when the request ends */
};

enum pg_batch_state {
	PG_BATCH_NEW,
	PG_BATCH_WAITING,
	PG_BATCH_RUNNING,
	PG_BATCH_FINISHED,
	PG_BATCH_DONE
};

struct fw_pg {
	fw_req *req;
	struct pg_query *q;
	int n, cap;
	enum pg_batch_state state;
	fw_pg_done done;
	void *arg;
	struct pg_conn *conn;      /* RUNNING: the connection it runs on */
	struct fw_pg *prev, *next; /* WAITING: the pool's queue */
	struct event ev;           /* query_timeout_ms, and the call of done */
	bool ev_set;
	uint64_t sent_ms;
	/* The cancel callback fw_pg_send() found: called in turn, and given back when the batch ends. */
	void (*prev_cancel)(fw_req *req, void *arg);
	void *prev_cancel_arg;
	int status;        /* 0, or the HTTP status of the first failure */
	const char *error; /* why (request memory), or NULL */
};

/* Record why the batch fails (the first reason stays), for fw_pg_error(). */
void pg_batch_error(struct fw_pg *b, const char *fmt, ...) FW_PRINTF(2, 3);

/* A connection hands over the result of query i; the batch owns it from now on. */
void pg_batch_result(struct fw_pg *b, int i, PGresult *res);

/* Every query was answered: the status comes from the results; done is due. */
void pg_batch_complete(struct fw_pg *b);

/* The batch failed as a whole (no connection, connection lost): done is due. */
void pg_batch_fail(struct fw_pg *b, int status, const char *fmt, ...) FW_PRINTF(3, 4);

#endif
