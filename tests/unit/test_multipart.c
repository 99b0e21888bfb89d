/* http/mime and http/multipart: parameters, boundaries, and bodies whole and in pieces. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/buf.h"
#include "core/result.h"
#include "http/mime.h"
#include "http/multipart.h"

/* ---- mime ---- */

static void test_mime(void)
{
	static const char ct[] = "multipart/form-data ; a=1;;  b=\"x \\\"y\\\\\" ; C=tok.en ;";
	struct fw_mime_param p;
	size_t pos = 0;
	char out[32];

	CHECK(fw_mime_is(ct, strlen(ct), "Multipart/Form-Data"));
	CHECK(!fw_mime_is(ct, strlen(ct), "multipart/form"));
	CHECK(fw_mime_is("  text/plain  ", 14, "text/plain"));
	CHECK(!fw_mime_is("", 0, "text/plain"));
	if (CHECK_EQ_INT(fw_mime_param_next(ct, strlen(ct), &pos, &p), FW_OK))
		CHECK(p.name_len == 1 && p.name[0] == 'a' && p.value_len == 1 && !p.quoted);
	if (CHECK_EQ_INT(fw_mime_param_next(ct, strlen(ct), &pos, &p), FW_OK)) {
		CHECK(p.quoted && p.name[0] == 'b');
		out[fw_mime_unquote(p.value, p.value_len, out, false)] = '\0';
		CHECK_EQ_STR(out, "x \"y\\");
	}
	if (CHECK_EQ_INT(fw_mime_param_next(ct, strlen(ct), &pos, &p), FW_OK))
		CHECK(p.value_len == 6 && memcmp(p.value, "tok.en", 6) == 0);
	CHECK_EQ_INT(fw_mime_param_next(ct, strlen(ct), &pos, &p), FW_AGAIN);

	/* Malformed: no '=', blanks around it, unterminated quotes, a CR inside, an empty value. */
	static const char *const bad[] = {"t; a",  "t; a =1",    "t; a= 1", "t; a=\"x",  "t; a=\"x\r\"",
					  "t; a=", "t; a=1 b=2", "t; =1",   "t; a=\"x\\"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		pos = 0;
		while ((rc = fw_mime_param_next(bad[i], strlen(bad[i]), &pos, &p)) == FW_OK)
			;
		if (!CHECK_EQ_INT(rc, FW_ERROR))
			fprintf(stderr, "  input %s\n", bad[i]);
	}
	/* Internet Explorer's unescaped paths: a backslash escapes tspecials only. */
	out[fw_mime_unquote("C:\\dir\\a\\\".txt", 15, out, true)] = '\0';
	CHECK_EQ_STR(out, "C:\\dir\\a\".txt");
	out[fw_mime_unquote("C:\\dir", 6, out, false)] = '\0';
	CHECK_EQ_STR(out, "C:dir");
}

static void boundary_is(const char *ct, const char *want, int line)
{
	char out[FW_MULTIPART_BOUNDARY_MAX + 1];
	const char *err = NULL;
	long n = fw_multipart_boundary(ct, strlen(ct), out, &err);

	if (want == NULL) {
		if (check_eq_int(__FILE__, line, n, -1, "boundary", "-1"))
			check_true(__FILE__, line, err != NULL, "an error message");
		return;
	}
	if (check_eq_int(__FILE__, line, n, (long)strlen(want), "boundary length", want))
		check_eq_str(__FILE__, line, out, want, "boundary", want);
}

static void test_boundary(void)
{
	boundary_is("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
		    "----WebKitFormBoundary7MA4YWxkTrZu0gW", __LINE__);
	boundary_is("Multipart/Form-Data;BOUNDARY=\"a b:c\"", "a b:c", __LINE__);
	boundary_is("multipart/form-data; charset=utf-8; boundary=\"q\\\"x\"", NULL, __LINE__);
	boundary_is("multipart/form-data; boundary=\"\\a\\b\"", "ab", __LINE__);
	boundary_is("multipart/form-data", NULL, __LINE__);
	boundary_is("multipart/mixed; boundary=x", NULL, __LINE__);
	boundary_is("multipart/form-data; boundary=", NULL, __LINE__);
	boundary_is("multipart/form-data; boundary=\"\"", NULL, __LINE__);
	boundary_is("multipart/form-data; boundary=\"ends with space \"", NULL, __LINE__);
	boundary_is("multipart/form-data; boundary=a; boundary=b", NULL, __LINE__);
	boundary_is("multipart/form-data; boundary=\"bad\rchar\"", NULL, __LINE__);
	boundary_is("multipart/form-data; boundary=\"a<b\"", NULL, __LINE__);
	boundary_is("multipart/form-data; boundary=12345678901234567890123456789012345678901234567890"
		    "12345678901234567890",
		    "1234567890123456789012345678901234567890123456789012345678901234567890", __LINE__);
	boundary_is("multipart/form-data; boundary=12345678901234567890123456789012345678901234567890"
		    "123456789012345678901",
		    NULL, __LINE__);
}

/* ---- bodies ---- */

/*
 * Parse body in pieces of `piece` bytes (0: whole) and describe the
 * events: P(name|filename|type) for a part (- for NULL), [data] joined per
 * part, E at its end, END; "ERR: message" at an error.
 */
static void trace(const char *body, size_t len, size_t piece, size_t max_parts, size_t max_head,
		  struct fw_buf *out)
{
	struct fw_multipart *p = malloc(sizeof(*p));
	size_t pos = 0;
	bool in_data = false;

	if (p == NULL)
		abort();
	fw_buf_clear(out);
	fw_multipart_init(p, "XyZ", 3, max_parts, max_head);
	while (pos < len) {
		size_t n = piece == 0 || piece > len - pos ? len - pos : piece, off = 0;

		for (;;) {
			struct fw_mp_event ev;
			size_t used = 0;
			int rc = fw_multipart_parse(p, (const uint8_t *)body + pos + off, n - off, &used,
						    &ev);

			off += used;
			if (rc == FW_AGAIN)
				break;
			if (rc == FW_ERROR) {
				fw_buf_printf(out, "ERR: %s", p->error);
				free(p);
				return;
			}
			if (ev.ev != FW_MP_DATA && in_data) {
				fw_buf_putc(out, ']');
				in_data = false;
			}
			switch (ev.ev) {
			case FW_MP_PART:
				fw_buf_printf(out, "P(%s|%s|%s)", ev.part.name,
					      ev.part.filename ? ev.part.filename : "-",
					      ev.part.content_type ? ev.part.content_type : "-");
				break;
			case FW_MP_DATA:
				if (!in_data)
					fw_buf_putc(out, '[');
				in_data = true;
				fw_buf_append(out, ev.data, ev.len);
				break;
			case FW_MP_PART_END:
				fw_buf_puts(out, "E");
				break;
			case FW_MP_END:
				fw_buf_puts(out, "END");
				break;
			}
		}
		pos += n;
	}
	if (fw_multipart_finish(p) != FW_OK)
		fw_buf_printf(out, "ERR: %s", p->error);
	free(p);
}

/* The same trace whole, byte by byte and in pieces of 2, 3, 5 and 7. */
static void body_gives(const char *body, const char *want, size_t max_parts, int line)
{
	static const size_t pieces[] = {0, 1, 2, 3, 5, 7};
	struct fw_buf got = FW_BUF_INIT;

	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		const char *g;

		trace(body, strlen(body), pieces[i], max_parts, 512, &got);
		g = got.data ? got.data : "";
		/* An error ends the trace, after the events before it. */
		if (strncmp(want, "ERR: ", 5) == 0 && strlen(g) > strlen(want))
			g += strlen(g) - strlen(want);
		if (!check_eq_str(__FILE__, line, g, want, "trace", want)) {
			fprintf(stderr, "  in pieces of %zu\n", pieces[i]);
			break;
		}
	}
	fw_buf_release(&got);
}

#define GIVES(body, want) body_gives(body, want, 100, __LINE__)
#define ERRS(body, why) body_gives(body, "ERR: " why, 100, __LINE__)

static void test_bodies(void)
{
	/* What a browser sends: no preamble, a text field and a file. */
	GIVES("--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n"
	      "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a b.txt\"\r\n"
	      "Content-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n\r\n--XyZ--\r\n",
	      "P(title|-|-)[Hello]EP(f|a b.txt|text/plain)[line 1\r\nline 2\r\n]EEND");
	/* A preamble (with a near-delimiter), transport padding, an epilogue, an empty part. */
	GIVES("preamble\r\n--XyX\r\n--Xy\r\n--XyZ \t\r\ncontent-disposition: FORM-DATA; NAME=e\r\n\r\n"
	      "\r\n--XyZ--junk\r\n--XyZ\r\nmore epilogue",
	      "P(e|-|-)EEND");
	/* Data that looks like the delimiter but is not: CRs, partial matches, "--XyZ" without CRLF. */
	GIVES("--XyZ\r\nContent-Disposition: form-data; name=d\r\n\r\n\r\r\n\r\n-\r\n--\r\n--X\r\n--Xy"
	      "--XyZ\r\n\r\n--XyZ--",
	      "P(d|-|-)[\r\r\n\r\n-\r\n--\r\n--X\r\n--Xy--XyZ\r\n]EEND");
	/* Quoted-string escapes and an IE path; other headers and parameters ignored. */
	GIVES("--XyZ\r\nX-Other: 1\r\nContent-Disposition: form-data; filename=\"C:\\dir\\q\\\"uote\";"
	      " name=\"n\\\\m\"; size=3\r\n\r\nabc\r\n--XyZ--",
	      "P(n\\m|C:\\dir\\q\"uote|-)[abc]EEND");
	/* No parts at all. */
	GIVES("--XyZ--\r\n", "END");

	ERRS("", "the multipart body has no boundary line");
	ERRS("just text", "the multipart body has no boundary line");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nabc",
	     "the multipart body is cut short (no closing boundary)");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--XyZ",
	     "the multipart body is cut short (no closing boundary)");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\r\n",
	     "the multipart body is cut short (no closing boundary)");
	ERRS("--XyZ\r\n\r\ndata\r\n--XyZ--", "a part has no Content-Disposition");
	ERRS("--XyZ\r\nContent-Type: text/plain\r\n\r\n\r\n--XyZ--",
	     "a part has no Content-Disposition");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b"
	     "\r\n\r\n\r\n--XyZ--",
	     "a part has two Content-Disposition headers");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a/b\r\nContent-type: c/d"
	     "\r\n\r\n\r\n--XyZ--",
	     "a part has two Content-Type headers");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n\r\n--XyZ--",
	     "a part's Content-Disposition repeats a parameter");
	ERRS("--XyZ\r\nContent-Disposition: form-data\r\n\r\n\r\n--XyZ--",
	     "a part's Content-Disposition has no name");
	ERRS("--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\n\r\n--XyZ--",
	     "a part's Content-Disposition is not form-data");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\n\r\n--XyZ--",
	     "a part's Content-Disposition is malformed");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\r\nX: y\r\n z\r\n\r\n\r\n--XyZ--",
	     "a part header is folded over lines");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\n\r\n--XyZ--",
	     "a part header line has a bare CR or LF");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\rX: y\r\n\r\n\r\n--XyZ--",
	     "a part header line has a bare CR or LF");
	ERRS("--XyZ\r\nNo colon here\r\n\r\n\r\n--XyZ--", "a part header line is not Name: value");
	ERRS("--XyZ\r\nBad Name: x\r\n\r\n\r\n--XyZ--", "a part header name is not a token");
	ERRS("--XyZ\r\nX: a\x01z\r\n\r\n\r\n--XyZ--", "a part header value holds a control character");
	ERRS("--XyZ\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--XyZ--",
	     "the multipart boundary appears inside the body");
	ERRS("--XyZ \rx", "a multipart boundary line is not ended by CRLF");
	ERRS("--XyZ x", "a multipart boundary line is not ended by CRLF");
	ERRS("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZabc",
	     "the multipart boundary appears inside the body");
	ERRS("--XyZ-x", "the multipart boundary appears inside the body");
}

static void test_limits(void)
{
	static const char part[] = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n";
	struct fw_buf body = FW_BUF_INIT, got = FW_BUF_INIT;

	for (int i = 0; i < 3; i++)
		fw_buf_puts(&body, part);
	fw_buf_puts(&body, "--XyZ--");
	body_gives(body.data, "P(a|-|-)[v]EP(a|-|-)[v]EP(a|-|-)[v]EEND", 3, __LINE__);
	body_gives(body.data, "P(a|-|-)[v]EP(a|-|-)[v]EERR: more multipart parts than the limit", 2,
		   __LINE__);

	/* Part headers of exactly max_head bytes pass; one more byte does not. */
	for (size_t extra = 0; extra < 2; extra++) {
		static const char cd[] = "Content-Disposition: form-data; name=a\r\nX: ";
		size_t pad = 512 - (sizeof(cd) - 1) - 4 + extra;

		fw_buf_clear(&body);
		fw_buf_puts(&body, "--XyZ\r\n");
		fw_buf_puts(&body, cd);
		for (size_t i = 0; i < pad; i++)
			fw_buf_putc(&body, 'h');
		fw_buf_puts(&body, "\r\n\r\nv\r\n--XyZ--");
		trace(body.data, body.len, 0, 10, 512, &got);
		CHECK_EQ_STR(got.data, extra ? "ERR: a part's headers are longer than the limit"
					     : "P(a|-|-)[v]EEND");
		trace(body.data, body.len, 1, 10, 512, &got);
		CHECK_EQ_STR(got.data, extra ? "ERR: a part's headers are longer than the limit"
					     : "P(a|-|-)[v]EEND");
	}
	fw_buf_release(&body);
	fw_buf_release(&got);
}

/* An error stays: every later call fails, and the used count stops at the byte that showed it. */
static void test_error_sticks(void)
{
	static const char body[] = "--XyZ x more";
	struct fw_multipart *p = malloc(sizeof(*p));
	struct fw_mp_event ev;
	size_t used = 99;

	if (p == NULL)
		abort();
	fw_multipart_init(p, "XyZ", 3, 10, 512);
	CHECK_EQ_INT(fw_multipart_parse(p, (const uint8_t *)body, sizeof(body) - 1, &used, &ev),
		     FW_ERROR);
	CHECK_EQ_UINT(used, 7);
	CHECK_EQ_INT(fw_multipart_parse(p, (const uint8_t *)"x", 1, &used, &ev), FW_ERROR);
	CHECK_EQ_UINT(used, 0);
	CHECK_EQ_INT(fw_multipart_finish(p), FW_ERROR);
	free(p);
}

int main(void)
{
	test_mime();
	test_boundary();
	test_bodies();
	test_limits();
	test_error_sticks();
	return check_done();
}
