#include "http/resp.h"

#include <stdarg.h>
#include <strings.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/result.h"
#include "core/str.h"
#include "http/reason.h"

bool fw_resp_writable(fw_req *req, const char *what)
{
	/* fw_finish() inside the handler finished the response as well. */
	if ((req->state == FW_REQ_RUNNING || req->state == FW_REQ_DEFERRED) && req->finish_status == 0)
		return true;
	/* An orphaned request is still the handler's; its output is dropped. */
	if (req->state != FW_REQ_ORPHANED)
		fw_log(FW_LOG_ERROR, "%s: the response is already finished", what);
	return false;
}

static bool value_ok(const char *v)
{
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static int header_check(fw_req *req, const char *what, const char *name, const char *value)
{
	if (!fw_resp_writable(req, what))
		return -1;
	if (name == NULL || !fw_is_token(name)) {
		fw_log(FW_LOG_ERROR, "%s: '%s' is not a valid header name", what,
		       name ? name : "(null)");
		return -1;
	}
	if (strcasecmp(name, "Status") == 0) {
		fw_log(FW_LOG_ERROR, "%s: return the status from the handler instead of a Status header",
		       what);
		return -1;
	}
	if (value != NULL && !value_ok(value)) {
		/* A warning: the value often comes from the client, who could fill the log with errors. */
		fw_log(FW_LOG_WARN,
		       "%s: the value of '%s' holds a control character (CR, LF, ...); refused", what,
		       name);
		return -1;
	}
	return 0;
}

static int header_append(fw_req *req, const char *name, const char *value)
{
	struct fw_resp_header *h = fw_pool_alloc(&req->pool, sizeof(*h)), **tail;

	if (h == NULL || (h->name = fw_pool_strndup(&req->pool, name, strlen(name))) == NULL ||
	    (h->value = fw_pool_strndup(&req->pool, value, strlen(value))) == NULL)
		return -1;
	h->next = NULL;
	for (tail = &req->headers; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = h;
	return 0;
}

static struct fw_resp_header *header_find(fw_req *req, const char *name)
{
	for (struct fw_resp_header *h = req->headers; h != NULL; h = h->next) {
		if (strcasecmp(h->name, name) == 0)
			return h;
	}
	return NULL;
}

bool fw_resp_has_header(fw_req *req, const char *name)
{
	return header_find(req, name) != NULL;
}

static void header_remove(fw_req *req, const char *name)
{
	struct fw_resp_header **p = &req->headers;

	while (*p != NULL) {
		if (strcasecmp((*p)->name, name) == 0)
			*p = (*p)->next;
		else
			p = &(*p)->next;
	}
}

FW_API int fw_set_header(fw_req *req, const char *name, const char *value)
{
	if (header_check(req, "fw_set_header", name, value) != 0)
		return -1;
	header_remove(req, name);
	return value == NULL ? 0 : header_append(req, name, value);
}

FW_API int fw_add_header(fw_req *req, const char *name, const char *value)
{
	if (value == NULL || header_check(req, "fw_add_header", name, value) != 0)
		return -1;
	return header_append(req, name, value);
}

FW_API int fw_write(fw_req *req, const void *data, size_t len)
{
	if (!fw_resp_writable(req, "fw_write"))
		return -1;
	return fw_buf_append(&req->out, data, len);
}

FW_API int fw_printf(fw_req *req, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!fw_resp_writable(req, "fw_printf"))
		return -1;
	va_start(ap, fmt);
	r = fw_buf_vprintf(&req->out, fmt, ap);
	va_end(ap);
	return r;
}

FW_API int fw_respond_with(fw_req *req, fw_buf *b)
{
	fw_buf swap;

	if (!fw_resp_writable(req, "fw_respond_with"))
		return -1;
	if (b == &req->out)
		return 0;
	/* The request's own buffers trade places: no byte is copied. */
	if (b == &req->body || fw_scratch_owned(req, b)) {
		swap = req->out;
		req->out = *b;
		*b = swap;
		fw_buf_clear(b);
		return 0;
	}
	fw_buf_clear(&req->out);
	return fw_buf_append(&req->out, b->data, b->len);
}

FW_API int fw_write_json(fw_req *req, const char *s, size_t len)
{
	if (!fw_resp_writable(req, "fw_write_json"))
		return -1;
	return fw_json_string(&req->out, s, len);
}

static const char *default_type = "text/plain; charset=utf-8"; /* default_type's default */

void fw_resp_configure(const char *type)
{
	/*
	 * Called in every new worker: a write would copy the page it shares
	 * with the master, so only a value that differs is stored.
	 */
	if (strcmp(default_type, type) != 0)
		default_type = type;
}

int fw_resp_settle(fw_req *req, int status)
{
	return fw_resp_settle_with(req, status, NULL);
}

static bool error_without_body(fw_req *req, int status)
{
	return status >= 400 && req->out.len == 0 && header_find(req, "Content-Length") == NULL;
}

int fw_resp_settle_with(fw_req *req, int status, int (*error_body)(fw_req *req, int status))
{
	/* A 1xx is not a final answer: nginx would pass it on and the client wait for more. */
	if (status < 200 || status > 599) {
		fw_log(FW_LOG_ERROR, "%s %s: handler returned %d, not an HTTP status; answering 500",
		       req->method, req->path, status);
		fw_buf_reset(&req->out, SIZE_MAX);
		req->headers = NULL;
		status = 500;
	}
	if (error_body != NULL && error_without_body(req, status)) {
		/* fw_finish() inside the handler ends writing; the error page may still write. */
		int finish_status = req->finish_status;

		req->finish_status = 0;
		status = error_body(req, status);
		req->finish_status = finish_status;
	}
	if (default_type[0] != '\0' && fw_http_has_body(status) &&
	    header_find(req, "Content-Type") == NULL && !error_without_body(req, status))
		header_append(req, "Content-Type", default_type);
	if (error_without_body(req, status)) {
		/* The default body is text, whatever type the handler meant to send. */
		header_remove(req, "Content-Type");
		if (header_append(req, "Content-Type", "text/plain; charset=utf-8") != 0)
			return status;
		fw_buf_printf(&req->out, "%d %s\n", status, fw_reason_phrase(status));
		if (req->error_msg != NULL)
			fw_buf_printf(&req->out, "%s\n", req->error_msg);
	}
	return status;
}

/*
 * Content-Length is fw's: the length of the body written. The one
 * exception is a HEAD answered without writing the body, where the
 * handler's own value says what a GET would send. Every other
 * Content-Length the handler set (or added twice) is left out: a value
 * that does not match what follows makes nginx wait for bytes that never
 * come, or cut the answer short.
 */
static bool own_length(const fw_req *req, const struct fw_resp_header *cl)
{
	return !(req->head && req->out.len == 0 && cl != NULL);
}

/* Decimal digits of v at the end of buf[20]; returns where they start. */
static char *utoa_end(char *end, unsigned long long v)
{
	do
		*--end = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return end;
}

/* name ": " value CRLF. Appends, not printf: the head is on every request's path. */
static int put_header(struct fw_buf *out, const char *name, size_t nlen, const char *value, size_t vlen)
{
	/* One reserve, so that the appends after it only copy. */
	if (fw_buf_reserve(out, nlen + vlen + 4) != 0 || fw_buf_append(out, name, nlen) != 0 ||
	    fw_buf_append(out, ": ", 2) != 0 || fw_buf_append(out, value, vlen) != 0 ||
	    fw_buf_append(out, "\r\n", 2) != 0)
		return -1;
	return 0;
}

int fw_resp_head(fw_req *req, int status, struct fw_buf *out)
{
	bool body = fw_http_has_body(status);
	const struct fw_resp_header *cl = header_find(req, "Content-Length");
	bool ours = own_length(req, cl);
	const char *reason = fw_reason_phrase(status);
	char num[24], *end = num + sizeof(num), *digits;
	size_t rlen = strlen(reason);

	/* "Status: 200 OK" (status is 200..599 here, fw_resp_settle) */
	digits = utoa_end(end, (unsigned)status);
	if (fw_buf_reserve(out, 8 + (size_t)(end - digits) + 1 + rlen + 2) != 0 ||
	    fw_buf_append(out, "Status: ", 8) != 0 ||
	    fw_buf_append(out, digits, (size_t)(end - digits)) != 0 || fw_buf_append(out, " ", 1) != 0 ||
	    fw_buf_append(out, reason, rlen) != 0 || fw_buf_append(out, "\r\n", 2) != 0)
		return FW_ERROR;
	for (const struct fw_resp_header *h = req->headers; h != NULL; h = h->next) {
		if (strcasecmp(h->name, "Content-Length") == 0 && (ours || h != cl || !body))
			continue;
		if (put_header(out, h->name, strlen(h->name), h->value, strlen(h->value)) != 0)
			return FW_ERROR;
	}
	if (body && ours) {
		digits = utoa_end(end, req->out.len);
		if (put_header(out, "Content-Length", 14, digits, (size_t)(end - digits)) != 0)
			return FW_ERROR;
	}
	return fw_buf_append(out, "\r\n", 2) == 0 ? FW_OK : FW_ERROR;
}

size_t fw_resp_body(fw_req *req, int status, const char **data)
{
	if (req->head || !fw_http_has_body(status) || req->out.len == 0) {
		*data = NULL;
		return 0;
	}
	*data = req->out.data;
	return req->out.len;
}
