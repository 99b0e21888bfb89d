/*
 * Response helpers for handlers and hooks: HTML-escaped text, redirects,
 * error statuses with a message for the error page, and values a hook
 * hands on to the handler.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "http/req.h"
#include "http/resp.h"

struct fw_req_data {
	struct fw_req_data *next;
	const char *key;
	void *value;
};

/* The entity for a byte HTML text must not hold as it is, or NULL. */
static const char *html_entity(char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	default:
		return NULL;
	}
}

FW_API int fw_write_html(fw_req *req, const char *s, size_t len)
{
	size_t i = 0;

	if (!fw_resp_writable(req, "fw_write_html"))
		return -1;
	while (i < len) {
		size_t run = i;
		const char *esc = NULL;

		/* Copy runs of bytes that need nothing at once. */
		while (run < len && (esc = html_entity(s[run])) == NULL)
			run++;
		if (run > i && fw_buf_append(&req->out, s + i, run - i) != 0)
			return -1;
		if (run == len)
			break;
		if (fw_buf_puts(&req->out, esc) != 0)
			return -1;
		i = run + 1;
	}
	return 0;
}

FW_API int fw_redirect(fw_req *req, int status, const char *location)
{
	if (status < 300 || status > 399 || location == NULL || location[0] == '\0') {
		fw_log(FW_LOG_ERROR, "fw_redirect: %s; answering 500",
		       location == NULL || location[0] == '\0'
			       ? "no location"
			       : "the status is not a redirect (300-399)");
		return 500;
	}
	/* fw_set_header refuses CR, LF and the other control characters, and logs it. */
	if (fw_set_header(req, "Location", location) != 0)
		return 500;
	return status;
}

FW_API int fw_error(fw_req *req, int status, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n >= 0 && (msg = fw_pool_alloc(&req->pool, (size_t)n + 1)) != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
		va_end(ap);
		req->error_msg = msg;
	}
	return status;
}

FW_API const char *fw_error_message(fw_req *req)
{
	return req->error_msg;
}

FW_API int fw_set_data(fw_req *req, const char *key, void *value)
{
	struct fw_req_data *d;

	for (d = req->data; d != NULL; d = d->next) {
		if (strcmp(d->key, key) == 0) {
			d->value = value;
			return 0;
		}
	}
	if ((d = fw_pool_alloc(&req->pool, sizeof(*d))) == NULL ||
	    (d->key = fw_pool_strndup(&req->pool, key, strlen(key))) == NULL)
		return -1;
	d->value = value;
	d->next = req->data;
	req->data = d;
	return 0;
}

FW_API void *fw_data(fw_req *req, const char *key)
{
	for (const struct fw_req_data *d = req->data; d != NULL; d = d->next) {
		if (strcmp(d->key, key) == 0)
			return d->value;
	}
	return NULL;
}
