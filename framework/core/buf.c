#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 256

int fw_buf_reserve(struct fw_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - 1 - b->len)
		return -1;
	need = b->len + extra;
	/* After success data is never NULL, even for 0 bytes: it holds the NUL. */
	if (need <= b->cap && b->data != NULL)
		return 0;
	cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
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

int fw_buf_append(struct fw_buf *b, const void *p, size_t n)
{
	if (fw_buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	fw_buf_commit(b, n);
	return 0;
}

int fw_buf_puts(struct fw_buf *b, const char *s)
{
	return fw_buf_append(b, s, strlen(s));
}

int fw_buf_putc(struct fw_buf *b, char c)
{
	return fw_buf_append(b, &c, 1);
}

int fw_buf_vprintf(struct fw_buf *b, const char *fmt, va_list ap)
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

int fw_buf_printf(struct fw_buf *b, const char *fmt, ...)
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
		fw_buf_finish(b);
		return;
	}
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void fw_buf_finish(struct fw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
