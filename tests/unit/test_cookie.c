/* http/cookie: the Cookie header, Set-Cookie lines, and fw_cookie / fw_set_cookie on a request. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/cookie.h"
#include "req_helpers.h"

/* All cookies of h as "name=value|..." */
static void pairs_are(const char *h, const char *want, int line)
{
	struct fw_buf out = FW_BUF_INIT;
	struct fw_cookie_pair c;
	size_t pos = 0;

	fw_buf_puts(&out, "");
	while (fw_cookie_next(h, strlen(h), &pos, &c))
		fw_buf_printf(&out, "%.*s=%.*s|", (int)c.name_len, c.name, (int)c.value_len, c.value);
	check_eq_str(__FILE__, line, out.data, want, h, want);
	fw_buf_release(&out);
}

#define PAIRS(h, want) pairs_are(h, want, __LINE__)

static void test_parse(void)
{
	PAIRS("a=1; b=2", "a=1|b=2|");
	PAIRS("a=1;b=2;", "a=1|b=2|");
	PAIRS("  a = 1 ;\tb=2  ;; ; c=", "a=1|b=2|c=|");
	PAIRS("s=\"quoted value\"; q=\"; r=\"\"", "s=quoted value|q=\"|r=|");
	PAIRS("nameless; x=y", "=nameless|x=y|");
	PAIRS("t=a=b=c", "t=a=b=c|");
	PAIRS("=v", "=v|");
	PAIRS("", "");
	PAIRS(" ; ;", "");
	PAIRS("u=%E2%82%AC; j={\"k\":1}", "u=%E2%82%AC|j={\"k\":1}|");
}

static void format_is(const char *name, const char *value, const fw_cookie_opts *o, bool https,
		      const char *want, int line)
{
	struct fw_buf out = FW_BUF_INIT;
	const char *err = NULL;
	int rc;

	fw_buf_puts(&out, "");
	rc = fw_cookie_format(&out, name, value, o, https, &err);
	if (want == NULL) {
		if (check_eq_int(__FILE__, line, rc, -1, "fw_cookie_format", "-1")) {
			check_true(__FILE__, line, err != NULL, "an error message");
			check_eq_uint(__FILE__, line, out.len, 0, "out.len", "0 (unchanged)");
		}
	} else if (check_eq_int(__FILE__, line, rc, 0, "fw_cookie_format", "0")) {
		check_eq_str(__FILE__, line, out.data, want, "Set-Cookie", want);
	}
	fw_buf_release(&out);
}

#define FORMAT(n, v, o, https, want) format_is(n, v, o, https, want, __LINE__)

static void test_format(void)
{
	FORMAT("sid", "abc123", NULL, false, "sid=abc123; Path=/; HttpOnly; SameSite=Lax");
	FORMAT("sid", "abc123", NULL, true, "sid=abc123; Path=/; Secure; HttpOnly; SameSite=Lax");
	FORMAT("sid", "", &((fw_cookie_opts){.max_age = -1}), false,
	       "sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
	FORMAT("a", "\"q\"",
	       &((fw_cookie_opts){.max_age = 3600,
				  .domain = ".example.com",
				  .path = "/app",
				  .secure = FW_COOKIE_OFF,
				  .http_only = FW_COOKIE_OFF,
				  .same_site = FW_SAME_SITE_STRICT}),
	       true, "a=\"q\"; Path=/app; Domain=.example.com; Max-Age=3600; SameSite=Strict");
	FORMAT("e", "1",
	       &((fw_cookie_opts){.expires = 1445412480, .path = "", .same_site = FW_SAME_SITE_OMIT}),
	       false, "e=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly");
	FORMAT("n", "1", &((fw_cookie_opts){.same_site = FW_SAME_SITE_NONE}), false,
	       "n=1; Path=/; Secure; HttpOnly; SameSite=None");
	FORMAT("__Secure-x", "1", NULL, false, "__Secure-x=1; Path=/; Secure; HttpOnly; SameSite=Lax");
	FORMAT("__Host-x", "1", NULL, false, "__Host-x=1; Path=/; Secure; HttpOnly; SameSite=Lax");

	/* Refused: names, values and attributes a browser would misread or drop. */
	FORMAT("", "v", NULL, false, NULL);
	FORMAT("a b", "v", NULL, false, NULL);
	FORMAT("a;b", "v", NULL, false, NULL);
	FORMAT("a=b", "v", NULL, false, NULL);
	FORMAT("a\r\nSet-Cookie: x", "v", NULL, false, NULL);
	FORMAT("a", "v; Domain=evil", NULL, false, NULL);
	FORMAT("a", "with space", NULL, false, NULL);
	FORMAT("a", "comma,", NULL, false, NULL);
	FORMAT("a", "back\\slash", NULL, false, NULL);
	FORMAT("a", "q\"uote", NULL, false, NULL);
	FORMAT("a", "\r\n", NULL, false, NULL);
	FORMAT("a", "\xc3\xa9", NULL, false, NULL);
	FORMAT("a", "v", &((fw_cookie_opts){.domain = "ex ample.com"}), false, NULL);
	FORMAT("a", "v", &((fw_cookie_opts){.domain = ""}), false, NULL);
	FORMAT("a", "v", &((fw_cookie_opts){.path = "/a;b"}), false, NULL);
	FORMAT("a", "v", &((fw_cookie_opts){.path = "/a\nb"}), false, NULL);
	FORMAT("a", "v", &((fw_cookie_opts){.expires = 253402300800LL}), false, NULL);
	FORMAT("n", "1", &((fw_cookie_opts){.same_site = FW_SAME_SITE_NONE, .secure = FW_COOKIE_OFF}),
	       true, NULL);
	FORMAT("__Host-x", "1", &((fw_cookie_opts){.path = "/a"}), true, NULL);
	FORMAT("__Host-x", "1", &((fw_cookie_opts){.domain = "example.com"}), true, NULL);
	FORMAT("a", "v", &((fw_cookie_opts){.same_site = (enum fw_same_site)9}), false, NULL);
	{
		char *big = malloc(4098);

		if (big != NULL) {
			memset(big, 'v', 4096);
			big[4096] = '\0';
			FORMAT("a", big, NULL, false, NULL);
			big[4095] = '\0'; /* "a" and 4095 bytes: 4096 in all, which fits */
			{
				struct fw_buf out = FW_BUF_INIT;
				const char *err = NULL;

				CHECK_EQ_INT(fw_cookie_format(&out, "a", big, NULL, false, &err), 0);
				fw_buf_release(&out);
			}
			free(big);
		}
	}
}

static void test_request(void)
{
	fw_req *req = PREPARED("HTTP_COOKIE", "sid=abc; theme=\"dark\"; sid=second; lone; e=", "HTTPS",
			       "on");
	fw_buf *b;

	CHECK_EQ_STR(fw_cookie(req, "sid"), "abc");
	CHECK_EQ_STR(fw_cookie(req, "theme"), "dark");
	CHECK_EQ_STR(fw_cookie(req, ""), "lone");
	CHECK_EQ_STR(fw_cookie(req, "e"), "");
	CHECK(fw_cookie(req, "missing") == NULL);
	CHECK(fw_cookie(req, "SID") == NULL);
	/* The header itself is left as it came. */
	CHECK_EQ_STR(fw_header(req, "Cookie"), "sid=abc; theme=\"dark\"; sid=second; lone; e=");

	req->state = FW_REQ_RUNNING;
	CHECK_EQ_INT(fw_set_cookie(req, "sid", "new", NULL), 0);
	CHECK_EQ_INT(fw_set_cookie(req, "bad name", "v", NULL), -1);
	CHECK_EQ_INT(fw_set_cookie(req, "x", "a\r\nb", NULL), -1);
	CHECK_EQ_INT(fw_set_cookie(req, NULL, "v", NULL), -1);
	CHECK_EQ_INT(fw_set_cookie(req, "x", NULL, NULL), -1);
	CHECK_EQ_INT(fw_set_cookie(req, "gone", "", &((fw_cookie_opts){.max_age = -1})), 0);
	if (CHECK(req->headers != NULL && req->headers->next != NULL)) {
		CHECK_EQ_STR(req->headers->name, "Set-Cookie");
		CHECK_EQ_STR(req->headers->value, "sid=new; Path=/; Secure; HttpOnly; SameSite=Lax");
		CHECK_EQ_STR(req->headers->next->value,
			     "gone=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax");
		CHECK(req->headers->next->next == NULL);
	}
	b = fw_scratch(req); /* scratch buffers still work after fw_set_cookie borrowed some */
	CHECK(b != NULL && b->len == 0);
	req_done(req);

	req = PREPARED("HTTPS", "off");
	req->state = FW_REQ_RUNNING;
	CHECK(fw_cookie(req, "a") == NULL);
	CHECK_EQ_INT(fw_set_cookie(req, "a", "1", NULL), 0);
	if (CHECK(req->headers != NULL))
		CHECK_EQ_STR(req->headers->value, "a=1; Path=/; HttpOnly; SameSite=Lax");
	req_done(req);
}

int main(void)
{
	test_parse();
	test_format();
	test_request();
	return check_done();
}
