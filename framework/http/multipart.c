#include "http/multipart.h"

#include <string.h>
#include <strings.h>

#include "core/result.h"
#include "http/mime.h"

enum {
	S_PREAMBLE, /* looking for the first delimiter; the bytes are dropped */
	S_AFTER,    /* a delimiter was read: "--", blanks or CR next */
	S_CLOSE,    /* "-" read after it */
	S_PADDING,  /* blanks after it */
	S_LF,       /* CR read after it */
	S_HEAD,     /* a part's header lines */
	S_DATA,     /* a part's content */
	S_EPILOGUE, /* after the close delimiter */
	S_ERROR,
};

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" and space, but not last. */
static bool boundary_ok(const char *b, size_t n)
{
	if (n == 0 || n > FW_MULTIPART_BOUNDARY_MAX || b[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c != '\0' && strchr("'()+_,-./:=? ", c) != NULL)))
			return false;
	}
	return true;
}

long fw_multipart_boundary(const char *ct, size_t len, char *out, const char **error)
{
	struct fw_mime_param p;
	char tmp[2 * FW_MULTIPART_BOUNDARY_MAX + 1];
	size_t pos = 0;
	long n = -1;
	int rc;

	if (!fw_mime_is(ct, len, "multipart/form-data")) {
		*error = "Content-Type is not multipart/form-data";
		return -1;
	}
	while ((rc = fw_mime_param_next(ct, len, &pos, &p)) == FW_OK) {
		if (p.name_len != 8 || strncasecmp(p.name, "boundary", 8) != 0)
			continue;
		if (n >= 0) {
			*error = "Content-Type has two boundary parameters";
			return -1;
		}
		/* Escapes make the quoted form at most twice as long as the boundary. */
		if (p.value_len > 2 * FW_MULTIPART_BOUNDARY_MAX)
			p.value_len = 2 * FW_MULTIPART_BOUNDARY_MAX + 1; /* too long either way */
		n = (long)(p.quoted ? fw_mime_unquote(p.value, p.value_len, tmp, false) : p.value_len);
		if (!p.quoted)
			memcpy(tmp, p.value, p.value_len);
		if (!boundary_ok(tmp, (size_t)n)) {
			*error = "the multipart boundary is not 1 to 70 characters of RFC 2046";
			return -1;
		}
		memcpy(out, tmp, (size_t)n);
		out[n] = '\0';
	}
	if (rc == FW_ERROR || n < 0) {
		*error = rc == FW_ERROR ? "malformed Content-Type parameters"
					: "multipart/form-data without a boundary";
		return -1;
	}
	return n;
}

void fw_multipart_init(struct fw_multipart *p, const char *boundary, size_t blen, size_t max_parts,
		       size_t max_head)
{
	p->state = S_PREAMBLE;
	p->dlen = 4 + blen;
	memcpy(p->delim, "\r\n--", 4);
	memcpy(p->delim + 4, boundary, blen);
	/* The first delimiter may open the body: as if a CRLF came before it. */
	p->match = 2;
	p->parts = 0;
	p->max_parts = max_parts;
	p->max_head = max_head < FW_MULTIPART_HEAD_MAX ? max_head : FW_MULTIPART_HEAD_MAX;
	p->head_len = 0;
	p->error = NULL;
}

static int fail(struct fw_multipart *p, const char *why)
{
	p->state = S_ERROR;
	p->error = why;
	return FW_ERROR;
}

/* ---- part headers ---- */

/* Decode a parameter value in place (it is not scanned again) and end it with a NUL. */
static const char *param_value(const struct fw_mime_param *mp, size_t *len)
{
	char *v = (char *)mp->value;

	*len = mp->quoted ? fw_mime_unquote(v, mp->value_len, v, true) : mp->value_len;
	v[*len] = '\0';
	return v;
}

static int disposition(struct fw_multipart *p, const char *v, size_t len, struct fw_mp_part *part)
{
	struct fw_mime_param mp, name = {0}, filename = {0};
	bool have_name = false, have_filename = false;
	size_t pos = 0;
	int rc;

	if (!fw_mime_is(v, len, "form-data"))
		return fail(p, "a part's Content-Disposition is not form-data");
	while ((rc = fw_mime_param_next(v, len, &pos, &mp)) == FW_OK) {
		bool is_name = mp.name_len == 4 && strncasecmp(mp.name, "name", 4) == 0;
		bool is_file = mp.name_len == 8 && strncasecmp(mp.name, "filename", 8) == 0;

		if ((is_name && have_name) || (is_file && have_filename))
			return fail(p, "a part's Content-Disposition repeats a parameter");
		if (is_name) {
			name = mp;
			have_name = true;
		} else if (is_file) {
			filename = mp;
			have_filename = true;
		}
	}
	if (rc == FW_ERROR)
		return fail(p, "a part's Content-Disposition is malformed");
	if (!have_name)
		return fail(p, "a part's Content-Disposition has no name");
	part->name = param_value(&name, &part->name_len);
	if (have_filename)
		part->filename = param_value(&filename, &part->filename_len);
	return FW_OK;
}

/* One "Name: value" line, line[0..len) without its CRLF. */
static int header_line(struct fw_multipart *p, char *line, size_t len, struct fw_mp_part *part,
		       bool *have_cd)
{
	char *colon = memchr(line, ':', len), *v, *end = line + len;
	size_t nlen;

	if (len > 0 && (line[0] == ' ' || line[0] == '\t'))
		return fail(p, "a part header is folded over lines");
	if (colon == NULL || colon == line)
		return fail(p, "a part header line is not Name: value");
	nlen = (size_t)(colon - line);
	for (size_t i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
			return fail(p, "a part header name is not a token");
	}
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++) {
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			return fail(p, "a part header value holds a control character");
	}
	if (nlen == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
		if (*have_cd)
			return fail(p, "a part has two Content-Disposition headers");
		*have_cd = true;
		return disposition(p, v, (size_t)(end - v), part);
	}
	if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
		if (part->content_type != NULL)
			return fail(p, "a part has two Content-Type headers");
		*end = '\0'; /* on the CR or a blank: the line is read already */
		part->content_type = v;
		part->content_type_len = (size_t)(end - v);
	}
	return FW_OK;
}

/* The header block head[0..head_len) ends with an empty line. */
static int headers_parse(struct fw_multipart *p, struct fw_mp_event *ev)
{
	char *line = p->head, *end = p->head + p->head_len - 2; /* without the last CRLF */
	bool have_cd = false;

	memset(&ev->part, 0, sizeof(ev->part));
	while (line < end) {
		char *cr = memchr(line, '\r', (size_t)(end - line));

		/* Every line of the block ends with CRLF (the block is cut at CRLF CRLF). */
		if (cr == NULL || cr[1] != '\n' || memchr(line, '\n', (size_t)(cr - line)) != NULL)
			return fail(p, "a part header line has a bare CR or LF");
		if (header_line(p, line, (size_t)(cr - line), &ev->part, &have_cd) != FW_OK)
			return FW_ERROR;
		line = cr + 2;
	}
	if (!have_cd)
		return fail(p, "a part has no Content-Disposition");
	ev->ev = FW_MP_PART;
	return FW_OK;
}

/* Take header bytes until the empty line; FW_OK with the PART event, FW_AGAIN, FW_ERROR. */
static int head_take(struct fw_multipart *p, const uint8_t *buf, size_t len, size_t *used,
		     struct fw_mp_event *ev)
{
	for (size_t i = 0; i < len; i++) {
		char *h = p->head;

		if (p->head_len == p->max_head) {
			*used = i;
			return fail(p, "a part's headers are longer than the limit");
		}
		h[p->head_len++] = (char)buf[i];
		if (buf[i] != '\n' || p->head_len < 2 || h[p->head_len - 2] != '\r')
			continue;
		if (p->head_len == 2 ||
		    (p->head_len >= 4 && memcmp(h + p->head_len - 4, "\r\n\r\n", 4) == 0)) {
			*used = i + 1;
			p->head[p->head_len] = '\0';
			if (headers_parse(p, ev) != FW_OK)
				return FW_ERROR;
			p->state = S_DATA;
			return FW_OK;
		}
	}
	*used = len;
	return FW_AGAIN;
}

/* ---- delimiters ---- */

/* The delimiter was read in full. */
static int delimiter_read(struct fw_multipart *p, struct fw_mp_event *ev)
{
	int was = p->state;

	p->match = 0;
	p->state = S_AFTER;
	if (was != S_DATA)
		return FW_AGAIN; /* the preamble ends: no event */
	ev->ev = FW_MP_PART_END;
	return FW_OK;
}

/* The bytes that follow a delimiter, one at a time. */
static int after_delimiter(struct fw_multipart *p, uint8_t c, struct fw_mp_event *ev)
{
	switch (p->state) {
	case S_AFTER:
		if (c == '-') {
			p->state = S_CLOSE;
			return FW_AGAIN;
		}
		/* blanks or the CR, as after blanks */
		__attribute__((fallthrough));
	case S_PADDING:
		if (c == ' ' || c == '\t') {
			p->state = S_PADDING;
			return FW_AGAIN;
		}
		if (c == '\r') {
			p->state = S_LF;
			return FW_AGAIN;
		}
		return fail(p, p->state == S_AFTER ? "the multipart boundary appears inside the body"
						   : "a multipart boundary line is not ended by CRLF");
	case S_CLOSE:
		if (c != '-')
			return fail(p, "the multipart boundary appears inside the body");
		p->state = S_EPILOGUE;
		ev->ev = FW_MP_END;
		return FW_OK;
	default: /* S_LF */
		if (c != '\n')
			return fail(p, "a multipart boundary line is not ended by CRLF");
		if (++p->parts > p->max_parts)
			return fail(p, "more multipart parts than the limit");
		p->head_len = 0;
		p->state = S_HEAD;
		return FW_AGAIN;
	}
}

/*
 * A delimiter begun earlier (or found at buf[0]): go on matching it.
 * FW_OK with an event, or FW_AGAIN: the input ran out (all taken), or a
 * delimiter ended the preamble. When it was no delimiter, *mismatch is
 * set: in data the held bytes come back as a DATA event (FW_OK), in the
 * preamble they are dropped (FW_AGAIN).
 */
static int held_continue(struct fw_multipart *p, const uint8_t *buf, size_t len, size_t *used,
			 struct fw_mp_event *ev, bool *mismatch)
{
	size_t k = 0;

	while (k < len && p->match + k < p->dlen && buf[k] == p->delim[p->match + k])
		k++;
	*used = k;
	*mismatch = false;
	if (p->match + k == p->dlen)
		return delimiter_read(p, ev);
	if (k == len) {
		p->match += k;
		return FW_AGAIN;
	}
	/* Not a delimiter: the held bytes and these k were data (or preamble). */
	*mismatch = true;
	ev->ev = FW_MP_DATA;
	ev->data = p->delim;
	ev->len = p->match + k;
	p->match = 0;
	return p->state == S_DATA ? FW_OK : FW_AGAIN;
}

/* The bytes of buf[0..len) before a delimiter, whole or cut by the end of the input. */
static size_t plain_bytes(const struct fw_multipart *p, const uint8_t *buf, size_t len)
{
	for (const uint8_t *c = buf; (c = memchr(c, '\r', len - (size_t)(c - buf))) != NULL; c++) {
		size_t room = len - (size_t)(c - buf), n = room < p->dlen ? room : p->dlen;

		if (memcmp(c, p->delim, n) == 0)
			return (size_t)(c - buf);
	}
	return len;
}

/* S_PREAMBLE and S_DATA: content until the next delimiter. */
static int content(struct fw_multipart *p, const uint8_t *buf, size_t len, size_t *used,
		   struct fw_mp_event *ev)
{
	size_t n;
	bool mismatch;
	int rc;

	if (p->match > 0) {
		rc = held_continue(p, buf, len, used, ev, &mismatch);
		if (!mismatch || p->state == S_DATA)
			return rc;
		buf += *used; /* preamble: go on in this call */
		len -= *used;
	} else {
		*used = 0;
	}
	n = plain_bytes(p, buf, len);
	if (n > 0 && p->state == S_DATA) {
		*used += n;
		ev->ev = FW_MP_DATA;
		ev->data = buf;
		ev->len = n;
		return FW_OK;
	}
	*used += n;
	if (n == len)
		return FW_AGAIN;
	/* A delimiter (or the start of one) at buf[n]. */
	{
		size_t more = 0;

		rc = held_continue(p, buf + n, len - n, &more, ev, &mismatch);
		*used += more;
		return rc;
	}
}

int fw_multipart_parse(struct fw_multipart *p, const uint8_t *buf, size_t len, size_t *used,
		       struct fw_mp_event *ev)
{
	size_t pos = 0, n;
	int rc;

	while (pos < len) {
		switch (p->state) {
		case S_PREAMBLE:
		case S_DATA:
			rc = content(p, buf + pos, len - pos, &n, ev);
			pos += n;
			if (rc == FW_AGAIN && p->state != S_PREAMBLE && p->state != S_DATA)
				continue; /* the preamble ended */
			if (rc == FW_AGAIN && pos < len)
				continue;
			*used = pos;
			return rc;
		case S_HEAD:
			rc = head_take(p, buf + pos, len - pos, &n, ev);
			*used = pos + n;
			return rc;
		case S_EPILOGUE:
			*used = len;
			return FW_AGAIN;
		case S_ERROR:
			*used = pos;
			return FW_ERROR;
		default:
			rc = after_delimiter(p, buf[pos++], ev);
			if (rc != FW_AGAIN) {
				*used = pos;
				return rc;
			}
		}
	}
	*used = pos;
	return p->state == S_ERROR ? FW_ERROR : FW_AGAIN;
}

int fw_multipart_finish(struct fw_multipart *p)
{
	switch (p->state) {
	case S_EPILOGUE:
		return FW_OK;
	case S_ERROR:
		return FW_ERROR;
	case S_PREAMBLE:
		return fail(p, "the multipart body has no boundary line");
	default:
		return fail(p, "the multipart body is cut short (no closing boundary)");
	}
}
