/*
 * PostgreSQL from handlers without blocking the worker (optional module,
 * built when libpq is found: meson option `pg`).
 *
 * Each worker keeps a pool of connections, opened after fork when a query
 * needs one (never in the master), configured in the ini's [pg] section
 * (docs/configuration.md). A handler builds a batch of queries, sends it
 * and returns FW_ASYNC; the queries go to the server in one round trip
 * (libpq's pipeline mode: all sent before any result is read), each
 * followed by its own Sync, so they run exactly as
 * if sent one after another; and the batch's callback gets every result
 * at once. The worker serves other requests meanwhile.
 *
 *     static void world_done(fw_req *req, fw_pg *pg, void *arg)
 *     {
 *         int st = fw_pg_status(pg);
 *         if (st != 0) {
 *             fw_finish(req, st);             // 503, 504 or 500
 *             return;
 *         }
 *         fw_printf(req, "%s\n", PQgetvalue(fw_pg_result(pg, 0), 0, 1));
 *         fw_finish(req, 200);
 *     }
 *
 *     static int world(fw_req *req, void *arg)
 *     {
 *         const char *id[] = {fw_param(req, "id")};
 *         fw_pg *pg = fw_pg_new(req);
 *         if (pg == NULL || fw_pg_add_prepared(pg, "world", 1, id) != 0)
 *             return 500;
 *         return fw_pg_send(pg, world_done, NULL); // FW_ASYNC, or the status to answer
 *     }
 *
 * Ownership: a batch (fw_pg) and every result in it belong to the request:
 * they are freed when the request ends (the PGresults with PQclear). Read
 * results with libpq's own functions (PQntuples, PQgetvalue, ...), never
 * PQclear them, and keep nothing of them past the request. Strings given
 * to fw_pg_add* are copied.
 *
 * Everything here runs in a worker, on its event loop thread, except
 * fw_pg_setup() and fw_pg_prepare(), which main() calls before fw_main().
 */
#ifndef FW_PG_H
#define FW_PG_H

#include <libpq-fe.h>
#include <fw/api.h>
#include <fw/app.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A batch of queries of one request. Opaque. */
typedef struct fw_pg fw_pg;

/* Called once with a batch's results (or why there are none). */
typedef void (*fw_pg_done)(fw_req *req, fw_pg *pg, void *arg);

/*
 * Give every worker a pool for the [pg] section: call in main() before
 * fw_main() (it registers worker start and exit hooks). Calling it again
 * does nothing. Returns 0, or -1 (logged) after fw_main() or when out of
 * memory.
 */
FW_API int fw_pg_setup(void);

/*
 * A prepared statement that every connection of every worker prepares
 * right after it connects, for fw_pg_add_prepared(pg, name, ...). Call
 * in main() before fw_main(); it calls fw_pg_setup(). Parameters are
 * written $1, $2, ...; give types in the SQL where the server cannot
 * infer them ($1::int). name and sql are copied. Returns 0, or -1
 * (logged) for an empty or repeated name, after fw_main(), or when out of
 * memory. A statement the server refuses is logged at every connection,
 * and the queries that use it fail (500).
 */
FW_API int fw_pg_prepare(const char *name, const char *sql);

/*
 * A new, empty batch in request memory, or NULL (logged) when out of
 * memory or when fw_pg_setup() was not called. A request may have several
 * batches (one after another: the second sent from the first's callback).
 */
FW_API fw_pg *fw_pg_new(fw_req *req);

/*
 * Add a query to the batch: one SQL statement (no "a; b"), with nparams
 * text parameters ($1..), each a C string or NULL for SQL NULL. Results
 * come back as text. fw_pg_add_prepared names a statement of
 * fw_pg_prepare() instead. Both copy what they are given and return 0,
 * or -1 (logged) for a batch already sent, an unknown statement name,
 * nparams outside 0..65535 or values NULL with nparams > 0, more than
 * 100000 queries in a batch, or out of memory.
 */
FW_API int fw_pg_add(fw_pg *pg, const char *sql, int nparams, const char *const *values);
FW_API int fw_pg_add_prepared(fw_pg *pg, const char *name, int nparams, const char *const *values);

/*
 * Send the batch: its queries run in order on one connection of the
 * worker's pool, each as its own statement (its own implicit transaction
 * unless you send BEGIN and COMMIT yourself), and done(req, pg, arg) runs
 * once when the last one is answered, fails or times out, always from the
 * event loop (never inside fw_pg_send). Returns FW_ASYNC: return it from
 * the handler (or, in a callback, just return). Any other return is the
 * HTTP status to answer with now, and done will not run: 503 when the
 * database is unavailable (every connection attempt fails, and the next
 * one is not due yet) or too many queries wait (max_waiting), 500 for no
 * batch (pg NULL: fw_pg_new() ran out of memory), an empty batch, one
 * sent already, no done callback, or when libevent cannot arm the query
 * timeout. fw_pg_error() says why (for a batch).
 *
 * While the batch runs, fw_pg_send holds the request's cancel callback
 * (fw_on_cancel), and gives back the one it found before done runs (one
 * set meanwhile stays): when the client goes away, the worker stops, or
 * `timeout` passes, the request ends, done never runs, the callback it
 * found runs too, and the query still running on the server is
 * cancelled (PQcancel). query_timeout_ms (from this call, waiting for a
 * connection included) ends the batch with 504 and cancels it the same
 * way. A cancel stops the statement running on the server at that
 * moment; the batch's later queries, sent already, still run there (each
 * is its own statement: writes among them happen), and their results are
 * thrown away.
 */
FW_API int fw_pg_send(fw_pg *pg, fw_pg_done done, void *arg);

/*
 * In done: 0 when every query succeeded, or the HTTP status that fits
 * the first failure: 503 (no connection could be had, the connection was
 * lost, SQLSTATE class 08; the server is shutting down, crashed or not
 * yet accepting connections, 57P01 to 57P05; out of connections, memory
 * or disk, class 53; a deadlock or serialization failure, class 40: try
 * again), 504 (query_timeout_ms passed, or the server cancelled the
 * statement, 57014: statement_timeout), 500 (any other SQLSTATE, 57000
 * included: a syntax error, a constraint, an unknown statement).
 */
FW_API int fw_pg_status(const fw_pg *pg);

/*
 * Why the batch failed, or NULL: the server's message or fw's own, for
 * your logs. It may name tables and values: don't show it to clients.
 * Lives until the request ends.
 */
FW_API const char *fw_pg_error(const fw_pg *pg);

/* The number of queries added to the batch. */
FW_API int fw_pg_count(const fw_pg *pg);

/*
 * The result of query i (0-based, in the order added), or NULL when i is
 * out of range or the query got no result (the batch failed before it
 * ran). Check PQresultStatus() of each: PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK, else PQresultErrorMessage() says why. It belongs to
 * the request: never PQclear it.
 */
FW_API PGresult *fw_pg_result(const fw_pg *pg, int i);

#ifdef __cplusplus
}
#endif

#endif
