/*
 * testapp: the misbehaving application the recycling tests need.
 *   GET  /hello            "hello\n"
 *   POST /hello, /echo     the body back
 *   GET  /pid              the worker's pid
 *   GET  /leak?kb=N        keeps N KiB (touched) for the worker's life
 *   GET  /block?ms=N       blocks the worker in the handler (a stuck handler)
 *   GET  /slow?ms=N        answers after N ms without blocking (FW_ASYNC)
 *   GET  /crash            dies with SIGSEGV
 * Boot: if the file named by $TESTAPP_BOOT_FAIL exists, the worker start-up
 * hook fails.
 */
#include <event2/event.h>
#include <fw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int hello(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "text/plain");
	fw_write(req, "hello\n", 6);
	return 200;
}

static int echo(fw_req *req, void *arg)
{
	size_t len;
	const void *body = fw_body(req, &len);

	(void)arg;
	fw_set_header(req, "Content-Type", "application/octet-stream");
	return len == 0 || fw_write(req, body, len) == 0 ? 200 : 500;
}

static int pid(fw_req *req, void *arg)
{
	(void)arg;
	fw_printf(req, "%ld\n", (long)getpid());
	return 200;
}

static long query_long(fw_req *req, const char *name, long def)
{
	const char *v = fw_query(req, name);
	return v != NULL ? strtol(v, NULL, 10) : def;
}

struct leak {
	struct leak *next;
};
static struct leak *kept;

static int leak(fw_req *req, void *arg)
{
	long kb = query_long(req, "kb", 64);
	struct leak *l;

	(void)arg;
	if (kb < 1 || kb > 1024 * 1024)
		return 400;
	/* Written to, so the pages are really this worker's. */
	if ((l = malloc((size_t)kb * 1024)) == NULL)
		return 500;
	memset(l, 0xa5, (size_t)kb * 1024);
	l->next = kept;
	kept = l;
	fw_printf(req, "kept %ld KiB more\n", kb);
	return 200;
}

static int block(fw_req *req, void *arg)
{
	long ms = query_long(req, "ms", 1000);
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	(void)arg;
	while (nanosleep(&ts, &ts) != 0)
		;
	fw_printf(req, "blocked %ld ms\n", ms);
	return 200;
}

struct slow {
	struct event *ev;
	fw_req *req;
};

static void slow_done(evutil_socket_t fd, short what, void *arg)
{
	struct slow *s = arg;

	(void)fd, (void)what;
	event_free(s->ev);
	fw_write(s->req, "slow\n", 5);
	fw_finish(s->req, 200);
}

static void slow_cancel(fw_req *req, void *arg)
{
	struct slow *s = arg;

	(void)req;
	event_free(s->ev);
}

static int slow(fw_req *req, void *arg)
{
	long ms = query_long(req, "ms", 1000);
	struct slow *s = fw_alloc(req, sizeof(*s));
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	(void)arg;
	if (s == NULL || (s->ev = evtimer_new(fw_event_base(), slow_done, s)) == NULL)
		return 500;
	s->req = req;
	evtimer_add(s->ev, &tv);
	fw_on_cancel(req, slow_cancel, s);
	return FW_ASYNC;
}

static int crash(fw_req *req, void *arg)
{
	(void)req, (void)arg;
	raise(SIGSEGV);
	return 500;
}

static int boot(void *arg)
{
	const char *flag = getenv("TESTAPP_BOOT_FAIL");

	(void)arg;
	if (flag != NULL && access(flag, F_OK) == 0) {
		fw_log(FW_LOG_ERROR, "testapp: %s exists, failing the boot on purpose", flag);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (fw_route("GET", "/hello", hello, NULL) != 0 || fw_route("POST", "/hello", echo, NULL) != 0 ||
	    fw_route("POST", "/echo", echo, NULL) != 0 ||
	    fw_route("GET", "/pid", pid, NULL) != 0 || fw_route("GET", "/leak", leak, NULL) != 0 ||
	    fw_route("GET", "/block", block, NULL) != 0 || fw_route("GET", "/slow", slow, NULL) != 0 ||
	    fw_route("GET", "/crash", crash, NULL) != 0 || fw_on_worker_start(boot, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
