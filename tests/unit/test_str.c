/* core/str.c: percent decoding, CGI header names, tokens, numbers. */
#include <limits.h>
#include <string.h>

#include "check.h"
#include "core/str.h"

/* Decode the first len bytes of in; compare with out[0..outlen). */
static bool decodes(const char *in, size_t len, bool plus, const char *out, size_t outlen, int line)
{
	char buf[256];
	size_t n;

	memcpy(buf, in, len);
	buf[len] = '#'; /* must stay untouched */
	n = fw_percent_decode(buf, len, plus);
	return check_eq_mem(__FILE__, line, buf, n, out, outlen, in, "expected") &&
	       check_true(__FILE__, line, buf[len] == '#', "byte after the input untouched");
}

#define DECODES(in, plus, out) decodes(in, strlen(in), plus, out, sizeof(out) - 1, __LINE__)

static void test_percent_decode(void)
{
	DECODES("", false, "");
	DECODES("plain", false, "plain");
	DECODES("a%20b", false, "a b");
	DECODES("%41%42%43", false, "ABC");
	DECODES("%6a%6A%4a", false, "jjJ");
	DECODES("%00", false, "\0");
	DECODES("x%FFy", false, "x\xffy");
	DECODES("%2F..%2f", false, "/../");
	/* A '%' without two hex digits after it stays as it is. */
	DECODES("%", false, "%");
	DECODES("100%", false, "100%");
	DECODES("%4", false, "%4");
	DECODES("a%4", false, "a%4");
	DECODES("%zz", false, "%zz");
	DECODES("%g1", false, "%g1");
	DECODES("%1g", false, "%1g");
	DECODES("% 41", false, "% 41");
	DECODES("%%41", false, "%A");
	DECODES("%%", false, "%%");
	DECODES("%-1", false, "%-1");
	/* '+' is a space only when asked (query strings, not paths). */
	DECODES("a+b", false, "a+b");
	DECODES("a+b", true, "a b");
	DECODES("++", true, "  ");
	DECODES("%2B", true, "+");
	DECODES("a+b%2Bc", true, "a b+c");
	DECODES("%+", true, "% ");
	DECODES("%2+", true, "%2 ");
	/* Only len bytes are read: a '%' near the end is not completed from beyond. */
	decodes("%41XYZ", 3, false, "A", 1, __LINE__);
	decodes("ab%41", 4, false, "ab%4", 4, __LINE__);
	decodes("%4142", 2, false, "%4", 2, __LINE__);
}

static void test_header_is_cgi(void)
{
	CHECK(fw_header_is_cgi("Content-Type", "CONTENT_TYPE"));
	CHECK(fw_header_is_cgi("content-type", "CONTENT_TYPE"));
	CHECK(fw_header_is_cgi("CONTENT-TYPE", "CONTENT_TYPE"));
	CHECK(fw_header_is_cgi("Content-Length", "CONTENT_LENGTH"));
	CHECK(fw_header_is_cgi("content-length", "CONTENT_LENGTH"));
	/* nginx never sends these; a client-made header of that name is not it. */
	CHECK(!fw_header_is_cgi("Content-Type", "HTTP_CONTENT_TYPE"));
	CHECK(!fw_header_is_cgi("Content-Length", "HTTP_CONTENT_LENGTH"));
	CHECK(!fw_header_is_cgi("Content-Type", "CONTENT_LENGTH"));
	CHECK(!fw_header_is_cgi("Content", "CONTENT_TYPE"));
	CHECK(!fw_header_is_cgi("Content-Type-X", "CONTENT_TYPE"));

	CHECK(fw_header_is_cgi("User-Agent", "HTTP_USER_AGENT"));
	CHECK(fw_header_is_cgi("user-agent", "HTTP_USER_AGENT"));
	CHECK(fw_header_is_cgi("X-Forwarded-For", "HTTP_X_FORWARDED_FOR"));
	CHECK(fw_header_is_cgi("Accept", "HTTP_ACCEPT"));
	CHECK(fw_header_is_cgi("host", "HTTP_HOST"));
	CHECK(!fw_header_is_cgi("Host", "HTTP_HOSTNAME"));
	CHECK(!fw_header_is_cgi("Hostname", "HTTP_HOST"));
	CHECK(!fw_header_is_cgi("Http-Host", "HTTP_HOST"));
	CHECK(!fw_header_is_cgi("Accept", "http_accept"));
	CHECK(!fw_header_is_cgi("Accept", "HTTP_ACCEPT_ENCODING"));
	/* A header never names a CGI variable other than HTTP_*, CONTENT_*. */
	CHECK(!fw_header_is_cgi("User-Agent", "USER_AGENT"));
	CHECK(!fw_header_is_cgi("Request-Method", "REQUEST_METHOD"));
	CHECK(!fw_header_is_cgi("Query-String", "QUERY_STRING"));
	CHECK(!fw_header_is_cgi("Remote-Addr", "REMOTE_ADDR"));
}

static void test_is_token(void)
{
	CHECK(fw_is_token("GET"));
	CHECK(fw_is_token("X-Custom_1"));
	CHECK(fw_is_token("!#$%&'*+-.^_`|~"));
	CHECK(fw_is_token("a"));
	CHECK(!fw_is_token(""));
	CHECK(!fw_is_token("GE T"));
	CHECK(!fw_is_token("a:b"));
	CHECK(!fw_is_token("a\r"));
	CHECK(!fw_is_token("a\n"));
	CHECK(!fw_is_token("(x)"));
	CHECK(!fw_is_token("a/b"));
	CHECK(!fw_is_token("\"q\""));
	CHECK(!fw_is_token("\xc3\xa9"));
	CHECK(!fw_is_token("a\x7f"));
}

static bool parses(const char *s, unsigned long long max, unsigned long long want, int line)
{
	unsigned long long v = 12345;

	return check_true(__FILE__, line, fw_parse_uint(s, strlen(s), max, &v), s) &&
	       check_eq_uint(__FILE__, line, v, want, s, "expected");
}

static bool rejects(const char *s, unsigned long long max, int line)
{
	unsigned long long v = 12345;

	return check_true(__FILE__, line, !fw_parse_uint(s, strlen(s), max, &v), s);
}

#define PARSES(s, max, want) parses(s, max, want, __LINE__)
#define REJECTS(s, max) rejects(s, max, __LINE__)

static void test_parse_uint(void)
{
	unsigned long long v = 99;

	PARSES("0", 10, 0);
	PARSES("7", 10, 7);
	PARSES("123", 1000, 123);
	PARSES("007", 10, 7);
	PARSES("0000000000000000000000000000001", 10, 1);
	REJECTS("", 10);
	REJECTS("-1", 10);
	REJECTS("+5", 10);
	REJECTS(" 5", 10);
	REJECTS("5 ", 10);
	REJECTS("1a", 100);
	REJECTS("0x10", 100);
	REJECTS("1.0", 100);
	/* The limit is inclusive. */
	PARSES("100", 100, 100);
	REJECTS("101", 100);
	PARSES("9", 9, 9);
	REJECTS("10", 9);
	PARSES("10", 10, 10);
	REJECTS("11", 10);
	PARSES("0", 0, 0);
	REJECTS("1", 0);
	PARSES("65535", 65535, 65535);
	REJECTS("65536", 65535);
	PARSES("4611686018427387904", 1ULL << 62, 1ULL << 62);
	REJECTS("4611686018427387905", 1ULL << 62);
	/* Overflow of unsigned long long itself. */
	PARSES("18446744073709551615", ULLONG_MAX, ULLONG_MAX);
	PARSES("18446744073709551614", ULLONG_MAX, ULLONG_MAX - 1);
	REJECTS("18446744073709551616", ULLONG_MAX);
	REJECTS("18446744073709551620", ULLONG_MAX);
	REJECTS("99999999999999999999", ULLONG_MAX);
	REJECTS("184467440737095516150", ULLONG_MAX);
	REJECTS("100000000000000000000000000000", ULLONG_MAX);
	/* Only len bytes are read. */
	CHECK(fw_parse_uint("123abc", 3, 1000, &v));
	CHECK_EQ_UINT(v, 123);
	CHECK(!fw_parse_uint("123", 0, 1000, &v));
}

/* "." and ".." segments, also with %2e/%2E for a dot; anything else is not one. */
static void test_path_dot_segment(void)
{
	static const char *const dotted[] = {
		"/..",
		"/.",
		"/users/..",
		"/users/.",
		"/users/../admin",
		"/a/./b",
		"..",
		".",
		"../a",
		"./a",
		"/users/.%2e",
		"/users/%2e.",
		"/users/%2e%2e",
		"/users/%2E%2E",
		"/users/%2e",
		"/users/%2E",
		"/%2e%2E/x",
		"/a/..//b",
		"//./",
		"/a/b/c/..",
	};
	static const char *const clean[] = {
		"/",
		"",
		"/users",
		"/users/...",
		"/users/.../x",
		"/users/..a",
		"/users/a..",
		"/users/.a",
		"/users/a.",
		"/a.b",
		"/.well-known/x",
		"/users/%2e%2e%2e",
		"/users/%2",
		"/users/%2f",
		"/users/%252e",
		"/users/.%2",
		"/users/%2e%2",
		"//",
		"/a//b",
		"/users/%2e_",
		"/users/%3e",
		"/users/%2ea",
	};

	for (size_t i = 0; i < sizeof(dotted) / sizeof(dotted[0]); i++)
		check_true(__FILE__, __LINE__, fw_path_dot_segment(dotted[i]), dotted[i]);
	for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++)
		check_true(__FILE__, __LINE__, !fw_path_dot_segment(clean[i]), clean[i]);
}

int main(void)
{
	test_percent_decode();
	test_header_is_cgi();
	test_is_token();
	test_parse_uint();
	test_path_dot_segment();
	return check_done();
}
