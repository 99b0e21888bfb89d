/*
 * The router: method + path pattern -> handler, with route parameters.
 *
 * Patterns are split into segments and kept in a tree, so a lookup costs
 * one walk down the path whatever the number of routes. At each level a
 * literal segment is tried first, then a ":param", then a trailing "*";
 * the walk backtracks when a branch ends without a route for the path.
 * The first pattern that matches the path (the most specific one) decides:
 * its route for the method, or 405 with its methods in Allow. A less
 * specific pattern (a ":id", a trailing "*") never takes a path that a more specific
 * one matched for other methods.
 * Built once at start-up (in the master, before fork), then read-only.
 */
#ifndef FW_HTTP_ROUTER_H
#define FW_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <fw/app.h>

#define FW_ROUTE_MAX_PARAMS 16
#define FW_ROUTE_MAX_METHOD 32 /* longest method token accepted (RFC methods are short) */

struct fw_route_node;

struct fw_router {
	struct fw_route_node *root;
	size_t routes;
};

struct fw_route_param {
	const char *name;  /* lives as long as the router */
	const char *value; /* points into the matched path; not NUL-terminated */
	size_t len;
};

struct fw_route_match {
	fw_handler fn;
	void *arg;
	size_t nparams;
	struct fw_route_param params[FW_ROUTE_MAX_PARAMS + 1]; /* + the "*" tail */
	char allow[1024]; /* for 405: "GET, HEAD, POST"; room for 30 methods of the longest */
};

/*
 * Add a route. 0, or -1 with a message in err (bad method or pattern,
 * a "." or ".." segment, duplicate route, conflicting parameter names,
 * no memory).
 */
int fw_router_add(struct fw_router *r, const char *method, const char *pattern, fw_handler fn, void *arg,
		  char *err, size_t errlen);

/*
 * Look up method + path. Returns 200 with m->fn set, 404 when no pattern
 * matches the path, 405 (with m->allow) when the most specific pattern
 * that matches the path has no route for this method (nor "*"), 400 for a
 * path with a "." or ".." segment (also written with %2e), which no route
 * matches and no parameter takes. path must
 * stay valid while m is used.
 */
int fw_router_match(const struct fw_router *r, const char *method, const char *path,
		    struct fw_route_match *m);

void fw_router_finish(struct fw_router *r);

#endif
