#include "http/hooks.h"

#include <stdbool.h>
#include <stdlib.h>

#include "http/registry.h"
#include "core/log.h"
#include "http/req.h"

/* nginx's code for a request whose client closed the connection first. */
#define CLIENT_GONE 499

/* Any function type, cast back to its own before the call. */
typedef void (*any_fn)(void);

struct hook {
	any_fn fn;
	void *arg;
};

struct hooks {
	struct hook *h;
	size_t n;
};

static struct hooks before, after, worker_drain, worker_exit;
static struct hook on_error;

static bool can_add(const char *what, any_fn fn)
{
	if (fw_registry_sealed() || fn == NULL) {
		fw_log(FW_LOG_ERROR, "%s: %s", what,
		       fn == NULL ? "no function" : "hooks must be added before fw_main()");
		return false;
	}
	return true;
}

static int hook_add(struct hooks *list, const char *what, any_fn fn, void *arg)
{
	struct hook *h;

	if (!can_add(what, fn))
		return -1;
	if ((h = realloc(list->h, (list->n + 1) * sizeof(*h))) == NULL) {
		fw_log(FW_LOG_ERROR, "%s: out of memory", what);
		return -1;
	}
	list->h = h;
	list->h[list->n].fn = fn;
	list->h[list->n].arg = arg;
	list->n++;
	return 0;
}

FW_API int fw_before(int (*fn)(fw_req *req, void *arg), void *arg)
{
	return hook_add(&before, "fw_before", (any_fn)fn, arg);
}

FW_API int fw_after(void (*fn)(fw_req *req, int status, void *arg), void *arg)
{
	return hook_add(&after, "fw_after", (any_fn)fn, arg);
}

FW_API int fw_on_worker_exit(void (*fn)(void *arg), void *arg)
{
	return hook_add(&worker_exit, "fw_on_worker_exit", (any_fn)fn, arg);
}

FW_API int fw_on_worker_drain(void (*fn)(void *arg), void *arg)
{
	return hook_add(&worker_drain, "fw_on_worker_drain", (any_fn)fn, arg);
}

FW_API int fw_on_error(int (*fn)(fw_req *req, int status, void *arg), void *arg)
{
	if (!can_add("fw_on_error", (any_fn)fn))
		return -1;
	if (on_error.fn != NULL) {
		fw_log(FW_LOG_ERROR,
		       "fw_on_error: there is one error hook, and it is registered already");
		return -1;
	}
	on_error.fn = (any_fn)fn;
	on_error.arg = arg;
	return 0;
}

int fw_hooks_before(fw_req *req)
{
	for (size_t i = 0; i < before.n; i++) {
		int (*fn)(fw_req *, void *) = (int (*)(fw_req *, void *))before.h[i].fn;
		int r = fn(req, before.h[i].arg);

		if (r == 0)
			continue;
		if (r < 200 || r > 599) {
			fw_log(FW_LOG_ERROR,
			       "%s %s: a fw_before hook returned %d, neither 0 nor an HTTP "
			       "status; answering 500",
			       req->method, req->path, r);
			return 500;
		}
		return r;
	}
	return 0;
}

int fw_hooks_error(fw_req *req, int status)
{
	int (*fn)(fw_req *, int, void *) = (int (*)(fw_req *, int, void *))on_error.fn;
	int r;

	if (fn == NULL)
		return status;
	r = fn(req, status, on_error.arg);
	if (r < 200 || r > 599) {
		fw_log(FW_LOG_ERROR,
		       "%s %s: the fw_on_error hook returned %d for %d, not an HTTP "
		       "status; sending %d",
		       req->method, req->path, r, status, status);
		return status;
	}
	return r;
}

void fw_hooks_after(fw_req *req, int status)
{
	if (req->after_done)
		return;
	req->after_done = true;
	for (size_t i = 0; i < after.n; i++) {
		void (*fn)(fw_req *, int, void *) = (void (*)(fw_req *, int, void *))after.h[i].fn;

		fn(req, status, after.h[i].arg);
	}
}

void fw_hooks_request_end(fw_req *req)
{
	/* Deferred and then left: nothing was sent (a 504 stand-in ran them already). */
	if (req->state == FW_REQ_DEFERRED || req->state == FW_REQ_ORPHANED ||
	    req->state == FW_REQ_CANCELLED)
		fw_hooks_after(req, CLIENT_GONE);
}

static void run_void_hooks(const struct hooks *list)
{
	for (size_t i = 0; i < list->n; i++) {
		void (*fn)(void *) = (void (*)(void *))list->h[i].fn;

		fn(list->h[i].arg);
	}
}

void fw_hooks_worker_drain(void)
{
	run_void_hooks(&worker_drain);
}

void fw_hooks_worker_exit(void)
{
	run_void_hooks(&worker_exit);
}
