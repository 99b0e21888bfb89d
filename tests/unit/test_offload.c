/*
 * worker/threads.c and worker/offload.c: fw_offload() on a worker built
 * without a process, driven by its event loop, with real pool threads.
 * Work waits on a gate the test opens, so that every check is about an
 * order of events, never about how long anything took.
 */
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>

#include "core/clock.h"
#include "core/reuse.h"
#include "session_helpers.h"

#define MAX_THREADS 2
#define WAIT_MS 20000 /* a generous bound on a busy machine */

static pthread_t loop_thread;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	int running, most_running, ran;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0, 0};

static void gate_set(bool open)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = open;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static int gate_running(void)
{
	int n;

	pthread_mutex_lock(&gate.lock);
	n = gate.running;
	pthread_mutex_unlock(&gate.lock);
	return n;
}

/* What one job saw, in request memory (fw_alloc): ASan sees any use after the request. */
struct job {
	bool off_loop;    /* work ran on another thread than the loop's */
	bool ran;         /* work ran at all */
	char payload[64]; /* written by work, read by done */
};

static struct {
	int done, done_cancelled, done_on_loop, finished;
} seen;

static int work_saw_cancel; /* atomic: work read fw_offload_cancelled() == 1 */

static void work(void *arg)
{
	struct job *j = arg;

	j->ran = true;
	j->off_loop = !pthread_equal(pthread_self(), loop_thread);
	pthread_mutex_lock(&gate.lock);
	gate.running++;
	gate.ran++;
	if (gate.running > gate.most_running)
		gate.most_running = gate.running;
	while (!gate.open)
		pthread_cond_wait(&gate.cond, &gate.lock);
	gate.running--;
	pthread_mutex_unlock(&gate.lock);
	if (fw_offload_cancelled() == 1)
		__atomic_add_fetch(&work_saw_cancel, 1, __ATOMIC_RELAXED);
	fw_log(FW_LOG_DEBUG, "work done on a pool thread"); /* fw_log is safe here */
	snprintf(j->payload, sizeof(j->payload), "worked");
}

static void done(fw_req *req, void *arg)
{
	struct job *j = arg;

	seen.done++;
	seen.done_on_loop += pthread_equal(pthread_self(), loop_thread);
	if (fw_cancelled(req)) {
		seen.done_cancelled++;
		CHECK_EQ_INT(fw_finish(req, 200), -1); /* does nothing */
		return;
	}
	CHECK(j->ran && j->off_loop);
	fw_write(req, j->payload, strlen(j->payload));
	fw_finish(req, 200);
	seen.finished++;
}

static int h_job(fw_req *req, void *arg)
{
	struct job *j = fw_alloc(req, sizeof(*j));

	(void)arg;
	memset(j, 0, sizeof(*j));
	return fw_offload(req, work, done, j) == 0 ? FW_ASYNC : 503;
}

/* Offloads, then answers at once: done is cancelled (the answer went without it). */
static int h_job_answered(fw_req *req, void *arg)
{
	struct job *j = fw_alloc(req, sizeof(*j));

	(void)arg;
	memset(j, 0, sizeof(*j));
	if (fw_offload(req, work, done, j) != 0)
		return 500;
	fw_write(req, "now", 3);
	return 200;
}

static void spin_until(bool (*pred)(void))
{
	uint64_t deadline = fw_now_ms() + WAIT_MS;

	while (!pred() && fw_now_ms() < deadline)
		event_base_loop(worker.base, EVLOOP_NONBLOCK);
}

static int want_done, want_running;

static bool done_reached(void)
{
	return seen.done >= want_done;
}

static bool running_reached(void)
{
	return gate_running() >= want_running;
}

static void request(struct peer *p, uint16_t id, const char *path)
{
	struct fw_buf b = FW_BUF_INIT;

	begin(&b, id, true);
	params(&b, id, "GET", path, NULL);
	record(&b, FCGI_STDIN, id, NULL, 0);
	CHECK_EQ_INT(feed(p, &b), FW_OK);
	fw_buf_release(&b);
}

/* Jobs run off the loop, at most MAX_THREADS at once, started only when needed; done on the loop. */
static void test_pool(void)
{
	struct peer p[6];
	struct answer a;

	CHECK_EQ_UINT(worker.threads.nthreads, 0); /* none before the first job */
	CHECK_EQ_INT(worker.threads.efd, -1);
	memset(&seen, 0, sizeof(seen));
	gate_set(false);
	for (int i = 0; i < 6; i++) {
		peer_open(&p[i]);
		request(&p[i], 1, "/job");
	}
	want_running = MAX_THREADS;
	spin_until(running_reached);
	CHECK_EQ_INT(gate_running(), MAX_THREADS);
	CHECK_EQ_UINT(worker.threads.nthreads, MAX_THREADS);
	CHECK_EQ_UINT(worker.threads.pending, 6);
	CHECK_EQ_UINT(worker.in_flight, 6);
	gate_set(true);
	want_done = 6;
	spin_until(done_reached);
	CHECK_EQ_INT(seen.done, 6);
	CHECK_EQ_INT(seen.done_on_loop, 6);
	CHECK_EQ_INT(seen.finished, 6);
	CHECK_EQ_INT(gate.most_running, MAX_THREADS);
	CHECK_EQ_UINT(worker.threads.pending, 0);
	CHECK_EQ_UINT(worker.in_flight, 0);
	for (int i = 0; i < 6; i++) {
		if (CHECK(next_answer(&p[i], &a)))
			CHECK(a.status == 200 && a.body_len == 6 && memcmp(a.body, "worked", 6) == 0);
		peer_close(&p[i]);
	}
}

/*
 * The client goes away while its job runs: the job reads
 * fw_offload_cancelled(), done still runs (cancelled) with the request's
 * memory valid, and the request is freed after it.
 */
static void test_client_gone(void)
{
	struct peer p;
	size_t free_before;

	memset(&seen, 0, sizeof(seen));
	gate.ran = 0;
	work_saw_cancel = 0;
	gate_set(false);
	peer_open(&p);
	request(&p, 1, "/job");
	want_running = 1;
	spin_until(running_reached);
	free_before = worker.nfree_reqs;
	fw_conn_close(p.c, "closed by peer"); /* what conn.c does at the client's EOF */
	p.c = NULL;
	CHECK_EQ_INT(seen.done, 0);                    /* not before work returns */
	CHECK_EQ_UINT(worker.nfree_reqs, free_before); /* parked, not freed */
	CHECK_EQ_UINT(worker.in_flight, 0);
	gate_set(true);
	want_done = 1;
	spin_until(done_reached);
	CHECK_EQ_INT(seen.done_cancelled, 1);
	CHECK_EQ_INT(__atomic_load_n(&work_saw_cancel, __ATOMIC_RELAXED), 1);
	CHECK_EQ_UINT(worker.threads.pending, 0);
	if (FW_REUSE)
		CHECK_EQ_UINT(worker.nfree_reqs, free_before + 1); /* freed after its done */
	peer_close(&p);
}

/* Cancelled before a thread took it: work never runs; done runs, cancelled. */
static void test_cancelled_in_queue(void)
{
	struct peer p[MAX_THREADS + 1];

	memset(&seen, 0, sizeof(seen));
	gate.ran = 0;
	gate_set(false);
	for (int i = 0; i <= MAX_THREADS; i++) {
		peer_open(&p[i]);
		request(&p[i], 1, "/job");
	}
	want_running = MAX_THREADS;
	spin_until(running_reached);
	fw_conn_close(p[MAX_THREADS].c, "closed by peer"); /* the one still queued */
	p[MAX_THREADS].c = NULL;
	gate_set(true);
	want_done = MAX_THREADS + 1;
	spin_until(done_reached);
	CHECK_EQ_INT(seen.done, MAX_THREADS + 1);
	CHECK_EQ_INT(seen.done_cancelled, 1);
	CHECK_EQ_INT(gate.ran, MAX_THREADS);
	for (int i = 0; i <= MAX_THREADS; i++)
		peer_close(&p[i]);
}

/* `timeout`: the client gets its 504 at once; done follows, cancelled. */
static void test_timeout(void)
{
	struct peer p;
	struct answer a;

	memset(&seen, 0, sizeof(seen));
	gate_set(false);
	peer_open(&p);
	request(&p, 1, "/job");
	want_running = 1;
	spin_until(running_reached);
	fw_request_time_out(p.c, p.c->req);
	if (CHECK(next_answer(&p, &a)))
		CHECK_EQ_INT(a.status, 504);
	gate_set(true);
	want_done = 1;
	spin_until(done_reached);
	CHECK_EQ_INT(seen.done_cancelled, 1);
	/* The connection serves the next request. */
	request(&p, 2, "/job");
	want_done = 2;
	spin_until(done_reached);
	if (CHECK(next_answer(&p, &a)))
		CHECK(a.id == 2 && a.status == 200);
	peer_close(&p);
}

/* Answered while its job runs: done is cancelled; nothing follows the answer. */
static void test_answered_first(void)
{
	struct peer p;
	struct answer a;

	memset(&seen, 0, sizeof(seen));
	gate_set(false);
	peer_open(&p);
	request(&p, 1, "/answered");
	if (CHECK(next_answer(&p, &a)))
		CHECK(a.status == 200 && a.body_len == 3);
	gate_set(true);
	want_done = 1;
	spin_until(done_reached);
	CHECK_EQ_INT(seen.done_cancelled, 1);
	CHECK(!next_answer(&p, &a));
	peer_close(&p);
}

/* offload_threads = 0: refused, and the handler answers for itself. */
static void test_no_threads(void)
{
	struct peer p;
	struct answer a;

	cfg.offload_threads = 0;
	peer_open(&p);
	request(&p, 1, "/job");
	if (CHECK(next_answer(&p, &a)))
		CHECK_EQ_INT(a.status, 503);
	cfg.offload_threads = MAX_THREADS;
	peer_close(&p);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	loop_thread = pthread_self();
	worker_init(1024);
	cfg.offload_threads = MAX_THREADS;
	fw_threads_init(&worker.threads, worker.base, MAX_THREADS, fw_offload_complete);
	if (fw_route("GET", "/job", h_job, NULL) != 0 ||
	    fw_route("GET", "/answered", h_job_answered, NULL) != 0)
		return 1;
	test_pool();
	test_client_gone();
	test_cancelled_in_queue();
	test_timeout();
	test_answered_first();
	test_no_threads();
	fw_threads_stop(&worker.threads);
	CHECK_EQ_UINT(worker.threads.nthreads, 0); /* all idle: joined */
	worker_finish();
	return check_done();
}
