/* http/router.c: method + pattern -> handler. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/router.h"

/* Routes are told apart by their arg: a label string. */
static int handler(fw_req *req, void *arg)
{
	(void)req;
	(void)arg;
	return 200;
}

static int other_handler(fw_req *req, void *arg)
{
	(void)req;
	(void)arg;
	return 201;
}

static bool add_ok(struct fw_router *r, const char *method, const char *pattern, int line)
{
	char err[256] = "";
	int rc = fw_router_add(r, method, pattern, handler, (void *)pattern, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "  %s %s: %s\n", method, pattern, err);
	return check_eq_int(__FILE__, line, rc, 0, pattern, "0");
}

/* Add with a label other than the pattern (same pattern, other methods). */
static bool add_label(struct fw_router *r, const char *method, const char *pattern, const char *label,
		      int line)
{
	char err[256] = "";
	int rc = fw_router_add(r, method, pattern, other_handler, (void *)label, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "  %s %s: %s\n", method, pattern, err);
	return check_eq_int(__FILE__, line, rc, 0, pattern, "0");
}

/* The add must fail with a message containing `why`. */
static bool add_fails(struct fw_router *r, const char *method, const char *pattern, const char *why,
		      int line)
{
	char err[256] = "";
	size_t before = r->routes;
	int rc = fw_router_add(r, method, pattern, handler, (void *)pattern, err, sizeof(err));

	if (!check_eq_int(__FILE__, line, rc, -1, pattern ? pattern : "(null)", "-1"))
		return false;
	if (strstr(err, why) == NULL)
		return check_fail(__FILE__, line, "%s %s: message \"%s\" does not say \"%s\"",
				  method ? method : "(null)", pattern ? pattern : "(null)", err, why);
	return check_eq_uint(__FILE__, line, r->routes, before, "routes", "routes before");
}

#define ADD(r, m, p) add_ok(r, m, p, __LINE__)
#define ADD_LABEL(r, m, p, l) add_label(r, m, p, l, __LINE__)
#define ADD_FAILS(r, m, p, why) add_fails(r, m, p, why, __LINE__)

/* A param's value as a string ("" for an empty one), or NULL. */
static const char *param(const struct fw_route_match *m, const char *name)
{
	static char bufs[4][256];
	static int next;

	for (size_t i = 0; i < m->nparams; i++) {
		if (strcmp(m->params[i].name, name) == 0) {
			char *b = bufs[next++ % 4];

			snprintf(b, sizeof(bufs[0]), "%.*s", (int)m->params[i].len, m->params[i].value);
			return b;
		}
	}
	return NULL;
}

/* Expect 200 with the route labelled `label`. */
static bool matches(const struct fw_router *r, const char *method, const char *path, const char *label,
		    struct fw_route_match *m, int line)
{
	int code = fw_router_match(r, method, path, m);

	if (!check_eq_int(__FILE__, line, code, 200, path, "200"))
		return false;
	check_true(__FILE__, line, m->fn != NULL, "handler set");
	return check_eq_str(__FILE__, line, (const char *)m->arg, label, "matched route", label);
}

static bool no_match(const struct fw_router *r, const char *method, const char *path, int want,
		     const char *allow, int line)
{
	struct fw_route_match m;
	int code = fw_router_match(r, method, path, &m);

	if (!check_eq_int(__FILE__, line, code, want, path, "expected status"))
		return false;
	check_eq_uint(__FILE__, line, m.nparams, 0, "nparams", "0");
	return allow == NULL || check_eq_str(__FILE__, line, m.allow, allow, "Allow", allow);
}

#define MATCHES(r, me, p, label, m) matches(r, me, p, label, m, __LINE__)
#define NOT_FOUND(r, me, p) no_match(r, me, p, 404, "", __LINE__)
#define NOT_ALLOWED(r, me, p, allow) no_match(r, me, p, 405, allow, __LINE__)
#define BAD_PATH(r, me, p) no_match(r, me, p, 400, NULL, __LINE__)

static void test_empty_router(void)
{
	struct fw_router r = {0};

	NOT_FOUND(&r, "GET", "/");
	NOT_FOUND(&r, "GET", "/x");
	fw_router_finish(&r);
}

static void test_exact(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	ADD(&r, "GET", "/");
	ADD(&r, "GET", "/users");
	ADD(&r, "GET", "/users/new");
	ADD(&r, "GET", "/a.b-c~d");
	CHECK_EQ_UINT(r.routes, 4);
	MATCHES(&r, "GET", "/", "/", &m);
	CHECK_EQ_UINT(m.nparams, 0);
	MATCHES(&r, "GET", "", "/", &m);
	MATCHES(&r, "GET", "/users", "/users", &m);
	MATCHES(&r, "GET", "/users/new", "/users/new", &m);
	MATCHES(&r, "GET", "/a.b-c~d", "/a.b-c~d", &m);
	NOT_FOUND(&r, "GET", "/users/x");
	NOT_FOUND(&r, "GET", "/user");
	NOT_FOUND(&r, "GET", "/usersx");
	NOT_FOUND(&r, "GET", "/users/new/x");
	NOT_FOUND(&r, "GET", "/users/");
	NOT_FOUND(&r, "GET", "users");
	NOT_FOUND(&r, "GET", "/Users");
	NOT_FOUND(&r, "GET", "//users");
	/* The root answers other methods with 405. */
	NOT_ALLOWED(&r, "POST", "/", "GET, HEAD");
	fw_router_finish(&r);
}

static void test_params(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;
	const char *path = "/users/42";

	ADD(&r, "GET", "/users/:id");
	ADD(&r, "GET", "/a/:x/b/:y");
	ADD(&r, "GET", "/:first");
	if (MATCHES(&r, "GET", path, "/users/:id", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(m.params[0].name, "id");
		CHECK_EQ_UINT(m.params[0].len, 2);
		/* The value points into the path; it is not copied or decoded. */
		CHECK(m.params[0].value == path + 7);
	}
	if (MATCHES(&r, "GET", "/users/%41%20b", "/users/:id", &m))
		CHECK_EQ_STR(param(&m, "id"), "%41%20b");
	if (MATCHES(&r, "GET", "/a/1/b/two", "/a/:x/b/:y", &m)) {
		CHECK_EQ_UINT(m.nparams, 2);
		CHECK_EQ_STR(m.params[0].name, "x");
		CHECK_EQ_STR(param(&m, "x"), "1");
		CHECK_EQ_STR(m.params[1].name, "y");
		CHECK_EQ_STR(param(&m, "y"), "two");
	}
	if (MATCHES(&r, "GET", "/solo", "/:first", &m))
		CHECK_EQ_STR(param(&m, "first"), "solo");
	/* A parameter never matches an empty segment. */
	NOT_FOUND(&r, "GET", "/users/");
	NOT_FOUND(&r, "GET", "/users//");
	NOT_FOUND(&r, "GET", "/a//b/1");
	NOT_FOUND(&r, "GET", "/users/42/x");
	NOT_FOUND(&r, "GET", "/a/1/b");
	fw_router_finish(&r);
}

/*
 * A "." or ".." segment (also with %2e) is never routed: no parameter or
 * star tail takes it, and a literal or the root cannot be reached through
 * it. 400, not 404: the path is malformed whatever the routes are.
 */
static void test_dot_segments(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	ADD(&r, "GET", "/");
	ADD(&r, "GET", "/admin");
	ADD(&r, "GET", "/users/:id");
	ADD(&r, "GET", "/users/:id/posts");
	ADD(&r, "GET", "/static/*");
	BAD_PATH(&r, "GET", "/users/..");
	BAD_PATH(&r, "GET", "/users/.");
	BAD_PATH(&r, "GET", "/users/.%2e");
	BAD_PATH(&r, "GET", "/users/%2E%2e");
	BAD_PATH(&r, "GET", "/users/%2e");
	BAD_PATH(&r, "GET", "/users/../admin");
	BAD_PATH(&r, "GET", "/users/x/../../admin");
	BAD_PATH(&r, "GET", "/users/../posts");
	BAD_PATH(&r, "GET", "/users/./posts");
	BAD_PATH(&r, "GET", "/static/../admin");
	BAD_PATH(&r, "GET", "/static/a/./b");
	BAD_PATH(&r, "GET", "/static/..");
	BAD_PATH(&r, "GET", "/..");
	BAD_PATH(&r, "POST", "/users/..");
	/* Dots that are not a whole segment are data. */
	if (MATCHES(&r, "GET", "/users/...", "/users/:id", &m))
		CHECK_EQ_STR(param(&m, "id"), "...");
	if (MATCHES(&r, "GET", "/users/..x", "/users/:id", &m))
		CHECK_EQ_STR(param(&m, "id"), "..x");
	if (MATCHES(&r, "GET", "/static/a..b/.c", "/static/*", &m))
		CHECK_EQ_STR(param(&m, "*"), "a..b/.c");
	fw_router_finish(&r);
}

static void test_star(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	ADD(&r, "GET", "/static/*");
	ADD(&r, "GET", "/files/:dir/*");
	if (MATCHES(&r, "GET", "/static/css/app.css", "/static/*", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(m.params[0].name, "*");
		CHECK_EQ_STR(param(&m, "*"), "css/app.css");
	}
	if (MATCHES(&r, "GET", "/static/a", "/static/*", &m))
		CHECK_EQ_STR(param(&m, "*"), "a");
	/* The tail may be empty: "/static/" and "/static" both match. */
	if (MATCHES(&r, "GET", "/static/", "/static/*", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(param(&m, "*"), "");
	}
	if (MATCHES(&r, "GET", "/static", "/static/*", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(param(&m, "*"), "");
	}
	if (MATCHES(&r, "GET", "/static//x/", "/static/*", &m))
		CHECK_EQ_STR(param(&m, "*"), "/x/");
	NOT_FOUND(&r, "GET", "/staticx");
	NOT_FOUND(&r, "GET", "/stat");
	if (MATCHES(&r, "GET", "/files/docs/a/b.txt", "/files/:dir/*", &m)) {
		CHECK_EQ_UINT(m.nparams, 2);
		CHECK_EQ_STR(param(&m, "dir"), "docs");
		CHECK_EQ_STR(param(&m, "*"), "a/b.txt");
	}
	if (MATCHES(&r, "GET", "/files/docs", "/files/:dir/*", &m))
		CHECK_EQ_STR(param(&m, "*"), "");
	fw_router_finish(&r);

	/* A star at the root catches everything, "/" included. */
	ADD(&r, "GET", "/*");
	if (MATCHES(&r, "GET", "/", "/*", &m))
		CHECK_EQ_STR(param(&m, "*"), "");
	if (MATCHES(&r, "GET", "/any/deep/path", "/*", &m))
		CHECK_EQ_STR(param(&m, "*"), "any/deep/path");
	fw_router_finish(&r);
}

static void test_priority(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	/* Registered in the reverse of their priority. */
	ADD(&r, "GET", "/p/*");
	ADD(&r, "GET", "/p/:x");
	ADD(&r, "GET", "/p/lit");
	MATCHES(&r, "GET", "/p/lit", "/p/lit", &m);
	CHECK_EQ_UINT(m.nparams, 0);
	if (MATCHES(&r, "GET", "/p/other", "/p/:x", &m))
		CHECK_EQ_STR(param(&m, "x"), "other");
	if (MATCHES(&r, "GET", "/p/lit/more", "/p/*", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(param(&m, "*"), "lit/more");
	}
	MATCHES(&r, "GET", "/p", "/p/*", &m);
	fw_router_finish(&r);

	/* Backtracking out of a literal branch into a parameter. */
	ADD(&r, "GET", "/a/b/c");
	ADD(&r, "GET", "/a/:x/d");
	if (MATCHES(&r, "GET", "/a/b/d", "/a/:x/d", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(param(&m, "x"), "b");
	}
	MATCHES(&r, "GET", "/a/b/c", "/a/b/c", &m);
	CHECK_EQ_UINT(m.nparams, 0);
	if (MATCHES(&r, "GET", "/a/z/d", "/a/:x/d", &m))
		CHECK_EQ_STR(param(&m, "x"), "z");
	NOT_FOUND(&r, "GET", "/a/b/e");
	fw_router_finish(&r);

	/* Out of a parameter branch into another one higher up; stale params are dropped. */
	ADD(&r, "GET", "/a/:x/c");
	ADD(&r, "GET", "/:y/b/d");
	if (MATCHES(&r, "GET", "/a/b/d", "/:y/b/d", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(m.params[0].name, "y");
		CHECK_EQ_STR(param(&m, "y"), "a");
	}
	fw_router_finish(&r);

	/* Out of literal and parameter branches into a star. */
	ADD(&r, "GET", "/a/b/c");
	ADD(&r, "GET", "/a/:x/c");
	ADD(&r, "GET", "/a/*");
	ADD(&r, "GET", "/*");
	if (MATCHES(&r, "GET", "/a/b/x", "/a/*", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(param(&m, "*"), "b/x");
	}
	if (MATCHES(&r, "GET", "/b/b/c", "/*", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(param(&m, "*"), "b/b/c");
	}
	fw_router_finish(&r);

	/*
	 * The most specific pattern that matches the path decides: a branch
	 * that matches the path but not the method answers 405, it does not
	 * give way to a parameter or a star that would take the method.
	 */
	ADD(&r, "GET", "/m/b");
	ADD_LABEL(&r, "POST", "/m/:x", "post-param");
	ADD_LABEL(&r, "DELETE", "/m/*", "delete-star");
	NOT_ALLOWED(&r, "POST", "/m/b", "GET, HEAD");
	NOT_ALLOWED(&r, "DELETE", "/m/b", "GET, HEAD");
	if (MATCHES(&r, "POST", "/m/c", "post-param", &m))
		CHECK_EQ_STR(param(&m, "x"), "c");
	NOT_ALLOWED(&r, "DELETE", "/m/c", "POST");
	if (MATCHES(&r, "DELETE", "/m/c/d", "delete-star", &m)) {
		CHECK_EQ_UINT(m.nparams, 1);
		CHECK_EQ_STR(param(&m, "*"), "c/d");
	}
	MATCHES(&r, "GET", "/m/b", "/m/b", &m);
	CHECK_EQ_UINT(m.nparams, 0);
	fw_router_finish(&r);

	/*
	 * A catch-all for every method (a custom 404 page, say) takes only
	 * paths no other pattern matches: the automatic 405 keeps working.
	 */
	ADD(&r, "GET", "/items/:id");
	ADD_LABEL(&r, "*", "/*", "catch-all");
	NOT_ALLOWED(&r, "PUT", "/items/42", "GET, HEAD");
	if (MATCHES(&r, "PUT", "/items/42/x", "catch-all", &m))
		CHECK_EQ_STR(param(&m, "*"), "items/42/x");
	MATCHES(&r, "GET", "/nothing", "catch-all", &m);
	MATCHES(&r, "HEAD", "/items/1", "/items/:id", &m);
	fw_router_finish(&r);
}

static void test_405(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	ADD(&r, "GET", "/items");
	ADD_LABEL(&r, "POST", "/items", "post-items");
	NOT_ALLOWED(&r, "DELETE", "/items", "GET, HEAD, POST");
	NOT_ALLOWED(&r, "get", "/items", "GET, HEAD, POST"); /* methods are case-sensitive */
	NOT_FOUND(&r, "DELETE", "/other");
	MATCHES(&r, "POST", "/items", "post-items", &m);
	fw_router_finish(&r);

	/* The methods of the deciding (most specific) pattern only, without duplicates. */
	ADD(&r, "GET", "/u/me");
	ADD(&r, "PUT", "/u/:id");
	ADD(&r, "GET", "/u/:id");
	ADD(&r, "DELETE", "/u/*");
	ADD(&r, "PUT", "/u/*");
	NOT_ALLOWED(&r, "PATCH", "/u/me", "GET, HEAD");
	NOT_ALLOWED(&r, "PATCH", "/u/other", "PUT, GET, HEAD");
	NOT_ALLOWED(&r, "PATCH", "/u/a/b", "DELETE, PUT");
	fw_router_finish(&r);

	/* Method names that contain one another are still listed. */
	ADD(&r, "PROPFIND", "/dav");
	ADD(&r, "FIND", "/dav");
	ADD(&r, "GETX", "/dav");
	ADD(&r, "ET", "/dav");
	NOT_ALLOWED(&r, "GET", "/dav", "PROPFIND, FIND, GETX, ET");
	fw_router_finish(&r);

	/* An explicit HEAD route is not listed twice. */
	ADD(&r, "HEAD", "/h");
	ADD(&r, "GET", "/h");
	NOT_ALLOWED(&r, "POST", "/h", "HEAD, GET");
	fw_router_finish(&r);

	/* More methods than Allow can hold: whole names only, never past the buffer. */
	{
		char full[4096] = "", method[40];
		size_t len;

		for (int i = 0; i < 40; i++) {
			snprintf(method, sizeof(method), "METHOD%02d_6789012345678901234567", i);
			ADD(&r, method, "/many");
			snprintf(full + strlen(full), sizeof(full) - strlen(full), "%s%s", i ? ", " : "",
				 method);
		}
		if (CHECK_EQ_INT(fw_router_match(&r, "GET", "/many", &m), 405)) {
			len = strlen(m.allow);
			CHECK(len < sizeof(m.allow));
			CHECK(len > 900);
			CHECK(strncmp(m.allow, full, len) == 0);
			CHECK(full[len] == ',');
		}
		fw_router_finish(&r);
	}
}

/* Methods are tokens of at most 32 characters, so Allow always holds one. */
static void test_method_length(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;
	char err[256];

	CHECK_EQ_INT(fw_router_add(&r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "/x", handler, NULL, err,
				   sizeof(err)),
		     0);
	CHECK_EQ_INT(fw_router_add(&r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", "/x", handler, NULL, err,
				   sizeof(err)),
		     -1);
	CHECK_EQ_STR(err, "method longer than 32 characters");
	CHECK_EQ_INT(fw_router_match(&r, "GET", "/x", &m), 405);
	CHECK_EQ_STR(m.allow, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345");
	fw_router_finish(&r);
}

static void test_head(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	ADD(&r, "GET", "/g");
	MATCHES(&r, "HEAD", "/g", "/g", &m);

	/* An explicit HEAD route wins, whatever the order of registration. */
	ADD_LABEL(&r, "GET", "/h1", "get-h1");
	ADD_LABEL(&r, "HEAD", "/h1", "head-h1");
	ADD_LABEL(&r, "HEAD", "/h2", "head-h2");
	ADD_LABEL(&r, "GET", "/h2", "get-h2");
	MATCHES(&r, "HEAD", "/h1", "head-h1", &m);
	MATCHES(&r, "GET", "/h1", "get-h1", &m);
	MATCHES(&r, "HEAD", "/h2", "head-h2", &m);
	MATCHES(&r, "GET", "/h2", "get-h2", &m);

	/* HEAD is not served by other methods. */
	ADD(&r, "POST", "/p");
	NOT_ALLOWED(&r, "HEAD", "/p", "POST");
	/* A HEAD-only route does not serve GET. */
	ADD(&r, "HEAD", "/only-head");
	NOT_ALLOWED(&r, "GET", "/only-head", "HEAD");
	fw_router_finish(&r);
}

static void test_any_method(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	ADD(&r, "*", "/any");
	MATCHES(&r, "GET", "/any", "/any", &m);
	MATCHES(&r, "HEAD", "/any", "/any", &m);
	MATCHES(&r, "PURGE", "/any", "/any", &m);
	NOT_FOUND(&r, "GET", "/any/x");

	/* A specific route beats "*"; HEAD goes to GET before "*". */
	ADD_LABEL(&r, "GET", "/mixed", "get-mixed");
	ADD_LABEL(&r, "*", "/mixed", "any-mixed");
	MATCHES(&r, "GET", "/mixed", "get-mixed", &m);
	MATCHES(&r, "HEAD", "/mixed", "get-mixed", &m);
	MATCHES(&r, "POST", "/mixed", "any-mixed", &m);

	ADD(&r, "*", "/wild/*");
	if (MATCHES(&r, "DELETE", "/wild/a/b", "/wild/*", &m))
		CHECK_EQ_STR(param(&m, "*"), "a/b");
	ADD_FAILS(&r, "*", "/any", "duplicate route");
	fw_router_finish(&r);
}

static void test_bad_patterns(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;
	char many[512], err[256];

	ADD(&r, "GET", "/keep");
	ADD_FAILS(&r, "GET", "", "must start with '/'");
	ADD_FAILS(&r, "GET", "users", "must start with '/'");
	ADD_FAILS(&r, "GET", "*", "must start with '/'");
	ADD_FAILS(&r, "GET", NULL, "must start with '/'");
	ADD_FAILS(&r, "GET", "//", "empty path segment");
	ADD_FAILS(&r, "GET", "/a//b", "empty path segment");
	ADD_FAILS(&r, "GET", "/a/", "empty path segment");
	ADD_FAILS(&r, "GET", "/*/a", "'*' must be the last segment");
	ADD_FAILS(&r, "GET", "/a/*/b", "'*' must be the last segment");
	ADD_FAILS(&r, "GET", "/a*b", "not allowed in a literal segment");
	ADD_FAILS(&r, "GET", "/a/b*", "not allowed in a literal segment");
	ADD_FAILS(&r, "GET", "/a/**", "not allowed in a literal segment");
	ADD_FAILS(&r, "GET", "/a/..", "'..' segment");
	ADD_FAILS(&r, "GET", "/./a", "'..' segment");
	ADD_FAILS(&r, "GET", "/a/%2e%2e/b", "'..' segment");
	ADD_FAILS(&r, "GET", "/a?b", "not allowed in a literal segment");
	ADD_FAILS(&r, "GET", "/a#b", "not allowed in a literal segment");
	ADD_FAILS(&r, "GET", "/a b", "not allowed in a literal segment");
	ADD_FAILS(&r, "GET", "/:", "parameter name");
	ADD_FAILS(&r, "GET", "/a/:", "parameter name");
	ADD_FAILS(&r, "GET", "/:/a", "parameter name");
	ADD_FAILS(&r, "GET", "/:a-b", "parameter name");
	ADD_FAILS(&r, "GET", "/:a.b", "parameter name");
	ADD_FAILS(&r, "GET", "/:a:b", "parameter name");
	ADD_FAILS(&r, "GET", "/:*", "parameter name");
	ADD_FAILS(&r, "GET", "/:x/:x", "used twice");
	ADD_FAILS(&r, "GET", "/:x/a/:x/*", "used twice");
	ADD_FAILS(&r, "", "/m", "bad method");
	ADD_FAILS(&r, "GE T", "/m", "bad method");
	ADD_FAILS(&r, "GET\r\n", "/m", "bad method");
	ADD_FAILS(&r, NULL, "/m", "bad method");
	ADD_FAILS(&r, "G(T", "/m", "bad method");
	CHECK_EQ_INT(fw_router_add(&r, "GET", "/nofn", NULL, NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "no handler") != NULL);

	/* 16 parameters are allowed, 17 are not. */
	many[0] = '\0';
	for (int i = 0; i < 16; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "/:p%d", i);
	if (ADD(&r, "GET", many)) {
		const char *path = "/0/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15";

		if (MATCHES(&r, "GET", path, many, &m)) {
			CHECK_EQ_UINT(m.nparams, 16);
			CHECK_EQ_STR(m.params[0].name, "p0");
			CHECK_EQ_STR(param(&m, "p0"), "0");
			CHECK_EQ_STR(m.params[15].name, "p15");
			CHECK_EQ_STR(param(&m, "p15"), "15");
		}
	}
	/* 16 parameters and the star: 17 entries. */
	snprintf(many + strlen(many), sizeof(many) - strlen(many), "/*");
	if (ADD(&r, "GET", many)) {
		if (MATCHES(&r, "GET", "/0/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/x/y", many, &m)) {
			CHECK_EQ_UINT(m.nparams, 17);
			CHECK_EQ_STR(m.params[16].name, "*");
			CHECK_EQ_STR(param(&m, "*"), "x/y");
		}
	}
	many[0] = '\0';
	for (int i = 0; i < 17; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "/:q%d", i);
	ADD_FAILS(&r, "GET", many, "more than 16 parameters");

	/* The router still works, with only the good routes. */
	CHECK_EQ_UINT(r.routes, 3);
	MATCHES(&r, "GET", "/keep", "/keep", &m);
	NOT_FOUND(&r, "GET", "/m");
	NOT_FOUND(&r, "GET", "/nofn");
	fw_router_finish(&r);
	CHECK(r.root == NULL);
	CHECK_EQ_UINT(r.routes, 0);
}

static void test_duplicates_and_conflicts(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	ADD(&r, "GET", "/d");
	ADD_FAILS(&r, "GET", "/d", "duplicate route");
	ADD(&r, "POST", "/d");
	ADD(&r, "GET", "/d/*");
	ADD_FAILS(&r, "GET", "/d/*", "duplicate route");
	ADD(&r, "GET", "/d/:x");
	ADD_FAILS(&r, "GET", "/d/:x", "duplicate route");
	CHECK_EQ_UINT(r.routes, 4);

	ADD(&r, "GET", "/c/:id");
	ADD(&r, "GET", "/c/:id/x");
	ADD_FAILS(&r, "GET", "/c/:name", "conflicts with ':id'");
	ADD_FAILS(&r, "POST", "/c/:idx/y", "conflicts with ':id'");
	ADD_FAILS(&r, "POST", "/c/:i", "conflicts with ':id'");
	if (MATCHES(&r, "GET", "/c/5/x", "/c/:id/x", &m))
		CHECK_EQ_STR(param(&m, "id"), "5");
	fw_router_finish(&r);
}

/*
 * A rejected pattern must leave the router as it was: here the ':a' node
 * created on the way to the bad segment must not make a later, valid
 * ':b' at that place a "conflict".
 */
static void test_failed_add_leaves_no_trace(void)
{
	struct fw_router r = {0};
	struct fw_route_match m;

	ADD_FAILS(&r, "GET", "/g/:a/x*y", "not allowed in a literal segment");
	if (ADD(&r, "GET", "/g/:b")) {
		if (MATCHES(&r, "GET", "/g/1", "/g/:b", &m))
			CHECK_EQ_STR(param(&m, "b"), "1");
	}
	fw_router_finish(&r);
}

int main(void)
{
	test_empty_router();
	test_exact();
	test_params();
	test_star();
	test_dot_segments();
	test_priority();
	test_405();
	test_head();
	test_method_length();
	test_any_method();
	test_bad_patterns();
	test_duplicates_and_conflicts();
	test_failed_add_leaves_no_trace();
	return check_done();
}
