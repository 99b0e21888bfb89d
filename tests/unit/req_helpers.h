/*
 * Requests for unit tests, filled the way the FastCGI session fills them.
 * Header-only: each test executable includes it once.
 */
#ifndef FW_TEST_REQ_HELPERS_H
#define FW_TEST_REQ_HELPERS_H

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/result.h"
#include "http/req.h"
#include "proto/fcgi.h"

/*
 * Fill req's params the way the FastCGI session does: encode the pairs
 * into req->params, then count and unpack them in place into req->env.
 * kv holds name, value, name, value, ..., NULL; lens (optional) gives
 * value lengths for values holding NULs (0 = strlen).
 */
static inline void set_env_lens(fw_req *req, const char *const *kv, const size_t *lens)
{
	const char *err = NULL;
	size_t count = 0;

	for (size_t i = 0; kv[i] != NULL; i += 2) {
		size_t vlen = lens != NULL && lens[i / 2] > 0 ? lens[i / 2] : strlen(kv[i + 1]);
		fw_fcgi_nv_put(&req->params, kv[i], strlen(kv[i]), kv[i + 1], vlen);
	}
	if (fw_fcgi_nv_count((const uint8_t *)req->params.data, req->params.len, &count, &err) != FW_OK)
		abort();
	req->env = count ? fw_pool_alloc(&req->pool, count * sizeof(*req->env)) : NULL;
	if (count > 0)
		fw_fcgi_nv_unpack((uint8_t *)req->params.data, req->params.len, req->env, count);
	req->nenv = count;
}

static inline fw_req *req_with(const char *const *kv)
{
	fw_req *req = fw_req_create();

	if (req == NULL)
		abort();
	set_env_lens(req, kv, NULL);
	return req;
}

/* A prepared request: prepare must succeed. */
static inline fw_req *prepared(const char *const *kv, int line)
{
	fw_req *req = req_with(kv);
	const char *err = NULL;

	if (!check_eq_int(__FILE__, line, fw_req_prepare(req, &err), FW_OK, "fw_req_prepare", "FW_OK"))
		fprintf(stderr, "  error: %s\n", err ? err : "(null)");
	return req;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define PREPARED(...) prepared(ENV(__VA_ARGS__), __LINE__)

/* A POST in its handler: Content-Type ct (none when NULL) and body[0..len). */
static inline fw_req *running_post(const char *ct, const void *body, size_t len)
{
	fw_req *req = ct != NULL ? PREPARED("REQUEST_METHOD", "POST", "CONTENT_TYPE", ct)
				 : PREPARED("REQUEST_METHOD", "POST");

	if (fw_buf_append(&req->body, body, len) != 0)
		abort();
	req->state = FW_REQ_RUNNING;
	return req;
}

/* The end of a test request: its cleanups run (as a worker would), then it is freed. */
static inline void req_done(fw_req *req)
{
	req->state = FW_REQ_IDLE;
	fw_req_reset(req, 0);
	fw_req_destroy(req);
}

#endif
