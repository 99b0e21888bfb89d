/*
 * FastCGI 1.0, the application side. Wire definitions come from libfcgi's
 * <fastcgi.h>; the code is ours because libfcgi only offers a blocking
 * accept loop and a parser that reads from its own stream.
 *
 * Pure code: no I/O, no logging, no globals. The record parser is a
 * resumable state machine over whatever bytes arrived; it never needs more
 * than the 8-byte header buffered, so a connection needs no input buffer
 * of its own, and splitting the input at any byte gives the same events.
 */
#ifndef FW_PROTO_FCGI_H
#define FW_PROTO_FCGI_H

#include <fastcgi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/nv.h"

/* ---- record parser ---- */

enum fw_fcgi_ev {
	FW_FCGI_EV_BEGIN = 1,  /* BEGIN_REQUEST: id, role, flags */
	FW_FCGI_EV_ABORT,      /* ABORT_REQUEST: id */
	FW_FCGI_EV_PARAMS,     /* a chunk of the PARAMS stream */
	FW_FCGI_EV_STDIN,      /* a chunk of the STDIN stream */
	FW_FCGI_EV_DATA,       /* a chunk of the DATA stream (FILTER role) */
	FW_FCGI_EV_GET_VALUES, /* a chunk of a GET_VALUES management record */
	FW_FCGI_EV_UNKNOWN,    /* a management record of a type we do not know */
};

struct fw_fcgi_event {
	enum fw_fcgi_ev ev;
	uint8_t type;  /* the record type (for EV_UNKNOWN: what to name back) */
	uint16_t id;   /* request id; 0 for management records */
	uint16_t role; /* EV_BEGIN */
	uint8_t flags; /* EV_BEGIN: FCGI_KEEP_CONN */
	/*
	 * Chunk events: data[0..len) is part of the record's content and points
	 * into the caller's input. `first` and `last` mark the first and last
	 * chunk of one record. An empty record gives one event with len 0 and
	 * both flags set: for a stream, that is its end.
	 */
	const uint8_t *data;
	size_t len;
	bool first, last;
};

struct fw_fcgi_parser {
	uint8_t hdr[FCGI_HEADER_LEN];
	uint8_t hdr_len;
	uint8_t state;
	uint8_t type;
	uint8_t body_len; /* bytes of a BEGIN_REQUEST body collected */
	uint8_t body[8];
	uint16_t id;
	uint16_t content_left;
	uint8_t padding_left;
	bool first;
	const char *error; /* why the last call returned FW_ERROR */
};

void fw_fcgi_parser_init(struct fw_fcgi_parser *p);

/* Between records, with nothing of the next one consumed? */
bool fw_fcgi_parser_at_boundary(const struct fw_fcgi_parser *p);

/*
 * Consume input from buf[0..len) up to the next event. *used gets the
 * number of bytes consumed (always, also on error).
 * FW_OK: *ev is filled; call again with the rest of the input.
 * FW_AGAIN: all input consumed without completing an event.
 * FW_ERROR: a framing error (p->error says which); the stream cannot be
 *           trusted any more and the connection must be closed.
 */
int fw_fcgi_parse(struct fw_fcgi_parser *p, const uint8_t *buf, size_t len, size_t *used,
		  struct fw_fcgi_event *ev);

/* ---- name-value pairs (PARAMS, GET_VALUES) ---- */

/*
 * Validate the complete name-value stream buf[0..len) and count its pairs.
 * Lengths (1 or 4 bytes each, up to 0x7fffffff) are checked against what is
 * left in the buffer, so no length can overflow or read past the end.
 * FW_OK with *count, or FW_ERROR with *error.
 */
int fw_fcgi_nv_count(const uint8_t *buf, size_t len, size_t *count, const char **error);

/*
 * Rewrite an fw_fcgi_nv_count()-validated buffer in place as
 * "name\0value\0" pairs and fill out[0..count) with pointers into it.
 * Each pair's encoding is at least two bytes longer than its header, so
 * the rewritten data always fits behind the bytes still to be read.
 */
void fw_fcgi_nv_unpack(uint8_t *buf, size_t len, struct fw_nv *out, size_t count);

/* Append one name-value pair, encoding each length in 1 or 4 bytes. */
int fw_fcgi_nv_put(struct fw_buf *out, const char *name, size_t nlen, const char *value, size_t vlen);

/* ---- emitter ---- */

/*
 * Append `len` bytes as records of `type` (STDOUT, STDERR) for request id,
 * each with at most FCGI_MAX_LENGTH bytes of content. len 0 appends the
 * empty record that ends the stream.
 */
int fw_fcgi_put_stream(struct fw_buf *out, uint8_t type, uint16_t id, const void *data, size_t len);

/* Room fw_fcgi_put_stream() needs for len bytes (headers included). */
size_t fw_fcgi_stream_size(size_t len);

int fw_fcgi_put_end(struct fw_buf *out, uint16_t id, uint32_t app_status, uint8_t protocol_status);
/* The same record into r, for a caller that may not allocate (a signal handler). */
#define FW_FCGI_END_LEN (FCGI_HEADER_LEN + 8)
void fw_fcgi_end_record(uint8_t r[FW_FCGI_END_LEN], uint16_t id, uint32_t app_status,
			uint8_t protocol_status);
int fw_fcgi_put_unknown_type(struct fw_buf *out, uint8_t type);
void fw_fcgi_header(uint8_t h[FCGI_HEADER_LEN], uint8_t type, uint16_t id, uint16_t content_len,
		    uint8_t padding_len);

#endif
