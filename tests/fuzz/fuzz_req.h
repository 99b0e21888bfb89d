/*
 * For targets that go through a request (fw_query, fw_cookie, fw_form): a
 * request with one param, filled the way the FastCGI session fills it.
 */
#ifndef FW_TESTS_FUZZ_REQ_H
#define FW_TESTS_FUZZ_REQ_H

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "http/req.h"
#include "proto/fcgi.h"

/* A request whose one param is name = value[0..len); abort() on any failure. */
static inline fw_req *fz_request(const char *name, const void *value, size_t len)
{
	fw_req *req = fw_req_create();
	const char *err = NULL;
	size_t count = 0;

	if (req == NULL ||
	    fw_fcgi_nv_put(&req->params, name, strlen(name), (const char *)value, len) != 0 ||
	    fw_fcgi_nv_count((const uint8_t *)req->params.data, req->params.len, &count, &err) !=
		    FW_OK ||
	    count != 1 || (req->env = fw_pool_alloc(&req->pool, sizeof(*req->env))) == NULL)
		abort();
	fw_fcgi_nv_unpack((uint8_t *)req->params.data, req->params.len, req->env, count);
	req->nenv = count;
	return req;
}

#endif
