/*
 * A growable byte buffer. The bytes are data[0..len); when cap > 0 there
 * is always a NUL at data[len] (not counted), so text can be read as a
 * string. The buffer owns data; fw_buf_finish() frees it.
 *
 * Buffers are meant to be reused: fw_buf_reset() empties one and keeps its
 * memory, up to a ceiling, so that the next request writes into the same
 * pages instead of asking the allocator again.
 */
#ifndef FW_CORE_BUF_H
#define FW_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <fw/api.h>

struct fw_buf {
	char *data;
	size_t len;
	size_t cap; /* usable bytes, not counting the byte kept for the NUL */
};

#define FW_BUF_INIT {NULL, 0, 0}

/* Make room for `extra` more bytes. 0, or -1 on overflow or no memory. */
int fw_buf_reserve(struct fw_buf *b, size_t extra);
int fw_buf_append(struct fw_buf *b, const void *p, size_t n);
int fw_buf_puts(struct fw_buf *b, const char *s);
int fw_buf_putc(struct fw_buf *b, char c);
int fw_buf_printf(struct fw_buf *b, const char *fmt, ...) FW_PRINTF(2, 3);
int fw_buf_vprintf(struct fw_buf *b, const char *fmt, va_list ap);

/* Mark n bytes written directly after data + len (after a reserve). */
void fw_buf_commit(struct fw_buf *b, size_t n);

/* Drop the first n bytes (what a partial write sent). */
void fw_buf_consume(struct fw_buf *b, size_t n);

/* Empty the buffer; free its memory if it holds more than keep_cap. */
void fw_buf_reset(struct fw_buf *b, size_t keep_cap);
void fw_buf_finish(struct fw_buf *b);

#endif
