/* http/respond.c: fw_write_html, fw_redirect, fw_error, fw_set_data. */
#include <string.h>

#include "check.h"
#include "http/resp.h"
#include "req_helpers.h"

static fw_req *running(void)
{
	fw_req *req = PREPARED("REQUEST_METHOD", "GET", "DOCUMENT_URI", "/x");

	req->state = FW_REQ_RUNNING;
	return req;
}

static void test_html(void)
{
	fw_req *req = running();
	static const char in[] = "<a href=\"x\">Tom & 'Jerry'</a>\0<b>";

	CHECK_EQ_INT(fw_write_html(req, in, sizeof(in) - 1), 0);
	static const char want[] =
		"&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;\0&lt;b&gt;";

	CHECK_EQ_MEM(req->out.data, req->out.len, want, sizeof(want) - 1);
	fw_buf_clear(&req->out);
	CHECK_EQ_INT(fw_write_html(req, "plain", 5), 0);
	CHECK_EQ_INT(fw_write_html(req, "", 0), 0);
	CHECK_EQ_MEM(req->out.data, req->out.len, "plain", 5);
	req->finish_status = 200; /* finished: refused */
	CHECK_EQ_INT(fw_write_html(req, "x", 1), -1);
	req_done(req);
}

static void test_redirect(void)
{
	fw_req *req = running();

	CHECK_EQ_INT(fw_redirect(req, 303, "/notes?x=1"), 303);
	if (CHECK(req->headers != NULL)) {
		CHECK_EQ_STR(req->headers->name, "Location");
		CHECK_EQ_STR(req->headers->value, "/notes?x=1");
	}
	CHECK_EQ_INT(fw_redirect(req, 301, "https://example.com/"), 301);
	CHECK(req->headers != NULL && req->headers->next == NULL); /* replaced, not added */
	CHECK_EQ_STR(req->headers->value, "https://example.com/");
	/* Header injection and nonsense are refused: 500, nothing set. */
	CHECK_EQ_INT(fw_redirect(req, 302, "/x\r\nSet-Cookie: admin=1"), 500);
	CHECK_EQ_INT(fw_redirect(req, 302, "/x\ny"), 500);
	CHECK_EQ_INT(fw_redirect(req, 302, "/x\ry"), 500);
	CHECK_EQ_STR(req->headers->value, "https://example.com/");
	CHECK_EQ_INT(fw_redirect(req, 200, "/x"), 500);
	CHECK_EQ_INT(fw_redirect(req, 400, "/x"), 500);
	CHECK_EQ_INT(fw_redirect(req, 302, ""), 500);
	CHECK_EQ_INT(fw_redirect(req, 302, NULL), 500);
	req_done(req);
}

static void test_error(void)
{
	fw_req *req = running();

	CHECK(fw_error_message(req) == NULL);
	CHECK_EQ_INT(fw_error(req, 422, "%s must be %d characters at most", "title", 200), 422);
	CHECK_EQ_STR(fw_error_message(req), "title must be 200 characters at most");
	CHECK_EQ_UINT(req->out.len, 0); /* the body is the error page's */
	CHECK_EQ_INT(fw_error(req, 409, "again"), 409);
	CHECK_EQ_STR(fw_error_message(req), "again");
	/* fw's default error body shows it. */
	CHECK_EQ_INT(fw_resp_settle(req, 409), 409);
	CHECK_EQ_MEM(req->out.data, req->out.len, "409 Conflict\nagain\n", 19);
	req_done(req);
	req = running();
	CHECK_EQ_INT(fw_resp_settle(req, 404), 404);
	CHECK_EQ_MEM(req->out.data, req->out.len, "404 Not Found\n", 14);
	req_done(req);
}

static void test_data(void)
{
	fw_req *req = running();
	int a = 1, b = 2;

	CHECK(fw_data(req, "user") == NULL);
	CHECK_EQ_INT(fw_set_data(req, "user", &a), 0);
	CHECK_EQ_INT(fw_set_data(req, "id", &b), 0);
	CHECK(fw_data(req, "user") == &a);
	CHECK(fw_data(req, "id") == &b);
	CHECK_EQ_INT(fw_set_data(req, "user", &b), 0);
	CHECK(fw_data(req, "user") == &b);
	CHECK(fw_data(req, "User") == NULL);
	fw_req_reset(req, 0); /* a new request starts with none */
	CHECK(fw_data(req, "user") == NULL);
	fw_req_destroy(req);
}

int main(void)
{
	test_html();
	test_redirect();
	test_error();
	test_data();
	return check_done();
}
