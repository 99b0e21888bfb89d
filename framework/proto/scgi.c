#include "proto/scgi.h"

#include <string.h>

#include "core/result.h"
#include "core/str.h"

enum { ST_LEN, ST_HEADERS, ST_COMMA, ST_HEADERS_DONE, ST_BODY, ST_END };

/* 20 digits hold any size_t; max_header cuts far earlier. */
#define MAX_LEN_DIGITS 20

void fw_scgi_parser_init(struct fw_scgi_parser *p, size_t max_header)
{
	memset(p, 0, sizeof(*p));
	p->state = ST_LEN;
	p->max_header = max_header;
}

static int fail(struct fw_scgi_parser *p, const char *why)
{
	p->error = why;
	return FW_ERROR;
}

/* One character of the netstring length. */
static int length_char(struct fw_scgi_parser *p, uint8_t c)
{
	if (c == ':') {
		if (p->digits == 0)
			return fail(p, "netstring length missing before ':'");
		p->header_left = p->header_len;
		p->state = p->header_len > 0 ? ST_HEADERS : ST_COMMA;
		return FW_OK;
	}
	if (c < '0' || c > '9')
		return fail(p, "netstring length is not a decimal number");
	if (p->leading_zero)
		return fail(p, "netstring length has a leading zero");
	if (p->digits == 0 && c == '0')
		p->leading_zero = true;
	/* Checked before it grows: no length can overflow. */
	if (++p->digits > MAX_LEN_DIGITS || p->header_len > p->max_header / 10 ||
	    p->header_len * 10 + (size_t)(c - '0') > p->max_header)
		return fail(p, "header block larger than the limit");
	p->header_len = p->header_len * 10 + (size_t)(c - '0');
	return FW_OK;
}

int fw_scgi_parse(struct fw_scgi_parser *p, const uint8_t *buf, size_t len, size_t *used,
		  struct fw_scgi_event *ev)
{
	size_t pos = 0, n;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		switch (p->state) {
		case ST_LEN:
			if (pos == len)
				goto again;
			if (length_char(p, buf[pos++]) != FW_OK)
				goto error;
			break;
		case ST_HEADERS:
			if (pos == len)
				goto again;
			n = FW_MIN(p->header_left, len - pos);
			ev->ev = FW_SCGI_EV_HEADERS;
			ev->data = buf + pos;
			ev->len = n;
			pos += n;
			p->header_left -= n;
			if (p->header_left == 0)
				p->state = ST_COMMA;
			*used = pos;
			return FW_OK;
		case ST_COMMA:
			if (pos == len)
				goto again;
			if (buf[pos++] != ',') {
				fail(p, "netstring does not end with ','");
				goto error;
			}
			p->state = ST_HEADERS_DONE;
			ev->ev = FW_SCGI_EV_HEADERS_END;
			*used = pos;
			return FW_OK;
		case ST_HEADERS_DONE:
			/* Waits for fw_scgi_parser_body(): nothing is consumed. */
			goto again;
		case ST_BODY:
			if (p->body_left == 0) {
				p->state = ST_END;
				ev->ev = FW_SCGI_EV_END;
				*used = pos;
				return FW_OK;
			}
			if (pos == len)
				goto again;
			n = (size_t)FW_MIN(p->body_left, (uint64_t)(len - pos));
			ev->ev = FW_SCGI_EV_BODY;
			ev->data = buf + pos;
			ev->len = n;
			pos += n;
			p->body_left -= n;
			*used = pos;
			return FW_OK;
		case ST_END:
			goto again; /* one request per connection: the rest is not ours to parse */
		}
	}
again:
	*used = pos;
	return FW_AGAIN;
error:
	*used = pos;
	return FW_ERROR;
}

bool fw_scgi_parser_untouched(const struct fw_scgi_parser *p)
{
	return p->state == ST_LEN && p->digits == 0;
}

void fw_scgi_parser_body(struct fw_scgi_parser *p, uint64_t content_length)
{
	p->body_left = content_length;
	p->state = ST_BODY;
}

/* CONTENT_LENGTH's value: decimal, no sign, no leading zero except "0". */
static bool content_length_ok(const char *v, size_t n, uint64_t *out)
{
	unsigned long long x;

	if (n > 1 && v[0] == '0')
		return false;
	if (!fw_parse_uint(v, n, 1ULL << 62, &x))
		return false;
	*out = x;
	return true;
}

int fw_scgi_headers(const char *block, size_t len, struct fw_nv *out, size_t *count,
		    uint64_t *content_length, const char **error)
{
	size_t pos = 0, n = 0;

	if (len == 0 || block[len - 1] != '\0') {
		*error = "header block does not end with a NUL";
		return FW_ERROR;
	}
	while (pos < len) {
		const char *name = block + pos, *value;
		size_t nlen = strnlen(name, len - pos), vlen;

		if (nlen == 0) {
			*error = "empty header name";
			return FW_ERROR;
		}
		if (pos + nlen + 1 >= len) {
			*error = "header name without a value (odd number of strings)";
			return FW_ERROR;
		}
		value = name + nlen + 1;
		vlen = strnlen(value, len - pos - nlen - 1);
		if (n == 0) {
			if (nlen != 14 || memcmp(name, "CONTENT_LENGTH", 14) != 0) {
				*error = "CONTENT_LENGTH is not the first header";
				return FW_ERROR;
			}
			if (!content_length_ok(value, vlen, content_length)) {
				*error = "CONTENT_LENGTH is not a decimal number";
				return FW_ERROR;
			}
		} else if (nlen == 14 && memcmp(name, "CONTENT_LENGTH", 14) == 0) {
			/*
			 * The body's length is the first one; a request (CGI) reads the
			 * last. Two would let one pass max_body_kb and the other size the
			 * body, so a second one is refused.
			 */
			*error = "CONTENT_LENGTH is repeated";
			return FW_ERROR;
		}
		if (out != NULL) {
			out[n].name = name;
			out[n].name_len = (uint32_t)nlen;
			out[n].value = value;
			out[n].value_len = (uint32_t)vlen;
		}
		n++;
		pos += nlen + 1 + vlen + 1;
	}
	*count = n;
	return FW_OK;
}
