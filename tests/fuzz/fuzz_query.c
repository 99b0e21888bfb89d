/*
 * core/str fw_percent_decode, http/query (through fw_query) and core/json
 * fw_json_string, all on the raw input.
 *
 * - percent-decoding, with and without '+' as space, in place in a block
 *   of the exact size: never longer, and equal to a reference decoder;
 * - a request whose QUERY_STRING is the input (up to its first NUL, as a
 *   C string is read): fw_query gives, for every name, the first value a
 *   reference parser finds (or NULL);
 * - the input as a JSON string: valid JSON (quotes, escapes, no raw
 *   control characters, valid UTF-8) that decodes to the input, with
 *   each byte that is not part of valid UTF-8 replaced by U+FFFD.
 */
#include "fuzz.h"
#include "fuzz_req.h"

#include "core/buf.h"
#include "core/json.h"
#include "core/result.h"
#include "core/str.h"
#include "http/req.h"
#include "proto/fcgi.h"

/* ---- percent-decoding ---- */

static int hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode in[0..len) into out (at least len bytes); returns the length. */
static size_t ref_decode(const uint8_t *in, size_t len, bool plus, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%' && i + 2 < len && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
			out[o++] = (uint8_t)(hex(in[i + 1]) * 16 + hex(in[i + 2]));
			i += 2;
		} else {
			out[o++] = plus && in[i] == '+' ? ' ' : in[i];
		}
	}
	return o;
}

static void check_percent(const uint8_t *data, size_t size, bool plus)
{
	uint8_t *buf = fz_dup(data, size), *want = fz_dup(data, size);
	size_t n = fw_percent_decode((char *)buf, size, plus);

	FZ_CHECK(n <= size);
	FZ_CHECK(n == ref_decode(data, size, plus, want));
	FZ_CHECK(n == 0 || memcmp(buf, want, n) == 0);
	free(want);
	free(buf);
}

/* ---- fw_query ---- */

struct pair {
	char *name, *value; /* decoded, NUL-terminated (may end early at a decoded NUL) */
};

/* Split qs at '&', skip empty parts, cut each at its first '=', decode both halves. */
static size_t ref_query(const char *qs, struct pair *pairs)
{
	size_t n = 0;

	for (const char *p = qs; *p != '\0';) {
		size_t len = strcspn(p, "&"), nlen = strcspn(p, "=&");

		if (len > 0) {
			const char *v = nlen < len ? p + nlen + 1 : p + len;
			size_t vlen = nlen < len ? len - nlen - 1 : 0;

			pairs[n].name = calloc(1, nlen + 1);
			pairs[n].value = calloc(1, vlen + 1);
			if (pairs[n].name == NULL || pairs[n].value == NULL)
				abort();
			ref_decode((const uint8_t *)p, nlen, true, (uint8_t *)pairs[n].name);
			ref_decode((const uint8_t *)v, vlen, true, (uint8_t *)pairs[n].value);
			n++;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return n;
}

static const char *ref_lookup(const struct pair *pairs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(pairs[i].name, name) == 0)
			return pairs[i].value;
	}
	return NULL;
}

static void expect_query(fw_req *req, const struct pair *pairs, size_t n, const char *name)
{
	const char *got = fw_query(req, name), *want = ref_lookup(pairs, n, name);

	FZ_CHECK((got == NULL) == (want == NULL));
	if (got != NULL)
		FZ_CHECK(strcmp(got, want) == 0);
}

static void check_query(const uint8_t *data, size_t size)
{
	static const char *const extra[] = {"", "a", "q", "x y", "=", "&", "%", "+"};
	fw_req *req = fz_request("QUERY_STRING", data, size);
	const char *qs = fw_env(req, "QUERY_STRING");
	struct pair *pairs;
	size_t n;

	FZ_CHECK(qs != NULL && strlen(qs) == strnlen((const char *)data, size));
	if ((pairs = calloc(strlen(qs) / 2 + 2, sizeof(*pairs))) == NULL)
		abort();
	n = ref_query(qs, pairs);
	for (size_t i = 0; i < n; i++)
		expect_query(req, pairs, n, pairs[i].name);
	for (size_t i = 0; i < FW_NELEM(extra); i++)
		expect_query(req, pairs, n, extra[i]);
	/* Parsed once: asking again gives the same. */
	for (size_t i = 0; i < n; i++)
		expect_query(req, pairs, n, pairs[i].name);
	for (size_t i = 0; i < n; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
	fw_req_destroy(req);
}

/* ---- fw_json_string ---- */

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or 0. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

static void put_utf8(struct fw_buf *b, unsigned cp)
{
	uint8_t u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	}
	FZ_CHECK(fw_buf_append(b, u, n) == 0);
}

/* One escape after a '\\' at s[*i]; appends what it stands for. */
static void json_escape(const uint8_t *s, size_t len, size_t *i, struct fw_buf *out)
{
	static const char simple[] = "\"\\/bfnrt", value[] = "\"\\/\b\f\n\r\t";
	const char *e;
	unsigned cp = 0;

	FZ_CHECK(*i + 1 < len);
	if (s[*i + 1] != 'u') {
		FZ_CHECK(s[*i + 1] != '\0' && (e = strchr(simple, s[*i + 1])) != NULL);
		FZ_CHECK(fw_buf_putc(out, value[e - simple]) == 0);
		*i += 2;
		return;
	}
	FZ_CHECK(*i + 6 <= len);
	for (size_t k = 2; k < 6; k++) {
		FZ_CHECK(hex(s[*i + k]) >= 0);
		cp = cp << 4 | (unsigned)hex(s[*i + k]);
	}
	FZ_CHECK(cp < 0xd800 || cp > 0xdfff); /* never a surrogate: nothing needs one */
	put_utf8(out, cp);
	*i += 6;
}

/* Parse the JSON string; returns what it decodes to. */
static void json_decode(const uint8_t *s, size_t len, struct fw_buf *out)
{
	size_t i = 1, n;

	FZ_CHECK(len >= 2 && s[0] == '"' && s[len - 1] == '"');
	while (i < len - 1) {
		FZ_CHECK(s[i] >= 0x20 && s[i] != '"');
		if (s[i] == '\\') {
			json_escape(s, len - 1, &i, out);
			continue;
		}
		FZ_CHECK((n = utf8_seq(s + i, len - 1 - i)) > 0);
		FZ_CHECK(fw_buf_append(out, s + i, n) == 0);
		i += n;
	}
	FZ_CHECK(i == len - 1);
}

static void check_json(const uint8_t *data, size_t size)
{
	struct fw_buf json = FW_BUF_INIT, got = FW_BUF_INIT, want = FW_BUF_INIT;
	size_t n;

	FZ_CHECK(fw_json_string(&json, (const char *)data, size) == 0);
	json_decode((const uint8_t *)json.data, json.len, &got);
	for (size_t i = 0; i < size; i += n) {
		if ((n = utf8_seq(data + i, size - i)) > 0) {
			FZ_CHECK(fw_buf_append(&want, data + i, n) == 0);
		} else {
			put_utf8(&want, 0xfffd);
			n = 1;
		}
	}
	FZ_CHECK(got.len == want.len);
	FZ_CHECK(got.len == 0 || memcmp(got.data, want.data, got.len) == 0);
	fw_buf_release(&want);
	fw_buf_release(&got);
	fw_buf_release(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_percent(data, size, false);
	check_percent(data, size, true);
	check_query(data, size);
	check_json(data, size);
	return 0;
}
