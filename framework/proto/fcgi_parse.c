#include "proto/fcgi.h"

#include <string.h>

#include "core/result.h"

enum { ST_HEADER, ST_CONTENT, ST_PADDING };

void fw_fcgi_parser_init(struct fw_fcgi_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = ST_HEADER;
}

bool fw_fcgi_parser_at_boundary(const struct fw_fcgi_parser *p)
{
	return p->state == ST_HEADER && p->hdr_len == 0;
}

/* Decode and check the header just completed; set up the record. */
static int record_start(struct fw_fcgi_parser *p)
{
	const uint8_t *h = p->hdr;
	uint16_t clen = (uint16_t)(h[4] << 8 | h[5]);

	if (h[0] != FCGI_VERSION_1) {
		p->error = "unsupported FastCGI version";
		return FW_ERROR;
	}
	p->type = h[1];
	p->id = (uint16_t)(h[2] << 8 | h[3]);
	p->content_left = clen;
	p->padding_left = h[6];
	p->first = true;
	p->body_len = 0;
	if (p->id == FCGI_NULL_REQUEST_ID)
		return FW_OK; /* management: GET_VALUES, or answered UNKNOWN_TYPE */
	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		if (clen != sizeof(FCGI_BeginRequestBody)) {
			p->error = "BEGIN_REQUEST body is not 8 bytes";
			return FW_ERROR;
		}
		return FW_OK;
	case FCGI_ABORT_REQUEST:
	case FCGI_PARAMS:
	case FCGI_STDIN:
	case FCGI_DATA:
		return FW_OK;
	default:
		p->error = "record type not sent to applications";
		return FW_ERROR;
	}
}

static enum fw_fcgi_ev stream_ev(const struct fw_fcgi_parser *p)
{
	if (p->id == FCGI_NULL_REQUEST_ID)
		return p->type == FCGI_GET_VALUES ? FW_FCGI_EV_GET_VALUES : FW_FCGI_EV_UNKNOWN;
	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		return FW_FCGI_EV_BEGIN;
	case FCGI_ABORT_REQUEST:
		return FW_FCGI_EV_ABORT;
	case FCGI_PARAMS:
		return FW_FCGI_EV_PARAMS;
	case FCGI_STDIN:
		return FW_FCGI_EV_STDIN;
	default:
		return FW_FCGI_EV_DATA;
	}
}

/* Events for records whose content is delivered whole, or not at all. */
static bool delivered_whole(enum fw_fcgi_ev e)
{
	return e == FW_FCGI_EV_BEGIN || e == FW_FCGI_EV_ABORT || e == FW_FCGI_EV_UNKNOWN;
}

static void event_fill(struct fw_fcgi_parser *p, struct fw_fcgi_event *ev, enum fw_fcgi_ev e,
		       const uint8_t *data, size_t len, bool last)
{
	memset(ev, 0, sizeof(*ev));
	ev->ev = e;
	ev->type = p->type;
	ev->id = p->id;
	if (e == FW_FCGI_EV_BEGIN) {
		ev->role = (uint16_t)(p->body[0] << 8 | p->body[1]);
		ev->flags = p->body[2];
	} else if (!delivered_whole(e)) {
		ev->data = data;
		ev->len = len;
		ev->first = p->first;
		ev->last = last;
	}
	p->first = false;
}

int fw_fcgi_parse(struct fw_fcgi_parser *p, const uint8_t *buf, size_t len, size_t *used,
		  struct fw_fcgi_event *ev)
{
	size_t pos = 0, n;

	for (;;) {
		switch (p->state) {
		case ST_HEADER:
			n = FW_MIN((size_t)(FCGI_HEADER_LEN - p->hdr_len), len - pos);
			memcpy(p->hdr + p->hdr_len, buf + pos, n);
			p->hdr_len = (uint8_t)(p->hdr_len + n);
			pos += n;
			if (p->hdr_len < FCGI_HEADER_LEN)
				goto again;
			p->hdr_len = 0;
			if (record_start(p) != FW_OK) {
				*used = pos;
				return FW_ERROR;
			}
			if (p->content_left > 0) {
				p->state = ST_CONTENT;
				break;
			}
			p->state = p->padding_left > 0 ? ST_PADDING : ST_HEADER;
			event_fill(p, ev, stream_ev(p), buf + pos, 0, true);
			*used = pos;
			return FW_OK;

		case ST_CONTENT: {
			enum fw_fcgi_ev e = stream_ev(p);
			const uint8_t *data = buf + pos;
			bool last;

			if (pos == len)
				goto again;
			n = FW_MIN((size_t)p->content_left, len - pos);
			pos += n;
			p->content_left = (uint16_t)(p->content_left - n);
			last = p->content_left == 0;
			if (last)
				p->state = p->padding_left > 0 ? ST_PADDING : ST_HEADER;
			if (e == FW_FCGI_EV_BEGIN) {
				memcpy(p->body + p->body_len, data, n);
				p->body_len = (uint8_t)(p->body_len + n);
			}
			if (delivered_whole(e) && !last)
				break;
			event_fill(p, ev, e, data, n, last);
			*used = pos;
			return FW_OK;
		}

		case ST_PADDING:
			n = FW_MIN((size_t)p->padding_left, len - pos);
			pos += n;
			p->padding_left = (uint8_t)(p->padding_left - n);
			if (p->padding_left > 0)
				goto again;
			p->state = ST_HEADER;
			break;
		}
	}
again:
	*used = pos;
	return FW_AGAIN;
}
