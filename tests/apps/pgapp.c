/*
 * pgapp: the PostgreSQL module's failure paths, for tests/e2e/test_pg.py.
 *
 *   GET /one            SELECT 1, SQL text (no prepared statement)
 *   GET /sleep?s=N      SELECT pg_sleep(N): long enough to time out, or to be
 *                       cancelled when its client goes away
 *   GET /error          a syntax error: 500
 *   GET /mixed          three queries, the second fails: the others still run
 *                       (each has its own Sync); answers each one's status
 *   GET /chain?n=N      N batches one after another, each sent from the
 *                       last one's callback
 *   GET /big?n=N        one batch of N queries (a pipeline longer than the
 *                       socket buffers)
 *   GET /add?a=A&b=B    the prepared statement "add" ($1::int + $2::int)
 *   GET /echo?s=S       SELECT $1::text: a parameter is a value, never SQL
 *   GET /broken         the prepared statement "broken", which the server
 *                       refuses at every connection: 500, and each query
 *                       fails alone ("add", prepared after it, still works)
 *   GET /pipeline       three queries in one batch, the first sleeping 0.2 s:
 *                       "2 3" (test_pg.py traces that all are sent first)
 *   GET /stats          this worker's counters: done callbacks, requests ended early
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fw.h>
#include <fw/pg.h>

static unsigned long dones, ended;

static void count_end(void *arg)
{
	(void)arg;
	ended++;
}

/* The request's status from the batch's, the failure in the log. */
static int check(fw_req *req, fw_pg *pg)
{
	int st = fw_pg_status(pg);

	dones++;
	if (st != 0)
		fw_log(FW_LOG_WARN, "pgapp: %s: %d: %s", fw_path(req), st, fw_pg_error(pg));
	return st;
}

static void text_done(fw_req *req, fw_pg *pg, void *arg)
{
	int st = check(req, pg);

	(void)arg;
	if (st == 0)
		fw_printf(req, "%s\n", PQgetvalue(fw_pg_result(pg, 0), 0, 0));
	fw_finish(req, st != 0 ? st : 200);
}

static int one_query(fw_req *req, const char *sql, int n, const char *const *v)
{
	fw_pg *pg = fw_pg_new(req);

	if (pg == NULL || fw_pg_add(pg, sql, n, v) != 0)
		return 500;
	fw_on_request_end(req, count_end, NULL);
	return fw_pg_send(pg, text_done, NULL);
}

static int one(fw_req *req, void *arg)
{
	(void)arg;
	return one_query(req, "SELECT 1", 0, NULL);
}

static int sleep_route(fw_req *req, void *arg)
{
	const char *s = fw_query(req, "s");
	const char *v[] = {s != NULL ? s : "1"};

	(void)arg;
	return one_query(req, "SELECT pg_sleep($1::float8)::text", 1, v);
}

static int error(fw_req *req, void *arg)
{
	(void)arg;
	return one_query(req, "SELEKT 1", 0, NULL);
}

static int prepared(fw_req *req, const char *name, int n, const char *const *v)
{
	fw_pg *pg = fw_pg_new(req);

	if (pg == NULL || fw_pg_add_prepared(pg, name, n, v) != 0)
		return 500;
	return fw_pg_send(pg, text_done, NULL);
}

static int add(fw_req *req, void *arg)
{
	const char *v[] = {fw_query(req, "a"), fw_query(req, "b")};

	(void)arg;
	return prepared(req, "add", 2, v);
}

static int broken(fw_req *req, void *arg)
{
	(void)arg;
	return prepared(req, "broken", 0, NULL);
}

static int echo(fw_req *req, void *arg)
{
	const char *v[] = {fw_query(req, "s")};

	(void)arg;
	return one_query(req, "SELECT $1::text", 1, v);
}

static void mixed_done(fw_req *req, fw_pg *pg, void *arg)
{
	(void)arg;
	fw_printf(req, "status %d\n", check(req, pg));
	for (int i = 0; i < fw_pg_count(pg); i++) {
		PGresult *r = fw_pg_result(pg, i);
		fw_printf(req, "%d %s %s\n", i, PQresStatus(PQresultStatus(r)),
			  PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "-");
	}
	fw_finish(req, 200);
}

static int mixed(fw_req *req, void *arg)
{
	fw_pg *pg = fw_pg_new(req);

	(void)arg;
	if (pg == NULL || fw_pg_add(pg, "SELECT 'first'", 0, NULL) != 0 ||
	    fw_pg_add(pg, "SELECT 1/0", 0, NULL) != 0 || fw_pg_add(pg, "SELECT 'third'", 0, NULL) != 0)
		return 500;
	return fw_pg_send(pg, mixed_done, NULL);
}

struct chain {
	int left, total;
};

static void chain_done(fw_req *req, fw_pg *pg, void *arg)
{
	struct chain *c = arg;
	char n[16];
	const char *v[] = {n};
	int st = check(req, pg);

	if (st != 0) {
		fw_finish(req, st);
		return;
	}
	c->total += atoi(PQgetvalue(fw_pg_result(pg, 0), 0, 0));
	if (--c->left == 0) {
		fw_printf(req, "%d\n", c->total);
		fw_finish(req, 200);
		return;
	}
	snprintf(n, sizeof(n), "%d", c->left);
	if ((pg = fw_pg_new(req)) == NULL || fw_pg_add(pg, "SELECT $1::int", 1, v) != 0) {
		fw_finish(req, 500);
		return;
	}
	if ((st = fw_pg_send(pg, chain_done, c)) != FW_ASYNC)
		fw_finish(req, st);
}

static int chain(fw_req *req, void *arg)
{
	struct chain *c = fw_alloc(req, sizeof(*c));
	const char *n = fw_query(req, "n");
	fw_pg *pg = fw_pg_new(req);
	char first[16];
	const char *v[] = {first};

	(void)arg;
	if (c == NULL || pg == NULL)
		return 500;
	c->left = n != NULL && atoi(n) > 0 ? atoi(n) : 1;
	c->total = 0;
	snprintf(first, sizeof(first), "%d", c->left);
	if (fw_pg_add(pg, "SELECT $1::int", 1, v) != 0)
		return 500;
	return fw_pg_send(pg, chain_done, c);
}

static void pipeline_done(fw_req *req, fw_pg *pg, void *arg)
{
	int st = check(req, pg);

	(void)arg;
	if (st == 0)
		fw_printf(req, "%s %s\n", PQgetvalue(fw_pg_result(pg, 1), 0, 0),
			  PQgetvalue(fw_pg_result(pg, 2), 0, 0));
	fw_finish(req, st != 0 ? st : 200);
}

static int pipeline(fw_req *req, void *arg)
{
	fw_pg *pg = fw_pg_new(req);

	(void)arg;
	if (pg == NULL || fw_pg_add(pg, "SELECT pg_sleep(0.2)::text", 0, NULL) != 0 ||
	    fw_pg_add(pg, "SELECT 2", 0, NULL) != 0 || fw_pg_add(pg, "SELECT 3", 0, NULL) != 0)
		return 500;
	return fw_pg_send(pg, pipeline_done, NULL);
}

static void big_done(fw_req *req, fw_pg *pg, void *arg)
{
	long sum = 0;
	int st = check(req, pg);

	(void)arg;
	for (int i = 0; st == 0 && i < fw_pg_count(pg); i++)
		sum += strlen(PQgetvalue(fw_pg_result(pg, i), 0, 0));
	fw_printf(req, "%d %ld\n", fw_pg_count(pg), sum);
	fw_finish(req, st != 0 ? st : 200);
}

static int big(fw_req *req, void *arg)
{
	const char *n = fw_query(req, "n");
	fw_pg *pg = fw_pg_new(req);
	int count = n != NULL ? atoi(n) : 1000;

	(void)arg;
	if (pg == NULL)
		return 500;
	for (int i = 0; i < count; i++)
		if (fw_pg_add(pg, "SELECT repeat('x', 1000)", 0, NULL) != 0)
			return 500;
	return fw_pg_send(pg, big_done, NULL);
}

static int stats(fw_req *req, void *arg)
{
	(void)arg;
	fw_printf(req, "dones %lu ended %lu\n", dones, ended);
	return 200;
}

int main(int argc, char **argv)
{
	/* "broken" first: a statement the server refuses must not take the next ones with it. */
	if (fw_pg_prepare("broken", "SELECT * FROM no_such_table") != 0 ||
	    fw_pg_prepare("add", "SELECT ($1::int + $2::int)::text") != 0 ||
	    fw_route("GET", "/one", one, NULL) != 0 ||
	    fw_route("GET", "/sleep", sleep_route, NULL) != 0 ||
	    fw_route("GET", "/error", error, NULL) != 0 || fw_route("GET", "/mixed", mixed, NULL) != 0 ||
	    fw_route("GET", "/chain", chain, NULL) != 0 || fw_route("GET", "/big", big, NULL) != 0 ||
	    fw_route("GET", "/stats", stats, NULL) != 0 || fw_route("GET", "/add", add, NULL) != 0 ||
	    fw_route("GET", "/broken", broken, NULL) != 0 || fw_route("GET", "/echo", echo, NULL) != 0 ||
	    fw_route("GET", "/pipeline", pipeline, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
