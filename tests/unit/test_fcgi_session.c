/*
 * worker/fcgi_session.c: FastCGI records in, requests out, on one
 * connection of a worker that is built here without a process or an event
 * loop. The connection is one end of a socketpair; the test writes records
 * with fw_fcgi_feed() and reads the answers from the other end.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"
#include "core/result.h"
#include "proto/fcgi.h"
#include "worker/session.h"
#include "worker/worker.h"

static struct fw_config cfg;
static struct fw_worker worker;
static struct fw_slot slot;

static int hello(fw_req *req, void *arg)
{
	(void)arg;
	fw_write(req, "hello\n", 6);
	return 200;
}

static int echo(fw_req *req, void *arg)
{
	size_t len;
	const void *body = fw_body(req, &len);

	(void)arg;
	if (len > 0)
		fw_write(req, body, len);
	return 200;
}

static void worker_init(int max_body_kb)
{
	struct fw_buf errors = FW_BUF_INIT;

	if (fw_config_load(&cfg, NULL, &errors) != 0 || (worker.base = event_base_new()) == NULL)
		abort();
	fw_buf_release(&errors);
	cfg.max_body_kb = max_body_kb;
	cfg.log_level = FW_LOG_WARN;
	worker.cfg = &cfg;
	worker.slot = &slot;
	worker.max_body = (size_t)max_body_kb * 1024;
	worker.access_fd = -1;
	worker.peer_in = worker.peer_out = -1;
	worker.accepting = true; /* as if listening: closing a connection resumes nothing */
	fw_current_worker = &worker;
}

struct peer {
	struct fw_conn *c;
	int fd; /* the front end's end */
	uint8_t in[1 << 20];
	size_t in_len;
};

static void peer_open(struct peer *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0)
		abort();
	p->c = fw_conn_open(&worker, sv[0], FW_PROTO_FASTCGI, false, true);
	if (p->c == NULL)
		abort();
	p->fd = sv[1];
	p->in_len = 0;
}

static void peer_close(struct peer *p)
{
	if (p->c != NULL)
		fw_conn_close(p->c, NULL);
	close(p->fd);
}

static bool never(const struct fw_conn *c)
{
	(void)c;
	return false;
}

/* Feed bytes as the worker would read them; FW_OK or FW_ERROR. */
static int feed(struct peer *p, const struct fw_buf *b)
{
	size_t used;
	int r = fw_fcgi_feed(p->c, (const uint8_t *)b->data, b->len, never, &used);

	if (r == FW_OK && used != b->len)
		check_fail(__FILE__, __LINE__, "fed %zu bytes, %zu used", b->len, used);
	return r;
}

static void record(struct fw_buf *b, uint8_t type, uint16_t id, const void *data, size_t len)
{
	uint8_t h[FCGI_HEADER_LEN];

	fw_fcgi_header(h, type, id, (uint16_t)len, 0);
	fw_buf_append(b, h, sizeof(h));
	if (len > 0)
		fw_buf_append(b, data, len);
}

static void begin(struct fw_buf *b, uint16_t id, bool keep)
{
	uint8_t body[8] = {0, FCGI_RESPONDER, keep ? FCGI_KEEP_CONN : 0};

	record(b, FCGI_BEGIN_REQUEST, id, body, sizeof(body));
}

/* PARAMS of a request for method + path (cl: CONTENT_LENGTH, NULL for none), and its end. */
static void params(struct fw_buf *b, uint16_t id, const char *method, const char *path, const char *cl)
{
	struct fw_buf nv = FW_BUF_INIT;

	fw_fcgi_nv_put(&nv, "REQUEST_METHOD", 14, method, strlen(method));
	fw_fcgi_nv_put(&nv, "DOCUMENT_URI", 12, path, strlen(path));
	if (cl != NULL)
		fw_fcgi_nv_put(&nv, "CONTENT_LENGTH", 14, cl, strlen(cl));
	record(b, FCGI_PARAMS, id, nv.data, nv.len);
	record(b, FCGI_PARAMS, id, NULL, 0);
	fw_buf_release(&nv);
}

static void stdin_bytes(struct fw_buf *b, uint16_t id, size_t n, char fill)
{
	char chunk[4096];

	memset(chunk, fill, sizeof(chunk));
	while (n > 0) {
		size_t k = n < sizeof(chunk) ? n : sizeof(chunk);

		record(b, FCGI_STDIN, id, chunk, k);
		n -= k;
	}
}

/* An answer read back: its id, the CGI status, the body, END_REQUEST's protocol status. */
struct answer {
	uint16_t id;
	int status;
	char body[8192];
	size_t body_len;
	int protocol_status; /* -1: no END_REQUEST */
};

static void drain(struct peer *p)
{
	ssize_t n;

	while ((n = read(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len)) > 0)
		p->in_len += (size_t)n;
}

/* The next whole answer (records up to END_REQUEST); false when there is none. */
static bool next_answer(struct peer *p, struct answer *a)
{
	struct fw_buf out = FW_BUF_INIT;
	size_t pos = 0;
	bool done = false;

	drain(p);
	memset(a, 0, sizeof(*a));
	a->protocol_status = -1;
	while (!done && pos + FCGI_HEADER_LEN <= p->in_len) {
		const uint8_t *h = p->in + pos;
		size_t clen = (size_t)(h[4] << 8 | h[5]), plen = h[6];
		const uint8_t *content = h + FCGI_HEADER_LEN;

		if (pos + FCGI_HEADER_LEN + clen + plen > p->in_len)
			break;
		a->id = (uint16_t)(h[2] << 8 | h[3]);
		if (h[1] == FCGI_STDOUT)
			fw_buf_append(&out, content, clen);
		else if (h[1] == FCGI_END_REQUEST)
			a->protocol_status = content[4], done = true;
		pos += FCGI_HEADER_LEN + clen + plen;
	}
	if (done) {
		const char *sep = out.len > 0 ? strstr(out.data, "\r\n\r\n") : NULL;

		a->status = sep != NULL && strncmp(out.data, "Status: ", 8) == 0 ? atoi(out.data + 8)
										 : 0;
		if (sep != NULL) {
			a->body_len = out.len - (size_t)(sep + 4 - out.data);
			memcpy(a->body, sep + 4, a->body_len < sizeof(a->body) ? a->body_len : 0);
		}
		memmove(p->in, p->in + pos, p->in_len - pos);
		p->in_len -= pos;
	}
	fw_buf_release(&out);
	return done;
}

/* The next answer is for id, with status and (unless NULL) body, and complete. */
static void expect_answer(struct peer *p, uint16_t id, int status, const char *body, int line)
{
	struct answer a;

	if (!check_true(__FILE__, line, next_answer(p, &a), "an answer"))
		return;
	check_eq_uint(__FILE__, line, a.id, id, "id", "want");
	check_eq_int(__FILE__, line, a.status, status, "status", "want");
	check_eq_int(__FILE__, line, a.protocol_status, FCGI_REQUEST_COMPLETE, "protocol status",
		     "FCGI_REQUEST_COMPLETE");
	if (body != NULL)
		check_true(__FILE__, line,
			   a.body_len == strlen(body) && memcmp(a.body, body, a.body_len) == 0, body);
}

#define EXPECT_ANSWER(p, id, status, body) expect_answer(p, id, status, body, __LINE__)

/*
 * The reproduction (Apache, enablereuse=on): max_body_kb = 1;
 * BEGIN(1), CONTENT_LENGTH 4096, 1000 bytes of STDIN; the 413 is read; then
 * BEGIN(1) and GET /hello on the same connection. The id is free once
 * END_REQUEST was sent (spec 3.3).
 */
static void test_id_reused_after_early_answer(void)
{
	struct fw_buf b = FW_BUF_INIT;
	struct peer *p = calloc(1, sizeof(*p));

	peer_open(p);
	begin(&b, 1, true);
	params(&b, 1, "POST", "/echo", "4096");
	stdin_bytes(&b, 1, 1000, 'x');
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	EXPECT_ANSWER(p, 1, 413, NULL);
	CHECK(p->c->input_open); /* the rest of the body is still owed */
	fw_buf_clear(&b);
	begin(&b, 1, true);
	params(&b, 1, "GET", "/hello", "");
	record(&b, FCGI_STDIN, 1, NULL, 0);
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	CHECK(!fw_conn_broken(p->c));
	EXPECT_ANSWER(p, 1, 200, "hello\n");
	CHECK(fw_conn_idle(p->c));

	/* And again, with the 413 given mid-body (no length: the body passed the limit). */
	fw_buf_clear(&b);
	begin(&b, 1, true);
	params(&b, 1, "POST", "/echo", "-1");
	stdin_bytes(&b, 1, 1500, 'y');
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	EXPECT_ANSWER(p, 1, 413, NULL);
	fw_buf_clear(&b);
	begin(&b, 1, true);
	params(&b, 1, "POST", "/echo", "3");
	record(&b, FCGI_STDIN, 1, "abc", 3);
	record(&b, FCGI_STDIN, 1, NULL, 0);
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	EXPECT_ANSWER(p, 1, 200, "abc");

	/* A new id after an early answer is served too (its STDIN is the new one's). */
	fw_buf_clear(&b);
	begin(&b, 1, true);
	params(&b, 1, "POST", "/echo", "4096");
	stdin_bytes(&b, 1, 100, 'x');
	begin(&b, 2, true);
	params(&b, 2, "POST", "/echo", "2");
	record(&b, FCGI_STDIN, 2, "ok", 2);
	stdin_bytes(&b, 1, 100, 'x'); /* the old id: ignored (spec 3.3) */
	record(&b, FCGI_STDIN, 2, NULL, 0);
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	EXPECT_ANSWER(p, 1, 413, NULL);
	EXPECT_ANSWER(p, 2, 200, "ok");
	CHECK(!fw_conn_broken(p->c) && fw_conn_idle(p->c));
	peer_close(p);
	fw_buf_release(&b);
	free(p);
}

/* The id of a request still in progress is not free: that stays a protocol error. */
static void test_id_in_progress_refused(void)
{
	struct fw_buf b = FW_BUF_INIT;
	struct peer *p = calloc(1, sizeof(*p));

	peer_open(p);
	begin(&b, 1, true);
	params(&b, 1, "POST", "/echo", "10");
	stdin_bytes(&b, 1, 5, 'x');
	begin(&b, 1, true);
	CHECK_EQ_INT(feed(p, &b), FW_ERROR);
	/* A second id while one runs: FCGI_CANT_MPX_CONN, and the first goes on. */
	peer_close(p);
	peer_open(p);
	fw_buf_clear(&b);
	begin(&b, 1, true);
	params(&b, 1, "POST", "/echo", "2");
	begin(&b, 2, true);
	record(&b, FCGI_STDIN, 1, "hi", 2);
	record(&b, FCGI_STDIN, 1, NULL, 0);
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	{
		struct answer a;

		if (CHECK(next_answer(p, &a))) {
			CHECK_EQ_UINT(a.id, 2);
			CHECK_EQ_INT(a.protocol_status, FCGI_CANT_MPX_CONN);
		}
	}
	EXPECT_ANSWER(p, 1, 200, "hi");
	peer_close(p);
	fw_buf_release(&b);
	free(p);
}

/*
 * Without FCGI_KEEP_CONN the connection closes after the early answer: a
 * BEGIN_REQUEST that follows anyway is not served, and nothing after it
 * is parsed.
 */
static void test_no_keep_conn_early_answer(void)
{
	struct fw_buf b = FW_BUF_INIT;
	struct peer *p = calloc(1, sizeof(*p));
	struct answer a;

	peer_open(p);
	begin(&b, 1, false);
	params(&b, 1, "POST", "/echo", "4096");
	stdin_bytes(&b, 1, 100, 'x');
	begin(&b, 1, false);
	params(&b, 1, "GET", "/hello", "");
	record(&b, FCGI_STDIN, 1, NULL, 0);
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	EXPECT_ANSWER(p, 1, 413, NULL);
	CHECK(!next_answer(p, &a));
	CHECK(fw_conn_ending(p->c) && !p->c->input_open);
	peer_close(p);
	fw_buf_release(&b);
	free(p);
}

/*
 * A body of unknown length (CONTENT_LENGTH -1, Caddy's chunked upload, or
 * empty) is read to the empty STDIN record, with max_body_kb applied to
 * what arrives.
 */
static void test_unknown_length(void)
{
	struct fw_buf b = FW_BUF_INIT;
	struct peer *p = calloc(1, sizeof(*p));
	static const char *const lengths[] = {"-1", "", NULL};

	peer_open(p);
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		fw_buf_clear(&b);
		begin(&b, 3, true);
		params(&b, 3, "POST", "/echo", lengths[i]);
		stdin_bytes(&b, 3, 1024, 'z'); /* exactly max_body_kb */
		record(&b, FCGI_STDIN, 3, NULL, 0);
		CHECK_EQ_INT(feed(p, &b), FW_OK);
		{
			struct answer a;

			if (CHECK(next_answer(p, &a))) {
				CHECK_EQ_INT(a.status, 200);
				CHECK_EQ_UINT(a.body_len, 1024);
			}
		}
		/* One byte more: 413 as soon as it passes, the rest dropped. */
		fw_buf_clear(&b);
		begin(&b, 4, true);
		params(&b, 4, "POST", "/echo", lengths[i]);
		stdin_bytes(&b, 4, 1025, 'z');
		CHECK_EQ_INT(feed(p, &b), FW_OK);
		EXPECT_ANSWER(p, 4, 413, NULL);
		fw_buf_clear(&b);
		stdin_bytes(&b, 4, 5000, 'z');
		record(&b, FCGI_STDIN, 4, NULL, 0);
		CHECK_EQ_INT(feed(p, &b), FW_OK);
		CHECK(fw_conn_idle(p->c) && !fw_conn_broken(p->c));
	}
	/* A length given must still be the body's. */
	fw_buf_clear(&b);
	begin(&b, 5, true);
	params(&b, 5, "POST", "/echo", "3");
	record(&b, FCGI_STDIN, 5, "abcd", 4);
	record(&b, FCGI_STDIN, 5, NULL, 0);
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	EXPECT_ANSWER(p, 5, 400, NULL);
	peer_close(p);
	fw_buf_release(&b);
	free(p);
}

int main(void)
{
	worker_init(1);
	if (fw_route("GET", "/hello", hello, NULL) != 0 || fw_route("POST", "/echo", echo, NULL) != 0)
		return 1;
	test_id_reused_after_early_answer();
	test_id_in_progress_refused();
	test_no_keep_conn_early_answer();
	test_unknown_length();
	fw_conn_free_all(&worker);
	while (worker.free_reqs != NULL) {
		fw_req *r = worker.free_reqs;

		worker.free_reqs = r->next_free;
		fw_req_destroy(r);
	}
	fw_buf_release(&worker.scratch);
	event_base_free(worker.base);
	return check_done();
}
