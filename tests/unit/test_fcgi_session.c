/*
 * worker/fcgi_session.c: FastCGI records in, requests out, on one
 * connection of a worker that is built here without a process or an event
 * loop. The connection is one end of a socketpair; the test writes records
 * with fw_fcgi_feed() and reads the answers from the other end.
 */
#include "session_helpers.h"

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
	worker_finish();
	return check_done();
}
