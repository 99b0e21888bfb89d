/* proto/scgi.c: the netstring, the header block, the body, split anywhere. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/result.h"
#include "proto/scgi.h"

struct result {
	char headers[512];
	size_t hlen;
	char body[256];
	size_t blen;
	int ended;
	int error;
	uint64_t content_length;
	size_t npairs;
};

/* Feed in pieces of `step` bytes (0: all at once), like the worker does. */
static void run(const char *in, size_t len, size_t step, struct result *r)
{
	struct fw_scgi_parser p;
	struct fw_scgi_event ev;
	size_t pos = 0;

	memset(r, 0, sizeof(*r));
	fw_scgi_parser_init(&p, 4096);
	while (!r->error && !r->ended) {
		size_t n = step == 0 ? len - pos : FW_MIN(step, len - pos), used;
		int rc = fw_scgi_parse(&p, (const uint8_t *)in + pos, n, &used, &ev);

		pos += used;
		if (rc == FW_ERROR) {
			r->error = 1;
			break;
		}
		if (rc == FW_AGAIN) {
			if (pos >= len)
				break;
			continue;
		}
		switch (ev.ev) {
		case FW_SCGI_EV_HEADERS:
			memcpy(r->headers + r->hlen, ev.data, ev.len);
			r->hlen += ev.len;
			break;
		case FW_SCGI_EV_HEADERS_END: {
			const char *err;
			if (fw_scgi_headers(r->headers, r->hlen, NULL, &r->npairs, &r->content_length,
					    &err) != FW_OK) {
				r->error = 2;
				return;
			}
			fw_scgi_parser_body(&p, r->content_length);
			break;
		}
		case FW_SCGI_EV_BODY:
			memcpy(r->body + r->blen, ev.data, ev.len);
			r->blen += ev.len;
			break;
		case FW_SCGI_EV_END:
			r->ended = 1;
			break;
		}
	}
}

#define REQ(h, b) h b
static const char good_headers[] = "CONTENT_LENGTH\0"
				   "5\0"
				   "SCGI\0"
				   "1\0"
				   "REQUEST_METHOD\0"
				   "POST\0";

static void test_whole_and_split(void)
{
	char in[256];
	size_t hl = sizeof(good_headers) - 1, n;
	struct result whole, part;

	n = (size_t)snprintf(in, sizeof(in), "%zu:", hl);
	memcpy(in + n, good_headers, hl);
	n += hl;
	memcpy(in + n, ",hello", 6);
	n += 6;
	run(in, n, 0, &whole);
	CHECK(whole.ended && !whole.error);
	CHECK_EQ_UINT(whole.content_length, 5);
	CHECK_EQ_UINT(whole.npairs, 3);
	CHECK_EQ_MEM(whole.body, whole.blen, "hello", 5);
	for (size_t step = 1; step <= n; step++) {
		run(in, n, step, &part);
		CHECK(part.ended && !part.error);
		CHECK_EQ_MEM(part.headers, part.hlen, whole.headers, whole.hlen);
		CHECK_EQ_MEM(part.body, part.blen, "hello", 5);
	}
}

/* Bytes after the body are never parsed: no event, nothing consumed. */
static void test_after_body(void)
{
	struct fw_scgi_parser p;
	struct fw_scgi_event ev;
	static const char in[] = "17:CONTENT_LENGTH\0"
				 "0\0"
				 ",NEXT REQUEST";
	size_t used, pos = 0;
	int events = 0, rc;

	fw_scgi_parser_init(&p, 4096);
	while ((rc = fw_scgi_parse(&p, (const uint8_t *)in + pos, sizeof(in) - 1 - pos, &used, &ev)) ==
	       FW_OK) {
		pos += used;
		events++;
		if (ev.ev == FW_SCGI_EV_HEADERS_END)
			fw_scgi_parser_body(&p, 0);
		if (ev.ev == FW_SCGI_EV_END)
			break;
	}
	CHECK_EQ_INT(events, 3); /* headers, headers end, end */
	CHECK_EQ_UINT(pos, sizeof(in) - 1 - strlen("NEXT REQUEST"));
	CHECK_EQ_INT(fw_scgi_parse(&p, (const uint8_t *)in + pos, sizeof(in) - 1 - pos, &used, &ev),
		     FW_AGAIN);
	CHECK_EQ_UINT(used, 0);
	CHECK(!fw_scgi_parser_untouched(&p));
}

static int framing(const char *in, size_t len)
{
	struct result r;

	run(in, len, 0, &r);
	return r.error;
}

static void test_netstring_errors(void)
{
	CHECK_EQ_INT(framing("017:CONTENT_LENGTH\0"
			     "0\0,",
			     20),
		     1);                                                 /* leading zero */
	CHECK_EQ_INT(framing("1x:a,", 5), 1);                            /* non-digit */
	CHECK_EQ_INT(framing(":a,", 3), 1);                              /* no length */
	CHECK_EQ_INT(framing("999999999999999999999999999999:", 31), 1); /* overflow */
	CHECK_EQ_INT(framing("5000:", 5), 1);                            /* over the limit */
	CHECK_EQ_INT(framing("17CONTENT_LENGTH\0"
			     "0\0,",
			     19),
		     1); /* no ':' */
	CHECK_EQ_INT(framing("17:CONTENT_LENGTH\0"
			     "0\0;",
			     21),
		     1); /* no ',' */
}

static int headers_error(const char *block, size_t len, const char *want)
{
	const char *err = NULL;
	size_t n;
	uint64_t cl;
	int r = fw_scgi_headers(block, len, NULL, &n, &cl, &err);

	CHECK_EQ_INT(r, FW_ERROR);
	if (err != NULL && want != NULL)
		CHECK_EQ_STR(err, want);
	return r;
}

static void test_header_errors(void)
{
	headers_error("SCGI\0"
		      "1\0"
		      "CONTENT_LENGTH\0"
		      "0\0",
		      25, "CONTENT_LENGTH is not the first header");
	headers_error("CONTENT_LENGTH\0"
		      "0\0"
		      "SCGI\0",
		      22, "header name without a value (odd number of strings)");
	headers_error("CONTENT_LENGTH\0"
		      "0\0"
		      "\0"
		      "x\0",
		      20, "empty header name");
	headers_error("CONTENT_LENGTH\0"
		      "-5\0",
		      18, "CONTENT_LENGTH is not a decimal number");
	headers_error("CONTENT_LENGTH\0"
		      "+5\0",
		      18, "CONTENT_LENGTH is not a decimal number");
	headers_error("CONTENT_LENGTH\0"
		      "05\0",
		      18, "CONTENT_LENGTH is not a decimal number");
	headers_error("CONTENT_LENGTH\0"
		      "\0",
		      16, "CONTENT_LENGTH is not a decimal number");
	headers_error("CONTENT_LENGTH\0"
		      "99999999999999999999\0",
		      36, "CONTENT_LENGTH is not a decimal number");
	headers_error("CONTENT_LENGTH\0"
		      "0",
		      16, "header block does not end with a NUL");
	headers_error("", 0, "header block does not end with a NUL");
	/* A second CONTENT_LENGTH would let one pass max_body_kb and the other size the body. */
	headers_error("CONTENT_LENGTH\0"
		      "41943040\0"
		      "A\0"
		      "b\0"
		      "CONTENT_LENGTH\0"
		      "0\0",
		      45, "CONTENT_LENGTH is repeated");
}

static void test_header_index(void)
{
	static const char block[] = "CONTENT_LENGTH\0"
				    "12\0"
				    "EMPTY\0"
				    "\0"
				    "X\0"
				    "a\x01"
				    "b\0";
	struct fw_nv nv[3];
	const char *err = NULL;
	size_t n = 0;
	uint64_t cl = 0;

	CHECK_EQ_INT(fw_scgi_headers(block, sizeof(block) - 1, nv, &n, &cl, &err), FW_OK);
	CHECK_EQ_UINT(n, 3);
	CHECK_EQ_UINT(cl, 12);
	CHECK_EQ_STR(nv[1].name, "EMPTY");
	CHECK_EQ_STR(nv[1].value, "");
	CHECK_EQ_UINT(nv[2].value_len, 3);
}

/* A body shorter than declared just waits (request_timeout ends it). */
static void test_short_body(void)
{
	static const char in[] = "18:CONTENT_LENGTH\0"
				 "10\0,short";
	struct result r;

	run(in, sizeof(in) - 1, 0, &r);
	CHECK(!r.ended && !r.error);
	CHECK_EQ_UINT(r.blen, 5);
}

int main(void)
{
	test_whole_and_split();
	test_after_body();
	test_netstring_errors();
	test_header_errors();
	test_header_index();
	test_short_body();
	return check_done();
}
