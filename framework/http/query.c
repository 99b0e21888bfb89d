/* Query-string parameters, parsed on first use and decoded in place. */
#include <string.h>

#include "http/req.h"
#include "http/urlencoded.h"

static int query_parse(fw_req *req)
{
	const char *qs = fw_env(req, "QUERY_STRING");
	size_t len, n;
	char *copy;

	req->query_parsed = true;
	if (qs == NULL || qs[0] == '\0')
		return 0;
	len = strlen(qs);
	n = fw_urlencoded_count(qs, len);
	copy = fw_pool_strndup(&req->pool, qs, len);
	req->query = fw_pool_alloc(&req->pool, n * sizeof(*req->query));
	if (copy == NULL || req->query == NULL)
		return -1;
	req->nquery = fw_urlencoded_split(copy, len, req->query, n);
	return 0;
}

FW_API const char *fw_query(fw_req *req, const char *name)
{
	if (!req->query_parsed && query_parse(req) != 0)
		return NULL;
	for (size_t i = 0; i < req->nquery; i++) {
		if (strcmp(req->query[i].name, name) == 0)
			return req->query[i].value;
	}
	return NULL;
}

FW_API size_t fw_query_count(fw_req *req)
{
	if (!req->query_parsed && query_parse(req) != 0)
		return 0;
	return req->nquery;
}

FW_API int fw_query_at(fw_req *req, size_t i, const char **name, const char **value)
{
	if (i >= fw_query_count(req))
		return -1;
	*name = req->query[i].name;
	*value = req->query[i].value;
	return 0;
}
