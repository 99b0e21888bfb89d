/*
 * The byte buffer (public part in <fw/buf.h>) and what only fw uses.
 * Buffers are meant to be reused: fw_buf_reset() empties one and keeps its
 * memory, up to a ceiling, so that the next request writes into the same
 * pages instead of asking the allocator again.
 */
#ifndef FW_CORE_BUF_H
#define FW_CORE_BUF_H

#include <fw/buf.h>

/* A buffer's first capacity; it doubles from there. */
#define FW_BUF_MIN_CAP 256

/* Mark n bytes written directly after data + len (after a reserve). */
void fw_buf_commit(struct fw_buf *b, size_t n);

/* Drop the first n bytes (what a partial write sent). */
void fw_buf_consume(struct fw_buf *b, size_t n);

/* Empty the buffer; free its memory if it holds more than keep_cap. */
void fw_buf_reset(struct fw_buf *b, size_t keep_cap);

#endif
