/*
 * http/cookie: fw_cookie_next, fw_cookie (on a request), fw_cookie_format.
 *
 * Input: the bytes of a Cookie header.
 * - fw_cookie_next gives what a small reference splitter gives, slices
 *   inside the input;
 * - fw_cookie on a request whose HTTP_COOKIE is the input (up to its
 *   first NUL, as a C string is read) gives, for every name, the first
 *   value the reference finds;
 * - each pair formatted as a Set-Cookie either is refused for a reason
 *   the rules give (name not a token, value not cookie-octets, too long),
 *   or is one line without control characters whose first pair reads back
 *   as the same name and value.
 */
#include "fuzz.h"
#include "fuzz_req.h"

#include "core/buf.h"
#include "core/result.h"
#include "core/str.h"
#include "http/cookie.h"
#include "http/req.h"
#include "proto/fcgi.h"

struct ref {
	const char *name, *value;
	size_t nlen, vlen;
};

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Split at ';', trim blanks, skip empty parts, cut at the first '=', strip quotes. */
static size_t ref_split(const char *s, size_t len, struct ref *out)
{
	size_t n = 0, i = 0;

	while (i <= len) {
		size_t j = i, b, e, eq;

		while (j < len && s[j] != ';')
			j++;
		for (b = i, e = j; b < e && blank(s[b]); b++)
			;
		while (e > b && blank(s[e - 1]))
			e--;
		i = j + 1;
		if (b == e)
			continue;
		for (eq = b; eq < e && s[eq] != '='; eq++)
			;
		if (eq == e) {
			out[n] = (struct ref){s + b, s + b, 0, e - b};
		} else {
			size_t ne = eq, vb = eq + 1;
			while (ne > b && blank(s[ne - 1]))
				ne--;
			while (vb < e && blank(s[vb]))
				vb++;
			out[n] = (struct ref){s + b, s + vb, ne - b, e - vb};
		}
		if (out[n].vlen >= 2 && out[n].value[0] == '"' && out[n].value[out[n].vlen - 1] == '"') {
			out[n].value++;
			out[n].vlen -= 2;
		}
		n++;
	}
	return n;
}

static void check_split(const char *s, size_t len, const struct ref *want, size_t nwant)
{
	struct fw_cookie_pair c;
	size_t pos = 0, n = 0;

	while (fw_cookie_next(s, len, &pos, &c)) {
		FZ_CHECK(n < nwant);
		FZ_CHECK(pos <= len);
		FZ_CHECK(c.name >= s && c.name + c.name_len <= s + len);
		FZ_CHECK(c.value >= s && c.value + c.value_len <= s + len);
		FZ_CHECK(c.name_len == want[n].nlen && c.value_len == want[n].vlen);
		FZ_CHECK(c.name_len == 0 || c.name == want[n].name);
		FZ_CHECK(c.value == want[n].value);
		n++;
	}
	FZ_CHECK(n == nwant);
}

static char *cstr(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void check_lookup(const uint8_t *data, size_t size)
{
	fw_req *req = fz_request("HTTP_COOKIE", data, size);
	const char *h = fw_header(req, "Cookie");
	size_t len = h != NULL ? strlen(h) : 0;
	struct ref *refs = calloc(len / 2 + 2, sizeof(*refs));
	size_t n;

	if (refs == NULL)
		abort();
	n = h != NULL ? ref_split(h, len, refs) : 0;
	for (size_t i = 0; i < n; i++) {
		char *name = cstr(refs[i].name, refs[i].nlen), *want = NULL;
		const char *got = fw_cookie(req, name);

		for (size_t k = 0; k < n && want == NULL; k++) {
			if (refs[k].nlen == refs[i].nlen &&
			    memcmp(refs[k].name, name, refs[i].nlen) == 0)
				want = cstr(refs[k].value, refs[k].vlen);
		}
		FZ_CHECK(got != NULL && want != NULL && strcmp(got, want) == 0);
		free(want);
		free(name);
	}
	FZ_CHECK(fw_cookie(req, "no;such") == NULL); /* no name holds a ; */
	free(refs);
	fw_req_destroy(req);
}

static void check_format(const struct ref *r)
{
	/* As C strings: a NUL byte ends them. */
	char *name = cstr(r->name, r->nlen), *value = cstr(r->value, r->vlen);
	size_t nlen = strlen(name), vlen = strlen(value);
	struct fw_buf out = FW_BUF_INIT;
	const char *err = NULL;
	struct fw_cookie_pair c;
	size_t pos = 0;
	int rc = fw_cookie_format(&out, name, value, NULL, nlen % 2 == 0, &err);
	bool valid = fw_is_token(name) && fw_cookie_value_ok(value) && nlen + vlen <= 4096;

	FZ_CHECK((rc == 0) == valid);
	if (rc != 0) {
		FZ_CHECK(err != NULL && out.len == 0);
	} else {
		for (size_t i = 0; i < out.len; i++)
			FZ_CHECK((unsigned char)out.data[i] >= 0x20 && out.data[i] != 0x7f);
		FZ_CHECK(fw_cookie_next(out.data, out.len, &pos, &c));
		FZ_CHECK(c.name_len == nlen && memcmp(c.name, name, nlen) == 0);
		/* A quoted value reads back without its quotes. */
		if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"')
			FZ_CHECK(c.value_len == vlen - 2 && memcmp(c.value, value + 1, vlen - 2) == 0);
		else
			FZ_CHECK(c.value_len == vlen && memcmp(c.value, value, vlen) == 0);
	}
	fw_buf_release(&out);
	free(value);
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = (char *)fz_dup(data, size);
	struct ref *refs = calloc(size / 2 + 2, sizeof(*refs));
	size_t n;

	if (refs == NULL)
		abort();
	n = ref_split(s, size, refs);
	check_split(s, size, refs, n);
	for (size_t i = 0; i < n; i++)
		check_format(&refs[i]);
	check_lookup(data, size);
	free(refs);
	free(s);
	return 0;
}
