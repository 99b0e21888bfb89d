/*
 * worker/stream.c and worker/body.c: streamed responses and request
 * bodies on a connection of a worker built without a process, driven by
 * its event loop. The front end is the other end of a socketpair: it
 * writes records and reads (or does not read) the answer.
 */
#include <event2/event.h>
#include <signal.h>

#include "core/clock.h"
#include "core/reuse.h"
#include "session_helpers.h"

#define PIECE 100000
#define LOW_WATER (256 * 1024) /* as worker/stream.c */
#define RECORD 60000           /* of STDIN, as nginx sends them (at most 65535) */

static uint8_t pattern[PIECE + 251];

static void spin(int turns)
{
	for (int i = 0; i < turns; i++)
		event_base_loop(worker.base, EVLOOP_NONBLOCK);
}

/*
 * What the front end read: STDOUT and STDERR, whether END_REQUEST came,
 * whether the worker cut the stream off (a record of version 0), whether
 * it closed.
 */
struct got {
	struct fw_buf out, err;
	bool ended, eof, aborted;
};

static void collect(struct peer *p, struct got *g)
{
	size_t pos = 0;
	ssize_t n;

	while ((n = read(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len)) > 0)
		p->in_len += (size_t)n;
	g->eof |= n == 0;
	while (pos + FCGI_HEADER_LEN <= p->in_len) {
		const uint8_t *h = p->in + pos;
		size_t clen = (size_t)(h[4] << 8 | h[5]), plen = h[6];

		if (h[0] != FCGI_VERSION_1) {
			g->aborted = true; /* what nginx takes for a broken stream */
			break;
		}
		if (pos + FCGI_HEADER_LEN + clen + plen > p->in_len)
			break;
		if (h[1] == FCGI_STDOUT)
			fw_buf_append(&g->out, h + FCGI_HEADER_LEN, clen);
		if (h[1] == FCGI_STDERR)
			fw_buf_append(&g->err, h + FCGI_HEADER_LEN, clen);
		g->ended |= h[1] == FCGI_END_REQUEST;
		pos += FCGI_HEADER_LEN + clen + plen;
	}
	memmove(p->in, p->in + pos, p->in_len - pos);
	p->in_len -= pos;
}

/* Spin and read until END_REQUEST or EOF (or many turns). */
static void collect_all(struct peer *p, struct got *g)
{
	for (int i = 0; i < 20000 && !g->ended && !g->eof && !g->aborted; i++) {
		spin(1);
		collect(p, g);
	}
}

static const char *body_of(const struct got *g)
{
	const char *sep = g->out.len > 0 ? strstr(g->out.data, "\r\n\r\n") : NULL;

	return sep != NULL ? sep + 4 : "";
}

static size_t body_len(const struct got *g)
{
	const char *b = body_of(g);

	return g->out.len > 0 ? g->out.len - (size_t)(b - g->out.data) : 0;
}

/* Bounded: a worker that stops reading for good fails the check instead of hanging the test. */
static void send_all(struct peer *p, const struct fw_buf *b)
{
	size_t off = 0;

	for (int i = 0; i < 200000 && off < b->len; i++) {
		ssize_t n = write(p->fd, b->data + off, b->len - off);

		if (n > 0)
			off += (size_t)n;
		spin(1);
	}
	CHECK_EQ_UINT(off, b->len);
}

static void request(struct peer *p, uint16_t id, const char *method, const char *path, bool keep)
{
	struct fw_buf b = FW_BUF_INIT;

	begin(&b, id, keep);
	params(&b, id, method, path, NULL);
	record(&b, FCGI_STDIN, id, NULL, 0);
	send_all(p, &b);
	fw_buf_release(&b);
}

static void peer_watched(struct peer *p)
{
	peer_open(p);
	if (fcntl(p->c->fd, F_SETFL, O_NONBLOCK) != 0) /* as accepted sockets are */
		abort();
	fw_conn_read_now(p->c); /* nothing yet: it is watched from now on */
}

/* ---- responses ---- */

static int h_flush(fw_req *req, void *arg)
{
	(void)arg;
	fw_write(req, "a", 1);
	fw_flush(req);
	fw_write(req, "bc", 2);
	fw_flush(req);
	fw_flush(req); /* nothing new: nothing sent */
	fw_write(req, "d", 1);
	return 200;
}

static int header_after_flush = 0;

static int h_status(fw_req *req, void *arg)
{
	(void)arg;
	CHECK_EQ_INT(fw_set_status(req, 99), -1);
	CHECK_EQ_INT(fw_set_status(req, 201), 0);
	fw_set_header(req, "X-Test", "yes");
	fw_flush(req);
	header_after_flush = fw_set_header(req, "X-Late", "no");
	CHECK_EQ_INT(fw_set_status(req, 202), -1);
	return 200;
}

static void test_flush_in_handler(void)
{
	struct peer p;
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};

	peer_watched(&p);
	request(&p, 1, "GET", "/flush", true);
	collect_all(&p, &g);
	CHECK(g.ended && !g.eof);
	CHECK(g.out.len > 0 && strstr(g.out.data, "Status: 200 OK\r\n") == g.out.data);
	CHECK(g.out.len > 0 && strstr(g.out.data, "X-Accel-Buffering: no\r\n") != NULL);
	CHECK(g.out.len > 0 && strstr(g.out.data, "Content-Length") == NULL);
	CHECK(g.out.len > 0 && strstr(g.out.data, "Content-Type: text/plain") != NULL);
	CHECK_EQ_UINT(body_len(&g), 4);
	CHECK(strncmp(body_of(&g), "abcd", 4) == 0);
	fw_buf_clear(&g.out);
	g.ended = false;
	/* The connection goes on: the next request on it. */
	request(&p, 2, "GET", "/status", true);
	collect_all(&p, &g);
	CHECK(g.ended);
	CHECK(g.out.len > 0 && strstr(g.out.data, "Status: 201 Created\r\n") == g.out.data);
	CHECK(g.out.len > 0 && strstr(g.out.data, "X-Test: yes\r\n") != NULL);
	CHECK(g.out.len > 0 && strstr(g.out.data, "X-Late") == NULL);
	CHECK_EQ_INT(header_after_flush, -1);
	fw_buf_release(&g.out);
	peer_close(&p);
}

/* A body of `pieces` pieces, each written when the connection has room. */
struct pieces {
	int left;
	uint64_t off;
	size_t most_unsent; /* the most the worker held when asked for more */
};

static struct pieces pieces;

static void more(fw_req *req, void *arg)
{
	struct pieces *s = arg;
	struct fw_conn *c = req->owner;

	if (fw_conn_unsent(c) > s->most_unsent)
		s->most_unsent = fw_conn_unsent(c);
	fw_write(req, pattern + s->off % 251, PIECE);
	s->off += PIECE;
	if (--s->left == 0) {
		fw_finish(req, 200);
		return;
	}
	fw_flush(req);
	fw_on_writable(req, more, s);
}

static int h_pieces(fw_req *req, void *arg)
{
	(void)arg;
	fw_flush(req);
	fw_on_writable(req, more, &pieces);
	return FW_ASYNC;
}

/* The documented pattern: on -1 from fw_flush (the client left meanwhile), fw_finish at once. */
static int gone_fd = -1, gone_finished;

static void gone_more(fw_req *req, void *arg)
{
	(void)arg;
	CHECK(gone_fd >= 0);
	close(gone_fd); /* the client goes while this runs */
	gone_fd = -1;
	fw_write(req, "x", 1);
	if (fw_flush(req) != 0 || fw_on_writable(req, gone_more, NULL) != 0) {
		gone_finished++;
		CHECK_EQ_INT(fw_finish(req, 500), 0);
	}
}

static int h_gone(fw_req *req, void *arg)
{
	(void)arg;
	fw_flush(req);
	fw_on_writable(req, gone_more, NULL);
	return FW_ASYNC;
}

static bool pattern_ok(const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((uint8_t)b[i] != i % 251)
			return false;
	return true;
}

/*
 * Backpressure: the front end reads nothing for a while. The worker asks
 * for the next piece only while less than LOW_WATER is unsent, so what it
 * holds stays below LOW_WATER + a piece, however long the body; then the
 * front end reads it all, intact.
 */
static void test_backpressure(void)
{
	struct peer p;
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};

	pieces = (struct pieces){.left = 60};
	peer_watched(&p);
	request(&p, 1, "GET", "/pieces", true);
	spin(2000);
	CHECK(pieces.left > 0); /* stopped: nobody reads */
	CHECK(pieces.most_unsent < LOW_WATER);
	CHECK(fw_conn_unsent(p.c) < LOW_WATER + PIECE + 4096);
	collect_all(&p, &g);
	CHECK(g.ended && pieces.left == 0);
	CHECK_EQ_UINT(body_len(&g), 60 * PIECE);
	CHECK(pattern_ok(body_of(&g), body_len(&g)));
	fw_buf_release(&g.out);
	peer_close(&p);

	/* The front end goes while the handler waits for room (no cancel callback): freed. */
	pieces = (struct pieces){.left = 60};
	peer_watched(&p);
	request(&p, 1, "GET", "/pieces", true);
	spin(2000);
	CHECK(pieces.left > 0);
	CHECK_EQ_UINT(worker.in_flight, 1);
	{
		size_t before = worker.nfree_reqs;

		close(p.fd);
		p.fd = -1;
		for (int i = 0; i < 1000 && worker.in_flight > 0; i++)
			spin(1);
		CHECK_EQ_UINT(worker.in_flight, 0);
		CHECK(!FW_REUSE || worker.nfree_reqs == before + 1); /* freed (ASan: destroyed) */
	}
}

static void test_gone_mid_piece(void)
{
	struct peer p;

	gone_finished = 0;
	peer_watched(&p);
	gone_fd = p.fd; /* closed by gone_more, which runs once the request is in */
	request(&p, 1, "GET", "/gone", true);
	p.fd = -1;
	for (int i = 0; i < 2000 && (gone_finished == 0 || worker.in_flight > 0); i++)
		spin(1);
	CHECK_EQ_INT(gone_finished, 1);
	CHECK_EQ_UINT(worker.in_flight, 0); /* finished and freed (ASan: leak-checked) */
}

static int h_short(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Length", "10");
	fw_write(req, "12345", 5);
	fw_flush(req);
	return 200; /* 5 short of its Content-Length */
}

static int h_over(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Length", "3");
	fw_write(req, "12", 2);
	CHECK_EQ_INT(fw_flush(req), 0);
	fw_write(req, "34", 2);
	CHECK_EQ_INT(fw_flush(req), -1); /* over: cut off now */
	return 200;
}

static int over_queued_cancels;

static void over_queued_cancel(fw_req *req, void *arg)
{
	(void)req;
	(void)arg;
	over_queued_cancels++;
}

/* Over its length while 2 MB wait unsent: the cut-off's records go out after them. */
static int h_over_queued(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Length", "3000000");
	for (int i = 0; i < 20; i++)
		fw_write(req, pattern, PIECE);
	CHECK_EQ_INT(fw_flush(req), 0);
	CHECK(fw_conn_unsent(req->owner) > 0); /* nobody reads yet */
	for (int i = 0; i < 11; i++)
		fw_write(req, pattern, PIECE);
	CHECK_EQ_INT(fw_flush(req), -1);
	CHECK_EQ_INT(fw_flush(req), -1); /* and stays refused */
	fw_on_cancel(req, over_queued_cancel, NULL);
	return FW_ASYNC; /* cancelled from the loop */
}

static int h_fail(fw_req *req, void *arg)
{
	(void)arg;
	fw_write(req, "partial", 7);
	fw_flush(req);
	return 503; /* after the head: cut off, never a whole-looking answer */
}

static int h_exact(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Length", "4");
	fw_write(req, "12", 2);
	fw_flush(req);
	fw_write(req, "34", 2);
	return 200;
}

/*
 * A stream that cannot end as it should is cut off: no END_REQUEST, but
 * why (STDERR) and a record nginx rejects, so that its client sees the
 * answer broken; then the connection closes.
 */
static void expect_cut(const char *path, bool cut)
{
	struct peer p;
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};

	peer_watched(&p);
	request(&p, 1, "GET", path, true);
	collect_all(&p, &g);
	if (cut) {
		check_true(__FILE__, __LINE__, g.aborted && !g.ended, path);
		check_true(__FILE__, __LINE__,
			   g.err.len > 0 && strstr(g.err.data, "fw: streamed response cut off") != NULL,
			   path);
		for (int i = 0; i < 2000 && !g.eof; i++) {
			spin(1);
			drain(&p);
			g.eof = read(p.fd, p.in, 1) == 0;
		}
		check_true(__FILE__, __LINE__, g.eof, path); /* then closed */
		p.c = NULL;
	} else {
		check_true(__FILE__, __LINE__, g.ended && !g.eof, path);
		check_true(__FILE__, __LINE__,
			   g.out.len > 0 && strstr(g.out.data, "Content-Length: 4\r\n"), path);
		check_true(__FILE__, __LINE__, body_len(&g) == 4 && memcmp(body_of(&g), "1234", 4) == 0,
			   path);
	}
	fw_buf_release(&g.out);
	fw_buf_release(&g.err);
	peer_close(&p);
}

static void test_cut_off(void)
{
	expect_cut("/short", true);
	expect_cut("/over", true);
	expect_cut("/over-queued", true);
	CHECK_EQ_INT(over_queued_cancels, 1);
	expect_cut("/fail", true);
	expect_cut("/exact", false);
}

/* HEAD: the head of the stream, no body, whatever the handler writes. */
static void test_head(void)
{
	struct peer p;
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};

	peer_watched(&p);
	request(&p, 1, "HEAD", "/flush", true);
	collect_all(&p, &g);
	CHECK(g.ended);
	CHECK_EQ_UINT(body_len(&g), 0);
	fw_buf_release(&g.out);
	peer_close(&p);
}

/* ---- request bodies ---- */

static struct {
	struct fw_buf body;
	int chunks, ends, cancels;
	bool pause_first;
	int pause_then; /* after the pause: 0 resume, > 0 fw_finish() with it, -1 nothing (the test acts) */
	int answer_at; /* answer this status at the first chunk, 0 = never */
	struct event *resume;
} up;

static void up_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	if (up.pause_then > 0) {
		/* It ends with the rest of its body unread. */
		CHECK_EQ_INT(fw_finish(arg, up.pause_then), 0);
		return;
	}
	CHECK_EQ_INT(fw_body_resume(arg), 0);
	CHECK_EQ_INT(fw_body_resume(arg), -1); /* not paused any more */
}

static int up_chunk(fw_req *req, const void *data, size_t len, void *arg)
{
	struct timeval now = {0, 0};

	(void)arg;
	up.chunks++;
	fw_buf_append(&up.body, data, len);
	if (up.answer_at != 0)
		return up.answer_at;
	if (up.pause_first && up.chunks == 1) {
		if (up.resume != NULL)
			event_free(up.resume);
		up.resume = NULL;
		if (up.pause_then >= 0) {
			up.resume = evtimer_new(worker.base, up_resume, req);
			evtimer_add(up.resume, &now);
		}
		return FW_ASYNC;
	}
	return 0;
}

static int up_end(fw_req *req, void *arg)
{
	(void)arg;
	up.ends++;
	fw_printf(req, "%zu", up.body.len);
	return 200;
}

static void up_cancel(fw_req *req, void *arg)
{
	(void)req;
	(void)arg;
	up.cancels++;
}

static bool up_handler_ran;

static int h_upload(fw_req *req, void *arg)
{
	(void)arg;
	up_handler_ran = true;
	CHECK_EQ_UINT(up.body.len, 0); /* before any of the body */
	fw_on_cancel(req, up_cancel, NULL);
	CHECK_EQ_INT(fw_on_body(req, NULL, up_end, NULL), -1);
	return fw_on_body(req, up_chunk, up_end, NULL) == 0 ? FW_ASYNC : 500;
}

/* No cancel callback: a client that leaves mid-body must not leave the request behind. */
static int h_upload_bare(fw_req *req, void *arg)
{
	(void)arg;
	return fw_on_body(req, up_chunk, up_end, NULL) == 0 ? FW_ASYNC : 500;
}

static void upload_to(struct peer *p, uint16_t id, const char *path, size_t n, const char *cl, bool end)
{
	struct fw_buf b = FW_BUF_INIT;

	begin(&b, id, true);
	params(&b, id, "POST", path, cl);
	for (size_t i = 0; i < n; i += RECORD)
		record(&b, FCGI_STDIN, id, pattern + i % 251, n - i < RECORD ? n - i : RECORD);
	if (end)
		record(&b, FCGI_STDIN, id, NULL, 0);
	send_all(p, &b);
	fw_buf_release(&b);
}

static void upload(struct peer *p, uint16_t id, size_t n, const char *cl)
{
	upload_to(p, id, "/upload", n, cl, true);
}

static void up_reset(void)
{
	fw_buf_clear(&up.body);
	up.chunks = up.ends = up.cancels = up.answer_at = up.pause_then = 0;
	up.pause_first = false;
	up_handler_ran = false;
}

/* Chunks in order, whole, then the end once; paused and resumed; over the limit; refused. */
static void test_upload(void)
{
	struct peer p;
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};
	char want[32];

	/* Each record of STDIN becomes a chunk (at most one read's worth: never the body whole). */
	for (int pause = 0; pause <= 1; pause++) {
		up_reset();
		up.pause_first = pause;
		peer_watched(&p);
		upload(&p, 1, 40 * PIECE + 7, NULL);
		collect_all(&p, &g);
		CHECK(g.ended);
		CHECK_EQ_INT(up.ends, 1);
		CHECK(up.chunks >= (40 * PIECE + 7) / RECORD);
		CHECK_EQ_UINT(up.body.len, 40 * PIECE + 7);
		CHECK(pattern_ok(up.body.data, up.body.len));
		snprintf(want, sizeof(want), "%d", 40 * PIECE + 7);
		CHECK(strcmp(body_of(&g), want) == 0);
		CHECK_EQ_INT(up.cancels, 0);
		fw_buf_clear(&g.out);
		g.ended = false;
		peer_close(&p);
	}

	/* max_stream_body_mb = 1: a declared length over it is 413 before the handler. */
	cfg.max_stream_body_mb = 1;
	up_reset();
	peer_watched(&p);
	upload(&p, 1, 2 << 20, "2097152");
	collect_all(&p, &g);
	CHECK(g.ended && !up_handler_ran);
	CHECK(g.out.len > 0 && strstr(g.out.data, "Status: 413") == g.out.data);
	fw_buf_clear(&g.out);
	g.ended = false;
	/* ... and a body of unknown length once it passes it: 413, the request cancelled. */
	up_reset();
	upload(&p, 2, 2 << 20, NULL);
	collect_all(&p, &g);
	CHECK(g.ended && up_handler_ran);
	CHECK(g.out.len > 0 && strstr(g.out.data, "Status: 413") == g.out.data);
	CHECK_EQ_INT(up.cancels, 1);
	CHECK_EQ_INT(up.ends, 0);
	CHECK(up.body.len <= 1 << 20);
	cfg.max_stream_body_mb = 0;
	fw_buf_clear(&g.out);
	g.ended = false;

	/* A chunk callback that answers: the rest is dropped, no end; the connection goes on. */
	up_reset();
	up.answer_at = 422;
	upload(&p, 3, 10 * PIECE, NULL);
	collect_all(&p, &g);
	CHECK(g.ended);
	CHECK(g.out.len > 0 && strstr(g.out.data, "Status: 422") == g.out.data);
	CHECK_EQ_INT(up.chunks, 1);
	CHECK_EQ_INT(up.ends, 0);
	fw_buf_clear(&g.out);
	g.ended = false;
	up_reset();
	request(&p, 4, "GET", "/flush", true);
	collect_all(&p, &g);
	CHECK(g.ended && strncmp(body_of(&g), "abcd", 4) == 0);
	fw_buf_release(&g.out);
	peer_close(&p);

	/* The client leaves mid-body, and no cancel callback was set: the request is freed. */
	up_reset();
	peer_watched(&p);
	upload_to(&p, 1, "/upload-bare", 3 * RECORD, NULL, false);
	for (int i = 0; i < 2000 && up.body.len < 3 * RECORD; i++)
		spin(1);
	CHECK_EQ_UINT(up.body.len, 3 * RECORD); /* in chunks of at most a read's worth */
	CHECK_EQ_UINT(worker.in_flight, 1);
	{
		size_t before = worker.nfree_reqs;

		close(p.fd); /* the worker reads its EOF */
		p.fd = -1;
		for (int i = 0; i < 1000 && worker.in_flight > 0; i++)
			spin(1);
		CHECK_EQ_UINT(worker.in_flight, 0);
		CHECK(!FW_REUSE || worker.nfree_reqs == before + 1); /* freed (ASan: destroyed) */
		CHECK_EQ_INT(up.ends, 0);
	}
	if (up.resume != NULL)
		event_free(up.resume);
	up.resume = NULL;
}

/*
 * A request that ends while its body is paused (its handler answers, or
 * `timeout`) leaves the rest of the body unread: it is skipped (FastCGI:
 * the rest of its STDIN), and the kept connection serves the next request.
 */
static void test_ended_while_paused(void)
{
	struct peer p;
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};

	for (int timeout = 0; timeout <= 1; timeout++) {
		uint16_t id = (uint16_t)(1 + 2 * timeout);

		peer_watched(&p);
		up_reset();
		up.pause_first = true;
		up.pause_then = timeout ? -1 : 403;
		upload_to(&p, id, "/upload", 100 * 1024, NULL, true);
		if (timeout) {
			for (int i = 0; i < 2000 && up.chunks == 0; i++)
				spin(1);
			if (CHECK(p.c->req != NULL && p.c->req->stream.body_paused)) {
				fw_request_time_out(p.c, p.c->req); /* as retire.c's tick */
				fw_conn_settle(p.c);
			}
		}
		collect_all(&p, &g);
		CHECK(g.ended);
		CHECK(g.out.len > 0 &&
		      strstr(g.out.data, timeout ? "Status: 504" : "Status: 403") == g.out.data);
		CHECK_EQ_INT(up.chunks, 1);
		CHECK_EQ_INT(up.ends, 0);
		CHECK_EQ_INT(up.cancels, timeout);
		fw_buf_clear(&g.out);
		g.ended = false;
		/* The next request on the connection. */
		request(&p, (uint16_t)(id + 1), "GET", "/flush", true);
		collect_all(&p, &g);
		CHECK(g.ended && !g.eof && strncmp(body_of(&g), "abcd", 4) == 0);
		fw_buf_clear(&g.out);
		g.ended = false;
		peer_close(&p);
	}
	fw_buf_release(&g.out);
	fw_buf_release(&g.err);
}

/*
 * A body paused on its last chunk ends when it resumes, from input held
 * meanwhile (its empty STDIN came in the same read): request_timeout's
 * clock stops there as it does at a read, or the kept connection would
 * be closed as "took over request_timeout to send its request" later.
 */
static void test_resumed_then_kept(void)
{
	struct peer p;
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};
	uint64_t later = fw_now_ms() + (uint64_t)cfg.request_timeout * 1000 + 1000;

	CHECK((uint64_t)cfg.idle_timeout * 1000 > (uint64_t)cfg.request_timeout * 1000 + 2000);
	up_reset();
	up.pause_first = true;
	peer_watched(&p);
	upload(&p, 1, 1000, NULL); /* one chunk and the end, in one read */
	collect_all(&p, &g);
	CHECK(g.ended && strcmp(body_of(&g), "1000") == 0);
	CHECK_EQ_INT(up.ends, 1);
	CHECK_EQ_UINT(p.c->recv_since, 0);
	fw_conn_timeouts(&worker, later); /* the heartbeat, past request_timeout */
	fw_buf_clear(&g.out);
	g.ended = false;
	request(&p, 2, "GET", "/flush", true);
	collect_all(&p, &g);
	CHECK(g.ended && !g.eof && strncmp(body_of(&g), "abcd", 4) == 0);
	peer_close(&p);
	fw_buf_release(&g.out);
	fw_buf_release(&g.err);
}

/* A request without keep-conn, answered: true once its connection lingers (p->c still the worker's). */
static bool answered_lingering(struct peer *p)
{
	peer_watched(p);
	request(p, 1, "GET", "/flush", false);
	for (int i = 0; i < 2000 && p->c->state != FW_CONN_LINGERING; i++)
		spin(1);
	return CHECK_EQ_INT(p->c->state, FW_CONN_LINGERING);
}

/*
 * A connection that lingers after its last answer (FastCGI over a unix
 * socket, no keep-conn) and is then broken and closed leaves the sweep's
 * arrays: membership, not its state, says so. A stale entry would be read
 * after the connection's memory went to the next accept.
 */
static void test_linger_broken(void)
{
	struct peer p;
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};
	size_t before = worker.nlingering;

	if (answered_lingering(&p)) {
		CHECK_EQ_UINT(worker.nlingering, before + 1);
		fw_conn_break(p.c);
		fw_conn_settle(p.c);
		CHECK_EQ_UINT(worker.nlingering, before);
	}
	p.c = NULL; /* closed by the worker */
	collect_all(&p, &g);
	peer_close(&p);
	fw_buf_release(&g.out);
	fw_buf_release(&g.err);
}

/*
 * A request without keep-conn that begins while the worker serves and
 * ends (its empty STDIN) once the worker is in mode: p->c is the
 * worker's from then on.
 */
static void request_then(struct peer *p, enum fw_worker_mode mode)
{
	struct fw_buf b = FW_BUF_INIT;

	peer_watched(p);
	begin(&b, 1, false);
	params(&b, 1, "GET", "/flush", NULL);
	send_all(p, &b);
	worker.mode = mode;
	b.len = 0;
	record(&b, FCGI_STDIN, 1, NULL, 0);
	send_all(p, &b);
	fw_buf_release(&b);
	p->c = NULL;
}

/* Run the loop (its linger sweep is a timer) until n connections linger: false after 20 s. */
static bool lingering(size_t n)
{
	uint64_t deadline = fw_now_ms() + 20000;

	while (worker.nlingering != n && fw_now_ms() < deadline)
		event_base_loop(worker.base, EVLOOP_ONCE);
	return worker.nlingering == n;
}

/* The peer reads the whole answer, then closes: how many linger before its close, and after. */
static void read_whole_answer(struct peer *p, size_t lingering_before, size_t lingering_after)
{
	struct got g = {FW_BUF_INIT, FW_BUF_INIT, false, false, false};

	collect_all(p, &g);
	CHECK(g.ended && strncmp(body_of(&g), "abcd", 4) == 0);
	CHECK(lingering(lingering_before));
	peer_close(p);
	CHECK(lingering(lingering_after));
	fw_buf_release(&g.out);
	fw_buf_release(&g.err);
}

/*
 * A draining worker answers as a serving one does: FastCGI over a unix
 * socket to a peer that is not nginx keeps its shutdown and lingering
 * close (a bare close loses answers of the npm fastcgi-client), the one
 * lingering when the drain begins included; the peer still reads the
 * whole answer and our end of file, and its close ends the linger. A
 * worker that exits closes bare.
 */
static void test_linger_draining(void)
{
	enum fw_worker_mode was = worker.mode;
	struct peer p;
	size_t before = worker.nlingering;

	/* Lingering already when the drain begins: the drain's settle leaves it. */
	if (answered_lingering(&p)) {
		worker.mode = FW_WORKER_DRAINING;
		fw_conn_settle(p.c);
		CHECK_EQ_UINT(worker.nlingering, before + 1);
	}
	p.c = NULL; /* the worker closes it after our close */
	read_whole_answer(&p, before + 1, before);

	/* Answered while draining (its request began before): it lingers too, until the peer's close. */
	worker.mode = was;
	request_then(&p, FW_WORKER_DRAINING);
	read_whole_answer(&p, before + 1, before);

	/* Exiting: a bare close, nothing lingers. */
	worker.mode = was;
	request_then(&p, FW_WORKER_STOPPING);
	read_whole_answer(&p, before, before);
	worker.mode = was;
}

/* ---- SCGI ---- */

static void scgi_watched(struct peer *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0)
		abort();
	p->c = fw_conn_open(&worker, sv[0], FW_PROTO_SCGI, false, true);
	if (p->c == NULL)
		abort();
	p->fd = sv[1];
	p->in_len = 0;
	fw_conn_read_now(p->c);
}

/* An SCGI request for POST /upload with a body of n bytes, sent whole. */
static void scgi_upload(struct peer *p, size_t n)
{
	static const char rest[] = "SCGI\0"
				   "1\0"
				   "REQUEST_METHOD\0"
				   "POST\0"
				   "DOCUMENT_URI\0"
				   "/upload";
	struct fw_buf h = FW_BUF_INIT, b = FW_BUF_INIT;
	char num[32];
	int k = snprintf(num, sizeof(num), "%zu", n);

	fw_buf_append(&h, "CONTENT_LENGTH", 15);
	fw_buf_append(&h, num, (size_t)k + 1);
	fw_buf_append(&h, rest, sizeof(rest)); /* with its last NUL */
	k = snprintf(num, sizeof(num), "%zu:", h.len);
	fw_buf_append(&b, num, (size_t)k);
	fw_buf_append(&b, h.data, h.len);
	fw_buf_append(&b, ",", 1);
	for (size_t i = 0; i < n; i += PIECE)
		fw_buf_append(&b, pattern + i % 251, n - i < PIECE ? n - i : PIECE);
	send_all(p, &b);
	fw_buf_release(&h);
	fw_buf_release(&b);
}

/* Everything the worker sends until it closes its side (or many turns); true at EOF. */
static bool scgi_answer(struct peer *p)
{
	for (int i = 0; i < 20000; i++) {
		ssize_t n;

		spin(1);
		while ((n = read(p->fd, p->in + p->in_len, sizeof(p->in) - 1 - p->in_len)) > 0)
			p->in_len += (size_t)n;
		p->in[p->in_len] = '\0';
		if (n == 0)
			return true;
	}
	return false;
}

/*
 * SCGI says where a body ends only by its length: paused on its last
 * chunk, the end comes with no input left, when the handler resumes.
 * Ended while paused, the answer goes and the connection closes (SCGI
 * serves one request), after the rest of the body.
 */
static void test_scgi_paused(void)
{
	struct peer p;

	up_reset();
	up.pause_first = true;
	scgi_watched(&p);
	scgi_upload(&p, 1000); /* one chunk: the first is the last */
	CHECK(scgi_answer(&p));
	CHECK(strstr((char *)p.in, "Status: 200") == (char *)p.in);
	CHECK(strstr((char *)p.in, "\r\n\r\n1000") != NULL);
	CHECK_EQ_INT(up.ends, 1);
	p.c = NULL; /* lingering: the worker closes it */
	peer_close(&p);

	up_reset();
	up.pause_first = true;
	up.pause_then = 403;
	scgi_watched(&p);
	scgi_upload(&p, 100 * 1024);
	CHECK(scgi_answer(&p));
	CHECK(strstr((char *)p.in, "Status: 403") == (char *)p.in);
	CHECK_EQ_INT(up.chunks, 1);
	CHECK_EQ_INT(up.ends, 0);
	p.c = NULL;
	peer_close(&p);
	if (up.resume != NULL)
		event_free(up.resume);
	up.resume = NULL;
	fw_buf_release(&up.body);
}

/* Only a peer whose SERVER_SOFTWARE names nginx gets the bare close over a unix socket. */
static void test_quiet_peer(void)
{
	struct fw_nv env[] = {
		{"SERVER_SOFTWARE_X", "nginx/1.22.1", 17, 12},
		{"SERVER_SOFTWARE", "nginx/1.22.1", 15, 12},
	};
	struct fw_nv other[] = {{"SERVER_SOFTWARE", "nginx", 15, 5}};
	struct fw_nv apache[] = {{"SERVER_SOFTWARE", "Apache/2.4.57", 15, 13}};

	CHECK(fw_linger_quiet_peer(env, 2));
	CHECK(!fw_linger_quiet_peer(env, 1)); /* a longer name is another name */
	CHECK(!fw_linger_quiet_peer(env, 0));
	CHECK(!fw_linger_quiet_peer(other, 1)); /* no version: not what nginx sends */
	CHECK(!fw_linger_quiet_peer(apache, 1));
}

int main(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i % 251);
	signal(SIGPIPE, SIG_IGN); /* a connection the worker cuts off */
	worker_init(1024);
	if (fw_route("GET", "/flush", h_flush, NULL) != 0 ||
	    fw_route("GET", "/status", h_status, NULL) != 0 ||
	    fw_route("GET", "/pieces", h_pieces, NULL) != 0 ||
	    fw_route("GET", "/short", h_short, NULL) != 0 ||
	    fw_route("GET", "/over", h_over, NULL) != 0 || fw_route("GET", "/gone", h_gone, NULL) != 0 ||
	    fw_route("GET", "/over-queued", h_over_queued, NULL) != 0 ||
	    fw_route("GET", "/fail", h_fail, NULL) != 0 ||
	    fw_route("GET", "/exact", h_exact, NULL) != 0 ||
	    fw_route_stream("POST", "/upload", h_upload, NULL) != 0 ||
	    fw_route_stream("POST", "/upload-bare", h_upload_bare, NULL) != 0)
		return 1;
	test_flush_in_handler();
	test_backpressure();
	test_gone_mid_piece();
	test_cut_off();
	test_head();
	test_upload();
	test_ended_while_paused();
	test_resumed_then_kept();
	test_linger_broken();
	test_linger_draining();
	test_quiet_peer();
	test_scgi_paused();
	worker_finish();
	return check_done();
}
