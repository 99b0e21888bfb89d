/* proto/fcgi_params.c: FastCGI name-value pairs. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/result.h"
#include "proto/fcgi.h"

/* Count pairs in a copy of exactly len bytes (ASan sees any over-read). */
static int count(const void *in, size_t len, size_t *n, const char **error)
{
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	memcpy(copy, in, len);
	*n = 12345;
	*error = NULL;
	r = fw_fcgi_nv_count(copy, len, n, error);
	free(copy);
	return r;
}

static bool count_is(const void *in, size_t len, size_t want, int line)
{
	const char *error;
	size_t n;
	int r = count(in, len, &n, &error);

	return check_eq_int(__FILE__, line, r, FW_OK, "fw_fcgi_nv_count", "FW_OK") &&
	       check_eq_uint(__FILE__, line, n, want, "pairs", "expected");
}

static bool count_fails(const void *in, size_t len, int line)
{
	const char *error;
	size_t n;
	int r = count(in, len, &n, &error);

	return check_eq_int(__FILE__, line, r, FW_ERROR, "fw_fcgi_nv_count", "FW_ERROR") &&
	       check_true(__FILE__, line, error != NULL && error[0] != '\0', "error message set");
}

#define COUNT_IS(lit, want) count_is(lit, sizeof(lit) - 1, want, __LINE__)
#define COUNT_FAILS(lit) count_fails(lit, sizeof(lit) - 1, __LINE__)

static void test_lengths(void)
{
	COUNT_IS("", 0);
	COUNT_IS("\x01\x01"
		 "AB",
		 1);
	COUNT_IS("\x00\x00", 1);
	COUNT_IS("\x00\x00\x00\x00", 2);
	COUNT_IS("\x01\x00"
		 "A",
		 1);
	COUNT_IS("\x00\x01"
		 "B",
		 1);
	/* The 4-byte form, also for lengths that would fit in one byte. */
	COUNT_IS("\x80\x00\x00\x01\x01"
		 "AB",
		 1);
	COUNT_IS("\x01\x80\x00\x00\x01"
		 "AB",
		 1);
	COUNT_IS("\x80\x00\x00\x00\x80\x00\x00\x00", 1);

	/* A length byte or a 4-byte length cut short. */
	COUNT_FAILS("\x01");
	COUNT_FAILS("\x80");
	COUNT_FAILS("\x80\x00\x00");
	COUNT_FAILS("\x01\x80\x00\x00");
	COUNT_FAILS("\x80\x00\x00\x01");
	COUNT_FAILS("\x00\x00\x01");
	/* Name or value running past the end. */
	COUNT_FAILS("\x02\x00"
		    "A");
	COUNT_FAILS("\x00\x02"
		    "A");
	COUNT_FAILS("\x03\x03"
		    "abcxy");
	COUNT_FAILS("\x01\x01"
		    "AB"
		    "\x01\x01"
		    "C");
	/* Claims of up to 0x7fffffff bytes in a short buffer. */
	COUNT_FAILS("\xff\xff\xff\xff\x00"
		    "abc");
	COUNT_FAILS("\x00\xff\xff\xff\xff"
		    "abc");
	COUNT_FAILS("\xff\xff\xff\xff\xff\xff\xff\xff"
		    "abc");
	COUNT_FAILS("\x7f\xff\xff\xff\xff"
		    "abc");
	COUNT_FAILS("\x80\x00\x00\x05\xff\xff\xff\xfb"
		    "abcde");
	COUNT_FAILS("\x01\x7f"
		    "A");
	/* Lengths whose sum wraps a 32-bit integer. */
	COUNT_FAILS("\xff\xff\xff\xff\x80\x00\x00\x01"
		    "A");
	COUNT_FAILS("\x80\x00\x00\x01\xff\xff\xff\xff"
		    "A");
}

/* Lengths checked against a buffer that really is big (1 MiB). */
static void test_huge_claim(void)
{
	size_t len = 1 << 20;
	uint8_t *buf = calloc(1, len);

	if (!CHECK(buf != NULL))
		return;
	memcpy(buf, "\xff\xff\xff\xff\x00", 5);
	{
		size_t n;
		const char *error = NULL;
		CHECK_EQ_INT(fw_fcgi_nv_count(buf, len, &n, &error), FW_ERROR);
		CHECK(error != NULL);
	}
	/* One byte more than there is, then the exact fit (5 + 0x0ffffb = 1 << 20). */
	memcpy(buf, "\x80\x0f\xff\xfc\x00", 5);
	{
		size_t n;
		const char *error = NULL;
		CHECK_EQ_INT(fw_fcgi_nv_count(buf, len, &n, &error), FW_ERROR);
		memcpy(buf, "\x80\x0f\xff\xfb\x00", 5);
		CHECK_EQ_INT(fw_fcgi_nv_count(buf, len, &n, &error), FW_OK);
		CHECK_EQ_UINT(n, 1);
	}
	free(buf);
}

static void test_put_encoding(void)
{
	struct fw_buf b = FW_BUF_INIT;
	char *v = malloc(70000);

	if (!CHECK(v != NULL))
		return;
	memset(v, 'v', 70000);
	CHECK_EQ_INT(fw_fcgi_nv_put(&b, "A", 1, "B", 1), 0);
	CHECK_EQ_MEM(b.data, b.len,
		     "\x01\x01"
		     "AB",
		     4);
	fw_buf_reset(&b, 0);
	CHECK_EQ_INT(fw_fcgi_nv_put(&b, "", 0, "", 0), 0);
	CHECK_EQ_MEM(b.data, b.len, "\x00\x00", 2);
	fw_buf_reset(&b, 0);

	/* 127 is the largest 1-byte length; 128 takes 4 bytes. */
	CHECK_EQ_INT(fw_fcgi_nv_put(&b, v, 127, v, 128), 0);
	CHECK_EQ_UINT(b.len, 1 + 4 + 127 + 128);
	CHECK_EQ_MEM(b.data, 5, "\x7f\x80\x00\x00\x80", 5);
	fw_buf_reset(&b, 0);
	CHECK_EQ_INT(fw_fcgi_nv_put(&b, v, 128, v, 127), 0);
	CHECK_EQ_MEM(b.data, 5, "\x80\x00\x00\x80\x7f", 5);
	fw_buf_reset(&b, 0);
	CHECK_EQ_INT(fw_fcgi_nv_put(&b, v, 255, v, 70000), 0);
	CHECK_EQ_MEM(b.data, 8, "\x80\x00\x00\xff\x80\x01\x11\x70", 8);
	CHECK_EQ_UINT(b.len, 8 + 255 + 70000);
	fw_buf_reset(&b, 0);

	/* Lengths past 31 bits cannot be encoded (nothing is read from the data). */
	CHECK_EQ_INT(fw_fcgi_nv_put(&b, "x", 0x80000000u, "", 0), -1);
	CHECK_EQ_INT(fw_fcgi_nv_put(&b, "", 0, "x", (size_t)0x80000000u), -1);
	fw_buf_release(&b);
	free(v);
}

static void test_unpack_simple(void)
{
	uint8_t buf[] = "\x04\x03"
			"HOSTabc"
			"\x00\x00"
			"\x05\x07"
			"EMPTYa\0b\r\nc\x7f"
			"\x01\x00"
			"N";
	size_t len = sizeof(buf) - 1, n;
	struct fw_nv nv[4];
	const char *error;

	if (!CHECK_EQ_INT(fw_fcgi_nv_count(buf, len, &n, &error), FW_OK) || !CHECK_EQ_UINT(n, 4))
		return;
	memset(nv, 0, sizeof(nv));
	fw_fcgi_nv_unpack(buf, len, nv, n);
	CHECK_EQ_STR(nv[0].name, "HOST");
	CHECK_EQ_UINT(nv[0].name_len, 4);
	CHECK_EQ_STR(nv[0].value, "abc");
	CHECK_EQ_UINT(nv[0].value_len, 3);
	CHECK_EQ_STR(nv[1].name, "");
	CHECK_EQ_UINT(nv[1].name_len, 0);
	CHECK_EQ_STR(nv[1].value, "");
	CHECK_EQ_UINT(nv[1].value_len, 0);
	CHECK_EQ_STR(nv[2].name, "EMPTY");
	/* NUL, CR and LF inside a value are kept, and counted. */
	CHECK_EQ_UINT(nv[2].value_len, 7);
	CHECK_EQ_MEM(nv[2].value, (size_t)nv[2].value_len + 1, "a\0b\r\nc\x7f", 8);
	CHECK_EQ_STR(nv[3].name, "N");
	CHECK_EQ_STR(nv[3].value, "");
	/* The layout is "name\0value\0" pairs from the start of the buffer. */
	CHECK(nv[0].name == (const char *)buf);
	CHECK_EQ_MEM(buf, 4 + 1 + 3 + 1 + 2, "HOST\0abc\0\0\0", 11);
}

/* Pairs whose encoding is exactly as long as "name\0value\0": the tightest fit. */
static void test_unpack_tight(void)
{
	uint8_t buf[3 * 200];
	struct fw_nv nv[200];
	size_t n;
	const char *error;

	for (size_t i = 0; i < 200; i++) {
		buf[3 * i] = 1;
		buf[3 * i + 1] = 0;
		buf[3 * i + 2] = (uint8_t)('A' + i % 26);
	}
	if (!CHECK_EQ_INT(fw_fcgi_nv_count(buf, sizeof(buf), &n, &error), FW_OK) ||
	    !CHECK_EQ_UINT(n, 200))
		return;
	fw_fcgi_nv_unpack(buf, sizeof(buf), nv, n);
	bool ok = true;
	for (size_t i = 0; i < 200; i++) {
		ok &= nv[i].name_len == 1 && nv[i].name[0] == (char)('A' + i % 26) &&
		      nv[i].name[1] == '\0' && nv[i].value_len == 0 && nv[i].value[0] == '\0';
	}
	CHECK(ok);
}

/* Many pairs of many sizes: put, count, unpack in place, compare. */
static void test_roundtrip(void)
{
	enum { N = 600 };
	static const size_t sizes[] = {0, 1, 2, 126, 127, 128, 129, 255, 256, 300, 1000, 65535, 70000};
	struct fw_buf b = FW_BUF_INIT;
	char *names[N], *values[N];
	size_t nl[N], vl[N], n;
	struct fw_nv *nv = calloc(N, sizeof(*nv));
	uint32_t x = 7;
	const char *error;
	bool ok = true;

	if (!CHECK(nv != NULL))
		return;
	for (size_t i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		nl[i] = sizes[(x >> 8) % (i % 50 == 0 ? 13 : 10)];
		x = x * 1103515245u + 12345u;
		vl[i] = sizes[(x >> 8) % (i % 40 == 0 ? 13 : 10)];
		names[i] = malloc(nl[i] + 1);
		values[i] = malloc(vl[i] + 1);
		for (size_t k = 0; k < nl[i]; k++)
			names[i][k] = (char)('a' + (i + k) % 26);
		for (size_t k = 0; k < vl[i]; k++) {
			x = x * 1103515245u + 12345u;
			values[i][k] = (char)(x >> 16); /* any byte, NUL included */
		}
		ok &= fw_fcgi_nv_put(&b, names[i], nl[i], values[i], vl[i]) == 0;
	}
	CHECK(ok);
	if (CHECK_EQ_INT(fw_fcgi_nv_count((uint8_t *)b.data, b.len, &n, &error), FW_OK) &&
	    CHECK_EQ_UINT(n, N)) {
		size_t mismatch = 0;

		fw_fcgi_nv_unpack((uint8_t *)b.data, b.len, nv, n);
		for (size_t i = 0; i < N; i++) {
			if (nv[i].name_len != nl[i] || nv[i].value_len != vl[i] ||
			    memcmp(nv[i].name, names[i], nl[i]) != 0 || nv[i].name[nl[i]] != '\0' ||
			    memcmp(nv[i].value, values[i], vl[i]) != 0 || nv[i].value[vl[i]] != '\0' ||
			    nv[i].value != nv[i].name + nl[i] + 1) {
				if (mismatch++ == 0)
					fprintf(stderr, "  pair %zu differs\n", i);
			}
		}
		CHECK_EQ_UINT(mismatch, 0);
	}
	/* Truncating the stream anywhere inside the last pair is an error. */
	{
		size_t last = 0, total = 0, bad = 0;

		for (size_t i = 0; i < N; i++) {
			size_t enc = (nl[i] < 128 ? 1 : 4) + (vl[i] < 128 ? 1 : 4) + nl[i] + vl[i];
			if (i == N - 1)
				last = total;
			total += enc;
		}
		CHECK_EQ_UINT(total, b.len);
		/* b was rewritten by unpack: build it again. */
		fw_buf_reset(&b, SIZE_MAX);
		for (size_t i = 0; i < N; i++)
			fw_fcgi_nv_put(&b, names[i], nl[i], values[i], vl[i]);
		for (size_t cut = last + 1; cut < b.len; cut += 1 + (b.len - last) / 50) {
			const char *e;
			bad += fw_fcgi_nv_count((uint8_t *)b.data, cut, &n, &e) != FW_ERROR;
		}
		CHECK_EQ_UINT(bad, 0);
		CHECK_EQ_INT(fw_fcgi_nv_count((uint8_t *)b.data, last, &n, &error), FW_OK);
		CHECK_EQ_UINT(n, N - 1);
	}
	for (size_t i = 0; i < N; i++) {
		free(names[i]);
		free(values[i]);
	}
	free(nv);
	fw_buf_release(&b);
}

/* unpack fills no more than count entries. */
static void test_unpack_count_limit(void)
{
	uint8_t buf[] = "\x01\x01"
			"ab"
			"\x01\x01"
			"cd";
	struct fw_nv nv[2];

	memset(nv, 0, sizeof(nv));
	fw_fcgi_nv_unpack(buf, sizeof(buf) - 1, nv, 1);
	CHECK_EQ_STR(nv[0].name, "a");
	CHECK_EQ_STR(nv[0].value, "b");
	CHECK(nv[1].name == NULL);
}

int main(void)
{
	test_lengths();
	test_huge_claim();
	test_put_encoding();
	test_unpack_simple();
	test_unpack_tight();
	test_roundtrip();
	test_unpack_count_limit();
	return check_done();
}
