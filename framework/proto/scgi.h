/*
 * SCGI (python.ca/scgi/protocol.txt), the application side. A request is
 * a netstring of NUL-terminated header names and values, CONTENT_LENGTH
 * first, then exactly CONTENT_LENGTH body bytes; one request per
 * connection, answered with a CGI-style head and the body, then closed.
 *
 * Pure code: no I/O, no allocation. A resumable state machine over
 * whatever bytes arrived (split anywhere, the same events); the caller
 * owns the state and collects the header bytes it is handed.
 */
#ifndef FW_PROTO_SCGI_H
#define FW_PROTO_SCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/nv.h"

enum fw_scgi_ev {
	FW_SCGI_EV_HEADERS = 1, /* a chunk of the header block (netstring content) */
	FW_SCGI_EV_HEADERS_END, /* the block is complete (its ',' read): validate it */
	FW_SCGI_EV_BODY,        /* a chunk of the body */
	FW_SCGI_EV_END,         /* the body is complete; bytes after it are not read */
};

struct fw_scgi_event {
	enum fw_scgi_ev ev;
	const uint8_t *data; /* into the caller's input */
	size_t len;
};

struct fw_scgi_parser {
	uint8_t state;
	uint8_t digits; /* of the netstring length read so far */
	bool leading_zero;
	size_t header_len; /* declared length of the header block */
	size_t header_left;
	uint64_t body_left; /* set by fw_scgi_parser_body() */
	size_t max_header;  /* limit on header_len */
	const char *error;
};

/* max_header: the largest header block accepted (a longer one is an error). */
void fw_scgi_parser_init(struct fw_scgi_parser *p, size_t max_header);

/*
 * Consume input from buf[0..len) up to the next event. *used gets the
 * bytes consumed. FW_OK with *ev; FW_AGAIN: all input consumed (after
 * FW_SCGI_EV_END, nothing is consumed any more); FW_ERROR with p->error.
 */
int fw_scgi_parse(struct fw_scgi_parser *p, const uint8_t *buf, size_t len, size_t *used,
		  struct fw_scgi_event *ev);

/* Nothing consumed yet (not even a digit of the length)? */
bool fw_scgi_parser_untouched(const struct fw_scgi_parser *p);

/* After FW_SCGI_EV_HEADERS_END and validation: expect this many body bytes. */
void fw_scgi_parser_body(struct fw_scgi_parser *p, uint64_t content_length);

/*
 * Validate a complete header block and index it: an even number of
 * NUL-terminated strings, the first pair CONTENT_LENGTH with a decimal
 * value (no sign, no leading zeros but "0"), and no other CONTENT_LENGTH.
 * Names may not be empty.
 * Counts first with out == NULL (FW_OK, *count), then fills out[0..count).
 * *content_length gets the value. FW_ERROR with *error.
 */
int fw_scgi_headers(const char *block, size_t len, struct fw_nv *out, size_t *count,
		    uint64_t *content_length, const char **error);

#endif
