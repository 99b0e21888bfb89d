/* http/req.c, query.c, resp.c: the request object and its response. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/result.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/router.h"
#include "proto/fcgi.h"
#include "req_helpers.h"

static bool path_is(const char *want, const char *const *kv, int line)
{
	fw_req *req = prepared(kv, line);
	bool ok = check_eq_str(__FILE__, line, fw_path(req), want, "fw_path", want);

	fw_req_destroy(req);
	return ok;
}

#define PATH_IS(want, ...) path_is(want, ENV(__VA_ARGS__), __LINE__)

/* fw_req_prepare() refuses the request (the worker answers 400). */
static void refused(const char *const *kv, const char *why, int line)
{
	fw_req *req = req_with(kv);
	const char *err = NULL;

	if (check_eq_int(__FILE__, line, fw_req_prepare(req, &err), FW_ERROR, "fw_req_prepare",
			 "FW_ERROR"))
		check_true(__FILE__, line, err != NULL && strstr(err, why) != NULL, why);
	fw_req_destroy(req);
}

#define REFUSED(why, ...) refused(ENV(__VA_ARGS__), why, __LINE__)

static void test_method(void)
{
	fw_req *req;

	req = PREPARED("REQUEST_METHOD", "POST");
	CHECK_EQ_STR(fw_method(req), "POST");
	CHECK(!req->head);
	fw_req_destroy(req);
	req = PREPARED("SERVER_NAME", "x");
	CHECK_EQ_STR(fw_method(req), "GET");
	fw_req_destroy(req);
	req = PREPARED("REQUEST_METHOD", "");
	CHECK_EQ_STR(fw_method(req), "GET");
	fw_req_destroy(req);
	req = PREPARED("REQUEST_METHOD", "HEAD");
	CHECK_EQ_STR(fw_method(req), "HEAD");
	CHECK(req->head);
	fw_req_destroy(req);
	/* No params at all. */
	req = fw_req_create();
	{
		const char *err = NULL;
		CHECK_EQ_INT(fw_req_prepare(req, &err), FW_OK);
		CHECK_EQ_STR(fw_method(req), "GET");
		CHECK_EQ_STR(fw_path(req), "/");
		CHECK(fw_env(req, "X") == NULL);
		CHECK(fw_header(req, "Host") == NULL);
		CHECK(fw_query(req, "a") == NULL);
	}
	fw_req_destroy(req);
}

static void test_path(void)
{
	/* DOCUMENT_URI wins over everything else. */
	PATH_IS("/doc", "REQUEST_URI", "/r?x=1", "SCRIPT_NAME", "/s", "PATH_INFO", "/p", "DOCUMENT_URI",
		"/doc");
	PATH_IS("/doc", "DOCUMENT_URI", "/doc", "SCRIPT_NAME", "/s", "PATH_INFO", "/p");
	PATH_IS("/a b", "DOCUMENT_URI", "/a b", "REQUEST_URI", "/a%20c");
	/* Then SCRIPT_NAME + PATH_INFO, either of which may be missing or empty. */
	PATH_IS("/app/x/y", "SCRIPT_NAME", "/app", "PATH_INFO", "/x/y", "REQUEST_URI", "/r");
	PATH_IS("/app/x/y", "DOCUMENT_URI", "", "SCRIPT_NAME", "/app", "PATH_INFO", "/x/y");
	PATH_IS("/s", "SCRIPT_NAME", "/s", "REQUEST_URI", "/r");
	PATH_IS("/p", "PATH_INFO", "/p", "REQUEST_URI", "/r");
	PATH_IS("/s", "SCRIPT_NAME", "/s", "PATH_INFO", "", "REQUEST_URI", "/r");
	PATH_IS("/p", "SCRIPT_NAME", "", "PATH_INFO", "/p", "REQUEST_URI", "/r");
	/* Then REQUEST_URI up to '?', percent-decoded ('+' stays). */
	PATH_IS("/a b/c", "REQUEST_URI", "/a%20b/c?q=%20");
	PATH_IS("/a+b/%zz", "REQUEST_URI", "/a+b/%zz");
	PATH_IS("/x", "REQUEST_URI", "/x#frag");
	PATH_IS("/x", "REQUEST_URI", "/x?");
	PATH_IS("/?", "REQUEST_URI", "/%3F?y");
	PATH_IS("/r", "SCRIPT_NAME", "", "PATH_INFO", "", "DOCUMENT_URI", "", "REQUEST_URI", "/r");
	/* Nothing at all: "/". */
	PATH_IS("/", "QUERY_STRING", "a=1");
	PATH_IS("/", "REQUEST_URI", "");
	/* A later duplicate wins. */
	PATH_IS("/second", "DOCUMENT_URI", "/first", "DOCUMENT_URI", "/second");
	PATH_IS("/s2/p2", "SCRIPT_NAME", "/s1", "PATH_INFO", "/p1", "SCRIPT_NAME", "/s2", "PATH_INFO",
		"/p2");
	PATH_IS("/u2", "REQUEST_URI", "/u1", "REQUEST_URI", "/u2");
}

/*
 * Dot segments, in every form the front ends pass a path: nginx's
 * DOCUMENT_URI, Apache's SCRIPT_NAME, the SCRIPT_NAME='' + PATH_INFO of
 * lighttpd, Caddy and H2O (Caddy passes "/users/.." as the client sent
 * it), and a bare REQUEST_URI, which fw decodes (so %2e is a dot there).
 */
static void test_path_dot_segments(void)
{
	const char *dot = "'.' or '..' segment";

	REFUSED(dot, "DOCUMENT_URI", "/users/..");
	REFUSED(dot, "DOCUMENT_URI", "/users/.");
	REFUSED(dot, "DOCUMENT_URI", "/users/../status");
	REFUSED(dot, "SCRIPT_NAME", "/users/..");
	REFUSED(dot, "SCRIPT_NAME", "", "PATH_INFO", "/users/..");
	REFUSED(dot, "SCRIPT_NAME", "", "PATH_INFO", "/users/./x");
	REFUSED(dot, "DOCUMENT_URI", "", "SCRIPT_NAME", "", "PATH_INFO", "/users/..", "REQUEST_URI",
		"/users/.%2e");
	/* SCRIPT_NAME and PATH_INFO meet at a slash: "/app/." + "./x" is "/app/../x". */
	REFUSED(dot, "SCRIPT_NAME", "/app/.", "PATH_INFO", "./x");
	REFUSED(dot, "REQUEST_URI", "/users/..");
	REFUSED(dot, "REQUEST_URI", "/users/.%2e");
	REFUSED(dot, "REQUEST_URI", "/users/%2E%2e?x=1");
	REFUSED(dot, "REQUEST_URI", "/users/%2e");
	REFUSED(dot, "REQUEST_URI", "/a/%2e%2e%2fstatus");
	/* "%252e" decodes to "%2e": fw decodes once, but never routes it either. */
	REFUSED(dot, "REQUEST_URI", "/users/%252e%252e");
	REFUSED(dot, "DOCUMENT_URI", "/users/%2e%2e");
	/* Dots inside a segment are data. */
	PATH_IS("/users/...", "DOCUMENT_URI", "/users/...");
	PATH_IS("/users/..x", "SCRIPT_NAME", "", "PATH_INFO", "/users/..x");
	PATH_IS("/.well-known/a.b", "REQUEST_URI", "/.well-known/a.b");
	PATH_IS("/x/.%2ex", "REQUEST_URI", "/x/.%252ex");
}

static void test_env(void)
{
	fw_req *req = PREPARED("A", "1", "B", "", "A", "2", "REQUEST_METHOD", "PUT", "REQUEST_METHOD",
			       "DELETE");
	const char *name, *value;

	CHECK_EQ_STR(fw_env(req, "A"), "2");
	CHECK_EQ_STR(fw_env(req, "B"), "");
	CHECK(fw_env(req, "C") == NULL);
	CHECK(fw_env(req, "a") == NULL);
	CHECK_EQ_STR(fw_method(req), "DELETE");
	CHECK_EQ_UINT(fw_env_count(req), 5);
	CHECK_EQ_INT(fw_env_at(req, 0, &name, &value), 0);
	CHECK_EQ_STR(name, "A");
	CHECK_EQ_STR(value, "1");
	CHECK_EQ_INT(fw_env_at(req, 2, &name, &value), 0);
	CHECK_EQ_STR(name, "A");
	CHECK_EQ_STR(value, "2");
	CHECK_EQ_INT(fw_env_at(req, 5, &name, &value), -1);
	fw_req_destroy(req);
}

static void test_query(void)
{
	fw_req *req = PREPARED("QUERY_STRING",
			       "a=1&b=hello+world&c=%41%42&d&e=&=x&a=2&&f=%zz&g=a%3Db&na%6De=v&"
			       "sp+ace=1&z=a%00b&u=%C3%A9&p=1+1%2B1&h=x=y");

	CHECK_EQ_STR(fw_query(req, "a"), "1"); /* the first value */
	CHECK_EQ_STR(fw_query(req, "b"), "hello world");
	CHECK_EQ_STR(fw_query(req, "c"), "AB");
	CHECK_EQ_STR(fw_query(req, "d"), "");
	CHECK_EQ_STR(fw_query(req, "e"), "");
	CHECK_EQ_STR(fw_query(req, "f"), "%zz");
	CHECK_EQ_STR(fw_query(req, "g"), "a=b");
	CHECK_EQ_STR(fw_query(req, "name"), "v");
	CHECK_EQ_STR(fw_query(req, "sp ace"), "1");
	CHECK_EQ_STR(fw_query(req, "z"), "a"); /* ends at the decoded NUL */
	CHECK_EQ_STR(fw_query(req, "u"), "\xc3\xa9");
	CHECK_EQ_STR(fw_query(req, "p"), "1 1+1");
	CHECK_EQ_STR(fw_query(req, "h"), "x=y");
	CHECK(fw_query(req, "missing") == NULL);
	CHECK(fw_query(req, "A") == NULL);
	CHECK(fw_query(req, "na%6De") == NULL);
	/* Every pair, in order, repeats included. */
	{
		const char *n = "untouched", *v = "untouched";

		CHECK_EQ_UINT(fw_query_count(req), 15);
		CHECK(fw_query_at(req, 0, &n, &v) == 0 && strcmp(n, "a") == 0 && strcmp(v, "1") == 0);
		CHECK(fw_query_at(req, 5, &n, &v) == 0 && strcmp(n, "") == 0 && strcmp(v, "x") == 0);
		CHECK(fw_query_at(req, 6, &n, &v) == 0 && strcmp(n, "a") == 0 && strcmp(v, "2") == 0);
		CHECK(fw_query_at(req, 14, &n, &v) == 0 && strcmp(n, "h") == 0);
		n = v = "untouched";
		CHECK(fw_query_at(req, 15, &n, &v) == -1);
		CHECK_EQ_STR(n, "untouched");
		CHECK_EQ_STR(v, "untouched");
	}
	/* The raw string is left as it came. */
	CHECK_EQ_STR(fw_env(req, "QUERY_STRING"),
		     "a=1&b=hello+world&c=%41%42&d&e=&=x&a=2&&f=%zz&g=a%3Db&na%6De=v&"
		     "sp+ace=1&z=a%00b&u=%C3%A9&p=1+1%2B1&h=x=y");
	fw_req_destroy(req);

	req = PREPARED("QUERY_STRING", "");
	CHECK(fw_query(req, "") == NULL);
	CHECK(fw_query(req, "a") == NULL);
	fw_req_destroy(req);
	req = PREPARED("QUERY_STRING", "&&&");
	CHECK(fw_query(req, "") == NULL);
	CHECK_EQ_UINT(fw_query_count(req), 0);
	fw_req_destroy(req);
	req = PREPARED("QUERY_STRING", "only");
	CHECK_EQ_STR(fw_query(req, "only"), "");
	fw_req_destroy(req);
	/* A later QUERY_STRING param wins, like every param. */
	req = PREPARED("QUERY_STRING", "v=old", "QUERY_STRING", "v=new");
	CHECK_EQ_STR(fw_query(req, "v"), "new");
	fw_req_destroy(req);
}

static void test_headers(void)
{
	fw_req *req = PREPARED("HTTP_USER_AGENT", "curl/8", "CONTENT_TYPE", "application/json",
			       "HTTP_CONTENT_TYPE", "text/evil", "CONTENT_LENGTH", "5",
			       "HTTP_CONTENT_LENGTH", "999", "HTTP_X_FORWARDED_FOR", "1.2.3.4",
			       "REQUEST_METHOD", "POST", "HTTP_ACCEPT", "a/b", "HTTP_ACCEPT", "c/d",
			       "HTTP_HOST", "example.com");

	CHECK_EQ_STR(fw_header(req, "User-Agent"), "curl/8");
	CHECK_EQ_STR(fw_header(req, "user-agent"), "curl/8");
	CHECK_EQ_STR(fw_header(req, "USER-AGENT"), "curl/8");
	CHECK_EQ_STR(fw_header(req, "Content-Type"), "application/json");
	CHECK_EQ_STR(fw_header(req, "content-length"), "5");
	CHECK_EQ_STR(fw_header(req, "X-Forwarded-For"), "1.2.3.4");
	CHECK_EQ_STR(fw_header(req, "Host"), "example.com");
	CHECK_EQ_STR(fw_header(req, "Accept"), "c/d");
	CHECK(fw_header(req, "Request-Method") == NULL);
	CHECK(fw_header(req, "Referer") == NULL);
	CHECK(fw_header(req, "Content") == NULL);
	CHECK_EQ_UINT(req->content_length, 5);
	fw_req_destroy(req);
	/* Caddy's -1 for a chunked upload: the client sent no Content-Length. */
	req = PREPARED("CONTENT_LENGTH", "-1", "HTTP_TRANSFER_ENCODING", "chunked");
	CHECK(fw_header(req, "Content-Length") == NULL);
	CHECK_EQ_STR(fw_env(req, "CONTENT_LENGTH"), "-1");
	fw_req_destroy(req);
	req = PREPARED("CONTENT_LENGTH", "");
	CHECK(fw_header(req, "Content-Length") == NULL);
	fw_req_destroy(req);
}

/* What fw_req_prepare() makes of a CONTENT_LENGTH. */
enum cl_kind {
	CL_LENGTH,  /* a length the body must have */
	CL_NONE,    /* no length: the body is read to its end */
	CL_INVALID, /* refused: 400 */
};

/* CONTENT_LENGTH value (with its exact length) -> prepare result and length. */
static void content_length_is(const char *v, size_t vlen, enum cl_kind want_kind,
			      unsigned long long want, int line)
{
	const char *kv[] = {"CONTENT_LENGTH", v, NULL};
	size_t lens[] = {vlen};
	fw_req *req = fw_req_create();
	const char *err = NULL;
	int rc;

	set_env_lens(req, kv, lens);
	rc = fw_req_prepare(req, &err);
	if (!check_eq_int(__FILE__, line, rc, want_kind == CL_INVALID ? FW_ERROR : FW_OK, v,
			  "expected result")) {
		fw_req_destroy(req);
		return;
	}
	if (rc == FW_OK) {
		check_eq_uint(__FILE__, line, req->content_length, want, "content_length", v);
		check_eq_int(__FILE__, line, req->has_content_length, want_kind == CL_LENGTH, v,
			     "has_content_length");
	} else {
		check_true(__FILE__, line, err != NULL && err[0] != '\0', "error message");
	}
	fw_req_destroy(req);
}

#define CL_OK(v, want) content_length_is(v, sizeof(v) - 1, CL_LENGTH, want, __LINE__)
#define CL_UNKNOWN(v) content_length_is(v, sizeof(v) - 1, CL_NONE, 0, __LINE__)
#define CL_BAD(v) content_length_is(v, sizeof(v) - 1, CL_INVALID, 0, __LINE__)

static void test_content_length(void)
{
	fw_req *req = PREPARED("REQUEST_METHOD", "GET");

	CHECK_EQ_UINT(req->content_length, 0);
	CHECK(!req->has_content_length);
	fw_req_destroy(req);
	/*
	 * No length: the body is read to its end. nginx sends an empty
	 * CONTENT_LENGTH when the request has no body, Caddy -1 for a chunked
	 * upload.
	 */
	CL_UNKNOWN("");
	CL_UNKNOWN("-1");
	CL_UNKNOWN("-4096");
	CL_OK("0", 0);
	CL_OK("12345", 12345);
	CL_OK("007", 7);
	CL_OK("4611686018427387904", 1ULL << 62);
	CL_BAD("-0");
	CL_BAD("-");
	CL_BAD("--1");
	CL_BAD("-1 ");
	CL_BAD("-x");
	CL_BAD("-99999999999999999999999");
	CL_BAD("+5");
	CL_BAD(" 5");
	CL_BAD("5 ");
	CL_BAD("0x10");
	CL_BAD("1e3");
	CL_BAD("abc");
	CL_BAD("4611686018427387905");
	CL_BAD("18446744073709551615");
	CL_BAD("18446744073709551616");
	CL_BAD("99999999999999999999999999");
	CL_BAD("5\0");
	CL_BAD("\0"
	       "5");
}

static int never_called(fw_req *req, void *arg)
{
	(void)req;
	(void)arg;
	return 500;
}

static void test_route_params_body_alloc(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;
	char err[128];
	fw_req *req = PREPARED("DOCUMENT_URI", "/users/42/files/a/b");
	size_t len = 99;

	CHECK_EQ_INT(
		fw_router_add(&r, "GET", "/users/:id/files/*", never_called, NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(fw_router_match(&r, fw_method(req), fw_path(req), &m), 200);
	CHECK_EQ_INT(fw_req_set_route_params(req, &m), FW_OK);
	CHECK_EQ_STR(fw_param(req, "id"), "42");
	CHECK_EQ_STR(fw_param(req, "*"), "a/b");
	CHECK(fw_param(req, "x") == NULL);
	fw_router_finish(&r);

	CHECK(fw_body(req, &len) == NULL);
	CHECK_EQ_UINT(len, 0);
	fw_buf_append(&req->body, "abc", 3);
	CHECK_EQ_MEM(fw_body(req, &len), 4, "abc", 4); /* NUL after the body */
	CHECK_EQ_UINT(len, 3);
	CHECK(fw_body(req, NULL) != NULL);

	{
		char *p = fw_alloc(req, 100);

		if (CHECK(p != NULL))
			memset(p, 'x', 100);
	}
	/* Reset for the next request: nothing of the old one is left. */
	fw_req_reset(req, 1 << 20);
	set_env_lens(req, ENV("REQUEST_METHOD", "PUT", "REQUEST_URI", "/next"), NULL);
	{
		const char *e = NULL;
		CHECK_EQ_INT(fw_req_prepare(req, &e), FW_OK);
	}
	CHECK_EQ_STR(fw_method(req), "PUT");
	CHECK_EQ_STR(fw_path(req), "/next");
	CHECK(fw_param(req, "id") == NULL);
	CHECK(fw_env(req, "DOCUMENT_URI") == NULL);
	CHECK(fw_body(req, &len) == NULL);
	CHECK_EQ_UINT(len, 0);
	fw_req_destroy(req);
	fw_req_destroy(NULL);
}

/* ---- the response ---- */

/* Settle and format; returns the final status, the head in *head. */
static int respond(fw_req *req, int status, struct fw_buf *head)
{
	fw_buf_reset(head, SIZE_MAX);
	status = fw_resp_settle(req, status);
	if (fw_resp_head(req, status, head) != FW_OK)
		return -1;
	return status;
}

static fw_req *running(const char *method)
{
	fw_req *req = req_with(ENV("REQUEST_METHOD", method, "DOCUMENT_URI", "/x"));
	const char *err;

	if (fw_req_prepare(req, &err) != FW_OK)
		abort();
	req->state = FW_REQ_RUNNING;
	return req;
}

static bool body_is(fw_req *req, int status, const char *want, int line)
{
	const char *data = (const char *)1;
	size_t n = fw_resp_body(req, status, &data);

	if (want == NULL)
		return check_eq_uint(__FILE__, line, n, 0, "body length", "0") &&
		       check_true(__FILE__, line, data == NULL, "no body data");
	return check_eq_mem(__FILE__, line, data, n, want, strlen(want), "body", want);
}

#define BODY_IS(req, status, want) body_is(req, status, want, __LINE__)

static void test_response_basic(void)
{
	struct fw_buf head = FW_BUF_INIT;
	fw_req *req = running("GET");

	CHECK_EQ_INT(fw_set_header(req, "Content-Type", "text/plain"), 0);
	CHECK_EQ_INT(fw_write(req, "hel", 3), 0);
	CHECK_EQ_INT(fw_printf(req, "%s", "lo"), 0);
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data,
		     "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
	BODY_IS(req, 200, "hello");
	fw_req_destroy(req);

	/* No body: Content-Length 0. */
	req = running("GET");
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data, "Status: 200 OK\r\nContent-Length: 0\r\n\r\n");
	BODY_IS(req, 200, NULL);
	fw_req_destroy(req);

	/* Other statuses and their reasons. */
	req = running("POST");
	fw_write(req, "{}", 2);
	CHECK_EQ_INT(respond(req, 201, &head), 201);
	CHECK_EQ_STR(head.data, "Status: 201 Created\r\nContent-Length: 2\r\n\r\n");
	fw_req_destroy(req);

	req = running("GET");
	fw_set_header(req, "Location", "/there");
	CHECK_EQ_INT(respond(req, 302, &head), 302);
	CHECK_EQ_STR(head.data, "Status: 302 Found\r\nLocation: /there\r\nContent-Length: 0\r\n\r\n");
	fw_req_destroy(req);

	/* The head is appended after what the buffer holds. */
	req = running("GET");
	fw_buf_reset(&head, SIZE_MAX);
	fw_buf_puts(&head, "HDR");
	CHECK_EQ_INT(fw_resp_head(req, 200, &head), FW_OK);
	CHECK_EQ_STR(head.data, "HDRStatus: 200 OK\r\nContent-Length: 0\r\n\r\n");
	fw_req_destroy(req);
	fw_buf_release(&head);
}

static void test_response_errors(void)
{
	struct fw_buf head = FW_BUF_INIT;
	fw_req *req;
	static const int invalid[] = {0, 99, 600, 1000, -5, FW_ASYNC};

	/* 4xx/5xx without a body get a short text one. */
	req = running("GET");
	CHECK_EQ_INT(respond(req, 404, &head), 404);
	CHECK_EQ_STR(head.data, "Status: 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
				"Content-Length: 14\r\n\r\n");
	BODY_IS(req, 404, "404 Not Found\n");
	fw_req_destroy(req);

	req = running("GET");
	CHECK_EQ_INT(respond(req, 503, &head), 503);
	BODY_IS(req, 503, "503 Service Unavailable\n");
	fw_req_destroy(req);

	/* ... but a body the handler wrote is kept. */
	req = running("GET");
	fw_write(req, "custom", 6);
	CHECK_EQ_INT(respond(req, 404, &head), 404);
	CHECK_EQ_STR(head.data, "Status: 404 Not Found\r\nContent-Length: 6\r\n\r\n");
	BODY_IS(req, 404, "custom");
	fw_req_destroy(req);

	/* Invalid statuses become 500; what the handler wrote is dropped. */
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		req = running("GET");
		fw_set_header(req, "X-Secret", "1");
		fw_write(req, "partial", 7);
		CHECK_EQ_INT(respond(req, invalid[i], &head), 500);
		CHECK_EQ_STR(head.data, "Status: 500 Internal Server Error\r\n"
					"Content-Type: text/plain; charset=utf-8\r\n"
					"Content-Length: 26\r\n\r\n");
		BODY_IS(req, 500, "500 Internal Server Error\n");
		fw_req_destroy(req);
	}
	/* The edges of the valid range. */
	req = running("GET");
	CHECK_EQ_INT(fw_resp_settle(req, 599), 599);
	fw_req_destroy(req);
	req = running("GET");
	CHECK_EQ_INT(fw_resp_settle(req, 200), 200);
	fw_req_destroy(req);
	/* A 1xx is not a final answer (nginx would pass it on and wait for more). */
	for (int code = 100; code <= 199; code += 99) {
		req = running("GET");
		CHECK_EQ_INT(fw_resp_settle(req, code), 500);
		fw_req_destroy(req);
	}
	fw_buf_release(&head);
}

/* Content-Length is the body's; a handler's value counts only for a bodiless HEAD. */
static void test_content_length_rules(void)
{
	struct fw_buf head = FW_BUF_INIT;
	fw_req *req;

	req = running("GET");
	fw_set_header(req, "Content-Length", "100");
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data, "Status: 200 OK\r\nContent-Length: 0\r\n\r\n");
	fw_req_destroy(req);
	req = running("GET");
	fw_add_header(req, "Content-Length", "3");
	fw_add_header(req, "content-length", "3");
	fw_write(req, "abc", 3);
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data, "Status: 200 OK\r\nContent-Length: 3\r\n\r\n");
	fw_req_destroy(req);
	req = running("HEAD");
	fw_set_header(req, "Content-Length", "1234");
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data, "Status: 200 OK\r\nContent-Length: 1234\r\n\r\n");
	fw_req_destroy(req);
	/* After fw_finish() inside the handler, the response takes no more. */
	req = running("GET");
	CHECK_EQ_INT(fw_finish(req, 201), 0);
	CHECK_EQ_INT(fw_write(req, "x", 1), -1);
	CHECK_EQ_INT(fw_set_header(req, "X-A", "b"), -1);
	fw_req_destroy(req);
	fw_buf_release(&head);
}

static void test_response_head_and_bodyless(void)
{
	struct fw_buf head = FW_BUF_INIT;
	fw_req *req;

	/* HEAD: the length of the body that GET would send, and no body. */
	req = running("HEAD");
	fw_set_header(req, "Content-Type", "text/html");
	fw_write(req, "hello", 5);
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data,
		     "Status: 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n");
	BODY_IS(req, 200, NULL);
	fw_req_destroy(req);

	/* HEAD of an error: the default body is counted, not sent. */
	req = running("HEAD");
	CHECK_EQ_INT(respond(req, 404, &head), 404);
	CHECK(strstr(head.data, "Content-Length: 14\r\n") != NULL);
	BODY_IS(req, 404, NULL);
	fw_req_destroy(req);

	/* HEAD handler that knows the length without writing the body. */
	req = running("HEAD");
	fw_set_header(req, "Content-Length", "1234");
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data, "Status: 200 OK\r\nContent-Length: 1234\r\n\r\n");
	fw_req_destroy(req);

	/* A body was written: its real length replaces the handler's header. */
	req = running("GET");
	fw_set_header(req, "Content-Length", "99");
	fw_write(req, "abc", 3);
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data, "Status: 200 OK\r\nContent-Length: 3\r\n\r\n");
	fw_req_destroy(req);

	/* 204 and 304: no Content-Length, no body. */
	req = running("GET");
	fw_write(req, "ignored", 7);
	fw_set_header(req, "Content-Length", "7");
	fw_set_header(req, "ETag", "\"x\"");
	CHECK_EQ_INT(respond(req, 204, &head), 204);
	CHECK_EQ_STR(head.data, "Status: 204 No Content\r\nETag: \"x\"\r\n\r\n");
	BODY_IS(req, 204, NULL);
	fw_req_destroy(req);
	req = running("GET");
	CHECK_EQ_INT(respond(req, 304, &head), 304);
	CHECK_EQ_STR(head.data, "Status: 304 Not Modified\r\n\r\n");
	BODY_IS(req, 304, NULL);
	fw_req_destroy(req);
	fw_buf_release(&head);
}

static void test_response_headers(void)
{
	struct fw_buf head = FW_BUF_INIT;
	fw_req *req = running("GET");

	CHECK_EQ_INT(fw_set_header(req, "X-A", "1"), 0);
	CHECK_EQ_INT(fw_set_header(req, "x-a", "2"), 0); /* replaces, any case */
	CHECK_EQ_INT(fw_add_header(req, "Set-Cookie", "a=1"), 0);
	CHECK_EQ_INT(fw_add_header(req, "Set-Cookie", "b=2"), 0);
	CHECK_EQ_INT(fw_set_header(req, "X-Gone", "x"), 0);
	CHECK_EQ_INT(fw_set_header(req, "x-gone", NULL), 0); /* removes */
	CHECK_EQ_INT(fw_set_header(req, "X-Tab", "a\tb"), 0);
	CHECK_EQ_INT(fw_set_header(req, "X-Empty", ""), 0);

	/* Header injection and bad names are refused, and leave nothing behind. */
	CHECK_EQ_INT(fw_set_header(req, "X-Evil", "a\r\nSet-Cookie: pwned=1"), -1);
	CHECK_EQ_INT(fw_set_header(req, "X-Evil", "a\nb"), -1);
	CHECK_EQ_INT(fw_set_header(req, "X-Evil", "a\rb"), -1);
	CHECK_EQ_INT(fw_set_header(req, "X-Evil", "\x7f"), -1);
	CHECK_EQ_INT(fw_set_header(req, "X-Evil", "\x01"), -1);
	CHECK_EQ_INT(fw_add_header(req, "X-Evil", "a\r\n\r\nbody"), -1);
	CHECK_EQ_INT(fw_set_header(req, "X-Evil\r\nSet-Cookie", "x"), -1);
	CHECK_EQ_INT(fw_set_header(req, "Bad Name", "x"), -1);
	CHECK_EQ_INT(fw_set_header(req, "Bad:Name", "x"), -1);
	CHECK_EQ_INT(fw_set_header(req, "", "x"), -1);
	CHECK_EQ_INT(fw_set_header(req, NULL, "x"), -1);
	CHECK_EQ_INT(fw_add_header(req, "X-Null", NULL), -1);
	/* The status comes from the handler's return value, not a header. */
	CHECK_EQ_INT(fw_set_header(req, "Status", "200 OK"), -1);
	CHECK_EQ_INT(fw_set_header(req, "status", "302 Found"), -1);
	CHECK_EQ_INT(fw_add_header(req, "STATUS", "500"), -1);

	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK_EQ_STR(head.data, "Status: 200 OK\r\n"
				"x-a: 2\r\n"
				"Set-Cookie: a=1\r\n"
				"Set-Cookie: b=2\r\n"
				"X-Tab: a\tb\r\n"
				"X-Empty: \r\n"
				"Content-Length: 0\r\n\r\n");
	fw_req_destroy(req);
	fw_buf_release(&head);
}

static void test_response_not_writable(void)
{
	fw_req *req = running("GET");

	CHECK_EQ_INT(fw_write_json(req, "a\"", 2), 0);
	CHECK_EQ_MEM(req->out.data, req->out.len, "\"a\\\"\"", 5);
	/* Once the response is finished, nothing more can be written. */
	req->state = FW_REQ_IDLE;
	CHECK_EQ_INT(fw_write(req, "x", 1), -1);
	CHECK_EQ_INT(fw_printf(req, "x"), -1);
	CHECK_EQ_INT(fw_write_json(req, "x", 1), -1);
	CHECK_EQ_INT(fw_set_header(req, "X-A", "1"), -1);
	CHECK_EQ_INT(fw_add_header(req, "X-A", "1"), -1);
	CHECK_EQ_UINT(req->out.len, 5);
	CHECK(req->headers == NULL);
	fw_req_destroy(req);
}

/* An empty first write from a handler (run in a child: it may crash). */
static void empty_first_write(void)
{
	fw_req *req = running("GET");

	CHECK_EQ_INT(fw_write(req, "", 0), 0);
	CHECK_EQ_UINT(req->out.len, 0);
	fw_req_destroy(req);
}

static void empty_first_printf(void)
{
	fw_req *req = running("GET");

	CHECK_EQ_INT(fw_printf(req, "%s", ""), 0);
	CHECK_EQ_UINT(req->out.len, 0);
	fw_req_destroy(req);
}

/* default_type: added to a response that may have a body and set none. */
static void test_default_type(void)
{
	struct fw_buf head = FW_BUF_INIT;
	fw_req *req;

	fw_resp_configure("text/html; charset=utf-8");
	req = running("GET");
	fw_write(req, "<p>", 3);
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK(strstr(head.data, "Content-Type: text/html; charset=utf-8\r\n") != NULL);
	fw_req_reset(req, 0);
	req->state = FW_REQ_RUNNING;
	fw_set_header(req, "Content-Type", "image/png");
	CHECK_EQ_INT(respond(req, 200, &head), 200);
	CHECK(strstr(head.data, "image/png") != NULL && strstr(head.data, "text/html") == NULL);
	fw_req_reset(req, 0);
	req->state = FW_REQ_RUNNING;
	CHECK_EQ_INT(respond(req, 204, &head), 204);
	CHECK(strstr(head.data, "Content-Type") == NULL);
	fw_req_reset(req, 0);
	req->state = FW_REQ_RUNNING;
	CHECK_EQ_INT(respond(req, 404, &head),
		     404); /* fw's error body is text whatever default_type says */
	CHECK(strstr(head.data, "Content-Type: text/plain; charset=utf-8\r\n") != NULL);
	fw_req_destroy(req);
	fw_buf_release(&head);
	fw_resp_configure("");
}

int main(void)
{
	fw_resp_configure(
		""); /* default_type off: the heads below are exact (tested in test_default_type) */
	test_method();
	test_path();
	test_path_dot_segments();
	test_env();
	test_query();
	test_headers();
	test_content_length();
	test_route_params_body_alloc();
	test_response_basic();
	test_response_errors();
	test_response_head_and_bodyless();
	test_content_length_rules();
	test_response_headers();
	test_response_not_writable();
	CHECK_IN_CHILD(empty_first_write);
	CHECK_IN_CHILD(empty_first_printf);
	test_default_type();
	return check_done();
}
