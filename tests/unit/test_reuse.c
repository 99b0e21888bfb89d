/*
 * Request memory and its reuse (http/req.c, http/scratch.c, http/resp.c):
 * fw_alloc, fw_strdup, fw_on_request_end, fw_scratch and its free list,
 * fw_request_body / fw_response_body, fw_respond_with.
 *
 * The identity checks (the next request gets the very same buffer) hold
 * only where fw reuses memory: under AddressSanitizer (FW_REUSE 0) every
 * buffer is freed at the end of its request instead, so those checks are
 * compiled in only #if FW_REUSE; everything else holds in every build.
 * Tests that walk a request through fw_req_reset() after fw_scratch() run
 * in a child process, so that a crash there is reported and the rest runs.
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/reuse.h"
#include "http/req.h"

#define KEEP (64 * 1024)

static bool nul_ok(const fw_buf *b)
{
	if (b->cap == 0)
		return b->data == NULL && b->len == 0;
	return b->data != NULL && b->len <= b->cap && b->data[b->len] == '\0';
}

/* A request as the worker has it while the handler runs. */
static fw_req *running(void)
{
	fw_req *req = fw_req_create();

	if (req == NULL)
		abort();
	req->state = FW_REQ_RUNNING;
	req->method = "POST";
	req->path = "/x";
	return req;
}

/* The worker's end of a request: reset, then it is the next one's. */
static void next_request(fw_req *req)
{
	fw_req_reset(req, KEEP);
	req->state = FW_REQ_RUNNING;
	req->method = "GET";
	req->path = "/y";
}

static void fill(fw_buf *b, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fw_buf_putc(b, c) != 0)
			abort();
}

/* ---- fw_alloc, fw_strdup ---- */

static void test_alloc_strdup(void)
{
	fw_req *req = running();
	char *a = fw_alloc(req, 1), *b = fw_alloc(req, 24), *c = fw_alloc(req, 3);
	char *big = fw_alloc(req, 100000);
	char *s, *e;
	const char *src = "a string to copy";

	if (!CHECK(a != NULL && b != NULL && c != NULL && big != NULL))
		return;
	CHECK(a != b && b != c && a != c);
	CHECK((uintptr_t)a % alignof(max_align_t) == 0);
	CHECK((uintptr_t)b % alignof(max_align_t) == 0);
	CHECK((uintptr_t)c % alignof(max_align_t) == 0);
	CHECK((uintptr_t)big % alignof(max_align_t) == 0);
	/* Not overlapping: each keeps what was written. */
	memset(a, 'a', 1);
	memset(b, 'b', 24);
	memset(c, 'c', 3);
	memset(big, 'B', 100000);
	CHECK(a[0] == 'a' && b[0] == 'b' && b[23] == 'b' && c[0] == 'c' && c[2] == 'c');
	CHECK(big[0] == 'B' && big[99999] == 'B');

	s = fw_strdup(req, src);
	if (CHECK(s != NULL)) {
		CHECK(s != src);
		CHECK_EQ_STR(s, src);
	}
	e = fw_strdup(req, "");
	if (CHECK(e != NULL))
		CHECK_EQ_STR(e, "");
	/* A copy is independent of its source. */
	{
		char tmp[] = "mutable";
		char *d = fw_strdup(req, tmp);

		tmp[0] = 'M';
		CHECK_EQ_STR(d, "mutable");
	}
	/* Many small allocations: all distinct and usable. */
	{
		char *prev = NULL;
		bool ok = true;

		for (int i = 0; i < 2000 && ok; i++) {
			char *p = fw_alloc(req, 40);

			ok = p != NULL && p != prev && (uintptr_t)p % alignof(max_align_t) == 0;
			if (ok)
				memset(p, i & 0xff, 40);
			prev = p;
		}
		CHECK(ok);
	}
	next_request(req);
	/* The next request allocates again. */
	s = fw_strdup(req, "next");
	CHECK(s != NULL && strcmp(s, "next") == 0);
	fw_req_destroy(req);
}

/* ---- fw_on_request_end ---- */

static int order[16];
static int norder;

static void record(void *arg)
{
	if (norder < 16)
		order[norder++] = *(int *)arg;
}

static void test_request_end(void)
{
	fw_req *req = running();
	static int ids[5] = {1, 2, 3, 4, 5};

	norder = 0;
	CHECK_EQ_INT(fw_on_request_end(req, NULL, NULL), -1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(fw_on_request_end(req, record, &ids[i]), 0);
	/* The argument may be request memory: the callbacks run before it goes. */
	{
		int *in_pool = fw_alloc(req, sizeof(int));

		if (CHECK(in_pool != NULL)) {
			*in_pool = 40;
			CHECK_EQ_INT(fw_on_request_end(req, record, in_pool), 0);
		}
	}
	CHECK_EQ_INT(norder, 0); /* nothing runs before the request ends */
	fw_req_reset(req, KEEP);
	CHECK_EQ_INT(norder, 4);
	CHECK(norder == 4 && order[0] == 40 && order[1] == 3 && order[2] == 2 && order[3] == 1);
	if (norder == 4 && order[0] != 40)
		fprintf(stderr, "  order: %d %d %d %d\n", order[0], order[1], order[2], order[3]);

	/* Once only: the next request's reset runs nothing more. */
	req->state = FW_REQ_RUNNING;
	fw_req_reset(req, KEEP);
	CHECK_EQ_INT(norder, 4);

	/* The next request registers its own, and a destroyed request runs them too. */
	req->state = FW_REQ_RUNNING;
	norder = 0;
	CHECK_EQ_INT(fw_on_request_end(req, record, &ids[3]), 0);
	CHECK_EQ_INT(fw_on_request_end(req, record, &ids[4]), 0);
	fw_req_destroy(req);
	CHECK(norder == 2 && order[0] == 5 && order[1] == 4);
}

/* ---- scratch buffers ---- */

/*
 * fw_scratch lends distinct empty buffers; at the end of the request they
 * come back, and the next request borrows the same ones, emptied, their
 * memory kept up to the ceiling and freed above it.
 */
static void scratch_lend_and_return(void)
{
	fw_req *req = running();
	fw_buf *s[4], *t[4];
	char *data[4];
	size_t cap[4];
	const size_t ceiling = 4096;

	fw_scratch_configure(ceiling);
	for (int i = 0; i < 4; i++) {
		s[i] = fw_scratch(req);
		if (!CHECK(s[i] != NULL))
			return;
		CHECK_EQ_UINT(s[i]->len, 0);
		CHECK(nul_ok(s[i]));
		for (int j = 0; j < i; j++)
			CHECK(s[i] != s[j]);
	}
	/* Independent of each other and of the request's own buffers. */
	CHECK(s[0] != fw_request_body(req) && s[0] != fw_response_body(req));
	fill(s[0], 'a', 10);         /* small */
	fill(s[1], 'b', 3000);       /* under the ceiling */
	fill(s[2], 'c', 100 * 1024); /* over it */
	/* s[3] left without memory */
	CHECK(s[0]->len == 10 && s[1]->len == 3000 && s[2]->len == 100 * 1024 && s[3]->len == 0);
	CHECK(s[0]->data[0] == 'a' && s[1]->data[0] == 'b' && s[2]->data[0] == 'c');
	for (int i = 0; i < 4; i++) {
		data[i] = s[i]->data;
		cap[i] = s[i]->cap;
	}
	CHECK(cap[0] <= ceiling && cap[1] <= ceiling && cap[2] > ceiling);

	next_request(req);
	for (int i = 0; i < 4; i++) {
		t[i] = fw_scratch(req);
		if (!CHECK(t[i] != NULL))
			return;
		CHECK_EQ_UINT(t[i]->len, 0); /* lent empty */
		CHECK(nul_ok(t[i]));
	}
#if FW_REUSE
	/* The same four buffers (in whatever order), with their memory up to the ceiling. */
	for (int i = 0; i < 4; i++) {
		int k = -1;

		for (int j = 0; j < 4; j++)
			if (t[j] == s[i])
				k = j;
		if (!CHECK(k >= 0)) {
			fprintf(stderr, "  scratch buffer %d was not lent again\n", i);
			continue;
		}
		if (i == 2) {
			/* Grown beyond the ceiling: its memory was freed. */
			CHECK(t[k]->data == NULL);
			CHECK_EQ_UINT(t[k]->cap, 0);
		} else {
			CHECK(t[k]->data == data[i]);
			CHECK_EQ_UINT(t[k]->cap, cap[i]);
		}
	}
#else
	(void)data;
	(void)cap;
	printf("FW_REUSE is 0 (AddressSanitizer): scratch identity checks skipped\n");
#endif
	/* Usable again. */
	fill(t[0], 'x', 5000);
	CHECK(t[0]->len == 5000 && nul_ok(t[0]));
	fw_req_reset(req, KEEP);
	fw_req_destroy(req);
	fw_scratch_configure(KEEP);
}

/* Scratch buffers of a request whose pool has grown past its first block. */
static void scratch_after_big_allocations(void)
{
	fw_req *req = running();
	fw_buf *s;

	fw_scratch_configure(KEEP);
	/* Fill the pool's first block, then borrow: the bookkeeping lands in a later block. */
	for (int i = 0; i < 20; i++)
		if (!CHECK(fw_alloc(req, 1000) != NULL))
			return;
	s = fw_scratch(req);
	if (!CHECK(s != NULL))
		return;
	fill(s, 's', 100);
	next_request(req);
	s = fw_scratch(req);
	if (CHECK(s != NULL))
		CHECK(s->len == 0 && nul_ok(s));
	fw_req_reset(req, KEEP);
	fw_req_destroy(req);
}

/* A ceiling of 0 keeps no memory at all. */
static void scratch_ceiling_zero(void)
{
	fw_req *req = running();
	fw_buf *s;

	fw_scratch_configure(0);
	s = fw_scratch(req);
	if (!CHECK(s != NULL))
		return;
	fill(s, 'z', 10);
	next_request(req);
	s = fw_scratch(req);
	if (CHECK(s != NULL)) {
		CHECK(s->data == NULL);
		CHECK_EQ_UINT(s->cap, 0);
		CHECK_EQ_UINT(s->len, 0);
	}
	fw_req_reset(req, KEEP);
	fw_req_destroy(req);
	fw_scratch_configure(KEEP);
}

/* More scratch buffers than the free list holds: all lent, all taken back. */
static void scratch_many(void)
{
	fw_req *req = running();
	fw_buf *s[200];
	bool ok = true;

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 200 && ok; i++) {
			s[i] = fw_scratch(req);
			ok = s[i] != NULL && s[i]->len == 0;
			if (ok)
				fill(s[i], (char)('a' + i % 26), (size_t)i + 1);
		}
		for (int i = 0; i < 200 && ok; i++)
			ok = s[i]->len == (size_t)i + 1 && s[i]->data[i] == (char)('a' + i % 26);
		next_request(req);
	}
	CHECK(ok);
	fw_req_reset(req, KEEP);
	fw_req_destroy(req);
}

/* ---- the request's own buffers ---- */

static void test_request_response_body(void)
{
	fw_req *req = running();
	fw_buf *in = fw_request_body(req), *out = fw_response_body(req);
	size_t len;

	CHECK(in == fw_request_body(req) && out == fw_response_body(req) && in != out);
	CHECK_EQ_UINT(in->len, 0); /* no body */
	CHECK(fw_body(req, &len) == NULL && len == 0);
	CHECK_EQ_UINT(out->len, 0);

	/* The body, changed in place, is what fw_body() sees. */
	fw_buf_append(&req->body, " a%20b+c ", 9);
	fw_buf_trim(in);
	fw_buf_percent_decode(in, 1);
	{
		const void *body = fw_body(req, &len);

		CHECK_EQ_MEM(body, len, "a b c", 5);
	}

	/* fw_write() appends to the response body. */
	CHECK_EQ_INT(fw_write(req, "12", 2), 0);
	CHECK_EQ_INT(fw_printf(req, "%d", 3), 0);
	CHECK_EQ_MEM(out->data, out->len, "123", 3);
	fw_buf_upper(in);
	CHECK_EQ_INT(fw_buf_puts(out, "!"), 0);
	CHECK_EQ_MEM(out->data, out->len, "123!", 4);

	/* The next request starts with both empty. */
	next_request(req);
	CHECK(fw_request_body(req) == in && fw_response_body(req) == out);
	CHECK_EQ_UINT(in->len, 0);
	CHECK_EQ_UINT(out->len, 0);
	CHECK(fw_body(req, &len) == NULL && len == 0);
	CHECK(nul_ok(in) && nul_ok(out));
	fw_req_destroy(req);
}

/* Body and response buffers: memory kept up to keep_bytes, freed above it. */
static void test_request_buffers_kept(void)
{
	fw_req *req = running();
	char *in_data;
	size_t in_cap;

	fill(&req->body, 'i', 1000);
	fill(&req->out, 'o', 200 * 1024);
	in_data = req->body.data;
	in_cap = req->body.cap;
	next_request(req);
	CHECK(req->out.data == NULL && req->out.cap == 0); /* over KEEP */
	CHECK(req->body.len == 0 && nul_ok(&req->body));
#if FW_REUSE
	CHECK(req->body.data == in_data);
	CHECK_EQ_UINT(req->body.cap, in_cap);
#else
	(void)in_data;
	(void)in_cap;
	CHECK(req->body.data == NULL);
#endif
	fw_req_destroy(req);
}

/* ---- fw_respond_with ---- */

static void respond_with_scratch(void)
{
	fw_req *req = running();
	fw_buf *s = fw_scratch(req);
	char *sdata, *odata;
	size_t slen;

	if (!CHECK(s != NULL))
		return;
	fw_write(req, "old response", 12);
	fw_buf_puts(s, "built in scratch");
	sdata = s->data;
	slen = s->len;
	odata = req->out.data;
	CHECK_EQ_INT(fw_respond_with(req, s), 0);
	/* No copy: the response now is the scratch's memory. */
	CHECK(req->out.data == sdata);
	CHECK_EQ_UINT(req->out.len, slen);
	CHECK_EQ_MEM(req->out.data, req->out.len, "built in scratch", 16);
	CHECK(nul_ok(&req->out));
	/* The scratch has the old response's memory, and is still usable. */
	CHECK(s->data == odata);
	CHECK(nul_ok(s));
	CHECK_EQ_INT(fw_buf_puts(s, "more"), 0);
	CHECK(nul_ok(s));
	CHECK_EQ_MEM(req->out.data, req->out.len, "built in scratch", 16);
	/* Then the handler may still append. */
	CHECK_EQ_INT(fw_write(req, "!", 1), 0);
	CHECK_EQ_MEM(req->out.data, req->out.len, "built in scratch!", 17);
	next_request(req);
	CHECK_EQ_UINT(req->out.len, 0);
	CHECK(nul_ok(&req->out));
	s = fw_scratch(req);
	if (CHECK(s != NULL))
		CHECK(s->len == 0 && nul_ok(s));
	fw_req_reset(req, KEEP);
	fw_req_destroy(req);
}

/* Without a prior response body: the scratch takes an empty buffer. */
static void respond_with_scratch_empty_response(void)
{
	fw_req *req = running();
	fw_buf *s = fw_scratch(req);
	char *sdata;

	if (!CHECK(s != NULL))
		return;
	fill(s, 'q', 70000);
	sdata = s->data;
	CHECK_EQ_INT(fw_respond_with(req, s), 0);
	CHECK(req->out.data == sdata);
	CHECK_EQ_UINT(req->out.len, 70000);
	CHECK(nul_ok(s) && s->len == 0);
	fw_req_reset(req, KEEP);
	fw_req_destroy(req);
}

/* A scratch of another request is foreign: copied. */
static void respond_with_other_requests_scratch(void)
{
	fw_req *a = running(), *b = running();
	fw_buf *sa = fw_scratch(a);

	if (!CHECK(sa != NULL))
		return;
	fw_buf_puts(sa, "from a");
	CHECK_EQ_INT(fw_respond_with(b, sa), 0);
	CHECK(b->out.data != sa->data);
	CHECK_EQ_MEM(b->out.data, b->out.len, "from a", 6);
	CHECK_EQ_MEM(sa->data, sa->len, "from a", 6); /* left as it was */
	fw_req_reset(a, KEEP);
	fw_req_reset(b, KEEP);
	fw_req_destroy(a);
	fw_req_destroy(b);
}

static void test_respond_with_foreign(void)
{
	fw_req *req = running();
	fw_buf mine = FW_BUF_INIT;

	fw_write(req, "discarded", 9);
	fw_buf_puts(&mine, "copied bytes");
	CHECK_EQ_INT(fw_respond_with(req, &mine), 0);
	CHECK(req->out.data != mine.data);
	CHECK_EQ_MEM(req->out.data, req->out.len, "copied bytes", 12);
	CHECK(nul_ok(&req->out));
	/* The caller's buffer is untouched and still the caller's. */
	CHECK_EQ_MEM(mine.data, mine.len, "copied bytes", 12);
	fw_buf_release(&mine);
	/* An empty foreign buffer empties the response. */
	CHECK_EQ_INT(fw_respond_with(req, &mine), 0);
	CHECK_EQ_UINT(req->out.len, 0);
	CHECK(nul_ok(&req->out));
	fw_req_destroy(req);
}

static void test_respond_with_body(void)
{
	fw_req *req = running();
	fw_buf *in = fw_request_body(req);
	char *bdata, *odata;
	size_t len;

	fw_buf_append(in, "Hello%2C+World", 14);
	fw_buf_percent_decode(in, 1);
	fw_buf_lower(in);
	fw_write(req, "old", 3);
	bdata = in->data;
	odata = req->out.data;
	CHECK_EQ_INT(fw_respond_with(req, fw_request_body(req)), 0);
	CHECK(req->out.data == bdata); /* swapped, not copied */
	CHECK_EQ_MEM(req->out.data, req->out.len, "hello, world", 12);
	CHECK(in->data == odata);
	CHECK(nul_ok(in) && nul_ok(&req->out));
	CHECK(fw_body(req, &len) == NULL && len == 0); /* the body now is the old response, emptied */

	/* Responding with the response itself changes nothing. */
	CHECK_EQ_INT(fw_respond_with(req, fw_response_body(req)), 0);
	CHECK_EQ_MEM(req->out.data, req->out.len, "hello, world", 12);

	/* Once finished, it is refused. */
	req->state = FW_REQ_IDLE;
	CHECK_EQ_INT(fw_respond_with(req, fw_request_body(req)), -1);
	CHECK_EQ_MEM(req->out.data, req->out.len, "hello, world", 12);
	req->state = FW_REQ_RUNNING;
	next_request(req);
	CHECK(req->body.len == 0 && req->out.len == 0);
	CHECK(nul_ok(&req->body) && nul_ok(&req->out));
	fw_req_destroy(req);
}

int main(void)
{
	printf("FW_REUSE %d\n", FW_REUSE);
	test_alloc_strdup();
	test_request_end();
	CHECK_IN_CHILD(scratch_lend_and_return);
	CHECK_IN_CHILD(scratch_after_big_allocations);
	CHECK_IN_CHILD(scratch_ceiling_zero);
	CHECK_IN_CHILD(scratch_many);
	test_request_response_body();
	test_request_buffers_kept();
	CHECK_IN_CHILD(respond_with_scratch);
	CHECK_IN_CHILD(respond_with_scratch_empty_response);
	CHECK_IN_CHILD(respond_with_other_requests_scratch);
	test_respond_with_foreign();
	test_respond_with_body();
	return check_done();
}
