#include "core/buf.h"

#include <stdbool.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

FW_API int fw_buf_reserve(struct fw_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - 1 - b->len)
		return -1;
	need = b->len + extra;
	/* After success data is never NULL, even for 0 bytes: it holds the NUL. */
	if (need <= b->cap && b->data != NULL)
		return 0;
	cap = b->cap < FW_BUF_MIN_CAP ? FW_BUF_MIN_CAP : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap + 1);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	b->data[b->len] = '\0';
	return 0;
}

void fw_buf_commit(struct fw_buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

FW_API int fw_buf_append(struct fw_buf *b, const void *p, size_t n)
{
	if (fw_buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	fw_buf_commit(b, n);
	return 0;
}

FW_API int fw_buf_puts(struct fw_buf *b, const char *s)
{
	return fw_buf_append(b, s, strlen(s));
}

FW_API int fw_buf_putc(struct fw_buf *b, char c)
{
	return fw_buf_append(b, &c, 1);
}

FW_API int fw_buf_vprintf(struct fw_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	/* Try in the room there is; most lines fit and need one pass. */
	va_copy(ap2, ap);
	n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len + 1 : 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	if ((size_t)n > b->cap - b->len || b->data == NULL) {
		if (fw_buf_reserve(b, (size_t)n) != 0)
			return -1;
		va_copy(ap2, ap);
		n = vsnprintf(b->data + b->len, b->cap - b->len + 1, fmt, ap2);
		va_end(ap2);
		if (n < 0)
			return -1;
	}
	fw_buf_commit(b, (size_t)n);
	return 0;
}

FW_API int fw_buf_printf(struct fw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = fw_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void fw_buf_consume(struct fw_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

void fw_buf_reset(struct fw_buf *b, size_t keep_cap)
{
	if (b->cap > keep_cap) {
		fw_buf_release(b);
		return;
	}
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

FW_API void fw_buf_release(struct fw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

FW_API void fw_buf_clear(struct fw_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

FW_API void fw_buf_truncate(struct fw_buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

FW_API void fw_buf_erase(struct fw_buf *b, size_t off, size_t n)
{
	if (off >= b->len)
		return;
	if (n > b->len - off)
		n = b->len - off;
	memmove(b->data + off, b->data + off + n, b->len - off - n);
	fw_buf_truncate(b, b->len - n);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

FW_API void fw_buf_trim(struct fw_buf *b)
{
	size_t start = 0, end = b->len;

	while (end > 0 && is_space(b->data[end - 1]))
		end--;
	while (start < end && is_space(b->data[start]))
		start++;
	fw_buf_truncate(b, end);
	fw_buf_erase(b, 0, start);
}

FW_API void fw_buf_percent_decode(struct fw_buf *b, int plus)
{
	if (b->len > 0)
		fw_buf_truncate(b, fw_percent_decode(b->data, b->len, plus != 0));
}

FW_API size_t fw_buf_replace_byte(struct fw_buf *b, char from, char to)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == from) {
			b->data[i] = to;
			n++;
		}
	}
	return n;
}

/*
 * The next occurrence of needle in [p, end): memchr (vectorised) to the
 * next first byte, then a compare. glibc's memmem prepares its algorithm
 * at every call, which dominates when matches are dense: this is one call
 * per match, each as cheap as the distance it covers.
 */
static const char *find(const char *p, const char *end, const char *needle, size_t nlen)
{
	while ((size_t)(end - p) >= nlen) {
		p = memchr(p, needle[0], (size_t)(end - p) - nlen + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p + 1, needle + 1, nlen - 1) == 0)
			return p;
		p++;
	}
	return NULL;
}

/* Occurrences of needle (not empty) in b, left to right, not overlapping. */
static size_t count_occurrences(const struct fw_buf *b, const char *needle, size_t nlen)
{
	const char *p = b->data, *end = b->data + b->len, *hit;
	size_t n = 0;

	while ((hit = find(p, end, needle, nlen)) != NULL) {
		n++;
		p = hit + nlen;
	}
	return n;
}

/*
 * Rewrite src[0..len) into dst, replacing each occurrence. dst may be src
 * (a replacement not longer than what it replaces) or lie before src in
 * the same buffer (replace_growing): the write position never passes the
 * read position, so memmove keeps every byte intact.
 */
static size_t rewrite(char *dst, const char *src, size_t len, const char *from, size_t flen,
		      const char *to, size_t tlen)
{
	const char *r = src, *end = src + len, *hit;
	char *w = dst;

	while ((hit = find(r, end, from, flen)) != NULL) {
		size_t chunk = (size_t)(hit - r);

		if (w != r)
			memmove(w, r, chunk);
		w += chunk;
		memmove(w, to, tlen);
		w += tlen;
		r = hit + flen;
	}
	if (w != r)
		memmove(w, r, (size_t)(end - r));
	return (size_t)(w - dst) + (size_t)(end - r);
}

/* Not longer: one pass where the bytes lie. */
static void replace_shrinking(struct fw_buf *b, const char *from, size_t flen, const char *to,
			      size_t tlen)
{
	b->len = rewrite(b->data, b->data, b->len, from, flen, to, tlen);
	b->data[b->len] = '\0';
}

/*
 * Longer: grow once by the total difference and move the bytes to the end
 * of the grown buffer; then the same left-to-right pass writes from the
 * start. After k bytes read and j replacements, the write position is
 * k + j*d and the read position grow + k = k + n*d (d = tlen - flen), so
 * a replacement written at the write position ends before the bytes it
 * replaces end: nothing is overwritten before it is read.
 */
static int replace_growing(struct fw_buf *b, const char *from, size_t flen, const char *to, size_t tlen,
			   size_t n)
{
	size_t d = tlen - flen, len = b->len;

	if (n > SIZE_MAX / d || fw_buf_reserve(b, n * d) != 0)
		return -1;
	memmove(b->data + n * d, b->data, len);
	b->len = rewrite(b->data, b->data + n * d, len, from, flen, to, tlen);
	b->data[b->len] = '\0';
	return 0;
}

FW_API long fw_buf_replace(struct fw_buf *b, const char *from, const char *to)
{
	size_t flen = strlen(from), tlen = strlen(to), n;

	if (flen == 0 || b->len == 0)
		return 0;
	n = count_occurrences(b, from, flen);
	if (n == 0)
		return 0;
	if (tlen <= flen)
		replace_shrinking(b, from, flen, to, tlen);
	else if (replace_growing(b, from, flen, to, tlen, n) != 0)
		return -1;
	return (long)n;
}

/* Every byte written, no branch: the compiler turns these loops into vector code. */
FW_API void fw_buf_lower(struct fw_buf *b)
{
	unsigned char *d = (unsigned char *)b->data;

	for (size_t i = 0; i < b->len; i++)
		d[i] = (unsigned char)(d[i] + ((unsigned char)(d[i] - 'A') < 26 ? 32 : 0));
}

FW_API void fw_buf_upper(struct fw_buf *b)
{
	unsigned char *d = (unsigned char *)b->data;

	for (size_t i = 0; i < b->len; i++)
		d[i] = (unsigned char)(d[i] - ((unsigned char)(d[i] - 'a') < 26 ? 32 : 0));
}
