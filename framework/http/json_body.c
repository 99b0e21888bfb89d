/*
 * JSON request bodies, parsed with jansson (why jansson: docs/handlers.md,
 * "JSON"). jansson takes its memory through json_set_alloc_funcs(). Those
 * set here hand out request memory while fw_json_body() parses, and
 * malloc() otherwise: a parse then costs no malloc per value, and the
 * whole tree goes when the request ends. Each block carries a tag in
 * front, so that the free function knows a request block (nothing to
 * do: the pool frees it) from a malloc'd one, whoever frees it, in
 * whatever thread.
 */
#include <fw/json.h>

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/pool.h"
#include "http/json_body.h"
#include "http/req.h"

#define TAG_POOL 0x6a706f6fu /* "jpoo" */
#define TAG_HEAP 0x6a686561u /* "jhea" */

union tag {
	max_align_t align;
	uint32_t tag;
};

/* The pool a parse on this thread allocates from (only inside fw_json_body). */
static _Thread_local struct fw_pool *parse_pool;
static size_t heap_allocs; /* jansson's mallocs, for tests and measurements */

static void *json_alloc(size_t n)
{
	union tag *t;

	if (n > SIZE_MAX - sizeof(*t))
		return NULL;
	if (parse_pool != NULL) {
		if ((t = fw_pool_alloc(parse_pool, sizeof(*t) + n)) == NULL)
			return NULL;
		t->tag = TAG_POOL;
		return t + 1;
	}
	if ((t = malloc(sizeof(*t) + n)) == NULL)
		return NULL;
	heap_allocs++;
	t->tag = TAG_HEAP;
	return t + 1;
}

static void json_free(void *p)
{
	union tag *t;

	if (p == NULL)
		return;
	t = (union tag *)p - 1;
	if (t->tag == TAG_HEAP)
		free(t);
}

/* Before main(): no jansson value may exist yet that malloc made without a tag. */
__attribute__((constructor)) static void json_setup(void)
{
	json_set_alloc_funcs(json_alloc, json_free);
	/* Seeded once in the master, not at the first object of every worker (a read of /dev/urandom). */
	json_object_seed(0);
}

size_t fw_json_heap_allocs(void)
{
	return heap_allocs;
}

/* application/json, or application/<anything>+json (RFC 6839). */
static bool is_json_type(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	while (n > 0 && (*ct == ' ' || *ct == '\t')) {
		ct++;
		n--;
	}
	if (n < 12 || strncasecmp(ct, "application/", 12) != 0)
		return false;
	return (n == 16 && strncasecmp(ct + 12, "json", 4) == 0) ||
	       (n > 17 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

static void decref(void *v)
{
	json_decref(v);
}

static int parse(fw_req *req)
{
	const char *ct = fw_header(req, "Content-Type");
	json_error_t err;
	json_t *v;

	if (ct == NULL || !is_json_type(ct))
		return fw_error(req, 415, "the body must be JSON, with Content-Type: application/json");
	if (req->body.len == 0)
		return fw_error(req, 400, "the body is empty: JSON was expected");
	parse_pool = &req->pool;
	v = json_loadb(req->body.data, req->body.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	parse_pool = NULL;
	if (v == NULL)
		return fw_error(req, 400, "the body is not valid JSON: %s (line %d, column %d)",
				err.text, err.line, err.column);
	/* Values the handler adds to the tree are malloc'd: this frees them. */
	if (fw_pool_cleanup_add(&req->pool, decref, v) != 0) {
		json_decref(v);
		return 500;
	}
	req->json = v;
	return 0;
}

FW_API int fw_json_body(fw_req *req, json_t **root)
{
	if (!req->json_parsed) {
		req->json_parsed = true;
		req->json_status = parse(req);
	}
	*root = req->json_status == 0 ? req->json : NULL;
	return req->json_status;
}
