/*
 * frag: the scenario that makes long-running servers grow.
 *
 *   GET /frag?objects=20000&size=96&keep=10
 *
 * Each request builds a large temporary structure of many small objects
 * of mixed sizes (a parse tree, a result set), then frees it, but keeps
 * `keep` objects in a thousand alive in a process-wide cache, as caches
 * do. The kept objects are scattered over the pages the temporary ones
 * used, so those pages cannot go back to the OS: the worker's memory
 * grows far faster than the data it really holds. Watch it on the status
 * page, and see rss_limit_mb recycle it (docs/operations.md).
 *
 *   GET /frag/stats   what the cache holds
 */
#include <fw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *next;
	uint32_t size;
	unsigned char payload[];
};

static struct node *cache;
static unsigned long cached, cached_bytes;
static uint32_t served;

static long query_long(fw_req *req, const char *name, long def, long min, long max)
{
	const char *v = fw_query(req, name);
	long n = v != NULL ? strtol(v, NULL, 10) : def;

	return n < min ? min : n > max ? max : n;
}

/* xorshift: a cheap deterministic mix of sizes and choices per request */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static int frag(fw_req *req, void *arg)
{
	long objects = query_long(req, "objects", 20000, 1, 1000000);
	long size = query_long(req, "size", 96, 8, 65536);
	long keep = query_long(req, "keep", 10, 0, 1000);
	/* A new sequence per request: seeded from the cache size alone, a
	 * request that kept nothing would replay itself for ever. */
	uint32_t seed = (uint32_t)(++served * 0x9e3779b9u) ^ (uint32_t)cached;
	struct node *temp = NULL, *n;
	unsigned long sum = 0, kept = 0;

	(void)arg;
	if (seed == 0)
		seed = 1; /* xorshift's one fixed point */
	/* The temporary structure: many small objects of mixed sizes. */
	for (long i = 0; i < objects; i++) {
		uint32_t sz = 8 + next_rand(&seed) % (uint32_t)size;

		if ((n = malloc(sizeof(*n) + sz)) == NULL)
			break;
		n->size = sz;
		memset(n->payload, (int)(i & 0xff), sz);
		n->next = temp;
		temp = n;
	}
	/* Work on it, then drop it, all but a few objects the cache keeps. */
	while (temp != NULL) {
		n = temp;
		temp = n->next;
		sum += n->payload[0] + n->size;
		if (keep > 0 && next_rand(&seed) % 1000 < (uint32_t)keep) {
			n->next = cache;
			cache = n;
			cached++;
			cached_bytes += n->size;
			kept++;
		} else {
			free(n);
		}
	}
	fw_set_header(req, "Content-Type", "application/json");
	fw_printf(req,
		  "{\"objects\": %ld, \"kept\": %lu, \"cached\": %lu, \"cached_bytes\": %lu, \"sum\": "
		  "%lu}\n",
		  objects, kept, cached, cached_bytes, sum);
	return 200;
}

static int stats(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "application/json");
	fw_printf(req, "{\"cached\": %lu, \"cached_bytes\": %lu}\n", cached, cached_bytes);
	return 200;
}

int main(int argc, char **argv)
{
	if (fw_route("GET", "/frag", frag, NULL) != 0 ||
	    fw_route("GET", "/frag/stats", stats, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
