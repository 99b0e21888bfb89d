/*
 * The World tests: /db (one row), /queries (N rows) and /updates (N rows
 * read, then written). Each row is read by its own query, as the rules
 * require; the N queries of a request go to the server in one pipeline
 * (each with its own Sync, which the rules also require: they run exactly
 * as N round trips would).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfb.h"

/* A batch of n reads of random World rows, answered by done. */
static int read_worlds(fw_req *req, int n, fw_pg_done done, void *arg)
{
	fw_pg *pg = fw_pg_new(req);
	char id[16];
	const char *v[1] = {id};

	if (pg == NULL)
		return 500;
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%d", tfb_random());
		if (fw_pg_add_prepared(pg, TFB_WORLD, 1, v) != 0)
			return 500;
	}
	return fw_pg_send(pg, done, arg);
}

/* The row of query i: 0, or -1 when the row is not there (an id outside the table). */
static int world_row(fw_pg *pg, int i, int *id, int *number)
{
	PGresult *r = fw_pg_result(pg, i);

	if (r == NULL || PQntuples(r) != 1 || PQnfields(r) != 2)
		return -1;
	*id = atoi(PQgetvalue(r, 0, 0));
	*number = atoi(PQgetvalue(r, 0, 1));
	return 0;
}

static void world_json(fw_json *j, int id, int number)
{
	fw_json_object(j);
	fw_json_key(j, "id");
	fw_json_int(j, id);
	fw_json_key(j, "randomNumber");
	fw_json_int(j, number);
	fw_json_close(j);
}

static void db_done(fw_req *req, fw_pg *pg, void *arg)
{
	int id, number;
	fw_json j;

	(void)arg;
	if (fw_pg_status(pg) != 0) {
		tfb_fail(req, pg, "/db");
		return;
	}
	if (world_row(pg, 0, &id, &number) != 0) {
		fw_log(FW_LOG_ERROR, "tfb: /db: no such World row");
		fw_finish(req, 500);
		return;
	}
	fw_json_init_response(&j, req);
	world_json(&j, id, number);
	fw_finish(req, fw_json_end(&j) == 0 ? 200 : 500);
}

int tfb_db(fw_req *req, void *arg)
{
	(void)arg;
	return read_worlds(req, 1, db_done, NULL);
}

static void multi_done(fw_req *req, fw_pg *pg, void *arg)
{
	int n = fw_pg_count(pg), id, number;
	fw_json j;

	(void)arg;
	if (fw_pg_status(pg) != 0) {
		tfb_fail(req, pg, "/queries");
		return;
	}
	fw_json_init_response(&j, req);
	fw_json_array(&j);
	for (int i = 0; i < n; i++) {
		if (world_row(pg, i, &id, &number) != 0) {
			fw_log(FW_LOG_ERROR, "tfb: /queries: no such World row");
			fw_finish(req, 500);
			return;
		}
		world_json(&j, id, number);
	}
	fw_json_close(&j);
	fw_finish(req, fw_json_end(&j) == 0 ? 200 : 500);
}

int tfb_multi(fw_req *req, void *arg)
{
	(void)arg;
	return read_worlds(req, tfb_queries(req), multi_done, NULL);
}

/* ---- /updates ---- */

struct updates {
	int n;
	int *id;     /* in the order read: the order of the answer */
	int *number; /* the new randomNumber of each */
};

struct by_id {
	int id, at;
};

static int by_id_cmp(const void *a, const void *b)
{
	const struct by_id *x = a, *y = b;

	return x->id != y->id ? (x->id < y->id ? -1 : 1) : (x->at < y->at ? -1 : x->at > y->at);
}

static void updates_written(fw_req *req, fw_pg *pg, void *arg)
{
	struct updates *u = arg;
	fw_json j;

	if (fw_pg_status(pg) != 0) {
		tfb_fail(req, pg, "/updates (writing)");
		return;
	}
	fw_json_init_response(&j, req);
	fw_json_array(&j);
	for (int i = 0; i < u->n; i++)
		world_json(&j, u->id[i], u->number[i]);
	fw_json_close(&j);
	fw_finish(req, fw_json_end(&j) == 0 ? 200 : 500);
}

/*
 * The update's two arrays, "{id,...}" and "{number,...}", one element per
 * distinct id, in id order: concurrent updates then lock their rows in
 * the same order and cannot deadlock. An id read twice gets the number
 * drawn last, and the answer shows that number for both.
 */
static int update_arrays(fw_req *req, struct updates *u, char **ids, char **numbers)
{
	struct by_id *order = fw_alloc(req, (size_t)u->n * sizeof(*order));
	size_t cap = (size_t)u->n * 7 + 3;
	size_t li = 0, ln = 0;

	*ids = fw_alloc(req, cap);
	*numbers = fw_alloc(req, cap);
	if (order == NULL || *ids == NULL || *numbers == NULL)
		return -1;
	for (int i = 0; i < u->n; i++)
		order[i] = (struct by_id){u->id[i], i};
	qsort(order, (size_t)u->n, sizeof(*order), by_id_cmp);
	(*ids)[li++] = '{';
	(*numbers)[ln++] = '{';
	for (int i = 0; i < u->n; i++) {
		int last = i;

		while (last + 1 < u->n && order[last + 1].id == order[i].id)
			last++;
		for (int k = i; k < last; k++)
			u->number[order[k].at] = u->number[order[last].at];
		li += (size_t)snprintf(*ids + li, cap - li, "%s%d", li > 1 ? "," : "", order[i].id);
		ln += (size_t)snprintf(*numbers + ln, cap - ln, "%s%d", ln > 1 ? "," : "",
				       u->number[order[last].at]);
		i = last;
	}
	snprintf(*ids + li, cap - li, "}");
	snprintf(*numbers + ln, cap - ln, "}");
	return 0;
}

static void updates_read(fw_req *req, fw_pg *pg, void *arg)
{
	struct updates *u = fw_alloc(req, sizeof(*u));
	int n = fw_pg_count(pg), number, st;
	char *ids, *numbers;
	fw_pg *write;

	(void)arg;
	if (fw_pg_status(pg) != 0) {
		tfb_fail(req, pg, "/updates (reading)");
		return;
	}
	if (u == NULL || (u->id = fw_alloc(req, (size_t)n * sizeof(int))) == NULL ||
	    (u->number = fw_alloc(req, (size_t)n * sizeof(int))) == NULL) {
		fw_finish(req, 500);
		return;
	}
	u->n = n;
	for (int i = 0; i < n; i++) {
		if (world_row(pg, i, &u->id[i], &number) != 0) {
			fw_log(FW_LOG_ERROR, "tfb: /updates: no such World row");
			fw_finish(req, 500);
			return;
		}
		u->number[i] = tfb_random(); /* the row's number was read; it gets a new one */
	}
	if (update_arrays(req, u, &ids, &numbers) != 0 || (write = fw_pg_new(req)) == NULL ||
	    fw_pg_add_prepared(write, TFB_UPDATE, 2, (const char *const[]){ids, numbers}) != 0) {
		fw_finish(req, 500);
		return;
	}
	if ((st = fw_pg_send(write, updates_written, u)) != FW_ASYNC) {
		fw_log(FW_LOG_ERROR, "tfb: /updates: %s",
		       fw_pg_error(write) ? fw_pg_error(write) : "not sent");
		fw_finish(req, st);
	}
}

int tfb_updates(fw_req *req, void *arg)
{
	(void)arg;
	return read_worlds(req, tfb_queries(req), updates_read, NULL);
}
