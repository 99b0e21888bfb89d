/*
 * framework/pg, the parts that are pure: the reconnect backoff, the HTTP
 * status of a SQLSTATE, libpq's messages on one line. Everything that
 * talks to a server is tested end to end (e2e-pg, e2e-tfb).
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "pg/pool.h"

static void test_backoff(void)
{
	CHECK_EQ_INT(pg_backoff_ms(0, 5000, 0), 0);
	/* 100 ms first, doubling, capped; the jitter spans 75% to 125%. */
	CHECK_EQ_INT(pg_backoff_ms(1, 5000, 0), 75);
	CHECK_EQ_INT(pg_backoff_ms(1, 5000, UINT32_MAX), 124);
	CHECK_EQ_INT(pg_backoff_ms(1, 5000, 1u << 31), 100);
	CHECK_EQ_INT(pg_backoff_ms(2, 5000, 1u << 31), 200);
	CHECK_EQ_INT(pg_backoff_ms(3, 5000, 1u << 31), 400);
	CHECK_EQ_INT(pg_backoff_ms(7, 5000, 1u << 31), 5000);   /* 6400 capped at the max */
	CHECK_EQ_INT(pg_backoff_ms(7, 5000, UINT32_MAX), 5000); /* never above the max */
	CHECK_EQ_INT(pg_backoff_ms(7, 5000, 0), 3750);
	CHECK_EQ_INT(pg_backoff_ms(1000000, 600000, 1u << 31), 600000); /* no overflow */
	CHECK_EQ_INT(pg_backoff_ms(1, 100, 1u << 31), 100);
	/* Monotonic in the failures count, for the same draw. */
	for (int f = 1; f < 40; f++)
		CHECK(pg_backoff_ms(f + 1, 5000, 12345) >= pg_backoff_ms(f, 5000, 12345));
}

static void test_sqlstate(void)
{
	CHECK_EQ_INT(pg_http_status(NULL), 503); /* libpq: the connection broke */
	CHECK_EQ_INT(pg_http_status(""), 503);
	CHECK_EQ_INT(pg_http_status("57014"), 504); /* query_canceled */
	CHECK_EQ_INT(pg_http_status("08006"), 503); /* connection_failure */
	CHECK_EQ_INT(pg_http_status("57P01"), 503); /* admin_shutdown */
	CHECK_EQ_INT(pg_http_status("57P03"), 503); /* cannot_connect_now */
	CHECK_EQ_INT(pg_http_status("53300"), 503); /* too_many_connections */
	CHECK_EQ_INT(pg_http_status("40001"), 503); /* serialization_failure */
	CHECK_EQ_INT(pg_http_status("40P01"), 503); /* deadlock_detected */
	CHECK_EQ_INT(pg_http_status("42601"), 500); /* syntax_error */
	CHECK_EQ_INT(pg_http_status("23505"), 500); /* unique_violation */
	CHECK_EQ_INT(pg_http_status("22012"), 500); /* division_by_zero */
	CHECK_EQ_INT(pg_http_status("26000"), 500); /* invalid_sql_statement_name */
	CHECK_EQ_INT(pg_http_status("57000"), 500); /* operator_intervention, not 57P */
}

static void test_one_line(void)
{
	char buf[64];

	CHECK_EQ_STR(pg_one_line(buf, sizeof(buf),
				 "connection to server failed: No such file\n"
				 "\tIs the server running locally?\n"),
		     "connection to server failed: No such file Is the server running");
	CHECK_EQ_STR(
		pg_one_line(buf, sizeof(buf), "ERROR:  syntax error\nLINE 1: SELEKT 1\n        ^\n"),
		"ERROR: syntax error LINE 1: SELEKT 1 ^");
	CHECK_EQ_STR(pg_one_line(buf, sizeof(buf), "\n\n"), "");
	CHECK_EQ_STR(pg_one_line(buf, sizeof(buf), NULL), "");
	CHECK_EQ_STR(pg_one_line(buf, 4, "abcdef"), "abc");
}

int main(void)
{
	test_backoff();
	test_sqlstate();
	test_one_line();
	return check_done();
}
