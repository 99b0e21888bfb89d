/*
 * apps/tfb: the TechEmpower Framework Benchmarks tests ("Project
 * Information Framework Tests Overview"), on fw and its PostgreSQL
 * module:
 *
 *   /json        {"message":"Hello, World!"}, serialized per request
 *   /plaintext   Hello, World!
 *   /db          one random World row
 *   /queries     ?queries=N rows (1..500), each its own query, pipelined
 *   /fortunes    every Fortune row and one added at request time, sorted, escaped
 *   /updates     ?queries=N rows read one by one, then written with new numbers
 *
 * The standard tables (World, 10,000 rows; Fortune, 12) are in
 * apps/tfb/schema.sql; [pg] in the ini says where the database is.
 * nginx adds the Server and Date headers the rules ask for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "tfb.h"

static uint64_t rng;

/* After fork: a generator the master seeded would give every worker the same ids. */
static int seed(void *arg)
{
	(void)arg;
	if (getrandom(&rng, sizeof(rng), 0) != (ssize_t)sizeof(rng))
		rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);
	rng |= 1;
	return 0;
}

int tfb_random(void)
{
	rng ^= rng << 13; /* xorshift64 */
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (int)((rng >> 11) % 10000) + 1;
}

int tfb_queries(fw_req *req)
{
	const char *s = fw_query(req, "queries");
	long n = 0;

	if (s == NULL || *s == '\0')
		return 1;
	if (*s == '-')
		return 1; /* "an integer less than 1" */
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 1; /* "not an integer" */
		if (n <= 500)
			n = n * 10 + (*s - '0');
	}
	return n < 1 ? 1 : n > 500 ? 500 : (int)n;
}

void tfb_fail(fw_req *req, fw_pg *pg, const char *what)
{
	int st = fw_pg_status(pg);

	fw_log(FW_LOG_ERROR, "tfb: %s: %s", what, fw_pg_error(pg) ? fw_pg_error(pg) : "failed");
	fw_finish(req, st != 0 ? st : 500);
}

static int json(fw_req *req, void *arg)
{
	fw_json j;

	(void)arg;
	fw_json_init_response(&j, req);
	fw_json_object(&j);
	fw_json_key(&j, "message");
	fw_json_str(&j, "Hello, World!");
	fw_json_close(&j);
	return fw_json_end(&j) == 0 ? 200 : 500;
}

static int plaintext(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "text/plain");
	fw_write(req, "Hello, World!", 13);
	return 200;
}

int main(int argc, char **argv)
{
	/* Every connection prepares these; the rules encourage prepared statements. */
	if (fw_pg_prepare(TFB_WORLD, "SELECT id, randomnumber FROM world WHERE id = $1::int") != 0 ||
	    fw_pg_prepare(TFB_FORTUNES, "SELECT id, message FROM fortune") != 0 ||
	    /* A bulk update (allowed by the rules): one statement, rows in id order (see world.c). */
	    fw_pg_prepare(TFB_UPDATE,
			  "UPDATE world SET randomnumber = v.r "
			  "FROM unnest($1::int[], $2::int[]) AS v(id, r) WHERE world.id = v.id") != 0)
		return 1;
	if (fw_on_worker_start(seed, NULL) != 0 || fw_route("GET", "/json", json, NULL) != 0 ||
	    fw_route("GET", "/plaintext", plaintext, NULL) != 0 ||
	    fw_route("GET", "/db", tfb_db, NULL) != 0 ||
	    fw_route("GET", "/queries", tfb_multi, NULL) != 0 ||
	    fw_route("GET", "/fortunes", tfb_fortunes, NULL) != 0 ||
	    fw_route("GET", "/updates", tfb_updates, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
