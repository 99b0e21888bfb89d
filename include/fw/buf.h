/*
 * A growable byte buffer, and the in-place transforms that let a hot path
 * work on bytes where they lie instead of building copies.
 *
 * The bytes are data[0..len). Whenever cap > 0 a NUL follows them at
 * data[len] (not counted), so text can be used as a C string. The buffer
 * owns data. Fields may be read freely; data[0..len) may be changed in
 * place; len and cap are changed only through these functions.
 *
 * Lifetimes: a buffer you declare (FW_BUF_INIT) is yours; fw_buf_release()
 * frees its memory. A buffer fw lends you (fw_scratch(), fw_request_body(),
 * fw_response_body() in <fw/req.h>) belongs to its request: it is emptied
 * and taken back when the request ends; do not release it or keep it.
 */
#ifndef FW_BUF_H
#define FW_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <fw/api.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fw_buf {
	char *data;
	size_t len;
	size_t cap; /* usable bytes, not counting the byte kept for the NUL */
} fw_buf;

#define FW_BUF_INIT        \
	{                  \
		NULL, 0, 0 \
	}

/* ---- growing: 0, or -1 when out of memory (the buffer is unchanged) ---- */

/* Make room for `extra` more bytes after len. */
FW_API int fw_buf_reserve(fw_buf *b, size_t extra);
FW_API int fw_buf_append(fw_buf *b, const void *data, size_t n);
FW_API int fw_buf_puts(fw_buf *b, const char *s);
FW_API int fw_buf_putc(fw_buf *b, char c);
FW_API int fw_buf_printf(fw_buf *b, const char *fmt, ...) FW_PRINTF(2, 3);
FW_API int fw_buf_vprintf(fw_buf *b, const char *fmt, va_list ap);

/* Empty it and keep its memory for what comes next. */
FW_API void fw_buf_clear(fw_buf *b);

/* Free its memory; the buffer is empty and usable again. */
FW_API void fw_buf_release(fw_buf *b);

/* ---- in place: no allocation unless a replacement is longer ---- */

/* Drop bytes from len on (len <= b->len). */
FW_API void fw_buf_truncate(fw_buf *b, size_t len);

/* Remove n bytes at off, moving the rest down. */
FW_API void fw_buf_erase(fw_buf *b, size_t off, size_t n);

/* Remove ASCII white space (space, \t, \r, \n, \v, \f) at both ends. */
FW_API void fw_buf_trim(fw_buf *b);

/* Decode %XX escapes (and '+' as space when plus is non-zero). */
FW_API void fw_buf_percent_decode(fw_buf *b, int plus);

/* Replace every byte `from` with `to`; returns how many. */
FW_API size_t fw_buf_replace_byte(fw_buf *b, char from, char to);

/*
 * Replace every occurrence of `from` (not empty) with `to`; returns how
 * many, or -1 when out of memory (the buffer is unchanged). When `to` is
 * not longer, the work happens in one pass where the bytes lie; a longer
 * one grows the buffer once and rewrites it from its end, still without a
 * copy. `from` and `to` must not point into b.
 */
FW_API long fw_buf_replace(fw_buf *b, const char *from, const char *to);

/* ASCII case, in place. */
FW_API void fw_buf_lower(fw_buf *b);
FW_API void fw_buf_upper(fw_buf *b);

#ifdef __cplusplus
}
#endif

#endif
