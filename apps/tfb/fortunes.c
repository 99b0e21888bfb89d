/*
 * /fortunes: every row of Fortune (no ORDER BY, as the rules say), one
 * more added at request time, sorted by message, rendered as an HTML
 * table with every message escaped (one of them is a <script>).
 */
#include <stdlib.h>
#include <string.h>

#include "tfb.h"

struct fortune {
	int id;
	const char *message; /* in the PGresult, which lives until the request ends */
};

static int by_message(const void *a, const void *b)
{
	/* Byte order of UTF-8 is code point order: what the rules' expected page shows. */
	return strcmp(((const struct fortune *)a)->message, ((const struct fortune *)b)->message);
}

static void fortunes_done(fw_req *req, fw_pg *pg, void *arg)
{
	PGresult *r = fw_pg_result(pg, 0);
	struct fortune *f;
	int n;

	(void)arg;
	if (fw_pg_status(pg) != 0) {
		tfb_fail(req, pg, "/fortunes");
		return;
	}
	n = PQntuples(r);
	/* Sized from the result, plus the one added here: the list grows with the table. */
	if ((f = fw_alloc(req, (size_t)(n + 1) * sizeof(*f))) == NULL) {
		fw_finish(req, 500);
		return;
	}
	for (int i = 0; i < n; i++)
		f[i] = (struct fortune){atoi(PQgetvalue(r, i, 0)), PQgetvalue(r, i, 1)};
	f[n++] = (struct fortune){0, "Additional fortune added at request time."};
	qsort(f, (size_t)n, sizeof(*f), by_message);

	fw_set_header(req, "Content-Type", "text/html; charset=utf-8");
	fw_printf(req, "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
		       "<tr><th>id</th><th>message</th></tr>");
	for (int i = 0; i < n; i++) {
		fw_printf(req, "<tr><td>%d</td><td>", f[i].id);
		fw_write_html(req, f[i].message, strlen(f[i].message));
		fw_printf(req, "</td></tr>");
	}
	fw_finish(req, fw_printf(req, "</table></body></html>") == 0 ? 200 : 500);
}

int tfb_fortunes(fw_req *req, void *arg)
{
	fw_pg *pg = fw_pg_new(req);

	(void)arg;
	if (pg == NULL || fw_pg_add_prepared(pg, TFB_FORTUNES, 0, NULL) != 0)
		return 500;
	return fw_pg_send(pg, fortunes_done, NULL);
}
