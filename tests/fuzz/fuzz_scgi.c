/*
 * proto/scgi: the netstring parser, the header block validator and the
 * body count.
 *
 * Input: a split prefix (fuzz.h; its high bits, when not 0, pick a small
 * max_header), then an SCGI byte stream. The stream is parsed whole and
 * in pieces (each copied into a heap block of its exact size) and both
 * must give the same events, the same end state and fail at the same
 * offset. At HEADERS_END the collected block is checked against the
 * stream itself and validated with fw_scgi_headers (count, then fill),
 * compared with a reference; then the body is read for CONTENT_LENGTH.
 */
#include "fuzz.h"

#include "core/result.h"
#include "proto/scgi.h"

#define MAX_HEADER (64 * 1024)

/* ---- the header block: reference validator ---- */

struct ref_headers {
	bool ok;
	size_t count;
	uint64_t content_length;
};

/* Decimal, no sign, no leading zero but "0", at most 2^62. */
static bool ref_content_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || (n > 1 && v[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || x > ((1ULL << 62) - (uint64_t)(v[i] - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

/* Cut the block at its NULs: name, value, name, value, ... */
static struct ref_headers ref_validate(const char *b, size_t len)
{
	struct ref_headers r = {false, 0, 0};
	size_t strings = 0, start = 0;

	if (len == 0 || b[len - 1] != '\0')
		return r;
	for (size_t i = 0; i < len; i++) {
		if (b[i] != '\0')
			continue;
		if (strings % 2 == 0 && i == start)
			return r; /* empty name */
		if (strings == 0 && (i - start != 14 || memcmp(b, "CONTENT_LENGTH", 14) != 0))
			return r;
		if (strings == 1 && !ref_content_length(b + start, i - start, &r.content_length))
			return r;
		/* Only one CONTENT_LENGTH (a name: an even string). */
		if (strings > 1 && strings % 2 == 0 && i - start == 14 &&
		    memcmp(b + start, "CONTENT_LENGTH", 14) == 0)
			return r;
		strings++;
		start = i + 1;
	}
	if (strings % 2 != 0)
		return r;
	r.ok = true;
	r.count = strings / 2;
	return r;
}

/* Validate a copy of the block; FW_OK with *content_length when it is good. */
static int headers_check(const uint8_t *block, size_t len, uint64_t *content_length)
{
	char *b = (char *)fz_dup(block, len);
	struct ref_headers ref = ref_validate(b, len);
	const char *err = NULL;
	size_t count = 777, count2 = 888;
	uint64_t cl = 1, cl2 = 2;
	struct fw_nv *out;
	int rc = fw_scgi_headers(b, len, NULL, &count, &cl, &err);

	if (!ref.ok) {
		FZ_CHECK(rc == FW_ERROR && err != NULL);
		free(b);
		return FW_ERROR;
	}
	FZ_CHECK(rc == FW_OK && count == ref.count && cl == ref.content_length);
	FZ_CHECK(count >= 1);
	if ((out = calloc(count + 1, sizeof(*out))) == NULL)
		abort();
	FZ_CHECK(fw_scgi_headers(b, len, out, &count2, &cl2, &err) == FW_OK);
	FZ_CHECK(count2 == count && cl2 == cl);
	/* The pairs tile the block: name NUL value NUL, one after the other. */
	{
		const char *p = b;

		for (size_t i = 0; i < count; i++) {
			FZ_CHECK(out[i].name == p);
			FZ_CHECK(out[i].name_len > 0 && out[i].name_len == strlen(out[i].name));
			FZ_CHECK(out[i].value == p + out[i].name_len + 1);
			FZ_CHECK(out[i].value_len == strlen(out[i].value));
			p = out[i].value + out[i].value_len + 1;
			FZ_CHECK(p <= b + len);
		}
		FZ_CHECK(p == b + len);
		FZ_CHECK(out[count].name == NULL);
	}
	FZ_CHECK(strcmp(out[0].name, "CONTENT_LENGTH") == 0);
	free(out);
	free(b);
	*content_length = cl;
	return FW_OK;
}

/* ---- one parse of the stream ---- */

struct run {
	struct fw_scgi_parser p;
	const uint8_t *stream; /* the whole input, to check what the parser accepted */
	uint64_t hash;
	size_t offset;
	bool failed, rejected, accepted, ended;
	const char *error;
	uint8_t *hdr;
	size_t hdr_len;
	uint64_t content_length, body_seen;
};

/* What the parser accepted before HEADERS_END: "<len>:<block>,". */
static void check_netstring(const struct run *r)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%zu:", r->hdr_len);

	FZ_CHECK(n > 0 && r->offset == (size_t)n + r->hdr_len + 1);
	FZ_CHECK(memcmp(r->stream, digits, (size_t)n) == 0);
	FZ_CHECK(r->hdr_len == 0 || memcmp(r->stream + n, r->hdr, r->hdr_len) == 0);
	FZ_CHECK(r->stream[r->offset - 1] == ',');
	FZ_CHECK(r->hdr_len <= r->p.max_header && r->hdr_len == r->p.header_len);
}

static void on_headers_end(struct run *r)
{
	uint64_t cl = 0;

	check_netstring(r);
	r->hash = fz_hash_u64(r->hash, 'H');
	if (headers_check(r->hdr, r->hdr_len, &cl) != FW_OK) {
		r->rejected = true;
		r->hash = fz_hash_u64(r->hash, 'R');
		return;
	}
	r->accepted = true;
	r->content_length = cl;
	fw_scgi_parser_body(&r->p, cl);
}

static void on_event(struct run *r, const struct fw_scgi_event *ev, const uint8_t *piece,
		     size_t piece_len)
{
	FZ_CHECK(!r->ended && !r->rejected);
	switch (ev->ev) {
	case FW_SCGI_EV_HEADERS:
	case FW_SCGI_EV_BODY:
		FZ_CHECK(ev->data != NULL && ev->data >= piece && ev->len > 0);
		FZ_CHECK(ev->len <= (size_t)(piece + piece_len - ev->data));
		r->hash = fz_hash(r->hash, ev->data, ev->len);
		if (ev->ev == FW_SCGI_EV_BODY) {
			r->body_seen += ev->len;
			FZ_CHECK(r->body_seen <= r->content_length);
			break;
		}
		FZ_CHECK(r->hdr_len + ev->len <= r->p.max_header);
		if ((r->hdr = realloc(r->hdr, r->hdr_len + ev->len)) == NULL)
			abort();
		memcpy(r->hdr + r->hdr_len, ev->data, ev->len);
		r->hdr_len += ev->len;
		break;
	case FW_SCGI_EV_HEADERS_END:
		on_headers_end(r);
		break;
	case FW_SCGI_EV_END:
		FZ_CHECK(r->body_seen == r->content_length);
		r->ended = true;
		r->hash = fz_hash_u64(r->hash, 'E');
		break;
	default:
		FZ_CHECK(!"unknown event");
	}
}

/* Feed one piece; false when the parse is over (error, rejected block, end). */
static bool feed(struct run *r, const uint8_t *src, size_t len)
{
	uint8_t *piece = fz_dup(src, len);
	size_t pos = 0;
	bool more = true;

	for (;;) {
		struct fw_scgi_event ev;
		size_t used = (size_t)-1;
		int rc = fw_scgi_parse(&r->p, piece + pos, len - pos, &used, &ev);

		FZ_CHECK(used <= len - pos);
		pos += used;
		r->offset += used;
		if (rc == FW_AGAIN) {
			if (r->ended || r->rejected) { /* nothing is read any more */
				FZ_CHECK(used == 0);
				more = false;
			} else {
				FZ_CHECK(pos == len);
			}
			break;
		}
		if (rc == FW_ERROR) {
			FZ_CHECK(r->p.error != NULL && !r->ended && !r->rejected);
			r->failed = true;
			r->error = r->p.error;
			more = false;
			break;
		}
		FZ_CHECK(rc == FW_OK);
		FZ_CHECK(used > 0 || ev.ev == FW_SCGI_EV_END);
		on_event(r, &ev, piece, len);
		FZ_CHECK(!fw_scgi_parser_untouched(&r->p));
	}
	free(piece);
	return more;
}

static void run_init(struct run *r, const uint8_t *stream, size_t max_header)
{
	memset(r, 0, sizeof(*r));
	fw_scgi_parser_init(&r->p, max_header);
	FZ_CHECK(fw_scgi_parser_untouched(&r->p));
	r->stream = stream;
	r->hash = FZ_HASH_INIT;
}

static void same_end(const struct run *a, const struct run *b)
{
	FZ_CHECK(a->hash == b->hash);
	FZ_CHECK(a->failed == b->failed && a->error == b->error && a->offset == b->offset);
	FZ_CHECK(a->rejected == b->rejected && a->accepted == b->accepted && a->ended == b->ended);
	FZ_CHECK(a->hdr_len == b->hdr_len && a->body_seen == b->body_seen);
	FZ_CHECK(fw_scgi_parser_untouched(&a->p) == fw_scgi_parser_untouched(&b->p));
	FZ_CHECK(a->p.state == b->p.state && a->p.digits == b->p.digits);
	FZ_CHECK(a->p.header_len == b->p.header_len && a->p.header_left == b->p.header_left);
	FZ_CHECK(a->p.body_left == b->p.body_left);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_split split;
	struct run whole, pieces;
	size_t pos = 0, max_header;

	if (!fz_split_init(&split, &data, &size))
		return 0;
	max_header = split.flags == 0 ? MAX_HEADER : (size_t)split.flags * 3;

	run_init(&whole, data, max_header);
	feed(&whole, data, size);

	run_init(&pieces, data, max_header);
	do {
		size_t n = fz_split_next(&split, size - pos);

		if (!feed(&pieces, data + pos, n))
			break;
		pos += n;
	} while (pos < size);

	same_end(&whole, &pieces);
	/* The body ends exactly when CONTENT_LENGTH bytes followed the block. */
	if (whole.accepted)
		FZ_CHECK(whole.ended == (whole.body_seen == whole.content_length));
	free(whole.hdr);
	free(pieces.hdr);
	return 0;
}
