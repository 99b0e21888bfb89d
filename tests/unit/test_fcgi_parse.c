/* proto/fcgi_parse.c: the streaming FastCGI record parser. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/result.h"
#include "proto/fcgi.h"

/* ---- building input ---- */

static void rec(struct fw_buf *b, uint8_t version, uint8_t type, uint16_t id, const void *content,
		size_t clen, uint8_t padding)
{
	uint8_t h[8] = {
		version, type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(clen >> 8), (uint8_t)clen,
		padding, 0};
	uint8_t pad[255];

	memset(pad, 0xEE, sizeof(pad)); /* padding bytes must be ignored whatever they are */
	fw_buf_append(b, h, 8);
	fw_buf_append(b, content, clen);
	fw_buf_append(b, pad, padding);
}

static void begin(struct fw_buf *b, uint16_t id, uint16_t role, uint8_t flags, uint8_t padding)
{
	uint8_t body[8] = {(uint8_t)(role >> 8), (uint8_t)role, flags, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE};

	rec(b, FCGI_VERSION_1, FCGI_BEGIN_REQUEST, id, body, 8, padding);
}

/* ---- recording events ---- */

/*
 * The logical content of an event stream: the chunks of one record are
 * joined (the chunking depends on how the input was split), everything
 * else must be the same whatever the split.
 */
struct lrec {
	enum fw_fcgi_ev ev;
	uint8_t type;
	uint16_t id, role;
	uint8_t flags;
	struct fw_buf data;
	bool closed; /* saw the chunk with `last` */
};

struct log {
	struct lrec r[64];
	size_t n;
	int errors;      /* FW_ERROR results */
	size_t bad;      /* broken invariants (reported as they happen) */
	const char *why; /* p->error of the error */
};

static bool is_chunk(enum fw_fcgi_ev e)
{
	return e == FW_FCGI_EV_PARAMS || e == FW_FCGI_EV_STDIN || e == FW_FCGI_EV_DATA ||
	       e == FW_FCGI_EV_GET_VALUES;
}

static void log_free(struct log *l)
{
	for (size_t i = 0; i < l->n; i++)
		fw_buf_release(&l->r[i].data);
	l->n = 0;
}

static void log_event(struct log *l, const struct fw_fcgi_event *ev, const uint8_t *in, size_t used)
{
	struct lrec *cur = l->n > 0 ? &l->r[l->n - 1] : NULL;

	if (is_chunk(ev->ev)) {
		/* The data lies inside what this call consumed. */
		if (ev->len > 0 && (ev->data < in || ev->data + ev->len > in + used)) {
			l->bad++;
			fprintf(stderr, "  chunk data outside the consumed input\n");
		}
		if (ev->len == 0 && !(ev->first && ev->last)) {
			l->bad++;
			fprintf(stderr, "  empty chunk that is not a whole empty record\n");
		}
		if (!ev->first) {
			if (cur == NULL || cur->closed || cur->ev != ev->ev || cur->id != ev->id ||
			    cur->type != ev->type) {
				l->bad++;
				fprintf(stderr, "  continuation chunk without its first chunk\n");
				return;
			}
			if (ev->len > 0) /* an empty append to a fresh fw_buf crashes: see test_buf */
				fw_buf_append(&cur->data, ev->data, ev->len);
			cur->closed = ev->last;
			return;
		}
		if (cur != NULL && !cur->closed) {
			l->bad++;
			fprintf(stderr, "  new record before the last chunk of the previous one\n");
		}
	} else {
		if (ev->data != NULL || ev->len != 0 || ev->first || ev->last) {
			l->bad++;
			fprintf(stderr, "  whole-record event with chunk fields set\n");
		}
		if (cur != NULL && !cur->closed) {
			l->bad++;
			fprintf(stderr, "  event inside an unfinished record\n");
		}
	}
	if (l->n == sizeof(l->r) / sizeof(l->r[0])) {
		l->bad++;
		return;
	}
	cur = &l->r[l->n++];
	memset(cur, 0, sizeof(*cur));
	cur->ev = ev->ev;
	cur->type = ev->type;
	cur->id = ev->id;
	cur->role = ev->role;
	cur->flags = ev->flags;
	cur->closed = !is_chunk(ev->ev) || ev->last;
	if (is_chunk(ev->ev) && ev->len > 0)
		fw_buf_append(&cur->data, ev->data, ev->len);
}

/*
 * Feed one piece, copied to a buffer of exactly its size (ASan catches any
 * read beyond it), to the parser until it needs more. false after FW_ERROR.
 */
static bool feed(struct fw_fcgi_parser *p, const uint8_t *piece, size_t len, struct log *l)
{
	uint8_t *copy = malloc(len ? len : 1);
	size_t off = 0;
	bool alive = true;

	memcpy(copy, piece, len);
	for (;;) {
		struct fw_fcgi_event ev;
		size_t used = (size_t)-1;
		int r = fw_fcgi_parse(p, copy + off, len - off, &used, &ev);

		if (used > len - off) {
			l->bad++;
			fprintf(stderr, "  used %zu of %zu\n", used, len - off);
			alive = false;
			break;
		}
		if (r == FW_OK) {
			log_event(l, &ev, copy + off, used);
			off += used;
			continue;
		}
		if (r == FW_AGAIN) {
			if (used != len - off) {
				l->bad++;
				fprintf(stderr, "  FW_AGAIN after %zu of %zu bytes\n", used, len - off);
			}
			break;
		}
		if (r != FW_ERROR) {
			l->bad++;
			fprintf(stderr, "  result %d\n", r);
		}
		l->errors++;
		l->why = p->error;
		alive = false;
		break;
	}
	free(copy);
	return alive;
}

/* Parse all of in, cut at the given offsets (ascending, 0 < cut < len). */
static void parse_cuts(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts, struct log *l)
{
	struct fw_fcgi_parser p;
	size_t start = 0;

	memset(l, 0, sizeof(*l));
	fw_fcgi_parser_init(&p);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		if (!feed(&p, in + start, end - start, l))
			return;
		start = end;
	}
}

static void parse_whole(const uint8_t *in, size_t len, struct log *l)
{
	parse_cuts(in, len, NULL, 0, l);
}

static void parse_bytes(const uint8_t *in, size_t len, struct log *l)
{
	struct fw_fcgi_parser p;

	memset(l, 0, sizeof(*l));
	fw_fcgi_parser_init(&p);
	for (size_t i = 0; i < len; i++) {
		if (!feed(&p, in + i, 1, l))
			return;
	}
}

static bool log_same(const struct log *a, const struct log *b)
{
	if (a->n != b->n || a->errors != b->errors || a->bad != 0 || b->bad != 0)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct lrec *x = &a->r[i], *y = &b->r[i];

		if (x->ev != y->ev || x->type != y->type || x->id != y->id || x->role != y->role ||
		    x->flags != y->flags || x->closed != y->closed || x->data.len != y->data.len ||
		    (x->data.len > 0 && memcmp(x->data.data, y->data.data, x->data.len) != 0))
			return false;
	}
	return true;
}

/* One expected logical record. */
#define EXPECT_REC(l, i, e, t, rid, content, clen)                                                     \
	do {                                                                                           \
		if (CHECK((l)->n > (i))) {                                                             \
			CHECK_EQ_INT((l)->r[i].ev, e);                                                 \
			CHECK_EQ_INT((l)->r[i].type, t);                                               \
			CHECK_EQ_INT((l)->r[i].id, rid);                                               \
			CHECK((l)->r[i].closed);                                                       \
			CHECK_EQ_MEM((l)->r[i].data.data, (l)->r[i].data.len, (const void *)(content), \
				     (size_t)(clen));                                                  \
		}                                                                                      \
	} while (0)

/* ---- the nginx-like request ---- */

static uint8_t params_content[400];
static size_t params_len;

static void build_nginx_request(struct fw_buf *b)
{
	static const char *const kv[] = {
		"SCRIPT_FILENAME", "/srv/www/index.php",
		"QUERY_STRING",    "a=1&b=2",
		"REQUEST_METHOD",  "POST",
		"CONTENT_TYPE",    "application/x-www-form-urlencoded",
		"CONTENT_LENGTH",  "27",
		"DOCUMENT_URI",    "/items/42",
		"REQUEST_URI",     "/items/42?a=1&b=2",
		"SERVER_PROTOCOL", "HTTP/1.1",
		"REMOTE_ADDR",     "127.0.0.1",
		"HTTP_HOST",       "localhost",
		"HTTP_USER_AGENT", "curl/8.0",
	};
	struct fw_buf pb = FW_BUF_INIT;

	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i += 2)
		fw_fcgi_nv_put(&pb, kv[i], strlen(kv[i]), kv[i + 1], strlen(kv[i + 1]));
	params_len = pb.len;
	memcpy(params_content, pb.data, pb.len);
	fw_buf_release(&pb);

	/* nginx pads every record to a multiple of 8 bytes. */
	begin(b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN, 0);
	rec(b, 1, FCGI_PARAMS, 1, params_content, params_len, (uint8_t)((8 - params_len % 8) % 8));
	rec(b, 1, FCGI_PARAMS, 1, NULL, 0, 0);
	rec(b, 1, FCGI_STDIN, 1, "name=value", 10, 6);
	rec(b, 1, FCGI_STDIN, 1, "&other=1234567", 14, 2);
	rec(b, 1, FCGI_STDIN, 1, "!!!", 3, 5);
	rec(b, 1, FCGI_STDIN, 1, NULL, 0, 0);
}

static void check_nginx_log(const struct log *l)
{
	CHECK_EQ_INT(l->errors, 0);
	CHECK_EQ_UINT(l->bad, 0);
	if (!CHECK_EQ_UINT(l->n, 7))
		return;
	CHECK_EQ_INT(l->r[0].ev, FW_FCGI_EV_BEGIN);
	CHECK_EQ_INT(l->r[0].type, FCGI_BEGIN_REQUEST);
	CHECK_EQ_INT(l->r[0].id, 1);
	CHECK_EQ_INT(l->r[0].role, FCGI_RESPONDER);
	CHECK_EQ_INT(l->r[0].flags, FCGI_KEEP_CONN);
	EXPECT_REC(l, 1, FW_FCGI_EV_PARAMS, FCGI_PARAMS, 1, params_content, params_len);
	EXPECT_REC(l, 2, FW_FCGI_EV_PARAMS, FCGI_PARAMS, 1, "", 0);
	EXPECT_REC(l, 3, FW_FCGI_EV_STDIN, FCGI_STDIN, 1, "name=value", 10);
	EXPECT_REC(l, 4, FW_FCGI_EV_STDIN, FCGI_STDIN, 1, "&other=1234567", 14);
	EXPECT_REC(l, 5, FW_FCGI_EV_STDIN, FCGI_STDIN, 1, "!!!", 3);
	EXPECT_REC(l, 6, FW_FCGI_EV_STDIN, FCGI_STDIN, 1, "", 0);
}

static void test_nginx_request(void)
{
	struct fw_buf in = FW_BUF_INIT;
	struct log whole, split, bytes;
	const uint8_t *d;
	size_t bad_cuts = 0, first_bad = 0;

	build_nginx_request(&in);
	d = (const uint8_t *)in.data;

	parse_whole(d, in.len, &whole);
	check_nginx_log(&whole);

	/* Two pieces, cut at every byte boundary. */
	for (size_t cut = 1; cut < in.len; cut++) {
		parse_cuts(d, in.len, &cut, 1, &split);
		if (!log_same(&whole, &split) && bad_cuts++ == 0)
			first_bad = cut;
		log_free(&split);
	}
	if (!CHECK_EQ_UINT(bad_cuts, 0))
		fprintf(stderr, "  first differing cut at byte %zu of %zu\n", first_bad, in.len);

	/* Three pieces, a sample of cut pairs. */
	bad_cuts = 0;
	for (size_t a = 1; a < in.len; a += 7) {
		for (size_t b = a + 1; b < in.len; b += 13) {
			size_t cuts[2] = {a, b};

			parse_cuts(d, in.len, cuts, 2, &split);
			bad_cuts += !log_same(&whole, &split);
			log_free(&split);
		}
	}
	CHECK_EQ_UINT(bad_cuts, 0);

	parse_bytes(d, in.len, &bytes);
	CHECK(log_same(&whole, &bytes));
	check_nginx_log(&bytes);

	/* Two requests back to back on one keep-alive connection. */
	{
		struct fw_buf two = FW_BUF_INIT;

		fw_buf_append(&two, in.data, in.len);
		fw_buf_append(&two, in.data, in.len);
		parse_whole((const uint8_t *)two.data, two.len, &split);
		CHECK_EQ_UINT(split.n, 14);
		CHECK_EQ_INT(split.errors, 0);
		CHECK_EQ_INT(split.r[7].ev, FW_FCGI_EV_BEGIN);
		EXPECT_REC(&split, 13, FW_FCGI_EV_STDIN, FCGI_STDIN, 1, "", 0);
		log_free(&split);
		fw_buf_release(&two);
	}
	log_free(&whole);
	log_free(&bytes);
	fw_buf_release(&in);
}

/* ---- single events ---- */

static void test_begin_fields(void)
{
	struct fw_buf in = FW_BUF_INIT;
	struct log l;

	begin(&in, 0xFFFF, FCGI_AUTHORIZER, 0, 0);
	begin(&in, 0x0102, 0x0304, 0xFF, 8); /* padded BEGIN_REQUEST */
	begin(&in, 7, FCGI_FILTER, FCGI_KEEP_CONN, 255);
	rec(&in, 1, FCGI_DATA, 7, "filter-data", 11, 0);
	rec(&in, 1, FCGI_DATA, 7, NULL, 0, 0);
	parse_whole((const uint8_t *)in.data, in.len, &l);
	CHECK_EQ_INT(l.errors, 0);
	if (CHECK_EQ_UINT(l.n, 5)) {
		CHECK_EQ_INT(l.r[0].ev, FW_FCGI_EV_BEGIN);
		CHECK_EQ_UINT(l.r[0].id, 0xFFFF);
		CHECK_EQ_UINT(l.r[0].role, FCGI_AUTHORIZER);
		CHECK_EQ_UINT(l.r[0].flags, 0);
		CHECK_EQ_UINT(l.r[1].id, 0x0102);
		CHECK_EQ_UINT(l.r[1].role, 0x0304);
		CHECK_EQ_UINT(l.r[1].flags, 0xFF);
		CHECK_EQ_UINT(l.r[2].id, 7);
		CHECK_EQ_UINT(l.r[2].role, FCGI_FILTER);
		CHECK_EQ_UINT(l.r[2].flags, FCGI_KEEP_CONN);
		EXPECT_REC(&l, 3, FW_FCGI_EV_DATA, FCGI_DATA, 7, "filter-data", 11);
		EXPECT_REC(&l, 4, FW_FCGI_EV_DATA, FCGI_DATA, 7, "", 0);
	}
	log_free(&l);
	parse_bytes((const uint8_t *)in.data, in.len, &l);
	CHECK_EQ_UINT(l.n, 5);
	CHECK_EQ_UINT(l.bad, 0);
	if (l.n == 5) {
		CHECK_EQ_UINT(l.r[1].role, 0x0304);
		CHECK_EQ_UINT(l.r[2].flags, FCGI_KEEP_CONN);
	}
	log_free(&l);
	fw_buf_release(&in);
}

static void test_padding(void)
{
	struct fw_buf in = FW_BUF_INIT;
	uint8_t *big = malloc(65535);
	struct log whole, bytes, split;
	size_t cuts[40];
	uint32_t x = 1;

	if (!CHECK(big != NULL))
		return;
	for (size_t i = 0; i < 65535; i++)
		big[i] = (uint8_t)(i * 31 + 7);
	begin(&in, 3, FCGI_RESPONDER, 0, 0);
	rec(&in, 1, FCGI_PARAMS, 3, NULL, 0, 255); /* empty record with padding */
	rec(&in, 1, FCGI_STDIN, 3, big, 65535, 255);
	rec(&in, 1, FCGI_STDIN, 3, "x", 1, 7);
	rec(&in, 1, FCGI_STDIN, 3, NULL, 0, 1);
	rec(&in, 1, FCGI_ABORT_REQUEST, 3, NULL, 0, 0);
	CHECK_EQ_UINT(in.len, 16 + 8 + 255 + 8 + 65535 + 255 + 8 + 1 + 7 + 8 + 1 + 8);

	parse_whole((const uint8_t *)in.data, in.len, &whole);
	CHECK_EQ_INT(whole.errors, 0);
	CHECK_EQ_UINT(whole.bad, 0);
	if (CHECK_EQ_UINT(whole.n, 6)) {
		CHECK_EQ_INT(whole.r[0].ev, FW_FCGI_EV_BEGIN);
		EXPECT_REC(&whole, 1, FW_FCGI_EV_PARAMS, FCGI_PARAMS, 3, "", 0);
		EXPECT_REC(&whole, 2, FW_FCGI_EV_STDIN, FCGI_STDIN, 3, big, 65535);
		EXPECT_REC(&whole, 3, FW_FCGI_EV_STDIN, FCGI_STDIN, 3, "x", 1);
		EXPECT_REC(&whole, 4, FW_FCGI_EV_STDIN, FCGI_STDIN, 3, "", 0);
		CHECK_EQ_INT(whole.r[5].ev, FW_FCGI_EV_ABORT);
		CHECK_EQ_INT(whole.r[5].id, 3);
	}

	parse_bytes((const uint8_t *)in.data, in.len, &bytes);
	CHECK(log_same(&whole, &bytes));
	log_free(&bytes);

	/* Random cuts, several runs. */
	for (int run = 0; run < 20; run++) {
		size_t n = 0, at = 0;

		while (n < 40) {
			x = x * 1103515245u + 12345u;
			at += 1 + (x >> 8) % (run % 2 ? 300 : 9000);
			if (at >= in.len)
				break;
			cuts[n++] = at;
		}
		parse_cuts((const uint8_t *)in.data, in.len, cuts, n, &split);
		CHECK(log_same(&whole, &split));
		log_free(&split);
	}
	/* A cut inside the header, then in the padding. */
	{
		size_t c2[2] = {8 + 8 + 3, 8 + 8 + 100};

		parse_cuts((const uint8_t *)in.data, in.len, c2, 2, &split);
		CHECK(log_same(&whole, &split));
		log_free(&split);
	}
	log_free(&whole);
	free(big);
	fw_buf_release(&in);
}

/* ---- errors ---- */

static void expect_error(const struct fw_buf *in, size_t err_at, int line)
{
	struct fw_fcgi_parser p;
	struct fw_fcgi_event ev;
	size_t off = 0, used;
	int r;

	fw_fcgi_parser_init(&p);
	for (;;) {
		r = fw_fcgi_parse(&p, (const uint8_t *)in->data + off, in->len - off, &used, &ev);
		off += used;
		if (r != FW_OK)
			break;
	}
	check_eq_int(__FILE__, line, r, FW_ERROR, "result", "FW_ERROR");
	check_true(__FILE__, line, p.error != NULL && p.error[0] != '\0', "p.error set");
	check_eq_uint(__FILE__, line, off, err_at, "bytes consumed", "header end");

	/* Byte by byte: the error comes with the last byte of the header. */
	struct log l;
	parse_bytes((const uint8_t *)in->data, in->len, &l);
	check_eq_int(__FILE__, line, l.errors, 1, "errors byte by byte", "1");
	log_free(&l);
}

static void test_version(void)
{
	static const uint8_t versions[] = {0, 2, 3, 0x81, 255};

	for (size_t i = 0; i < sizeof(versions); i++) {
		struct fw_buf in = FW_BUF_INIT;

		rec(&in, versions[i], FCGI_STDIN, 1, "abc", 3, 0);
		expect_error(&in, 8, __LINE__);
		fw_buf_release(&in);

		/* After a good record. */
		begin(&in, 1, FCGI_RESPONDER, 0, 0);
		rec(&in, versions[i], FCGI_PARAMS, 1, NULL, 0, 0);
		expect_error(&in, 24, __LINE__);
		fw_buf_release(&in);
	}
}

static void test_begin_length(void)
{
	static const size_t lens[] = {0, 1, 7, 9, 16, 300};
	uint8_t body[300] = {0, 1};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct fw_buf in = FW_BUF_INIT;

		rec(&in, 1, FCGI_BEGIN_REQUEST, 1, body, lens[i], 0);
		expect_error(&in, 8, __LINE__);
		fw_buf_release(&in);
	}
}

static void test_bad_types(void)
{
	static const uint8_t types[] = {
		0,
		FCGI_END_REQUEST,
		FCGI_STDOUT,
		FCGI_STDERR,
		FCGI_GET_VALUES,
		FCGI_GET_VALUES_RESULT,
		FCGI_UNKNOWN_TYPE,
		12,
		100,
		255,
	};

	for (size_t i = 0; i < sizeof(types); i++) {
		struct fw_buf in = FW_BUF_INIT;

		rec(&in, 1, types[i], 1, "12345678", 8, 0);
		expect_error(&in, 8, __LINE__);
		fw_buf_release(&in);
		rec(&in, 1, types[i], 0x100, NULL, 0, 0);
		expect_error(&in, 8, __LINE__);
		fw_buf_release(&in);
	}
}

/* ---- management records and aborts ---- */

static void test_management(void)
{
	static const uint8_t unknown[] = {0,
					  FCGI_BEGIN_REQUEST,
					  FCGI_END_REQUEST,
					  FCGI_STDOUT,
					  FCGI_GET_VALUES_RESULT,
					  FCGI_UNKNOWN_TYPE,
					  12,
					  200,
					  255};
	struct fw_buf in = FW_BUF_INIT, nv = FW_BUF_INIT;
	struct log l, lb;

	fw_fcgi_nv_put(&nv, "FCGI_MAX_CONNS", 14, "", 0);
	fw_fcgi_nv_put(&nv, "FCGI_MAX_REQS", 13, "", 0);
	fw_fcgi_nv_put(&nv, "FCGI_MPXS_CONNS", 15, "", 0);
	rec(&in, 1, FCGI_GET_VALUES, 0, nv.data, nv.len, 3);
	rec(&in, 1, FCGI_GET_VALUES, 0, NULL, 0, 0);
	for (size_t i = 0; i < sizeof(unknown); i++)
		rec(&in, 1, unknown[i], 0, "ignored content", i % 2 ? 15 : 0, (uint8_t)(i * 3));
	/* The connection goes on with a request. */
	begin(&in, 1, FCGI_RESPONDER, 0, 0);

	parse_whole((const uint8_t *)in.data, in.len, &l);
	CHECK_EQ_INT(l.errors, 0);
	CHECK_EQ_UINT(l.bad, 0);
	if (CHECK_EQ_UINT(l.n, 2 + sizeof(unknown) + 1)) {
		EXPECT_REC(&l, 0, FW_FCGI_EV_GET_VALUES, FCGI_GET_VALUES, 0, nv.data, nv.len);
		EXPECT_REC(&l, 1, FW_FCGI_EV_GET_VALUES, FCGI_GET_VALUES, 0, "", 0);
		for (size_t i = 0; i < sizeof(unknown); i++) {
			CHECK_EQ_INT(l.r[2 + i].ev, FW_FCGI_EV_UNKNOWN);
			CHECK_EQ_INT(l.r[2 + i].type, unknown[i]);
			CHECK_EQ_INT(l.r[2 + i].id, 0);
			CHECK_EQ_UINT(l.r[2 + i].data.len, 0);
		}
		CHECK_EQ_INT(l.r[l.n - 1].ev, FW_FCGI_EV_BEGIN);
	}
	parse_bytes((const uint8_t *)in.data, in.len, &lb);
	CHECK(log_same(&l, &lb));
	log_free(&l);
	log_free(&lb);
	fw_buf_release(&in);
	fw_buf_release(&nv);
}

static void test_abort(void)
{
	struct fw_buf in = FW_BUF_INIT;
	struct log l, lb;

	begin(&in, 5, FCGI_RESPONDER, FCGI_KEEP_CONN, 0);
	rec(&in, 1, FCGI_ABORT_REQUEST, 5, NULL, 0, 0);
	rec(&in, 1, FCGI_ABORT_REQUEST, 6, "xyz", 3, 5);
	rec(&in, 1, FCGI_ABORT_REQUEST, 0x0809, "0123456789", 10, 0);
	rec(&in, 1, FCGI_STDIN, 5, "ok", 2, 0);

	parse_whole((const uint8_t *)in.data, in.len, &l);
	CHECK_EQ_INT(l.errors, 0);
	CHECK_EQ_UINT(l.bad, 0);
	if (CHECK_EQ_UINT(l.n, 5)) {
		CHECK_EQ_INT(l.r[1].ev, FW_FCGI_EV_ABORT);
		CHECK_EQ_INT(l.r[1].type, FCGI_ABORT_REQUEST);
		CHECK_EQ_INT(l.r[1].id, 5);
		CHECK_EQ_INT(l.r[2].ev, FW_FCGI_EV_ABORT);
		CHECK_EQ_INT(l.r[2].id, 6);
		CHECK_EQ_INT(l.r[3].ev, FW_FCGI_EV_ABORT);
		CHECK_EQ_INT(l.r[3].id, 0x0809);
		EXPECT_REC(&l, 4, FW_FCGI_EV_STDIN, FCGI_STDIN, 5, "ok", 2);
	}
	/* One ABORT event per record, however the content arrives. */
	parse_bytes((const uint8_t *)in.data, in.len, &lb);
	CHECK(log_same(&l, &lb));
	log_free(&l);
	log_free(&lb);
	fw_buf_release(&in);
}

static void test_empty_input(void)
{
	struct fw_fcgi_parser p;
	struct fw_fcgi_event ev;
	size_t used = 99;
	uint8_t hdr[8];

	fw_fcgi_parser_init(&p);
	CHECK_EQ_INT(fw_fcgi_parse(&p, (const uint8_t *)"", 0, &used, &ev), FW_AGAIN);
	CHECK_EQ_UINT(used, 0);

	/* A header in two halves, with empty calls in between. */
	fw_fcgi_header(hdr, FCGI_STDIN, 2, 0, 0);
	CHECK_EQ_INT(fw_fcgi_parse(&p, hdr, 5, &used, &ev), FW_AGAIN);
	CHECK_EQ_UINT(used, 5);
	CHECK_EQ_INT(fw_fcgi_parse(&p, hdr + 5, 0, &used, &ev), FW_AGAIN);
	CHECK_EQ_UINT(used, 0);
	CHECK_EQ_INT(fw_fcgi_parse(&p, hdr + 5, 3, &used, &ev), FW_OK);
	CHECK_EQ_UINT(used, 3);
	CHECK_EQ_INT(ev.ev, FW_FCGI_EV_STDIN);
	CHECK_EQ_INT(ev.id, 2);
	CHECK_EQ_UINT(ev.len, 0);
	CHECK(ev.first && ev.last);
}

int main(void)
{
	test_nginx_request();
	test_begin_fields();
	test_padding();
	test_version();
	test_begin_length();
	test_bad_types();
	test_management();
	test_abort();
	test_empty_input();
	return check_done();
}
