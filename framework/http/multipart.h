/*
 * multipart/form-data (RFC 7578, RFC 2046 5.1): a resumable parser over
 * (buf, len) with a caller-owned state, in the manner of proto/fcgi.h. It
 * does no I/O and no allocation and keeps nothing of the caller's buffers
 * between calls: a delimiter cut between two calls is held as a count of
 * its bytes matched, and what turns out to be data is handed out from the
 * parser's own copy of the delimiter.
 *
 * Events, in order: for each part PART (its headers), DATA (zero or more
 * pieces of its content), PART_END; then END once the close delimiter
 * "--boundary--" is read. The preamble and the epilogue are skipped. The
 * delimiter must be followed by "--", or by blanks and CRLF; part headers
 * end with an empty line, each line with CRLF, and must hold one
 * Content-Disposition: form-data with a name (and perhaps a filename), at
 * most one Content-Type; folded lines, bare CR or LF, more parts than
 * max_parts and header blocks over max_head bytes are errors.
 */
#ifndef FW_HTTP_MULTIPART_H
#define FW_HTTP_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 */
#define FW_MULTIPART_HEAD_MAX 8192   /* the largest max_head */

enum fw_mp_ev {
	FW_MP_PART,     /* a part begins: ev->part */
	FW_MP_DATA,     /* ev->data[0..len) of its content */
	FW_MP_PART_END, /* its content is complete */
	FW_MP_END,      /* the close delimiter: nothing follows but the epilogue */
};

struct fw_mp_part {
	/* NUL-terminated, in the parser's header buffer: valid until the next call */
	const char *name;
	const char *filename;     /* NULL without a filename parameter */
	const char *content_type; /* NULL without a Content-Type header */
	size_t name_len, filename_len, content_type_len;
};

struct fw_mp_event {
	enum fw_mp_ev ev;
	const uint8_t *data; /* FW_MP_DATA: into the caller's buffer, or the parser's delimiter */
	size_t len;
	struct fw_mp_part part;
};

struct fw_multipart {
	int state;
	size_t match; /* bytes of delim matched at the end of the input so far */
	size_t dlen;
	size_t parts;
	size_t max_parts;
	size_t max_head;
	size_t head_len;
	const char *error;                            /* after FW_ERROR: why, a static string */
	uint8_t delim[4 + FW_MULTIPART_BOUNDARY_MAX]; /* CRLF "--" boundary */
	char head[FW_MULTIPART_HEAD_MAX + 1];
};

/*
 * The boundary parameter of a multipart/form-data Content-Type value
 * (quoted or not, 1 to 70 characters of RFC 2046's set), into out (at
 * least FW_MULTIPART_BOUNDARY_MAX + 1 bytes, NUL-terminated). Returns its
 * length, or -1 with *error (another type, no or a bad boundary).
 */
long fw_multipart_boundary(const char *content_type, size_t len, char *out, const char **error);

/* Start a body; max_head is capped at FW_MULTIPART_HEAD_MAX. */
void fw_multipart_init(struct fw_multipart *p, const char *boundary, size_t blen, size_t max_parts,
		       size_t max_head);

/*
 * Parse from buf[0..len). FW_OK: *ev holds an event and *used bytes were
 * taken (possibly 0, when held delimiter bytes turn out to be data); call
 * again with the rest. FW_AGAIN: all len bytes were taken, more input is
 * needed. FW_ERROR: malformed, p->error says why; *used bytes were taken
 * up to the byte that showed it. Once END is seen, every later call
 * returns FW_AGAIN and takes everything (the epilogue).
 */
int fw_multipart_parse(struct fw_multipart *p, const uint8_t *buf, size_t len, size_t *used,
		       struct fw_mp_event *ev);

/* At the end of the body: FW_OK after END, else FW_ERROR with p->error (truncated). */
int fw_multipart_finish(struct fw_multipart *p);

#endif
