/* http/form.c: fw_form and friends over urlencoded and multipart bodies. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/form.h"
#include "req_helpers.h"

static void test_urlencoded(void)
{
	static const char body[] = "title=Hello+w%C3%B6rld&tag=a&tag=b&empty=&x=1%002";
	fw_req *req = running_post("application/x-www-form-urlencoded; charset=UTF-8", body,
				   sizeof(body) - 1);
	const char *n = "untouched", *v = "untouched";

	CHECK_EQ_INT(fw_form_parse(req), 0);
	CHECK_EQ_STR(fw_form(req, "title"), "Hello w\xc3\xb6rld");
	CHECK_EQ_STR(fw_form(req, "tag"), "a");
	CHECK_EQ_STR(fw_form(req, "empty"), "");
	CHECK_EQ_STR(fw_form(req, "x"), "1");
	CHECK(fw_form(req, "missing") == NULL);
	CHECK_EQ_UINT(fw_form_count(req), 5);
	CHECK(fw_form_at(req, 2, &n, &v) == 0 && strcmp(n, "tag") == 0 && strcmp(v, "b") == 0);
	n = v = "untouched";
	CHECK_EQ_INT(fw_form_at(req, 5, &n, &v), -1);
	CHECK_EQ_STR(n, "untouched");
	CHECK_EQ_UINT(fw_form_file_count(req), 0);
	CHECK(fw_form_file(req, "title") == NULL);
	CHECK(fw_form_file_at(req, 0) == NULL);
	/* The body itself is untouched: the fields are decoded in a copy. */
	CHECK_EQ_MEM(fw_body(req, NULL), req->body.len, body, sizeof(body) - 1);
	CHECK(fw_error_message(req) == NULL);
	req_done(req);

	/* Not a form: no fields, and no error. */
	req = running_post("application/json", "{\"a\":1}", 7);
	CHECK_EQ_INT(fw_form_parse(req), 0);
	CHECK(fw_form(req, "a") == NULL);
	CHECK_EQ_UINT(fw_form_count(req), 0);
	req_done(req);
	req = running_post(NULL, "a=1", 3);
	CHECK(fw_form(req, "a") == NULL);
	req_done(req);
	req = running_post("application/x-www-form-urlencoded", "", 0);
	CHECK_EQ_INT(fw_form_parse(req), 0);
	req_done(req);
}

static void test_field_limit(void)
{
	struct fw_buf body = FW_BUF_INIT;
	fw_req *req;

	fw_form_configure(3);
	req = running_post("application/x-www-form-urlencoded", "a=1&&b=2&c=3&", 13);
	CHECK_EQ_INT(fw_form_parse(req), 0);
	CHECK_EQ_UINT(fw_form_count(req), 3);
	req_done(req);
	req = running_post("application/x-www-form-urlencoded", "a=1&b=2&c=3&d=4", 15);
	CHECK_EQ_INT(fw_form_parse(req), 400);
	CHECK_EQ_INT(fw_form_parse(req), 400); /* the same again */
	CHECK_EQ_STR(fw_error_message(req), "the form has more fields than max_form_fields");
	CHECK(fw_form(req, "a") == NULL);
	CHECK_EQ_UINT(fw_form_count(req), 0);
	req_done(req);
	for (int i = 0; i < 4; i++)
		fw_buf_printf(&body, "--b\r\nContent-Disposition: form-data; name=p%d\r\n\r\nv\r\n", i);
	fw_buf_puts(&body, "--b--\r\n");
	req = running_post("multipart/form-data; boundary=b", body.data, body.len);
	CHECK_EQ_INT(fw_form_parse(req), 400);
	CHECK_EQ_STR(fw_error_message(req), "the form has more parts than max_form_fields");
	req_done(req);
	fw_form_configure(1000);
	fw_buf_release(&body);
}

static void test_multipart(void)
{
	static const char body[] =
		"preamble\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMy note\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a "
		"\\\"b\\\".bin\"\r\n"
		"Content-Type: application/octet-stream\r\n\r\n\x00\x01\r\n\xff\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\r\n\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\nx\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\ny\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"nul\"\r\n\r\nab\0"
		"cd\r\n"
		"--XyZ--\r\nepilogue";
	fw_req *req = running_post("multipart/form-data; boundary=\"XyZ\"", body, sizeof(body) - 1);
	const fw_upload *f;
	const char *n, *v;

	CHECK_EQ_INT(fw_form_parse(req), 0);
	CHECK_EQ_STR(fw_form(req, "title"), "My note");
	CHECK_EQ_STR(fw_form(req, "tag"), "x");
	CHECK_EQ_STR(fw_form(req, "nul"), "ab");
	CHECK(fw_form(req, "file") == NULL); /* a file part is not a text field */
	CHECK_EQ_UINT(fw_form_count(req), 4);
	CHECK(fw_form_at(req, 2, &n, &v) == 0 && strcmp(n, "tag") == 0 && strcmp(v, "y") == 0);
	CHECK_EQ_UINT(fw_form_file_count(req), 2);
	if (CHECK((f = fw_form_file(req, "file")) != NULL)) {
		CHECK_EQ_STR(f->name, "file");
		CHECK_EQ_STR(f->filename, "a \"b\".bin");
		CHECK_EQ_STR(f->content_type, "application/octet-stream");
		CHECK_EQ_MEM(f->data, f->len, "\x00\x01\r\n\xff", 5);
		/* Not copied: the data lies in the body. */
		CHECK((const char *)f->data > req->body.data &&
		      (const char *)f->data + f->len < req->body.data + req->body.len);
	}
	if (CHECK((f = fw_form_file_at(req, 1)) != NULL)) {
		CHECK_EQ_STR(f->filename, "");
		CHECK_EQ_STR(f->content_type, "text/plain");
		CHECK_EQ_UINT(f->len, 0);
		CHECK(f->data != NULL);
	}
	CHECK(fw_form_file_at(req, 2) == NULL);
	CHECK(fw_form_file(req, "title") == NULL);
	req_done(req);
}

static void bad_body(const char *ct, const char *body, const char *why, int line)
{
	fw_req *req = running_post(ct, body, strlen(body));

	check_eq_int(__FILE__, line, fw_form_parse(req), 400, "fw_form_parse", "400");
	check_eq_str(__FILE__, line, fw_error_message(req), why, "message", why);
	check_true(__FILE__, line, fw_form(req, "a") == NULL && fw_form_file(req, "f") == NULL,
		   "no fields");
	req_done(req);
}

#define BAD(ct, body, why) bad_body(ct, body, why, __LINE__)

static void test_malformed(void)
{
	BAD("multipart/form-data", "x", "multipart/form-data without a boundary");
	BAD("multipart/form-data; boundary=\"unterminated", "x", "malformed Content-Type parameters");
	BAD("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1",
	    "the multipart body is cut short (no closing boundary)");
	BAD("multipart/form-data; boundary=b", "--b\r\n\r\n1\r\n--b--",
	    "a part has no Content-Disposition");
	BAD("multipart/form-data; boundary=b", "no boundary at all",
	    "the multipart body has no boundary line");
	{
		/* Part headers over 8 KiB. */
		struct fw_buf b = FW_BUF_INIT;

		fw_buf_puts(&b, "--b\r\nContent-Disposition: form-data; name=a\r\nX-Big: ");
		for (int i = 0; i < 8200; i++)
			fw_buf_putc(&b, 'x');
		fw_buf_puts(&b, "\r\n\r\nv\r\n--b--");
		BAD("multipart/form-data; boundary=b", b.data,
		    "a part's headers are longer than the limit");
		fw_buf_release(&b);
	}
}

int main(void)
{
	test_urlencoded();
	test_field_limit();
	test_multipart();
	test_malformed();
	return check_done();
}
