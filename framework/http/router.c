#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

struct route_method {
	struct route_method *next;
	char *method; /* "*" matches every method */
	fw_handler fn;
	void *arg;
};

struct fw_route_node {
	char *literal;                 /* segment text, for a literal child */
	char *param_name;              /* for the ":name" child */
	struct fw_route_node *sibling; /* next literal child of the parent */
	struct fw_route_node *children;
	struct fw_route_node *param;
	struct route_method *methods;      /* routes that end at this node */
	struct route_method *star_methods; /* routes whose pattern ends in a star segment */
};

/* ---- building ---- */

static struct fw_route_node *node_new(void)
{
	return calloc(1, sizeof(struct fw_route_node));
}

static bool param_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

static struct fw_route_node *literal_child(struct fw_route_node *n, const char *seg, size_t len,
					   bool create)
{
	struct fw_route_node *c;

	for (c = n->children; c != NULL; c = c->sibling) {
		if (strlen(c->literal) == len && memcmp(c->literal, seg, len) == 0)
			return c;
	}
	if (!create || (c = node_new()) == NULL)
		return NULL;
	if ((c->literal = strndup(seg, len)) == NULL) {
		free(c);
		return NULL;
	}
	c->sibling = n->children;
	n->children = c;
	return c;
}

/* Check one segment's syntax; fill err and return -1 when it is wrong. */
static int segment_check(const char *seg, size_t len, bool last, char *err, size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "empty path segment");
		return -1;
	}
	if (len == 1 && seg[0] == '*')
		return last ? 0 : (snprintf(err, errlen, "'*' must be the last segment"), -1);
	if (seg[0] == ':') {
		if (!param_name_ok(seg + 1, len - 1)) {
			snprintf(err, errlen, "parameter name '%.*s' is not [A-Za-z0-9_]+", (int)len - 1,
				 seg + 1);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)seg[i];
		if (c == '*' || c == '?' || c == '#' || c <= 0x20 || c == 0x7f) {
			snprintf(err, errlen, "character '%c' not allowed in a literal segment",
				 c > 0x20 && c < 0x7f ? c : '?');
			return -1;
		}
	}
	return 0;
}

/* Reject a second ":name" in one pattern and more than the maximum. */
static int params_check(const char *pattern, char *err, size_t errlen)
{
	const char *names[FW_ROUTE_MAX_PARAMS];
	size_t lens[FW_ROUTE_MAX_PARAMS], n = 0;

	for (const char *p = strstr(pattern, "/:"); p != NULL; p = strstr(p + 1, "/:")) {
		const char *name = p + 2;
		size_t len = strcspn(name, "/");

		if (n == FW_ROUTE_MAX_PARAMS) {
			snprintf(err, errlen, "more than %d parameters", FW_ROUTE_MAX_PARAMS);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (lens[i] == len && memcmp(names[i], name, len) == 0) {
				snprintf(err, errlen, "parameter ':%.*s' used twice", (int)len, name);
				return -1;
			}
		}
		names[n] = name;
		lens[n++] = len;
	}
	return 0;
}

static bool param_conflict(const struct fw_route_node *n, const char *seg, size_t len)
{
	return n != NULL && n->param != NULL &&
	       (strlen(n->param->param_name) != len - 1 ||
		memcmp(n->param->param_name, seg + 1, len - 1) != 0);
}

/*
 * Check the whole pattern against the grammar and the existing tree
 * before anything is created, so that a rejected route leaves no trace.
 */
static int pattern_check(const struct fw_router *r, const char *pattern, char *err, size_t errlen)
{
	const struct fw_route_node *n = r->root;
	const char *p = pattern;

	if (strcmp(pattern, "/") == 0)
		return 0;
	while (*p == '/') {
		const char *seg = p + 1;
		size_t len = strcspn(seg, "/");

		if (segment_check(seg, len, seg[len] == '\0', err, errlen) != 0)
			return -1;
		if (seg[0] == ':' && param_conflict(n, seg, len)) {
			snprintf(err, errlen,
				 "':%.*s' conflicts with ':%s' of another route at the same place",
				 (int)len - 1, seg + 1, n->param->param_name);
			return -1;
		}
		if (n != NULL)
			n = seg[0] == ':' ? n->param
					  : literal_child((struct fw_route_node *)n, seg, len, false);
		p = seg + len;
	}
	return 0;
}

/* Walk (creating) the nodes of a checked pattern; *star is set for a trailing "*". */
static struct fw_route_node *pattern_node(struct fw_router *r, const char *pattern, bool *star,
					  char *err, size_t errlen)
{
	struct fw_route_node *n = r->root;
	const char *p = pattern;

	*star = false;
	if (strcmp(pattern, "/") == 0)
		return n;
	while (*p == '/') {
		const char *seg = p + 1;
		size_t len = strcspn(seg, "/");

		if (seg[0] == '*') {
			*star = true;
			return n;
		}
		if (seg[0] == ':') {
			if (n->param == NULL &&
			    ((n->param = node_new()) == NULL ||
			     (n->param->param_name = strndup(seg + 1, len - 1)) == NULL))
				goto nomem;
			n = n->param;
		} else if ((n = literal_child(n, seg, len, true)) == NULL) {
			goto nomem;
		}
		p = seg + len;
	}
	return n;
nomem:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

int fw_router_add(struct fw_router *r, const char *method, const char *pattern, fw_handler fn, void *arg,
		  char *err, size_t errlen)
{
	struct fw_route_node *n;
	struct route_method *m, **list;
	bool star;

	if (method == NULL || (strcmp(method, "*") != 0 && !fw_is_token(method))) {
		snprintf(err, errlen, "bad method '%s'", method ? method : "(null)");
		return -1;
	}
	if (strlen(method) > FW_ROUTE_MAX_METHOD) {
		snprintf(err, errlen, "method longer than %d characters", FW_ROUTE_MAX_METHOD);
		return -1;
	}
	if (pattern == NULL || pattern[0] != '/') {
		snprintf(err, errlen, "pattern must start with '/'");
		return -1;
	}
	if (fn == NULL) {
		snprintf(err, errlen, "no handler");
		return -1;
	}
	if (fw_path_dot_segment(pattern)) {
		snprintf(err, errlen, "a '.' or '..' segment (no request path with one is routed)");
		return -1;
	}
	if (params_check(pattern, err, errlen) != 0 || pattern_check(r, pattern, err, errlen) != 0)
		return -1;
	if (r->root == NULL && (r->root = node_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((n = pattern_node(r, pattern, &star, err, errlen)) == NULL)
		return -1;
	list = star ? &n->star_methods : &n->methods;
	for (m = *list; m != NULL; m = m->next) {
		if (strcmp(m->method, method) == 0) {
			snprintf(err, errlen, "duplicate route");
			return -1;
		}
	}
	if ((m = calloc(1, sizeof(*m))) == NULL || (m->method = strdup(method)) == NULL) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->fn = fn;
	m->arg = arg;
	/* Append: Allow lists methods in the order they were registered. */
	while (*list != NULL)
		list = &(*list)->next;
	*list = m;
	r->routes++;
	return 0;
}

/* ---- matching ---- */

struct match_ctx {
	const char *method;
	struct fw_route_match *m;
	size_t allow_len;
	bool path_matched;
};

static void allow_add(struct match_ctx *c, const char *method)
{
	struct fw_route_match *m = c->m;
	size_t len = strlen(method);
	const char *p = m->allow;

	/* Skip methods already listed. */
	while ((p = strstr(p, method)) != NULL) {
		if ((p == m->allow || p[-1] == ' ') && (p[len] == ',' || p[len] == '\0'))
			return;
		p += len;
	}
	if (c->allow_len + len + 3 > sizeof(m->allow))
		return;
	if (c->allow_len > 0) {
		memcpy(m->allow + c->allow_len, ", ", 2);
		c->allow_len += 2;
	}
	memcpy(m->allow + c->allow_len, method, len + 1);
	c->allow_len += len;
}

static const struct route_method *find_method(const struct route_method *list, const char *method)
{
	for (; list != NULL; list = list->next) {
		if (strcmp(list->method, method) == 0)
			return list;
	}
	return NULL;
}

/*
 * The path picked this node's routes: pick the one for the method, or
 * note Allow for a 405. Either way the search ends here: a less specific
 * pattern (a parameter, a "*" catch-all) never takes a request because
 * this pattern lacks its method, as an nginx location chosen by the URI
 * is not left for another one because of the method.
 */
static bool try_methods(struct match_ctx *c, const struct route_method *list)
{
	const struct route_method *rm;

	if (list == NULL)
		return false;
	c->path_matched = true;
	rm = find_method(list, c->method);
	if (rm == NULL && strcmp(c->method, "HEAD") == 0)
		rm = find_method(list, "GET");
	if (rm == NULL)
		rm = find_method(list, "*");
	if (rm != NULL) {
		c->m->fn = rm->fn;
		c->m->arg = rm->arg;
		return true;
	}
	for (; list != NULL; list = list->next) {
		allow_add(c, list->method);
		if (strcmp(list->method, "GET") == 0)
			allow_add(c, "HEAD");
	}
	return true;
}

static bool param_push(struct match_ctx *c, const char *name, const char *value, size_t len)
{
	struct fw_route_param *p;

	if (c->m->nparams == (FW_ROUTE_MAX_PARAMS + 1))
		return false;
	p = &c->m->params[c->m->nparams++];
	p->name = name;
	p->value = value;
	p->len = len;
	return true;
}

static bool star_match(struct match_ctx *c, const struct fw_route_node *n, const char *tail)
{
	if (n->star_methods == NULL || !param_push(c, "*", tail, strlen(tail)))
		return false;
	return try_methods(c, n->star_methods);
}

/* p is at the '/' before the next segment, or at the end of the path. */
static bool node_match(struct match_ctx *c, const struct fw_route_node *n, const char *p)
{
	const struct fw_route_node *child;
	const char *seg, *rest;
	size_t len;

	if (*p == '\0')
		return try_methods(c, n->methods) || star_match(c, n, p);
	seg = p + 1;
	len = strcspn(seg, "/");
	rest = seg + len;
	for (child = n->children; child != NULL; child = child->sibling) {
		if (strncmp(child->literal, seg, len) == 0 && child->literal[len] == '\0')
			if (node_match(c, child, rest))
				return true;
	}
	if (n->param != NULL && len > 0 && param_push(c, n->param->param_name, seg, len)) {
		if (node_match(c, n->param, rest))
			return true;
		c->m->nparams--;
	}
	return star_match(c, n, seg);
}

int fw_router_match(const struct fw_router *r, const char *method, const char *path,
		    struct fw_route_match *m)
{
	struct match_ctx c = {.method = method, .m = m};

	memset(m, 0, sizeof(*m));
	/* Never bound to a parameter: fw_req_prepare() refuses them first. */
	if (fw_path_dot_segment(path))
		return 400;
	if (r->root == NULL)
		return 404;
	/* "" and "/" are the root: no segments (values still point into the path). */
	if (strcmp(path, "/") == 0)
		path++;
	else if (path[0] != '/' && path[0] != '\0')
		return 404;
	if (node_match(&c, r->root, path) && m->fn != NULL)
		return 200;
	m->nparams = 0;
	return c.path_matched ? 405 : 404;
}

/* ---- teardown ---- */

static void methods_free(struct route_method *m)
{
	while (m != NULL) {
		struct route_method *next = m->next;
		free(m->method);
		free(m);
		m = next;
	}
}

static void node_free(struct fw_route_node *n)
{
	while (n != NULL) {
		struct fw_route_node *next = n->sibling;

		node_free(n->children);
		node_free(n->param);
		methods_free(n->methods);
		methods_free(n->star_methods);
		free(n->literal);
		free(n->param_name);
		free(n);
		n = next;
	}
}

void fw_router_finish(struct fw_router *r)
{
	node_free(r->root);
	r->root = NULL;
	r->routes = 0;
}
