/*
 * http/router: building the tree and matching against it.
 *
 * Input: text lines. The lines before the first empty line are routes,
 * those after it requests (without an empty line, every line is both).
 * A line is "METHOD PATTERN" (or "METHOD PATH"); a line without a space
 * is all pattern, with a method picked from a table by its position.
 *
 * A reference model decides which routes must be accepted and what each
 * request must get. A path with a "." or ".." segment (%2e for a dot),
 * which no pattern may have, gets 400. Otherwise the most specific
 * pattern that matches the path (segment by segment: literal before
 * parameter before "*", a pattern that ends before one whose "*" takes an
 * empty rest) decides: 200 with its route that fits the method
 * (parameters pointing into the path), or 405 with the Allow set of its
 * routes. 404 when no pattern matches.
 */
#include "fuzz.h"

#include "core/result.h"
#include "http/router.h"

#define MAX_LINES 64
#define MAX_LINE 1024 /* longer lines are cut */
#define MAX_SEGS (MAX_LINE + 1)

static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "*", "PATCH", "OPTIONS"};

struct line {
	char *method;
	char *rest; /* pattern or path */
};

struct route {
	const struct line *line;
	bool added;
};

struct seg {
	const char *s;
	size_t len;
};

static int handler(fw_req *req, void *arg)
{
	(void)req;
	(void)arg;
	return 0;
}

/* ---- input ---- */

static char *cstr(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void line_parse(struct line *l, const uint8_t *p, size_t n, size_t index)
{
	const uint8_t *sp = memchr(p, ' ', n);

	if (sp == NULL) {
		l->method = cstr((const uint8_t *)methods[index % FW_NELEM(methods)],
				 strlen(methods[index % FW_NELEM(methods)]));
		l->rest = cstr(p, n);
	} else {
		l->method = cstr(p, (size_t)(sp - p));
		l->rest = cstr(sp + 1, n - (size_t)(sp - p) - 1);
	}
}

/* Cut the input into lines; *blank gets the index of the first empty one (or nlines). */
static size_t lines_parse(const uint8_t *data, size_t size, struct line *lines, size_t *blank)
{
	size_t n = 0, start = 0;

	*blank = (size_t)-1;
	for (size_t i = 0; i <= size && n < MAX_LINES; i++) {
		if (i < size && data[i] != '\n')
			continue;
		if (i == start && i < size && *blank == (size_t)-1) {
			*blank = n;
		} else if (i > start) {
			line_parse(&lines[n], data + start, FW_MIN(i - start, MAX_LINE), n);
			n++;
		}
		start = i + 1;
	}
	if (*blank == (size_t)-1 || *blank > n)
		*blank = n;
	return n;
}

/* ---- reference model ---- */

/* Segments after the leading '/'; "" and "/" have none. -1 if s does not start with '/'. */
static long split(const char *s, struct seg *segs)
{
	long n = 0;

	if (s[0] == '\0' || strcmp(s, "/") == 0)
		return 0;
	if (s[0] != '/')
		return -1;
	for (const char *p = s + 1;; n++) {
		size_t len = strcspn(p, "/");

		if (n == MAX_SEGS)
			return -1;
		segs[n].s = p;
		segs[n].len = len;
		if (p[len] == '\0')
			return n + 1;
		p += len + 1;
	}
}

static bool seg_is(const struct seg *s, const char *text)
{
	return s->len == strlen(text) && memcmp(s->s, text, s->len) == 0;
}

static bool is_param(const struct seg *s)
{
	return s->len > 0 && s->s[0] == ':';
}

static bool token_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool method_ok(const char *m)
{
	if (strcmp(m, "*") == 0)
		return true;
	if (m[0] == '\0' || strlen(m) > FW_ROUTE_MAX_METHOD)
		return false;
	for (; *m != '\0'; m++) {
		if (!token_char((unsigned char)*m))
			return false;
	}
	return true;
}

/* "." or "..", once each %2e or %2E is read as a dot (decoded into a copy). */
static bool dot_seg(const char *s, size_t len)
{
	char d[3];
	size_t n = 0;

	for (size_t i = 0; i < len; n++) {
		if (n == sizeof(d))
			return false;
		if (len - i >= 3 && s[i] == '%' && s[i + 1] == '2' &&
		    (s[i + 2] == 'e' || s[i + 2] == 'E')) {
			d[n] = '.';
			i += 3;
		} else {
			d[n] = s[i++];
		}
	}
	return (n == 1 && d[0] == '.') || (n == 2 && d[0] == '.' && d[1] == '.');
}

/* Any segment of s, between slashes or the ends, a dot segment? */
static bool dotted(const char *s)
{
	for (;;) {
		const char *slash = strchr(s, '/');
		size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);

		if (dot_seg(s, len))
			return true;
		if (slash == NULL)
			return false;
		s = slash + 1;
	}
}

static bool segment_ok(const struct seg *s, bool last)
{
	if (s->len == 0 || dot_seg(s->s, s->len))
		return false;
	if (seg_is(s, "*"))
		return last;
	if (s->s[0] == ':') {
		if (s->len == 1)
			return false;
		for (size_t i = 1; i < s->len; i++) {
			unsigned char c = (unsigned char)s->s[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || c == '_'))
				return false;
		}
		return true;
	}
	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->s[i];
		if (c == '*' || c == '?' || c == '#' || c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* The grammar alone: segments, at most 16 distinct parameter names. */
static bool pattern_ok(const char *pattern)
{
	struct seg segs[MAX_SEGS];
	long n = split(pattern, segs);
	size_t params = 0;

	if (strcmp(pattern, "/") == 0)
		return true;
	if (n <= 0)
		return false;
	for (long i = 0; i < n; i++) {
		if (!segment_ok(&segs[i], i == n - 1))
			return false;
		if (!is_param(&segs[i]))
			continue;
		if (++params > FW_ROUTE_MAX_PARAMS)
			return false;
		for (long j = 0; j < i; j++) {
			if (is_param(&segs[j]) && segs[j].len == segs[i].len &&
			    memcmp(segs[j].s, segs[i].s, segs[i].len) == 0)
				return false;
		}
	}
	return true;
}

/* Same tree position: equal literals, parameters whatever their names. */
static bool same_place(const struct seg *a, const struct seg *b)
{
	if (is_param(a) || is_param(b))
		return is_param(a) && is_param(b);
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* Would the new pattern clash with an accepted one: a ":name" renamed, or the same route? */
static bool clashes(const struct route *routes, size_t nroutes, const struct line *l)
{
	struct seg a[MAX_SEGS], b[MAX_SEGS];
	long na = split(l->rest, a);

	for (size_t r = 0; r < nroutes; r++) {
		long nb, k;

		if (!routes[r].added)
			continue;
		nb = split(routes[r].line->rest, b);
		for (k = 0; k < na && k < nb; k++) {
			if (is_param(&a[k]) && is_param(&b[k]) &&
			    (a[k].len != b[k].len || memcmp(a[k].s, b[k].s, a[k].len) != 0))
				return true;
			if (!same_place(&a[k], &b[k]))
				break;
		}
		if (k == na && na == nb && strcmp(l->method, routes[r].line->method) == 0)
			return true; /* duplicate */
	}
	return false;
}

struct ref_param {
	const char *name; /* into the pattern; "*" for the tail */
	size_t name_len;
	const char *value;
	size_t len;
};

/*
 * Does the pattern match the path? Parameters go to params[0..*np).
 * A trailing "*" takes the rest of the path after the '/', possibly empty.
 */
static bool ref_match(const char *pattern, const char *path, struct ref_param *params, size_t *np)
{
	struct seg ps[MAX_SEGS], xs[MAX_SEGS];
	long np_ = split(pattern, ps), nx = split(path, xs), j = 0;

	*np = 0;
	if (np_ < 0 || nx < 0)
		return false;
	for (long k = 0; k < np_; k++, j++) {
		if (seg_is(&ps[k], "*")) {
			const char *tail = j < nx ? xs[j].s : path + strlen(path);
			params[*np] = (struct ref_param){"*", 1, tail, strlen(tail)};
			(*np)++;
			return true;
		}
		if (j >= nx)
			return false;
		if (is_param(&ps[k])) {
			if (xs[j].len == 0)
				return false;
			params[(*np)++] = (struct ref_param){ps[k].s + 1, ps[k].len - 1, xs[j].s,
							     xs[j].len};
		} else if (!same_place(&ps[k], &xs[j])) {
			return false;
		}
	}
	return j == nx;
}

static int seg_kind(const struct seg *segs, long n, long k)
{
	if (k >= n)
		return -1; /* the pattern ended: the path did too */
	return seg_is(&segs[k], "*") ? 2 : is_param(&segs[k]) ? 1 : 0;
}

/*
 * Of two patterns that both match one path: < 0 when a is more specific,
 * > 0 when b is, 0 when they are the same place in the tree.
 */
static int specificity(const char *a, const char *b)
{
	static struct seg sa[MAX_SEGS], sb[MAX_SEGS];
	long na = split(a, sa), nb = split(b, sb);

	for (long k = 0; k < na || k < nb; k++) {
		int ka = seg_kind(sa, na, k), kb = seg_kind(sb, nb, k);

		if (ka != kb)
			return ka - kb;
		if (ka == 2)
			return 0;
	}
	return 0;
}

static bool method_fits(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 || strcmp(route_method, "*") == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* ---- checks of one request ---- */

static bool in_list(const char *list, const char *m)
{
	size_t len = strlen(m);

	for (const char *p = list; (p = strstr(p, m)) != NULL; p += len) {
		if ((p == list || p[-1] == ' ') && (p[len] == ',' || p[len] == '\0'))
			return true;
	}
	return false;
}

/* Allow: ", "-separated, no duplicates, each a method of a route of the deciding pattern. */
static void check_allow(const struct fw_route_match *m, const struct route *routes, size_t nroutes,
			const char *path, const char *best)
{
	char copy[sizeof(m->allow)], *save = NULL;
	struct ref_param params[FW_ROUTE_MAX_PARAMS + 1];
	size_t np, want_len = 1, count = 0, want_count = 0;
	bool complete;

	FZ_CHECK(memchr(m->allow, '\0', sizeof(m->allow)) != NULL);
	FZ_CHECK(m->allow[0] != '\0');
	memcpy(copy, m->allow, sizeof(copy));
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		bool found = false;

		if (t != copy)
			FZ_CHECK(*t++ == ' ');
		for (size_t r = 0; r < nroutes && !found; r++) {
			const char *rm = routes[r].line->method;
			if (routes[r].added && ref_match(routes[r].line->rest, path, params, &np) &&
			    specificity(routes[r].line->rest, best) == 0)
				found = strcmp(rm, t) == 0 ||
					(strcmp(t, "HEAD") == 0 && strcmp(rm, "GET") == 0);
		}
		FZ_CHECK(found);
		count++;
	}
	/* When everything fits, everything is listed. */
	{
		char all[4096] = "";
		size_t all_len = 0;

		for (size_t r = 0; r < nroutes; r++) {
			const char *rm = routes[r].line->method;
			for (int pass = 0; pass < 2; pass++) {
				const char *add = pass == 0 ? rm : "HEAD";
				if (!routes[r].added ||
				    !ref_match(routes[r].line->rest, path, params, &np) ||
				    specificity(routes[r].line->rest, best) != 0 ||
				    (pass == 1 && strcmp(rm, "GET") != 0) || in_list(all, add))
					continue;
				if (all_len + strlen(add) + 3 > sizeof(all))
					return;
				all_len += (size_t)snprintf(all + all_len, sizeof(all) - all_len, "%s%s",
							    all_len ? ", " : "", add);
				want_len += strlen(add) + 2;
				want_count++;
			}
		}
		complete = want_len <= sizeof(m->allow);
		if (complete)
			FZ_CHECK(count == want_count);
	}
}

static void check_params(const struct fw_route_match *m, const char *path, const struct ref_param *want,
			 size_t nwant)
{
	size_t plen = strlen(path);

	FZ_CHECK(m->nparams == nwant);
	for (size_t i = 0; i < nwant; i++) {
		const struct fw_route_param *p = &m->params[i];

		FZ_CHECK(p->name != NULL && strlen(p->name) == want[i].name_len);
		FZ_CHECK(memcmp(p->name, want[i].name, want[i].name_len) == 0);
		FZ_CHECK(p->value != NULL && p->len == want[i].len);
		if (p->len > 0) {
			FZ_CHECK(p->value >= path && p->value + p->len <= path + plen);
			FZ_CHECK(p->value == want[i].value);
		}
	}
}

static void check_request(const struct fw_router *r, const struct route *routes, size_t nroutes,
			  const struct line *req)
{
	struct fw_route_match m;
	struct ref_param params[FW_ROUTE_MAX_PARAMS + 1];
	size_t np;
	const char *best = NULL;
	bool fits = false, exact = false;
	int status = fw_router_match(r, req->method, req->rest, &m);

	for (size_t i = 0; i < nroutes; i++) {
		if (routes[i].added && ref_match(routes[i].line->rest, req->rest, params, &np) &&
		    (best == NULL || specificity(routes[i].line->rest, best) < 0))
			best = routes[i].line->rest;
	}
	if (dotted(req->rest)) {
		FZ_CHECK(status == 400 && m.fn == NULL && m.nparams == 0);
		return;
	}
	for (size_t i = 0; i < nroutes && best != NULL; i++) {
		if (!routes[i].added || !ref_match(routes[i].line->rest, req->rest, params, &np) ||
		    specificity(routes[i].line->rest, best) != 0)
			continue;
		fits |= method_fits(routes[i].line->method, req->method);
		exact |= strcmp(routes[i].line->method, req->method) == 0;
	}
	FZ_CHECK(status == (fits ? 200 : best != NULL ? 405 : 404));
	if (status != 200) {
		FZ_CHECK(m.fn == NULL && m.nparams == 0);
		if (status == 405)
			check_allow(&m, routes, nroutes, req->rest, best);
		return;
	}
	FZ_CHECK(m.fn == handler && m.arg != NULL);
	{
		const struct route *rt = m.arg;

		FZ_CHECK(rt >= routes && rt < routes + nroutes && rt->added);
		FZ_CHECK(method_fits(rt->line->method, req->method));
		FZ_CHECK(specificity(rt->line->rest, best) == 0);
		FZ_CHECK(!exact || strcmp(rt->line->method, req->method) == 0);
		FZ_CHECK(ref_match(rt->line->rest, req->rest, params, &np));
		check_params(&m, req->rest, params, np);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct line lines[MAX_LINES];
	struct route routes[MAX_LINES];
	struct fw_router r = {NULL, 0};
	size_t nlines, blank, nroutes, added = 0;

	nlines = lines_parse(data, size, lines, &blank);
	nroutes = blank;
	for (size_t i = 0; i < nroutes; i++) {
		char err[128];
		const struct line *l = &lines[i];
		bool want = method_ok(l->method) && l->rest[0] == '/' && pattern_ok(l->rest) &&
			    !clashes(routes, i, l);
		int rc;

		memset(err, 'x', sizeof(err));
		routes[i].line = l;
		routes[i].added = false;
		rc = fw_router_add(&r, l->method, l->rest, handler, &routes[i], err, sizeof(err));
		FZ_CHECK(rc == 0 || rc == -1);
		if (rc != 0)
			FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		FZ_CHECK((rc == 0) == want);
		routes[i].added = rc == 0;
		added += rc == 0;
		FZ_CHECK(r.routes == added);
	}
	for (size_t i = blank < nlines ? blank : 0; i < nlines; i++)
		check_request(&r, routes, nroutes, &lines[i]);
	fw_router_finish(&r);
	FZ_CHECK(r.root == NULL && r.routes == 0);
	for (size_t i = 0; i < nlines; i++) {
		free(lines[i].method);
		free(lines[i].rest);
	}
	return 0;
}
