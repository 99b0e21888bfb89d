/*
 * What a failed query means for the request: the HTTP status that fits
 * its SQLSTATE (PostgreSQL's appendix A, "Error Codes"). Pure.
 */
#include <string.h>

#include "pg/pool.h"

int pg_http_status(const char *sqlstate)
{
	/* No SQLSTATE: libpq's own failure (the connection broke, no memory on its side). */
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return 503;
	if (strcmp(sqlstate, "57014") == 0) /* query_canceled: statement_timeout, or a cancel */
		return 504;
	/*
	 * Worth trying again: 08 connection exception, 53 insufficient
	 * resources (too many connections, out of memory or disk), 40
	 * transaction rollback (serialization failure, deadlock), 57P0x the
	 * server is shutting down, crashed or starting up.
	 */
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
	    strncmp(sqlstate, "40", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0)
		return 503;
	return 500;
}
