/* libpq's messages run over lines ("...\n\tIs the server running ...?\n"); a log line should not. */
#include "pg/pool.h"

const char *pg_one_line(char *buf, size_t len, const char *msg)
{
	size_t n = 0;

	for (; msg != NULL && *msg != '\0' && n + 1 < len; msg++) {
		char ch = *msg == '\n' || *msg == '\t' || *msg == '\r' ? ' ' : *msg;

		if (ch != ' ' || (n > 0 && buf[n - 1] != ' '))
			buf[n++] = ch;
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}
