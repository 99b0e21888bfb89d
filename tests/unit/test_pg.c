/*
 * framework/pg: the pure parts (the reconnect backoff, the HTTP status of
 * a SQLSTATE, libpq's messages on one line), then the pool on a worker
 * built without a process, against the fake server of pg_fake.h: what a
 * batch does to the request's cancel callback, the cancel thread's
 * signals, the exit drain, and event_add failing. Queries to a real
 * server are tested end to end (e2e-pg, e2e-tfb).
 */
#include <dirent.h>
#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <fw/pg.h>

#include "check.h"
#include "config/current.h"
#include "core/clock.h"
#include "pg/pool.h"
#include "pg_fake.h"
#include "req_helpers.h"
#include "worker/worker.h"

#define WAIT_MS 20000 /* a generous bound on a busy machine */

/*
 * event_add as libpq's callers see it (-Wl,--wrap=event_add, meson.build):
 * fail_event_add = n makes the n-th call from now fail, as libevent does
 * when it cannot grow its heap or watch a descriptor.
 */
int __real_event_add(struct event *ev, const struct timeval *tv);
int __wrap_event_add(struct event *ev, const struct timeval *tv);
static int fail_event_add;

int __wrap_event_add(struct event *ev, const struct timeval *tv)
{
	if (fail_event_add > 0 && --fail_event_add == 0)
		return -1;
	return __real_event_add(ev, tv);
}

static void test_backoff(void)
{
	CHECK_EQ_INT(pg_backoff_ms(0, 5000, 0), 0);
	/* 100 ms first, doubling, capped; the jitter spans 75% to 125%. */
	CHECK_EQ_INT(pg_backoff_ms(1, 5000, 0), 75);
	CHECK_EQ_INT(pg_backoff_ms(1, 5000, UINT32_MAX), 124);
	CHECK_EQ_INT(pg_backoff_ms(1, 5000, 1u << 31), 100);
	CHECK_EQ_INT(pg_backoff_ms(2, 5000, 1u << 31), 200);
	CHECK_EQ_INT(pg_backoff_ms(3, 5000, 1u << 31), 400);
	CHECK_EQ_INT(pg_backoff_ms(7, 5000, 1u << 31), 5000);   /* 6400 capped at the max */
	CHECK_EQ_INT(pg_backoff_ms(7, 5000, UINT32_MAX), 5000); /* never above the max */
	CHECK_EQ_INT(pg_backoff_ms(7, 5000, 0), 3750);
	CHECK_EQ_INT(pg_backoff_ms(1000000, 600000, 1u << 31), 600000); /* no overflow */
	CHECK_EQ_INT(pg_backoff_ms(1, 100, 1u << 31), 100);
	/* Monotonic in the failures count, for the same draw. */
	for (int f = 1; f < 40; f++)
		CHECK(pg_backoff_ms(f + 1, 5000, 12345) >= pg_backoff_ms(f, 5000, 12345));
}

static void test_sqlstate(void)
{
	CHECK_EQ_INT(pg_http_status(NULL), 503); /* libpq: the connection broke */
	CHECK_EQ_INT(pg_http_status(""), 503);
	CHECK_EQ_INT(pg_http_status("57014"), 504); /* query_canceled */
	CHECK_EQ_INT(pg_http_status("08006"), 503); /* connection_failure */
	CHECK_EQ_INT(pg_http_status("57P01"), 503); /* admin_shutdown */
	CHECK_EQ_INT(pg_http_status("57P02"), 503); /* crash_shutdown */
	CHECK_EQ_INT(pg_http_status("57P03"), 503); /* cannot_connect_now */
	CHECK_EQ_INT(pg_http_status("57P04"), 503); /* database_dropped (docs/databases.md) */
	CHECK_EQ_INT(pg_http_status("57P05"), 503); /* idle_session_timeout */
	CHECK_EQ_INT(pg_http_status("53300"), 503); /* too_many_connections */
	CHECK_EQ_INT(pg_http_status("40001"), 503); /* serialization_failure */
	CHECK_EQ_INT(pg_http_status("40P01"), 503); /* deadlock_detected */
	CHECK_EQ_INT(pg_http_status("42601"), 500); /* syntax_error */
	CHECK_EQ_INT(pg_http_status("23505"), 500); /* unique_violation */
	CHECK_EQ_INT(pg_http_status("22012"), 500); /* division_by_zero */
	CHECK_EQ_INT(pg_http_status("26000"), 500); /* invalid_sql_statement_name */
	CHECK_EQ_INT(pg_http_status("57000"), 500); /* operator_intervention, not 57P */
}

static void test_one_line(void)
{
	char buf[64];

	CHECK_EQ_STR(pg_one_line(buf, sizeof(buf),
				 "connection to server failed: No such file\n"
				 "\tIs the server running locally?\n"),
		     "connection to server failed: No such file Is the server running");
	CHECK_EQ_STR(
		pg_one_line(buf, sizeof(buf), "ERROR:  syntax error\nLINE 1: SELEKT 1\n        ^\n"),
		"ERROR: syntax error LINE 1: SELEKT 1 ^");
	CHECK_EQ_STR(pg_one_line(buf, sizeof(buf), "\n\n"), "");
	CHECK_EQ_STR(pg_one_line(buf, sizeof(buf), NULL), "");
	CHECK_EQ_STR(pg_one_line(buf, 4, "abcdef"), "abc");
}

/* ---- the pool, against the fake server ---- */

static struct fake_pg fake;
static struct fw_config cfg;
static struct fw_worker worker;

static struct {
	int done, status;
	void (*fn)(fw_req *, void *); /* the request's cancel callback when done ran */
	void *arg;
} seen;

static int handler_cancels;

static void handler_cancel(fw_req *req, void *arg)
{
	(void)req;
	(void)arg;
	handler_cancels++;
}

static void on_done(fw_req *req, fw_pg *pg, void *arg)
{
	(void)arg;
	seen.done++;
	seen.status = fw_pg_status(pg);
	fw_cancel_callback(req, &seen.fn, &seen.arg);
}

static void pool_start(void)
{
	fw_current_worker = &worker;
	fw_config_set_current(&cfg);
	if (pg_pool_start(NULL) != 0)
		abort();
}

static void worker_start(void)
{
	struct fw_buf errors = FW_BUF_INIT;

	if (fw_config_load(&cfg, NULL, &errors) != 0 || (worker.base = event_base_new()) == NULL)
		abort();
	fw_buf_release(&errors);
	snprintf(cfg.pg.conninfo, sizeof(cfg.pg.conninfo), "host=%s port=%d dbname=fake user=fake",
		 fake.dir, fake.port);
	cfg.pg.pool_size = 1;
	cfg.pg.query_timeout_ms = 600000; /* armed, never reached */
	cfg.pg.connect_timeout_ms = 600000;
	pool_start();
}

/* Run the loop until cond() holds: false if it did not within WAIT_MS. */
static bool wait_for(bool (*cond)(void))
{
	uint64_t deadline = fw_now_ms() + WAIT_MS;

	while (!cond()) {
		struct timeval tick = {0, 5000};

		if (fw_now_ms() > deadline)
			return false;
		event_base_loopexit(worker.base, &tick);
		event_base_dispatch(worker.base);
	}
	return true;
}

static int want_done, want_syncs, want_cancels, want_terminates;

static bool done_ran(void)
{
	return seen.done >= want_done;
}

static bool server_synced(void)
{
	return fake_count(&fake, &fake.syncs) >= want_syncs;
}

static bool server_cancelled(void)
{
	return fake_count(&fake, &fake.cancels) >= want_cancels;
}

static bool server_terminated(void)
{
	return fake_count(&fake, &fake.terminates) >= want_terminates;
}

static bool conn_idle(void)
{
	return pg_pool_get()->conns[0].state == PGC_IDLE;
}

static fw_req *request(void)
{
	fw_req *req = PREPARED("REQUEST_METHOD", "GET");

	req->state = FW_REQ_RUNNING;
	return req;
}

/* A batch of one "SELECT $1" with param, sent: fw_pg_send's return. */
static int send_query(fw_req *req, const char *param)
{
	fw_pg *b = fw_pg_new(req);
	const char *values[1] = {param};

	if (!CHECK(b != NULL && fw_pg_add(b, "SELECT $1", 1, values) == 0))
		return -1;
	return fw_pg_send(b, on_done, NULL);
}

/* One query answered, start to end: the connection is open and idle afterwards. */
static void warm_up(void)
{
	fw_req *req = request();

	want_done = seen.done + 1;
	CHECK_EQ_INT(send_query(req, "warm"), FW_ASYNC);
	CHECK(wait_for(done_ran));
	CHECK_EQ_INT(seen.status, 0);
	req_done(req);
	CHECK(wait_for(conn_idle));
}

/* A query of req's that the server holds (it runs long); returns once the server has it. */
static void held_query(fw_req *req)
{
	fake_set(&fake, &fake.hold, true);
	want_syncs = fake_count(&fake, &fake.syncs) + 1;
	CHECK_EQ_INT(send_query(req, "held"), FW_ASYNC);
	CHECK(wait_for(server_synced));
}

/* The worker cancels a request: its cancel callback, then its end. */
static void cancel_request(fw_req *req)
{
	void (*fn)(fw_req *, void *);
	void *arg;

	fw_cancel_callback(req, &fn, &arg);
	if (CHECK(fn != NULL))
		fn(req, arg);
	req_done(req);
}

/* The server lets go of what it held; the connection serves again. */
static void release(void)
{
	fake_set(&fake, &fake.hold_cancel, false);
	fake_set(&fake, &fake.hold, false);
	CHECK(wait_for(conn_idle));
}

/* A handler's own cancel callback survives its queries, and hears of a cancel meanwhile. */
static void test_cancel_callback(void)
{
	int mine;
	void (*fn)(fw_req *, void *);
	void *arg;
	fw_req *req = request();

	/* Set before fw_pg_send: held while the batch runs, given back before done. */
	fw_on_cancel(req, handler_cancel, &mine);
	want_done = seen.done + 1;
	CHECK_EQ_INT(send_query(req, "1"), FW_ASYNC);
	fw_cancel_callback(req, &fn, &arg);
	CHECK(fn != handler_cancel);
	CHECK(wait_for(done_ran));
	CHECK(seen.fn == handler_cancel && seen.arg == &mine);
	/* Two batches at once, ending in the order they were sent: still the handler's at the end. */
	want_done = seen.done + 2;
	CHECK_EQ_INT(send_query(req, "2"), FW_ASYNC);
	CHECK_EQ_INT(send_query(req, "3"), FW_ASYNC);
	CHECK(wait_for(done_ran));
	CHECK(seen.fn == handler_cancel && seen.arg == &mine);
	req_done(req);

	/* Set after fw_pg_send: the handler's stays when the batch ends. */
	req = request();
	want_done = seen.done + 1;
	CHECK_EQ_INT(send_query(req, "4"), FW_ASYNC);
	fw_on_cancel(req, handler_cancel, &mine);
	CHECK(wait_for(done_ran));
	CHECK(seen.fn == handler_cancel && seen.arg == &mine);
	req_done(req);
	CHECK(wait_for(conn_idle));

	/* Cancelled while the query runs: the handler's callback runs too. */
	handler_cancels = 0;
	req = request();
	fw_on_cancel(req, handler_cancel, &mine);
	held_query(req);
	cancel_request(req);
	CHECK_EQ_INT(handler_cancels, 1);
	release();
}

/* fw's signals, as /proc shows them blocked in every thread but this one: how many are not. */
static int signals_open_elsewhere(int *threads)
{
	static const int sigs[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD};
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int open = 0;

	*threads = 0;
	if (!CHECK(d != NULL))
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[300], line[256];
		unsigned long long blocked = 0;
		FILE *fp;

		if (e->d_name[0] == '.' || atoi(e->d_name) == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue; /* it ended meanwhile */
		while (fgets(line, sizeof(line), fp) != NULL &&
		       sscanf(line, "SigBlk: %llx", &blocked) != 1)
			;
		fclose(fp);
		(*threads)++;
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			open += (blocked & (1ULL << (sigs[i] - 1))) == 0;
	}
	closedir(d);
	return open;
}

/* The thread that sends a cancel request takes none of the worker's signals. */
static void test_cancel_thread_signals(void)
{
	fw_req *req = request();
	int threads;

	fake_set(&fake, &fake.hold_cancel, true); /* the thread waits in PQcancel meanwhile */
	held_query(req);
	want_cancels = fake_count(&fake, &fake.cancels) + 1;
	cancel_request(req);
	CHECK(wait_for(server_cancelled));
	CHECK_EQ_INT(signals_open_elsewhere(&threads), 0);
	CHECK_EQ_INT(threads, 2); /* the fake server's, and the cancel request's */
	release();
}

/*
 * The worker exits while libpq holds part of a query the socket did not
 * take: the exit drain sends it on, the server answers, and the close is
 * clean (a Terminate, not a connection cut mid-message).
 */
static void test_exit_drain_flushes(void)
{
	size_t big = (size_t)4 << 20; /* far more than a unix socket's buffers */
	char *param = malloc(big + 1);
	fw_req *req = request();

	if (!CHECK(param != NULL))
		return;
	memset(param, 'x', big);
	param[big] = '\0';
	want_syncs = fake_count(&fake, &fake.syncs) + 1;
	want_terminates = fake_count(&fake, &fake.terminates) + 1;
	fake_set(&fake, &fake.deaf, true); /* so that the socket fills up */
	CHECK_EQ_INT(send_query(req, param), FW_ASYNC);
	free(param);
	CHECK(pg_pool_get()->conns[0].wev_on); /* some of it waits in libpq */
	fake_set(&fake, &fake.deaf, false);
	/* As a worker stops: its requests end (the query is cancelled), then the exit hook. */
	req_done(req);
	pg_pool_stop(NULL);
	CHECK(wait_for(server_terminated));
	CHECK(server_synced());
	pool_start();
}

/* event_add failing: the batch fails at once or goes to another connection, never hangs. */
static void test_event_add_fails(void)
{
	size_t big = (size_t)4 << 20;
	char *param = malloc(big + 1);
	fw_req *req = request();
	void (*fn)(fw_req *, void *);
	void *arg;
	int done;
	fw_pg *b;

	if (!CHECK(param != NULL))
		return;
	memset(param, 'x', big);
	param[big] = '\0';
	/* The query timeout cannot be armed: 500, and the request is as it was. */
	fw_on_cancel(req, handler_cancel, NULL);
	b = fw_pg_new(req);
	CHECK(b != NULL && fw_pg_add(b, "SELECT 1", 0, NULL) == 0);
	fail_event_add = 1;
	CHECK_EQ_INT(fw_pg_send(b, on_done, NULL), 500);
	CHECK(fw_pg_error(b) != NULL && strstr(fw_pg_error(b), "event_add") != NULL);
	fw_cancel_callback(req, &fn, &arg);
	CHECK(fn == handler_cancel);
	req_done(req);

	/* Nothing could wait to send the rest of a query: its connection closes, another takes it. */
	warm_up();
	req = request();
	done = seen.done;
	fail_event_add = 2; /* the query timeout's, then the write event's */
	want_done = done + 1;
	fake_set(&fake, &fake.deaf, true); /* so that libpq keeps some of it */
	CHECK_EQ_INT(send_query(req, param), FW_ASYNC);
	free(param);
	CHECK_EQ_INT(fail_event_add, 0);
	fake_set(&fake, &fake.deaf, false);
	CHECK(wait_for(done_ran));
	CHECK_EQ_INT(seen.status, 0);
	req_done(req);
	CHECK(wait_for(conn_idle));

	/* The connect deadline cannot be armed: no connection, 503 now. */
	pg_pool_stop(NULL);
	pool_start();
	req = request();
	fail_event_add = 2; /* the query timeout's, then the connect deadline's */
	CHECK_EQ_INT(send_query(req, "2"), 503);
	req_done(req);
	CHECK_EQ_INT(fail_event_add, 0);
}

int main(void)
{
	test_backoff();
	test_sqlstate();
	test_one_line();
	fake_start(&fake);
	worker_start();
	warm_up();
	test_cancel_callback();
	test_cancel_thread_signals();
	test_exit_drain_flushes();
	test_event_add_fails();
	pg_pool_stop(NULL);
	event_base_free(worker.base);
	fake_stop(&fake);
	return check_done();
}
