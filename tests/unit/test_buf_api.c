/*
 * The public fw_buf API (<fw/buf.h>): growing, clearing, releasing and the
 * in-place transforms, with their edge cases. fw_buf_replace is also
 * compared with a plain reference implementation on random inputs.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include <fw/buf.h>

/* data[len] is NUL whenever memory is held; no memory means data NULL, len 0. */
static bool nul_ok(const fw_buf *b)
{
	if (b->cap == 0)
		return b->data == NULL && b->len == 0;
	return b->data != NULL && b->len <= b->cap && b->data[b->len] == '\0';
}

#define CHECK_BUF(b, want) check_buf(&(b), (want), sizeof(want) - 1, __LINE__)

static bool check_buf(const fw_buf *b, const char *want, size_t n, int line)
{
	bool ok = check_eq_mem(__FILE__, line, b->data, b->len, want, n, "buffer", want);

	ok &= check_eq_uint(__FILE__, line, b->len, n, "len", "expected length");
	ok &= check_true(__FILE__, line, nul_ok(b), "NUL after the data");
	return ok;
}

static void set(fw_buf *b, const char *s, size_t n)
{
	fw_buf_clear(b);
	if (fw_buf_append(b, s, n) != 0)
		abort();
}

#define SET(b, lit) set(&(b), (lit), sizeof(lit) - 1)

/* ---- growing ---- */

static int vp(fw_buf *b, const char *fmt, ...) FW_PRINTF(2, 3);

static int vp(fw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = fw_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

static void test_growing(void)
{
	fw_buf b = FW_BUF_INIT;
	char *p;

	/* Reserve of 0 on a fresh buffer gives memory holding the NUL. */
	CHECK_EQ_INT(fw_buf_reserve(&b, 0), 0);
	CHECK(b.data != NULL);
	CHECK(nul_ok(&b));
	CHECK_EQ_UINT(b.len, 0);
	p = b.data;
	CHECK_EQ_INT(fw_buf_reserve(&b, b.cap), 0);
	CHECK(b.data == p); /* fits: nothing moves */
	CHECK_EQ_INT(fw_buf_reserve(&b, b.cap + 1), 0);
	CHECK(b.cap >= b.len + 1);
	CHECK(nul_ok(&b));

	CHECK_EQ_INT(fw_buf_append(&b, "ab", 2), 0);
	CHECK_EQ_INT(fw_buf_puts(&b, "cd"), 0);
	CHECK_EQ_INT(fw_buf_puts(&b, ""), 0);
	CHECK_EQ_INT(fw_buf_putc(&b, 'e'), 0);
	CHECK_EQ_INT(fw_buf_putc(&b, '\0'), 0);
	CHECK_EQ_INT(fw_buf_printf(&b, "%d|%s|%c", -7, "x", 'y'), 0);
	CHECK_EQ_INT(vp(&b, "[%05.1f]", 2.25), 0);
	CHECK_BUF(b, "abcde\0-7|x|y[002.2]");

	/* vprintf longer than the room left: written whole. */
	{
		char big[3000];

		memset(big, 'q', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		size_t before = b.len;
		CHECK_EQ_INT(vp(&b, "<%s>", big), 0);
		CHECK_EQ_UINT(b.len, before + 3001);
		CHECK(b.data[before] == '<' && b.data[before + 1] == 'q' && b.data[b.len - 2] == 'q' &&
		      b.data[b.len - 1] == '>');
		CHECK(nul_ok(&b));
	}
	/* vprintf into a fresh buffer. */
	{
		fw_buf c = FW_BUF_INIT;

		CHECK_EQ_INT(vp(&c, "%s%zu", "n=", (size_t)42), 0);
		CHECK_BUF(c, "n=42");
		fw_buf_release(&c);
		CHECK_EQ_INT(vp(&c, "%s", ""), 0);
		CHECK_EQ_UINT(c.len, 0);
		CHECK(c.data == NULL || c.data[0] == '\0');
		fw_buf_release(&c);
	}
	/* Out of range: -1, the buffer unchanged. */
	{
		size_t len = b.len, cap = b.cap;

		p = b.data;
		CHECK_EQ_INT(fw_buf_reserve(&b, SIZE_MAX), -1);
		CHECK_EQ_INT(fw_buf_append(&b, "x", SIZE_MAX - 1), -1);
		CHECK(b.data == p && b.len == len && b.cap == cap);
		CHECK(nul_ok(&b));
	}

	/* Release: empty and usable again. */
	fw_buf_release(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	fw_buf_release(&b); /* twice is fine */
	CHECK_EQ_INT(fw_buf_puts(&b, "again"), 0);
	CHECK_BUF(b, "again");
	fw_buf_release(&b);
}

/* ---- clear ---- */

static void test_clear(void)
{
	fw_buf b = FW_BUF_INIT;
	char *p;
	size_t cap;

	fw_buf_clear(&b); /* without memory: stays without memory */
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);

	for (int i = 0; i < 100; i++)
		fw_buf_puts(&b, "0123456789");
	p = b.data;
	cap = b.cap;
	fw_buf_clear(&b);
	CHECK(b.data == p);
	CHECK_EQ_UINT(b.cap, cap);
	CHECK_EQ_UINT(b.len, 0);
	CHECK(nul_ok(&b));
	CHECK_EQ_STR(b.data, "");
	/* The kept memory takes the next bytes without moving. */
	for (int i = 0; i < 100; i++)
		fw_buf_puts(&b, "abcdefghij");
	CHECK(b.data == p);
	CHECK_EQ_UINT(b.cap, cap);
	CHECK_EQ_UINT(b.len, 1000);
	CHECK(nul_ok(&b));
	fw_buf_release(&b);
}

/* ---- truncate, erase ---- */

static void test_truncate(void)
{
	fw_buf b = FW_BUF_INIT;

	fw_buf_truncate(&b, 0); /* no memory */
	CHECK(b.data == NULL && b.len == 0);
	SET(b, "hello world");
	fw_buf_truncate(&b, 11); /* equal: nothing */
	CHECK_BUF(b, "hello world");
	fw_buf_truncate(&b, 100); /* longer: nothing */
	CHECK_BUF(b, "hello world");
	fw_buf_truncate(&b, 5);
	CHECK_BUF(b, "hello");
	fw_buf_truncate(&b, 0);
	CHECK_BUF(b, "");
	/* Binary data: the NUL lands after the kept bytes. */
	SET(b, "a\0b\0c");
	fw_buf_truncate(&b, 3);
	CHECK_BUF(b, "a\0b");
	fw_buf_release(&b);
}

static void test_erase(void)
{
	fw_buf b = FW_BUF_INIT;

	fw_buf_erase(&b, 0, 0); /* no memory */
	fw_buf_erase(&b, 0, 10);
	fw_buf_erase(&b, 5, SIZE_MAX);
	CHECK(b.data == NULL && b.len == 0);

	SET(b, "0123456789");
	fw_buf_erase(&b, 3, 0);
	CHECK_BUF(b, "0123456789");
	fw_buf_erase(&b, 0, 2); /* at the start */
	CHECK_BUF(b, "23456789");
	fw_buf_erase(&b, 2, 3); /* in the middle */
	CHECK_BUF(b, "23789");
	fw_buf_erase(&b, 4, 1); /* the last byte */
	CHECK_BUF(b, "2378");
	fw_buf_erase(&b, 4, 1); /* off == len: nothing */
	CHECK_BUF(b, "2378");
	fw_buf_erase(&b, 100, 5); /* off past the end: nothing */
	CHECK_BUF(b, "2378");
	fw_buf_erase(&b, 1, 100); /* n past the end: up to the end */
	CHECK_BUF(b, "2");
	SET(b, "abcdef");
	fw_buf_erase(&b, 2, SIZE_MAX); /* off + n would overflow */
	CHECK_BUF(b, "ab");
	fw_buf_erase(&b, 0, SIZE_MAX);
	CHECK_BUF(b, "");
	SET(b, "x\0y\0z");
	fw_buf_erase(&b, 1, 2);
	CHECK_BUF(b, "x\0z");
	fw_buf_release(&b);
}

/* ---- trim ---- */

static void test_trim(void)
{
	fw_buf b = FW_BUF_INIT;

	fw_buf_trim(&b); /* no memory */
	CHECK(b.data == NULL && b.len == 0);
	SET(b, "");
	fw_buf_trim(&b);
	CHECK_BUF(b, "");
	SET(b, " \t\r\n\v\f");
	fw_buf_trim(&b); /* all white space */
	CHECK_BUF(b, "");
	SET(b, "x");
	fw_buf_trim(&b);
	CHECK_BUF(b, "x");
	SET(b, "no space");
	fw_buf_trim(&b); /* none at the ends, inner kept */
	CHECK_BUF(b, "no space");
	SET(b, " \t a \r\n b \v\f c\n\n");
	fw_buf_trim(&b);
	CHECK_BUF(b, "a \r\n b \v\f c");
	SET(b, "   left");
	fw_buf_trim(&b);
	CHECK_BUF(b, "left");
	SET(b, "right\r\n");
	fw_buf_trim(&b);
	CHECK_BUF(b, "right");
	SET(b, "\fy\v");
	fw_buf_trim(&b);
	CHECK_BUF(b, "y");
	/* Only ASCII white space: NUL, NBSP (0xa0), NEL (0x85) and 0x1c are kept. */
	SET(b, "\0 a \0");
	fw_buf_trim(&b);
	CHECK_BUF(b, "\0 a \0");
	SET(b, "\xa0z\x85");
	fw_buf_trim(&b);
	CHECK_BUF(b, "\xa0z\x85");
	SET(b, "\x1c q \x1c");
	fw_buf_trim(&b);
	CHECK_BUF(b, "\x1c q \x1c");
	/* The data stays where it is: trimming never reallocates. */
	{
		char *p;
		size_t cap;

		SET(b, "  \t  payload  \n ");
		p = b.data;
		cap = b.cap;
		fw_buf_trim(&b);
		CHECK_BUF(b, "payload");
		CHECK(b.data == p && b.cap == cap);
	}
	fw_buf_release(&b);
}

/* ---- percent_decode ---- */

#define DECODE(in, plus, want)                                   \
	do {                                                     \
		SET(b, in);                                      \
		fw_buf_percent_decode(&b, plus);                 \
		check_buf(&b, want, sizeof(want) - 1, __LINE__); \
	} while (0)

static void test_percent_decode(void)
{
	fw_buf b = FW_BUF_INIT;

	fw_buf_percent_decode(&b, 1); /* no memory */
	CHECK(b.data == NULL && b.len == 0);
	DECODE("", 0, "");
	DECODE("plain", 0, "plain");
	DECODE("%41%42c", 0, "ABc");
	DECODE("%6a%6A", 0, "jj"); /* either case of hex */
	DECODE("a%20b", 1, "a b");
	DECODE("a+b+", 0, "a+b+"); /* without plus: '+' kept */
	DECODE("a+b+", 1, "a b "); /* with plus: '+' is a space */
	DECODE("%2B+", 1, "+ ");   /* an escaped '+' stays '+' */
	DECODE("%2b", 0, "+");
	/* Invalid escapes are kept as they are. */
	DECODE("%zz", 0, "%zz");
	DECODE("%g1%1g", 0, "%g1%1g");
	DECODE("%", 0, "%");
	DECODE("%4", 0, "%4");
	DECODE("x%", 1, "x%");
	DECODE("x%4", 1, "x%4");
	DECODE("%%41", 0, "%A");
	DECODE("%%", 0, "%%");
	DECODE("%+41", 1, "% 41");
	DECODE("100%", 0, "100%");
	/* A decoded NUL is data, counted in len. */
	DECODE("a%00b", 0, "a\0b");
	DECODE("%ff%FE", 0, "\xff\xfe");
	/* Decoding never grows nor moves the data. */
	{
		char *p;

		SET(b, "%41%42%43%44");
		p = b.data;
		fw_buf_percent_decode(&b, 1);
		CHECK_BUF(b, "ABCD");
		CHECK(b.data == p);
	}
	fw_buf_release(&b);
}

/* ---- replace_byte ---- */

static void test_replace_byte(void)
{
	fw_buf b = FW_BUF_INIT;

	CHECK_EQ_UINT(fw_buf_replace_byte(&b, 'a', 'b'), 0); /* no memory */
	SET(b, "banana");
	CHECK_EQ_UINT(fw_buf_replace_byte(&b, 'a', 'o'), 3);
	CHECK_BUF(b, "bonono");
	CHECK_EQ_UINT(fw_buf_replace_byte(&b, 'x', 'y'), 0);
	CHECK_BUF(b, "bonono");
	CHECK_EQ_UINT(fw_buf_replace_byte(&b, 'o', 'o'), 3); /* counted even when equal */
	CHECK_BUF(b, "bonono");
	SET(b, "a\0b\0");
	CHECK_EQ_UINT(fw_buf_replace_byte(&b, '\0', '-'), 2); /* NULs in the data */
	CHECK_BUF(b, "a-b-");
	CHECK_EQ_UINT(fw_buf_replace_byte(&b, '-', '\0'), 2);
	CHECK_BUF(b, "a\0b\0");
	SET(b, "\xff\x80\xff");
	CHECK_EQ_UINT(fw_buf_replace_byte(&b, '\xff', 'z'), 2);
	CHECK_BUF(b, "z\x80z");
	/* The NUL after the data is not part of it. */
	SET(b, "abc");
	CHECK_EQ_UINT(fw_buf_replace_byte(&b, '\0', 'x'), 0);
	CHECK_BUF(b, "abc");
	fw_buf_release(&b);
}

/* ---- replace ---- */

/* Reference: left to right, not overlapping, into a new block. */
static char *ref_replace(const char *s, size_t n, const char *from, const char *to, size_t *outlen,
			 long *count)
{
	size_t flen = strlen(from), tlen = strlen(to), o = 0, i = 0;
	char *out = malloc(n * (tlen > flen ? tlen : 1) + 1);

	if (out == NULL)
		abort();
	*count = 0;
	while (i < n) {
		if (flen > 0 && n - i >= flen && memcmp(s + i, from, flen) == 0) {
			memcpy(out + o, to, tlen);
			o += tlen;
			i += flen;
			++*count;
		} else {
			out[o++] = s[i++];
		}
	}
	*outlen = o;
	return out;
}

#define REPLACE(in, from, to, want_n, want)                         \
	do {                                                        \
		SET(b, in);                                         \
		CHECK_EQ_INT(fw_buf_replace(&b, from, to), want_n); \
		check_buf(&b, want, sizeof(want) - 1, __LINE__);    \
	} while (0)

static void test_replace_cases(void)
{
	fw_buf b = FW_BUF_INIT;
	char *p;

	/* Empty buffer, with and without memory. */
	CHECK_EQ_INT(fw_buf_replace(&b, "a", "bb"), 0);
	CHECK(b.data == NULL && b.len == 0);
	REPLACE("", "a", "bb", 0, "");
	/* An empty `from` replaces nothing. */
	REPLACE("abc", "", "x", 0, "abc");
	REPLACE("abc", "", "", 0, "abc");
	/* No occurrence. */
	REPLACE("abc", "x", "yyy", 0, "abc");
	REPLACE("abc", "abcd", "", 0, "abc"); /* longer than the data */
	/* Shrinking. */
	REPLACE("a--b--c", "--", "-", 2, "a-b-c");
	REPLACE("--a--", "--", "", 2, "a");
	REPLACE("xxxx", "x", "", 4, "");
	REPLACE("abcabc", "abc", "X", 2, "XX");
	/* Equal. */
	REPLACE("a.b.c", ".", "/", 2, "a/b/c");
	REPLACE("hello world", "world", "there", 1, "hello there");
	REPLACE("abab", "ab", "ba", 2, "baba");
	/* Growing. */
	REPLACE("a.b.c", ".", "::", 2, "a::b::c");
	REPLACE(".a.", ".", "<>", 2, "<>a<>");  /* at both ends */
	REPLACE("...", ".", "<>", 3, "<><><>"); /* only occurrences */
	REPLACE("x", "x", "longer text", 1, "longer text");
	REPLACE("ab", "ab", "abab", 1, "abab"); /* `to` holds `from`: not replaced again */
	REPLACE("a", "a", "aa", 1, "aa");
	/* Overlapping patterns: left to right, not overlapping. */
	REPLACE("aaaa", "aa", "b", 2, "bb");
	REPLACE("aaaaa", "aa", "b", 2, "bba");
	REPLACE("aaa", "aa", "xyz", 1, "xyza");
	REPLACE("aaaaa", "aa", "XYZ", 2, "XYZXYZa");
	REPLACE("ababa", "aba", "_", 1, "_ba");
	REPLACE("aab", "ab", "a", 1, "aa"); /* the output is not scanned again */
	/* NULs in the data. */
	REPLACE("a\0a\0", "a", "bc", 2, "bc\0bc\0");
	REPLACE("\0x\0", "x", "", 1, "\0\0");

	/* Not longer: the data stays where it is. */
	SET(b, "one two three two one");
	p = b.data;
	CHECK_EQ_INT(fw_buf_replace(&b, "two", "2"), 2);
	CHECK_BUF(b, "one 2 three 2 one");
	CHECK(b.data == p);
	CHECK_EQ_INT(fw_buf_replace(&b, "one", "111"), 2);
	CHECK_BUF(b, "111 2 three 2 111");
	CHECK(b.data == p);
	fw_buf_release(&b);
}

/* A growing replace on a buffer whose capacity is exactly its length. */
static void test_replace_full_buffer(void)
{
	for (size_t n = 256; n <= 1024; n *= 2) {
		fw_buf b = FW_BUF_INIT;
		char *want = malloc(3 * n + 1);
		size_t o = 0;

		if (want == NULL)
			abort();
		for (size_t i = 0; i < n; i++) {
			char c = i % 3 == 0 ? ',' : (char)('a' + i % 26);

			fw_buf_putc(&b, c);
			if (c == ',') {
				memcpy(want + o, ", ", 2);
				o += 2;
			} else {
				want[o++] = c;
			}
		}
		if (!CHECK_EQ_UINT(b.cap, b.len))
			fprintf(stderr, "  (n %zu: cap %zu, the case needs cap == len)\n", n, b.cap);
		CHECK_EQ_INT(fw_buf_replace(&b, ",", ", "), (long)((n + 2) / 3));
		CHECK_EQ_MEM(b.data, b.len, want, o);
		CHECK(nul_ok(&b));
		CHECK(b.cap >= b.len);
		fw_buf_release(&b);

		/* Replacing the first and the last byte of a full buffer. */
		for (size_t i = 0; i < n; i++)
			fw_buf_putc(&b, i == 0 || i == n - 1 ? '#' : '.');
		CHECK_EQ_UINT(b.cap, b.len);
		CHECK_EQ_INT(fw_buf_replace(&b, "#", "[##]"), 2);
		CHECK_EQ_UINT(b.len, n + 6);
		CHECK(memcmp(b.data, "[##].", 5) == 0 && memcmp(b.data + b.len - 5, ".[##]", 5) == 0);
		CHECK(nul_ok(&b));
		fw_buf_release(&b);
		free(want);
	}
}

/* Many occurrences, growing and shrinking. */
static void test_replace_many(void)
{
	fw_buf b = FW_BUF_INIT;
	const size_t n = 100000;
	bool ok = true;

	for (size_t i = 0; i < n; i++)
		fw_buf_puts(&b, "a&");
	CHECK_EQ_INT(fw_buf_replace(&b, "&", "&amp;"), (long)n);
	CHECK_EQ_UINT(b.len, 6 * n);
	for (size_t i = 0; i < n && ok; i++)
		ok = memcmp(b.data + 6 * i, "a&amp;", 6) == 0;
	CHECK(ok);
	CHECK(nul_ok(&b));
	CHECK_EQ_INT(fw_buf_replace(&b, "&amp;", "&"), (long)n);
	CHECK_EQ_UINT(b.len, 2 * n);
	for (size_t i = 0; i < n && ok; i++)
		ok = memcmp(b.data + 2 * i, "a&", 2) == 0;
	CHECK(ok);
	CHECK(nul_ok(&b));
	fw_buf_release(&b);
}

/* xorshift: the same cases at every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static void random_string(char *s, size_t n, const char *alphabet, size_t alen)
{
	for (size_t i = 0; i < n; i++)
		s[i] = alphabet[rnd((uint32_t)alen)];
}

static void test_replace_random(void)
{
	/* Small alphabets make many (and overlapping) occurrences; the data may hold NULs. */
	static const char data_alpha[] = {'a', 'b', 'a', 'b', 'c', '\0'};
	static const char pat_alpha[] = "abc";
	int failures = 0, cases = 0;

	for (int k = 0; k < 30000 && failures < 5; k++) {
		char in[64], from[8], to[12], *want;
		size_t n = rnd(64), flen = 1 + rnd(4), tlen = rnd(9), wlen, cap_before;
		long wn, got;
		fw_buf b = FW_BUF_INIT;
		char *p;

		random_string(in, n, data_alpha, k % 3 == 0 ? 2 : sizeof(data_alpha));
		random_string(from, flen, pat_alpha, 1 + rnd(3));
		from[flen] = '\0';
		random_string(to, tlen, pat_alpha, 3);
		to[tlen] = '\0';
		/* Sometimes a buffer exactly full, or with memory but empty. */
		if (k % 5 == 0 && n > 0) {
			while (b.len < 256)
				fw_buf_putc(&b, 'z');
			fw_buf_clear(&b);
		}
		fw_buf_append(&b, in, n);
		want = ref_replace(in, n, from, to, &wlen, &wn);
		p = b.data;
		cap_before = b.cap;
		got = fw_buf_replace(&b, from, to);
		cases++;
		bool ok = got == wn && b.len == wlen && (wlen == 0 || memcmp(b.data, want, wlen) == 0) &&
			  nul_ok(&b) && b.cap >= b.len;
		/* Not longer (or nothing found): no allocation, the data stays. */
		if (tlen <= flen || wn == 0)
			ok = ok && b.data == p && b.cap == cap_before;
		if (!ok) {
			failures++;
			check_fail(__FILE__, __LINE__,
				   "random case %d: replace \"%s\" by \"%s\": got %ld, want %ld", k,
				   from, to, got, wn);
			fputs("  in   ", stderr);
			check_print_mem(in, n);
			fputs("\n  got  ", stderr);
			check_print_mem(b.data, b.len);
			fputs("\n  want ", stderr);
			check_print_mem(want, wlen);
			fputc('\n', stderr);
		}
		free(want);
		fw_buf_release(&b);
	}
	check_count++;
	printf("random replace: %d cases, %d failed\n", cases, failures);
}

/* ---- lower, upper ---- */

static void test_case(void)
{
	fw_buf b = FW_BUF_INIT;

	fw_buf_lower(&b); /* no memory */
	fw_buf_upper(&b);
	CHECK(b.data == NULL);
	SET(b, "Hello, World! 09 @[`{ \xc3\x89\xff\0Zz");
	fw_buf_lower(&b);
	CHECK_BUF(b, "hello, world! 09 @[`{ \xc3\x89\xff\0zz");
	fw_buf_upper(&b);
	CHECK_BUF(b, "HELLO, WORLD! 09 @[`{ \xc3\x89\xff\0ZZ");
	/* All 256 bytes: only A-Z / a-z change. */
	{
		char all[256], low[256], up[256];

		for (int i = 0; i < 256; i++) {
			all[i] = (char)i;
			low[i] = (char)(i >= 'A' && i <= 'Z' ? i + 32 : i);
			up[i] = (char)(i >= 'a' && i <= 'z' ? i - 32 : i);
		}
		set(&b, all, 256);
		fw_buf_lower(&b);
		CHECK_EQ_MEM(b.data, b.len, low, 256);
		CHECK(nul_ok(&b));
		set(&b, all, 256);
		fw_buf_upper(&b);
		CHECK_EQ_MEM(b.data, b.len, up, 256);
		CHECK(nul_ok(&b));
	}
	fw_buf_release(&b);
}

/* ---- the NUL after the data, after any sequence of operations ---- */

static void test_nul_always(void)
{
	fw_buf b = FW_BUF_INIT;
	bool ok = true;
	int bad_step = -1;

	for (int k = 0; k < 20000 && ok; k++) {
		char s[16];
		size_t n = rnd(16);

		random_string(s, n, " \tab%+2A\n", 9);
		switch (rnd(13)) {
		case 0:
			fw_buf_append(&b, s, n);
			break;
		case 1:
			fw_buf_putc(&b, s[0]);
			break;
		case 2:
			fw_buf_printf(&b, "%.*s", (int)n, s);
			break;
		case 3:
			fw_buf_clear(&b);
			break;
		case 4:
			fw_buf_truncate(&b, rnd((uint32_t)b.len + 1));
			break;
		case 5:
			fw_buf_erase(&b, rnd((uint32_t)b.len + 2), rnd(8));
			break;
		case 6:
			fw_buf_trim(&b);
			break;
		case 7:
			fw_buf_percent_decode(&b, (int)rnd(2));
			break;
		case 8:
			fw_buf_replace_byte(&b, 'a', 'b');
			break;
		case 9:
			fw_buf_replace(&b, "a", rnd(2) ? "xyz" : "");
			break;
		case 10:
			rnd(2) ? fw_buf_lower(&b) : fw_buf_upper(&b);
			break;
		case 11:
			fw_buf_reserve(&b, rnd(600));
			break;
		case 12:
			if (rnd(20) == 0)
				fw_buf_release(&b);
			break;
		}
		if (!nul_ok(&b)) {
			ok = false;
			bad_step = k;
		}
		if (b.len > 4096)
			fw_buf_clear(&b);
	}
	if (!CHECK(ok))
		fprintf(stderr, "  NUL missing after step %d\n", bad_step);
	fw_buf_release(&b);
}

int main(void)
{
	test_growing();
	test_clear();
	test_truncate();
	test_erase();
	test_trim();
	test_percent_decode();
	test_replace_byte();
	test_replace_cases();
	test_replace_full_buffer();
	test_replace_many();
	test_replace_random();
	test_case();
	test_nul_always();
	return check_done();
}
