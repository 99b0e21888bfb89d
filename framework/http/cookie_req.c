/* The request's cookies (parsed on first use into request memory) and Set-Cookie. */
#include <string.h>

#include "core/log.h"
#include "http/cookie.h"
#include "http/req.h"
#include "http/resp.h"

static int cookies_parse(fw_req *req)
{
	const char *h = fw_header(req, "Cookie");
	struct fw_cookie_pair c;
	size_t len, pos = 0, n = 1;
	char *copy;

	req->cookies_parsed = true;
	if (h == NULL || h[0] == '\0')
		return 0;
	len = strlen(h);
	for (const char *p = h; (p = strchr(p, ';')) != NULL; p++)
		n++;
	copy = fw_pool_strndup(&req->pool, h, len);
	req->cookies = fw_pool_alloc(&req->pool, n * sizeof(*req->cookies));
	if (copy == NULL || req->cookies == NULL)
		return -1;
	/* Cut in place: each NUL lands on a byte already read ('=', ';', a blank, a quote). */
	while (fw_cookie_next(copy, len, &pos, &c)) {
		struct fw_pair *p = &req->cookies[req->ncookies++];
		char *name = (char *)c.name, *value = (char *)c.value;

		p->name = c.name_len > 0 ? name : "";
		p->value = value;
		value[c.value_len] = '\0';
		if (c.name_len > 0)
			name[c.name_len] = '\0';
	}
	return 0;
}

FW_API const char *fw_cookie(fw_req *req, const char *name)
{
	if (!req->cookies_parsed && cookies_parse(req) != 0)
		return NULL;
	for (size_t i = 0; i < req->ncookies; i++) {
		if (strcmp(req->cookies[i].name, name) == 0)
			return req->cookies[i].value;
	}
	return NULL;
}

static bool over_https(fw_req *req)
{
	const char *https = fw_env(req, "HTTPS");

	return https != NULL && https[0] != '\0' && strcmp(https, "off") != 0;
}

FW_API int fw_set_cookie(fw_req *req, const char *name, const char *value, const fw_cookie_opts *opts)
{
	fw_buf *b;
	const char *err = NULL;

	if (name == NULL || value == NULL) {
		fw_log(FW_LOG_ERROR, "fw_set_cookie: no %s", name == NULL ? "name" : "value");
		return -1;
	}
	if (!fw_resp_writable(req, "fw_set_cookie") || (b = fw_scratch(req)) == NULL)
		return -1;
	if (fw_cookie_format(b, name, value, opts, over_https(req), &err) != 0) {
		/* A warning: names and values often come from clients, who could fill the log. */
		fw_log(FW_LOG_WARN, "fw_set_cookie(%.64s): %s; nothing sent", name, err);
		return -1;
	}
	return fw_add_header(req, "Set-Cookie", b->data);
}
