/*
 * testapp: the misbehaving application the recycling tests need.
 *   GET  /hello            "hello\n"
 *   POST /hello, /echo     the body back
 *   GET  /pid              the worker's pid
 *   GET  /users/:id        "id=ID path=PATH\n": what the router gave (front-end tests)
 *   GET  /leak?kb=N        keeps N KiB (touched) for the worker's life
 *   GET  /block?ms=N[&until=PATH]
 *                          blocks the worker in the handler (a stuck handler)
 *                          for N ms, or until the file PATH exists
 *   GET  /slow?ms=N        answers after N ms without blocking (FW_ASYNC)
 *   GET  /hold?until=PATH[&ms=N]
 *                          deferred (FW_ASYNC) until the file PATH exists:
 *                          200 "released"; 504 after N ms (default 120000)
 *   GET  /crash            dies with SIGSEGV
 *   GET  /big?mb=N         an N MiB body written with fw_write (64 KiB at a time)
 *   GET  /headers?kb=N     N KiB of response headers (a head over 64 KiB spans records)
 *   GET  /write-error      writes a body, answers 500, then tries to write after finishing
 *   POST /stale?step=keep&what=alloc,body,scratch
 *                          misuse on purpose: keeps pointers to fw_alloc'd
 *                          memory, to the request body and to a scratch
 *                          buffer's data past the end of the request
 *   GET  /stale?step=use&what=...
 *                          reads and writes through them: the first 32 bytes
 *                          of each, in hex, one "name hex" line each (409
 *                          when this worker kept nothing)
 * Boot: while the file named by $TESTAPP_BOOT_FAIL exists, the worker
 * start-up hook fails; if it holds a number N, only the next N boots fail.
 * While the file named by $TESTAPP_BOOT_SLOW exists, the hook waits.
 *
 * The tests release /block, /hold and a slow boot by creating or removing a
 * file, not after a time: what they check then does not depend on how fast
 * the machine is.
 */
#include <event2/event.h>
#include <fcntl.h>
#include <fw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

static bool exists(const char *path)
{
	return path != NULL && access(path, F_OK) == 0;
}

/* 10 ms, even across signals (the master's FW_SIG_STUCK interrupts it). */
static void nap(void)
{
	struct timespec ts = {0, 10 * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static int block(fw_req *req, void *arg)
{
	long ms = query_long(req, "ms", 1000);
	const char *until = fw_query(req, "until");
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	(void)arg;
	if (until == NULL) {
		while (nanosleep(&ts, &ts) != 0)
			;
	} else {
		for (long left = ms; left > 0 && !exists(until); left -= 10)
			nap();
	}
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

struct hold {
	struct event *ev;
	fw_req *req;
	char *until;
	long left;
};

static void hold_tick(evutil_socket_t fd, short what, void *arg)
{
	struct hold *h = arg;
	struct timeval tv = {0, 10 * 1000};
	bool released = exists(h->until);

	(void)fd, (void)what;
	h->left -= 10;
	if (!released && h->left > 0) {
		evtimer_add(h->ev, &tv);
		return;
	}
	event_free(h->ev);
	fw_printf(h->req, "%s\n", released ? "released" : "not released");
	fw_finish(h->req, released ? 200 : 504);
}

static void hold_cancel(fw_req *req, void *arg)
{
	struct hold *h = arg;

	(void)req;
	event_free(h->ev);
}

static int hold(fw_req *req, void *arg)
{
	const char *until = fw_query(req, "until");
	struct hold *h = fw_alloc(req, sizeof(*h));
	struct timeval tv = {0, 10 * 1000};

	(void)arg;
	if (until == NULL)
		return 400;
	if (h == NULL || (h->until = fw_alloc(req, strlen(until) + 1)) == NULL ||
	    (h->ev = evtimer_new(fw_event_base(), hold_tick, h)) == NULL)
		return 500;
	memcpy(h->until, until, strlen(until) + 1);
	h->req = req;
	h->left = query_long(req, "ms", 120000);
	evtimer_add(h->ev, &tv);
	fw_on_cancel(req, hold_cancel, h);
	return FW_ASYNC;
}

static int crash(fw_req *req, void *arg)
{
	(void)req, (void)arg;
	raise(SIGSEGV);
	return 500;
}

static int headers(fw_req *req, void *arg)
{
	long kb = query_long(req, "kb", 100);
	char name[32], value[100];

	(void)arg;
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	for (long i = 0; i < kb * 1024 / 120; i++) {
		snprintf(name, sizeof(name), "X-Filler-%05ld", i);
		if (fw_add_header(req, name, value) != 0)
			return 500;
	}
	fw_write(req, "after the head\n", 15);
	return 200;
}

static int write_error(fw_req *req, void *arg)
{
	char said[64];

	(void)arg;
	fw_write(req, "partial output\n", 15);
	fw_finish(req, 500);
	/* The response is finished: both must be refused, and nothing of them sent. */
	snprintf(said, sizeof(said), "%d %d", fw_write(req, "late", 4),
		 fw_set_header(req, "X-Late", "1"));
	fw_log(FW_LOG_INFO, "testapp: after fw_finish, fw_write and fw_set_header said %s", said);
	return 200;
}

/*
 * A line in the error log from inside a handler (fcgi_stderr sends it to
 * nginx too), then ?ms= of blocking, which keeps the worker from accepting.
 */
static int log_line(fw_req *req, void *arg)
{
	const char *msg = fw_query(req, "msg");
	long ms = query_long(req, "ms", 0);
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	(void)arg;
	fw_log(FW_LOG_WARN, "testapp: %s", msg != NULL ? msg : "(no msg)");
	while (ms > 0 && nanosleep(&ts, &ts) != 0)
		;
	fw_write(req, "logged\n", 7);
	return 200;
}

static int big(fw_req *req, void *arg)
{
	static char chunk[64 * 1024];
	long mb = query_long(req, "mb", 8);

	(void)arg;
	if (mb < 1 || mb > 64)
		return 400;
	memset(chunk, 'b', sizeof(chunk));
	fw_set_header(req, "Content-Type", "application/octet-stream");
	for (long i = 0; i < mb * 1024 * 1024 / (long)sizeof(chunk); i++)
		if (fw_write(req, chunk, sizeof(chunk)) != 0)
			return 500;
	return 200;
}

/*
 * /stale: what <fw/req.h> forbids, on purpose. Under AddressSanitizer fw
 * reuses nothing, so `use` is a heap-use-after-free; in a debug build the
 * memory was overwritten with 0xdb when the request ended.
 */
#define STALE_BYTES 32

static struct {
	pid_t pid;
	unsigned char *alloc, *body, *scratch;
} stale_kept;

static bool stale_wants(const char *what, const char *kind)
{
	return what == NULL || strstr(what, kind) != NULL;
}

static int stale_keep(fw_req *req, const char *what)
{
	fw_buf *body = fw_request_body(req), *s;

	memset(&stale_kept, 0, sizeof(stale_kept));
	if (stale_wants(what, "alloc")) {
		/* Past what the next request's own pool use (its params) reaches. */
		if (fw_alloc(req, 1000) == NULL || (stale_kept.alloc = fw_alloc(req, 256)) == NULL)
			return 500;
		memset(stale_kept.alloc, 'A', 256);
	}
	if (stale_wants(what, "body")) {
		if (body->len < STALE_BYTES)
			return 400;
		stale_kept.body = (unsigned char *)body->data;
	}
	if (stale_wants(what, "scratch")) {
		if ((s = fw_scratch(req)) == NULL)
			return 500;
		for (int i = 0; i < 256; i++)
			fw_buf_putc(s, 'S');
		stale_kept.scratch = (unsigned char *)s->data;
	}
	stale_kept.pid = getpid();
	fw_printf(req, "kept by %ld\n", (long)getpid());
	return 200;
}

/* Not inlined: the ASan report names it. */
__attribute__((noinline)) static int stale_use(fw_req *req, const char *what)
{
	static const char *const names[] = {"alloc", "body", "scratch"};
	unsigned char *saved[] = {stale_kept.alloc, stale_kept.body, stale_kept.scratch};

	if (stale_kept.pid != getpid()) {
		fw_printf(req, "nothing kept by worker %ld\n", (long)getpid());
		return 409;
	}
	for (int i = 0; i < 3; i++) {
		volatile unsigned char *p = saved[i];

		if (p == NULL || !stale_wants(what, names[i]))
			continue;
		fw_printf(req, "%s ", names[i]);
		for (int j = 0; j < STALE_BYTES; j++)
			fw_printf(req, "%02x", p[j]);
		p[STALE_BYTES - 1] = (unsigned char)(p[STALE_BYTES - 1] ^ 0xff); /* and write */
		p[STALE_BYTES - 1] = (unsigned char)(p[STALE_BYTES - 1] ^ 0xff);
		fw_write(req, "\n", 1);
	}
	return 200;
}

static int stale(fw_req *req, void *arg)
{
	const char *step = fw_query(req, "step"), *what = fw_query(req, "what");

	(void)arg;
	if (step != NULL && strcmp(step, "keep") == 0)
		return stale_keep(req, what);
	if (step != NULL && strcmp(step, "use") == 0)
		return stale_use(req, what);
	return 400;
}

/*
 * Does this boot fail? While the file exists, yes; if it holds a number,
 * only while that number, taken down by one per failure under a lock, was
 * above 0: workers forked together may boot at the same moment.
 */
static bool boot_fails(const char *flag)
{
	char buf[32];
	ssize_t n;
	long left;
	int len, fd = open(flag, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return exists(flag); /* gone: boot; not ours to write: fail as before */
	if (flock(fd, LOCK_EX) != 0 || (n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0) {
		close(fd);
		return true;
	}
	buf[n] = '\0';
	left = strtol(buf, NULL, 10);
	if (left > 0) {
		len = snprintf(buf, sizeof(buf), "%ld\n", left - 1);
		if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len)
			fw_log(FW_LOG_ERROR, "testapp: cannot count down %s", flag);
	}
	close(fd); /* drops the lock */
	return left > 0;
}

static int boot(void *arg)
{
	const char *flag = getenv("TESTAPP_BOOT_FAIL"), *slow = getenv("TESTAPP_BOOT_SLOW");

	(void)arg;
	if (flag != NULL && boot_fails(flag)) {
		fw_log(FW_LOG_ERROR, "testapp: %s exists, failing the boot on purpose", flag);
		return 1;
	}
	/* While this file exists (a minute at most), a worker's boot waits: a replacement still booting. */
	for (int i = 0; i < 6000 && exists(slow); i++)
		nap();
	return 0;
}

static int user(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "text/plain");
	fw_printf(req, "id=%s path=%s\n", fw_param(req, "id"), fw_path(req));
	return 200;
}

int main(int argc, char **argv)
{
	const char *line = getenv("TESTAPP_STDOUT");

	/* Buffered output of the start-up code: forks must not write it again. */
	if (line != NULL)
		printf("%s\n", line);
	if (fw_route("GET", "/hello", hello, NULL) != 0 || fw_route("POST", "/hello", echo, NULL) != 0 ||
	    fw_route("POST", "/echo", echo, NULL) != 0 || fw_route("GET", "/pid", pid, NULL) != 0 ||
	    fw_route("GET", "/leak", leak, NULL) != 0 ||
	    fw_route("GET", "/users/:id", user, NULL) != 0 ||
	    fw_route("GET", "/block", block, NULL) != 0 || fw_route("GET", "/slow", slow, NULL) != 0 ||
	    fw_route("GET", "/hold", hold, NULL) != 0 || fw_route("GET", "/crash", crash, NULL) != 0 ||
	    fw_route("GET", "/big", big, NULL) != 0 || fw_route("GET", "/headers", headers, NULL) != 0 ||
	    fw_route("GET", "/log", log_line, NULL) != 0 ||
	    fw_route("GET", "/write-error", write_error, NULL) != 0 ||
	    fw_route("POST", "/stale", stale, NULL) != 0 ||
	    fw_route("GET", "/stale", stale, NULL) != 0 || fw_on_worker_start(boot, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
