/*
 * reqapp: every function of the request side behind a route, for
 * tests/e2e/test_request.py (served on hello.sock, so nginx's "/" reaches
 * it). Answers are JSON where a test reads them back.
 */
#include <event2/event.h>
#include <fcntl.h>
#include <fw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long after_calls;
static int last_status;
static char last_path[256];

static const char *q(fw_req *req, const char *name, const char *def)
{
	const char *v = fw_query(req, name);

	return v != NULL ? v : def;
}

/* GET /q: every query pair, repeats included. */
static int query_all(fw_req *req, void *arg)
{
	const char *n, *v;
	fw_json j;

	(void)arg;
	fw_json_init_response(&j, req);
	fw_json_array(&j);
	for (size_t i = 0; fw_query_at(req, i, &n, &v) == 0; i++) {
		fw_json_array(&j);
		fw_json_str(&j, n);
		fw_json_str(&j, v);
		fw_json_close(&j);
	}
	fw_json_close(&j);
	return fw_json_end(&j) == 0 && fw_query_count(req) <= 1000 ? 200 : 500;
}

static unsigned long long fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned long long h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* POST /form: the fields and files fw found. */
static int form(fw_req *req, void *arg)
{
	const char *n, *v;
	const fw_upload *f;
	fw_json j;
	int st;

	(void)arg;
	if ((st = fw_form_parse(req)) != 0)
		return st;
	fw_json_init_response(&j, req);
	fw_json_object(&j);
	fw_json_key(&j, "first_a");
	fw_json_str(&j, fw_form(req, "a"));
	fw_json_key(&j, "fields");
	fw_json_array(&j);
	for (size_t i = 0; fw_form_at(req, i, &n, &v) == 0; i++) {
		fw_json_array(&j);
		fw_json_str(&j, n);
		fw_json_str(&j, v);
		fw_json_close(&j);
	}
	fw_json_close(&j);
	fw_json_key(&j, "files");
	fw_json_array(&j);
	for (size_t i = 0; i < fw_form_file_count(req); i++) {
		f = fw_form_file_at(req, i);
		fw_json_object(&j);
		fw_json_key(&j, "name");
		fw_json_str(&j, f->name);
		fw_json_key(&j, "filename");
		fw_json_str(&j, f->filename);
		fw_json_key(&j, "type");
		fw_json_str(&j, f->content_type);
		fw_json_key(&j, "len");
		fw_json_uint(&j, f->len);
		fw_json_key(&j, "fnv");
		fw_json_uint(&j, fnv(f->data, f->len));
		fw_json_close(&j);
	}
	fw_json_close(&j);
	fw_json_key(&j, "file_named_f");
	fw_json_bool(&j, fw_form_file(req, "f") != NULL);
	fw_json_close(&j);
	return fw_json_end(&j) == 0 ? 200 : 500;
}

static int cookie(fw_req *req, void *arg)
{
	fw_json j;

	(void)arg;
	fw_json_init_response(&j, req);
	fw_json_str(&j, fw_cookie(req, q(req, "name", "")));
	return 200;
}

static enum fw_cookie_flag flag(const char *v)
{
	return v == NULL ? FW_COOKIE_DEFAULT : strcmp(v, "on") == 0 ? FW_COOKIE_ON : FW_COOKIE_OFF;
}

/* GET /setcookie?name=&value=&...: fw_set_cookie with the options given. */
static int set_cookie(fw_req *req, void *arg)
{
	static const char *const ss[] = {"", "lax", "strict", "none", "omit"};
	fw_cookie_opts o = {0};
	const char *s = fw_query(req, "samesite");

	(void)arg;
	o.max_age = atoll(q(req, "max_age", "0"));
	o.expires = atoll(q(req, "expires", "0"));
	o.domain = fw_query(req, "domain");
	o.path = fw_query(req, "path");
	o.secure = flag(fw_query(req, "secure"));
	o.http_only = flag(fw_query(req, "httponly"));
	for (int i = 0; s != NULL && i < 5; i++)
		if (strcmp(s, ss[i]) == 0)
			o.same_site = (enum fw_same_site)i;
	if (fw_set_cookie(req, q(req, "name", ""), q(req, "value", ""),
			  fw_query(req, "defaults") ? NULL : &o) != 0)
		return fw_error(req, 400, "cookie refused");
	fw_write(req, "set\n", 4);
	return 200;
}

static int html(fw_req *req, void *arg)
{
	const char *s = q(req, "s", "");

	(void)arg;
	fw_set_header(req, "Content-Type", "text/html; charset=utf-8");
	fw_write_html(req, s, strlen(s));
	return 200;
}

static int redirect(fw_req *req, void *arg)
{
	(void)arg;
	return fw_redirect(req, atoi(q(req, "status", "303")), q(req, "to", ""));
}

/* POST /json: the body parsed, written back, and one field. */
static int json_echo(fw_req *req, void *arg)
{
	json_t *in;
	fw_json j;
	int st;

	(void)arg;
	if ((st = fw_json_body(req, &in)) != 0)
		return st;
	fw_json_init_response(&j, req);
	fw_json_object(&j);
	fw_json_key(&j, "got");
	fw_json_value(&j, in);
	fw_json_key(&j, "pi");
	fw_json_double(&j, 3.25);
	fw_json_close(&j);
	return fw_json_end(&j) == 0 ? 200 : 500;
}

static int setting(fw_req *req, void *arg)
{
	fw_json j;

	(void)arg;
	fw_json_init_response(&j, req);
	fw_json_str(&j, fw_setting(q(req, "name", "")));
	return 200;
}

/* GET /fail?code=N&msg=...: an error status with an empty body; msg through fw_error. */
static int fail(fw_req *req, void *arg)
{
	int code = atoi(q(req, "code", "500"));

	(void)arg;
	fw_set_header(req, "Content-Type", "application/json");
	if (fw_query(req, "msg") != NULL)
		return fw_error(req, code, "%s", fw_query(req, "msg"));
	return code;
}

static int notype(fw_req *req, void *arg)
{
	(void)arg;
	fw_write(req, "no type set\n", 12);
	return 200;
}

static int item(fw_req *req, void *arg)
{
	(void)arg;
	fw_printf(req, "item %s\n", fw_param(req, "id"));
	return 200;
}

static int catch_all(fw_req *req, void *arg)
{
	(void)arg;
	fw_printf(req, "catch-all %s %s\n", fw_method(req), fw_param(req, "*"));
	return 200;
}

/* GET /data: what the before hook stored. */
static int data(fw_req *req, void *arg)
{
	const char *seen = fw_data(req, "seen");

	(void)arg;
	fw_printf(req, "seen=%s\n", seen != NULL ? seen : "(none)");
	return 200;
}

static int after_info(fw_req *req, void *arg)
{
	fw_json j;

	(void)arg;
	fw_json_init_response(&j, req);
	fw_json_object(&j);
	fw_json_key(&j, "calls");
	fw_json_uint(&j, after_calls);
	fw_json_key(&j, "last_status");
	fw_json_int(&j, last_status);
	fw_json_key(&j, "last_path");
	fw_json_str(&j, last_path);
	fw_json_key(&j, "pid");
	fw_json_int(&j, getpid());
	fw_json_close(&j);
	return 200;
}

struct later {
	struct event *ev;
	fw_req *req;
	int status;
};

static void later_done(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;

	(void)fd;
	(void)what;
	event_free(l->ev);
	fw_finish(l->req, l->status);
}

static void later_cancel(fw_req *req, void *arg)
{
	(void)req;
	event_free(((struct later *)arg)->ev);
}

/* GET /later?ms=&status=: answered from a timer (deferred). */
static int later(fw_req *req, void *arg)
{
	struct later *l = fw_alloc(req, sizeof(*l));
	long ms = atol(q(req, "ms", "10"));
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	(void)arg;
	if (l == NULL || (l->ev = evtimer_new(fw_event_base(), later_done, l)) == NULL)
		return 500;
	l->req = req;
	l->status = atoi(q(req, "status", "200"));
	evtimer_add(l->ev, &tv);
	fw_on_cancel(req, later_cancel, l);
	return FW_ASYNC;
}

/* ---- hooks ---- */

static int before(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_data(req, "seen", "yes");
	if (fw_query(req, "deny") != NULL)
		return fw_error(req, 403, "denied by the before hook");
	if (fw_query(req, "go_login") != NULL)
		return fw_redirect(req, 303, "/login");
	return 0;
}

static void after(fw_req *req, int status, void *arg)
{
	(void)arg;
	after_calls++;
	last_status = status;
	snprintf(last_path, sizeof(last_path), "%s", fw_path(req) ? fw_path(req) : "");
}

static int on_error(fw_req *req, int status, void *arg)
{
	const char *msg = fw_error_message(req);
	fw_json j;

	(void)arg;
	if (fw_query(req, "plain") != NULL)
		return status; /* writes nothing: fw's text body */
	fw_set_header(req, "Content-Type", "application/problem+json");
	fw_json_init(&j, fw_response_body(req));
	fw_json_object(&j);
	fw_json_key(&j, "status");
	fw_json_int(&j, status);
	fw_json_key(&j, "error");
	fw_json_str(&j, msg);
	fw_json_key(&j, "path");
	fw_json_str(&j, fw_path(req));
	fw_json_close(&j);
	return status == 418 ? 503 : status; /* the hook may change the status */
}

/* A line to the file of setting exit_file: what the worker hooks ran, in order. */
static void hook_note(const char *what)
{
	const char *file = fw_setting("exit_file");
	char line[64];
	int fd, n;

	if (file == NULL || (fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %ld after %lu\n", what, (long)getpid(), after_calls);
	if (write(fd, line, (size_t)n) != n)
		fw_log(FW_LOG_WARN, "reqapp: short write to %s", file);
	close(fd);
}

static void on_drain_hook(void *arg)
{
	(void)arg;
	hook_note("drain");
}

static void on_exit_hook(void *arg)
{
	(void)arg;
	hook_note("exit");
}

int main(int argc, char **argv)
{
	fw_route("GET", "/q", query_all, NULL);
	fw_route("POST", "/form", form, NULL);
	fw_route("GET", "/cookie", cookie, NULL);
	fw_route("GET", "/setcookie", set_cookie, NULL);
	fw_route("GET", "/html", html, NULL);
	fw_route("GET", "/redirect", redirect, NULL);
	fw_route("POST", "/json", json_echo, NULL);
	fw_route("GET", "/setting", setting, NULL);
	fw_route("GET", "/fail", fail, NULL);
	fw_route("GET", "/notype", notype, NULL);
	fw_route("GET", "/items/:id", item, NULL);
	fw_route("*", "/*", catch_all, NULL);
	fw_route("GET", "/data", data, NULL);
	fw_route("GET", "/after", after_info, NULL);
	fw_route("GET", "/later", later, NULL);
	fw_before(before, NULL);
	fw_after(after, NULL);
	fw_on_error(on_error, NULL);
	fw_on_worker_drain(on_drain_hook, NULL);
	fw_on_worker_exit(on_exit_hook, NULL);
	return fw_main(argc, argv);
}
