/*
 * What main() registers before fw_main(): the pool's worker hooks
 * (fw_pg_setup) and the prepared statements (fw_pg_prepare). Like the
 * routes, they are filled in the master before it forks and read-only
 * afterwards: every worker inherits them.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <fw.h>
#include <fw/pg.h>

#include "pg/pool.h"

static bool set_up;
static struct pg_stmt *stmts;
static int nstmts;

/* Registration belongs to main(): a worker adding a statement would leave its open connections without it. */
static bool too_late(const char *what)
{
	if (fw_event_base() == NULL)
		return false;
	fw_log(FW_LOG_ERROR, "%s: call it in main(), before fw_main()", what);
	return true;
}

FW_API int fw_pg_setup(void)
{
	if (set_up)
		return 0;
	if (too_late("fw_pg_setup"))
		return -1;
	/* fw logs why either fails (after fw_main(), out of memory). */
	if (fw_on_worker_start(pg_pool_start, NULL) != 0 ||
	    fw_on_worker_drain(pg_pool_drain, NULL) != 0 || fw_on_worker_exit(pg_pool_stop, NULL) != 0)
		return -1;
	set_up = true;
	return 0;
}

FW_API int fw_pg_prepare(const char *name, const char *sql)
{
	struct pg_stmt *s;

	if (name == NULL || name[0] == '\0' || sql == NULL || pg_stmt_find(name) != NULL) {
		fw_log(FW_LOG_ERROR, "fw_pg_prepare(%s): %s", name ? name : "(null)",
		       name == NULL || name[0] == '\0' ? "no name"
		       : sql == NULL                   ? "no SQL"
						       : "the name is taken");
		return -1;
	}
	if (too_late("fw_pg_prepare") || fw_pg_setup() != 0)
		return -1;
	if ((s = realloc(stmts, (size_t)(nstmts + 1) * sizeof(*s))) == NULL) {
		fw_log(FW_LOG_ERROR, "fw_pg_prepare(%s): out of memory", name);
		return -1;
	}
	stmts = s;
	s = &stmts[nstmts];
	if ((s->name = strdup(name)) == NULL || (s->sql = strdup(sql)) == NULL) {
		free(s->name);
		fw_log(FW_LOG_ERROR, "fw_pg_prepare(%s): out of memory", name);
		return -1;
	}
	nstmts++;
	return 0;
}

const struct pg_stmt *pg_stmt_find(const char *name)
{
	for (int i = 0; i < nstmts; i++)
		if (strcmp(stmts[i].name, name) == 0)
			return &stmts[i];
	return NULL;
}

int pg_stmt_count(void)
{
	return nstmts;
}

const struct pg_stmt *pg_stmt_at(int i)
{
	return &stmts[i];
}
