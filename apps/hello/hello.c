/*
 * hello: the smallest fw application, plus the features a new user looks
 * for next: route parameters, the query string, and a deferred (async)
 * response driven by a libevent timer.
 */
#include <event2/event.h>
#include <fw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int hello(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "text/plain");
	fw_write(req, "hello\n", 6);
	return 200;
}

/* GET /hello/:name */
static int hello_name(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "text/plain; charset=utf-8");
	fw_printf(req, "hello, %s\n", fw_param(req, "name"));
	return 200;
}

/* GET /greet?name=...  (percent-decoded by fw_query) */
static int greet(fw_req *req, void *arg)
{
	const char *name = fw_query(req, "name");

	(void)arg;
	if (name == NULL || name[0] == '\0')
		return 400;
	fw_set_header(req, "Content-Type", "text/plain; charset=utf-8");
	fw_printf(req, "hello, %s\n", name);
	return 200;
}

/*
 * GET /slow?ms=N: answers after N milliseconds without blocking the
 * worker. The timer lives in request memory (fw_alloc), so there is
 * nothing to free; the cancel callback only has to stop it.
 */
struct slow {
	struct event *timer;
	fw_req *req;
	long ms;
};

static unsigned long slow_completed, slow_cancelled;

static void slow_done(evutil_socket_t fd, short what, void *arg)
{
	struct slow *s = arg;

	(void)fd;
	(void)what;
	event_free(s->timer);
	slow_completed++;
	fw_set_header(s->req, "Content-Type", "text/plain");
	fw_printf(s->req, "slept %ld ms\n", s->ms);
	fw_finish(s->req, 200);
}

static void slow_cancel(fw_req *req, void *arg)
{
	struct slow *s = arg;

	(void)req;
	event_free(s->timer);
	slow_cancelled++;
}

static int slow(fw_req *req, void *arg)
{
	const char *q = fw_query(req, "ms");
	long ms = q != NULL ? strtol(q, NULL, 10) : 100;
	struct slow *s = fw_alloc(req, sizeof(*s));
	struct timeval tv;

	(void)arg;
	if (ms < 0 || ms > 60000)
		return 400;
	if (s == NULL)
		return 500;
	s->req = req;
	s->ms = ms;
	s->timer = evtimer_new(fw_event_base(), slow_done, s);
	if (s->timer == NULL)
		return 500;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
	fw_on_cancel(req, slow_cancel, s);
	return FW_ASYNC;
}

/* GET /slow/stats: what this worker's deferred requests came to. */
static int slow_stats(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "application/json");
	fw_printf(req, "{\"pid\": %ld, \"completed\": %lu, \"cancelled\": %lu}\n", (long)getpid(),
		  slow_completed, slow_cancelled);
	return 200;
}

int main(int argc, char **argv)
{
	if (fw_route("GET", "/hello", hello, NULL) != 0 ||
	    fw_route("GET", "/hello/:name", hello_name, NULL) != 0 ||
	    fw_route("GET", "/greet", greet, NULL) != 0 || fw_route("GET", "/slow", slow, NULL) != 0 ||
	    fw_route("GET", "/slow/stats", slow_stats, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
