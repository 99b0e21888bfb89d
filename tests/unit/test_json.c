/* core/json.c: JSON strings from arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/json.h"

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode Table 3-7), or 0.
 * Written from the table, independently of json.c.
 */
static size_t wellformed(const unsigned char *s, size_t n)
{
	static const struct {
		unsigned char lo0, hi0, lo1, hi1;
		size_t len;
	} t[] = {
		{0x00, 0x7f, 0, 0, 1},       {0xc2, 0xdf, 0x80, 0xbf, 2}, {0xe0, 0xe0, 0xa0, 0xbf, 3},
		{0xe1, 0xec, 0x80, 0xbf, 3}, {0xed, 0xed, 0x80, 0x9f, 3}, {0xee, 0xef, 0x80, 0xbf, 3},
		{0xf0, 0xf0, 0x90, 0xbf, 4}, {0xf1, 0xf3, 0x80, 0xbf, 4}, {0xf4, 0xf4, 0x80, 0x8f, 4},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (s[0] < t[i].lo0 || s[0] > t[i].hi0)
			continue;
		if (t[i].len == 1)
			return 1;
		if (n < t[i].len || s[1] < t[i].lo1 || s[1] > t[i].hi1)
			return 0;
		for (size_t k = 2; k < t[i].len; k++) {
			if (s[k] < 0x80 || s[k] > 0xbf)
				return 0;
		}
		return t[i].len;
	}
	return 0;
}

/* What a JSON string of s should decode to: each ill-formed byte becomes U+FFFD. */
static size_t expected_text(const unsigned char *s, size_t n, unsigned char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		size_t k = wellformed(s + i, n - i);

		if (k == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	return o;
}

static int hex4(const unsigned char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/*
 * Parse j[0..n) as exactly one JSON string (RFC 8259) in valid UTF-8 and
 * decode it into out. Returns the decoded length, or (size_t)-1 if invalid.
 * Lone surrogate escapes are invalid here (json.c never writes them).
 */
static size_t json_decode(const unsigned char *j, size_t n, unsigned char *out)
{
	size_t i = 1, o = 0, k;

	if (n < 2 || j[0] != '"')
		return (size_t)-1;
	while (i < n) {
		unsigned char c = j[i];

		if (c == '"')
			return i == n - 1 ? o : (size_t)-1;
		if (c < 0x20)
			return (size_t)-1;
		if (c != '\\') {
			if ((k = wellformed(j + i, n - i)) == 0)
				return (size_t)-1;
			memcpy(out + o, j + i, k);
			o += k;
			i += k;
			continue;
		}
		if (i + 1 >= n)
			return (size_t)-1;
		c = j[i + 1];
		if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			out[o++] = (unsigned char)to[strchr(from, c) - from];
			i += 2;
		} else if (c == 'u' && i + 6 <= n) {
			int cp = hex4(j + i + 2);

			if (cp < 0 || (cp >= 0xd800 && cp <= 0xdfff))
				return (size_t)-1;
			if (cp < 0x80) {
				out[o++] = (unsigned char)cp;
			} else if (cp < 0x800) {
				out[o++] = (unsigned char)(0xc0 | cp >> 6);
				out[o++] = (unsigned char)(0x80 | (cp & 0x3f));
			} else {
				out[o++] = (unsigned char)(0xe0 | cp >> 12);
				out[o++] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
				out[o++] = (unsigned char)(0x80 | (cp & 0x3f));
			}
			i += 6;
		} else {
			return (size_t)-1;
		}
	}
	return (size_t)-1;
}

/* fw_json_string(s) must be exactly `want`. */
static bool json_is(const char *s, size_t len, const char *want, int line)
{
	struct fw_buf b = FW_BUF_INIT;
	bool ok = check_eq_int(__FILE__, line, fw_json_string(&b, s, len), 0, "fw_json_string", "0") &&
		  check_eq_mem(__FILE__, line, b.data, b.len, want, strlen(want), "output", want);

	fw_buf_release(&b);
	return ok;
}

#define JSON_IS(lit, want) json_is(lit, sizeof(lit) - 1, want, __LINE__)

static void test_escapes(void)
{
	JSON_IS("", "\"\"");
	JSON_IS("hello", "\"hello\"");
	JSON_IS("a\"b\\c", "\"a\\\"b\\\\c\"");
	JSON_IS("\"", "\"\\\"\"");
	JSON_IS("/", "\"/\"");
	JSON_IS("\n", "\"\\u000a\"");
	JSON_IS("\r\t", "\"\\u000d\\u0009\"");
	JSON_IS("\x01", "\"\\u0001\"");
	JSON_IS("\x1f", "\"\\u001f\"");
	JSON_IS("\0", "\"\\u0000\"");
	JSON_IS("a\0b", "\"a\\u0000b\"");
	JSON_IS(" ~\x7f", "\" ~\x7f\""); /* DEL is allowed raw in JSON */
}

static void test_utf8(void)
{
	/* Valid sequences pass through, at each length's edges. */
	JSON_IS("\xc2\x80", "\"\xc2\x80\"");                   /* U+0080 */
	JSON_IS("\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\""); /* été */
	JSON_IS("\xdf\xbf", "\"\xdf\xbf\"");                   /* U+07FF */
	JSON_IS("\xe0\xa0\x80", "\"\xe0\xa0\x80\"");           /* U+0800 */
	JSON_IS("\xe2\x82\xac", "\"\xe2\x82\xac\"");           /* U+20AC */
	JSON_IS("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");           /* U+D7FF */
	JSON_IS("\xee\x80\x80", "\"\xee\x80\x80\"");           /* U+E000 */
	JSON_IS("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");           /* U+FFFF */
	JSON_IS("\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\"");   /* U+10000 */
	JSON_IS("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");   /* U+1F600 */
	JSON_IS("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");   /* U+10FFFF */

	/* Invalid bytes become U+FFFD, one per byte that starts no valid sequence. */
	JSON_IS("\x80", "\"\\ufffd\"");
	JSON_IS("\xbf", "\"\\ufffd\"");
	JSON_IS("\xff", "\"\\ufffd\"");
	JSON_IS("\xfe", "\"\\ufffd\"");
	JSON_IS("\xf5\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	JSON_IS("a\xff"
		"b",
		"\"a\\ufffdb\"");
	/* Overlong forms. */
	JSON_IS("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	JSON_IS("\xc1\xbf", "\"\\ufffd\\ufffd\"");
	JSON_IS("\xc0\x80", "\"\\ufffd\\ufffd\"");
	JSON_IS("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	JSON_IS("\xe0\x9f\xbf", "\"\\ufffd\\ufffd\\ufffd\"");
	JSON_IS("\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	JSON_IS("\xf0\x8f\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	/* UTF-16 surrogates encoded in UTF-8 (CESU-8). */
	JSON_IS("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	JSON_IS("\xed\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\"");
	JSON_IS("\xed\xa0\xbd\xed\xb8\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
	/* Beyond U+10FFFF. */
	JSON_IS("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	/* Truncated sequences, at the end and before other bytes. */
	JSON_IS("\xc3", "\"\\ufffd\"");
	JSON_IS("\xe2\x82", "\"\\ufffd\\ufffd\"");
	JSON_IS("\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"");
	JSON_IS("\xe2\x82"
		"A",
		"\"\\ufffd\\ufffdA\"");
	JSON_IS("\xc3(", "\"\\ufffd(\"");
	JSON_IS("\xc3\"", "\"\\ufffd\\\"\"");
	JSON_IS("\xe2\x82\n", "\"\\ufffd\\ufffd\\u000a\"");
}

static void test_appends(void)
{
	struct fw_buf b = FW_BUF_INIT;

	fw_buf_puts(&b, "{\"k\":");
	CHECK_EQ_INT(fw_json_string(&b, "v\x01", 2), 0);
	fw_buf_putc(&b, '}');
	CHECK_EQ_STR(b.data, "{\"k\":\"v\\u0001\"}");
	/* Only len bytes are read. */
	fw_buf_reset(&b, 0);
	CHECK_EQ_INT(fw_json_string(&b, "abcdef", 3), 0);
	CHECK_EQ_STR(b.data, "\"abc\"");
	fw_buf_release(&b);
}

/* The output is one valid JSON string that decodes to the input, with U+FFFD. */
static bool roundtrip(const unsigned char *s, size_t n)
{
	struct fw_buf b = FW_BUF_INIT;
	unsigned char *dec = malloc(3 * n + 8), *want = malloc(3 * n + 8);
	size_t dlen, wlen;
	bool ok = false;

	if (dec == NULL || want == NULL || fw_json_string(&b, (const char *)s, n) != 0)
		goto out;
	dlen = json_decode((const unsigned char *)b.data, b.len, dec);
	wlen = expected_text(s, n, want);
	ok = dlen != (size_t)-1 && dlen == wlen && memcmp(dec, want, wlen) == 0;
	if (!ok) {
		fprintf(stderr, "  input ");
		check_print_mem(s, n);
		fprintf(stderr, "\n  output ");
		check_print_mem(b.data, b.len);
		fputc('\n', stderr);
	}
out:
	free(dec);
	free(want);
	fw_buf_release(&b);
	return ok;
}

static void test_always_valid(void)
{
	unsigned char s[16];
	uint32_t x = 12345;
	bool ok = true;
	int fails = 0;

	/* The checker itself must reject what is not valid. */
	unsigned char tmp[16];
	CHECK(json_decode((const unsigned char *)"\"\xff\"", 3, tmp) == (size_t)-1);
	CHECK(json_decode((const unsigned char *)"\"\n\"", 3, tmp) == (size_t)-1);
	CHECK(json_decode((const unsigned char *)"\"a\"b\"", 5, tmp) == (size_t)-1);
	CHECK(json_decode((const unsigned char *)"\"\\ud800\"", 8, tmp) == (size_t)-1);
	CHECK(json_decode((const unsigned char *)"\"\\ufffd\"", 8, tmp) == 3);

	/* Every one- and two-byte input. */
	for (int a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		if (!roundtrip(s, 1) && fails++ < 5)
			ok = false;
		for (int c = 0; c < 256; c++) {
			s[1] = (unsigned char)c;
			if (!roundtrip(s, 2) && fails++ < 5)
				ok = false;
		}
	}
	/* Pseudo-random inputs biased to the bytes that matter for UTF-8. */
	static const unsigned char interesting[] = {
		0x00, 0x1f, 0x20, '"',  '\\', 'a',  0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
		0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
	};
	for (int iter = 0; iter < 200000; iter++) {
		size_t n = 1 + iter % 8;

		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			s[i] = (x >> 16) % 4 == 0 ? (unsigned char)(x >> 8)
						  : interesting[(x >> 8) % sizeof(interesting)];
		}
		if (!roundtrip(s, n) && fails++ < 5)
			ok = false;
	}
	CHECK(ok);
	CHECK_EQ_INT(fails, 0);
}

int main(void)
{
	test_escapes();
	test_utf8();
	test_appends();
	test_always_valid();
	return check_done();
}
