/* Query-string parameters, parsed on first use and decoded in place. */
#include <string.h>

#include "core/str.h"
#include "http/req.h"

static int query_parse(fw_req *req)
{
	const char *qs = fw_env(req, "QUERY_STRING");
	size_t len, n = 1;
	char *copy, *p;

	req->query_parsed = true;
	if (qs == NULL || qs[0] == '\0')
		return 0;
	len = strlen(qs);
	for (const char *c = qs; *c != '\0'; c++)
		n += *c == '&';
	copy = fw_pool_strndup(&req->pool, qs, len);
	req->query = fw_pool_alloc(&req->pool, n * sizeof(*req->query));
	if (copy == NULL || req->query == NULL)
		return -1;
	for (p = copy; p != NULL;) {
		char *amp = strchr(p, '&'), *eq, *value;

		if (amp != NULL)
			*amp = '\0';
		if (*p != '\0') {
			eq = strchr(p, '=');
			value = eq != NULL ? eq + 1 : p + strlen(p);
			if (eq != NULL)
				*eq = '\0';
			p[fw_percent_decode(p, strlen(p), true)] = '\0';
			value[fw_percent_decode(value, strlen(value), true)] = '\0';
			req->query[req->nquery].name = p;
			req->query[req->nquery].value = value;
			req->nquery++;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
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
