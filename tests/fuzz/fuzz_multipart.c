/*
 * http/multipart: fw_multipart_boundary, fw_multipart_parse, _finish.
 *
 * Input: a split prefix (fuzz.h), then a Content-Type value up to the
 * first '\n', then the body. The high 5 bits of the first byte pick the
 * limits: bits 0-1 max_parts (1, 2, 8, 1000), bits 2-4 max_head (16 << k).
 * The body is parsed twice, whole and in pieces, and both must give the
 * same events (DATA joined per part), end in the same state and fail at
 * the same offset with the same message. Each piece is a heap block of
 * its exact size. Invariants: DATA points into the piece or the
 * delimiter, only inside a part; part strings are NUL-terminated, of the
 * given length, without control characters; at most max_parts parts;
 * parsed whole, each part's content is one slice of the body that holds
 * no delimiter, and the parser never takes more than it was given.
 */
#include "fuzz.h"

#include "core/result.h"
#include "http/multipart.h"

struct run {
	struct fw_multipart p;
	uint64_t hash;
	size_t offset, parts;
	bool failed, in_part, ended;
	const char *error;
	/* whole runs: the current part's content slice */
	const uint8_t *slice;
	size_t slice_len;
	bool whole;
};

static void check_string(const char *s, size_t len, bool may_be_null)
{
	if (s == NULL) {
		FZ_CHECK(may_be_null);
		return;
	}
	FZ_CHECK(strlen(s) == len);
	for (size_t i = 0; i < len; i++)
		FZ_CHECK((unsigned char)s[i] >= 0x20 || s[i] == '\t');
}

static void on_part(struct run *r, const struct fw_mp_event *ev)
{
	FZ_CHECK(!r->in_part && !r->ended);
	r->in_part = true;
	r->parts++;
	FZ_CHECK(r->parts <= r->p.max_parts);
	check_string(ev->part.name, ev->part.name_len, false);
	check_string(ev->part.filename, ev->part.filename_len, true);
	check_string(ev->part.content_type, ev->part.content_type_len, true);
	r->hash = fz_hash_u64(r->hash, 'P');
	r->hash = fz_hash_str(r->hash, ev->part.name);
	r->hash = fz_hash_str(r->hash, ev->part.filename);
	r->hash = fz_hash_str(r->hash, ev->part.content_type);
	r->slice = NULL;
	r->slice_len = 0;
}

static void on_data(struct run *r, const struct fw_mp_event *ev, const uint8_t *piece, size_t n)
{
	const uint8_t *d = ev->data;
	bool in_piece = d >= piece && d + ev->len <= piece + n;
	bool in_delim = d >= r->p.delim && d + ev->len <= r->p.delim + r->p.dlen;

	FZ_CHECK(r->in_part && ev->len > 0);
	FZ_CHECK(in_piece || in_delim);
	if (r->whole) {
		FZ_CHECK(in_piece);
		FZ_CHECK(r->slice == NULL || r->slice + r->slice_len == d);
		if (r->slice == NULL)
			r->slice = d;
		r->slice_len += ev->len;
	}
	r->hash = fz_hash(r->hash, d, ev->len);
}

static void on_part_end(struct run *r)
{
	FZ_CHECK(r->in_part);
	r->in_part = false;
	r->hash = fz_hash_u64(r->hash, 'E');
	/* The content holds no delimiter (it would have ended the part). */
	for (size_t i = 0; r->whole && r->slice_len >= r->p.dlen && i <= r->slice_len - r->p.dlen; i++)
		FZ_CHECK(memcmp(r->slice + i, r->p.delim, r->p.dlen) != 0);
}

static void on_event(struct run *r, const struct fw_mp_event *ev, const uint8_t *piece, size_t n)
{
	switch (ev->ev) {
	case FW_MP_PART:
		on_part(r, ev);
		break;
	case FW_MP_DATA:
		on_data(r, ev, piece, n);
		break;
	case FW_MP_PART_END:
		on_part_end(r);
		break;
	case FW_MP_END:
		FZ_CHECK(!r->in_part && !r->ended);
		r->ended = true;
		r->hash = fz_hash_u64(r->hash, 'Z');
		break;
	default:
		FZ_CHECK(!"unknown event");
	}
}

/* Feed one piece until it is used up; false after FW_ERROR. */
static bool feed(struct run *r, const uint8_t *src, size_t len)
{
	uint8_t *piece = r->whole ? (uint8_t *)src : fz_dup(src, len);
	size_t pos = 0;
	bool ok = true;

	for (;;) {
		struct fw_mp_event ev;
		size_t used = (size_t)-1;
		int rc = fw_multipart_parse(&r->p, piece + pos, len - pos, &used, &ev);

		FZ_CHECK(used <= len - pos);
		pos += used;
		r->offset += used;
		if (rc == FW_AGAIN) {
			FZ_CHECK(pos == len);
			break;
		}
		if (rc == FW_ERROR) {
			FZ_CHECK(r->p.error != NULL);
			r->failed = true;
			r->error = r->p.error;
			ok = false;
			break;
		}
		FZ_CHECK(rc == FW_OK);
		on_event(r, &ev, piece + pos - used, len - pos + used);
	}
	if (!r->whole)
		free(piece);
	return ok;
}

static void run_init(struct run *r, const char *boundary, size_t blen, uint8_t flags, bool whole)
{
	static const size_t max_parts[] = {1, 2, 8, 1000};

	memset(r, 0, sizeof(*r));
	fw_multipart_init(&r->p, boundary, blen, max_parts[flags & 3], (size_t)16 << ((flags >> 2) & 7));
	r->hash = FZ_HASH_INIT;
	r->whole = whole;
}

static void run_end(struct run *r)
{
	int rc;

	if (r->failed)
		return;
	rc = fw_multipart_finish(&r->p);
	FZ_CHECK((rc == FW_OK) == r->ended);
	if (rc != FW_OK) {
		FZ_CHECK(r->p.error != NULL);
		r->error = r->p.error;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_split split;
	char boundary[FW_MULTIPART_BOUNDARY_MAX + 1], *ct;
	const uint8_t *nl;
	const char *err = NULL;
	struct run *whole, *pieces;
	size_t pos = 0, ctlen;
	long blen;

	if (!fz_split_init(&split, &data, &size) || (nl = memchr(data, '\n', size)) == NULL)
		return 0;
	ctlen = (size_t)(nl - data);
	ct = (char *)fz_dup(data, ctlen);
	blen = fw_multipart_boundary(ct, ctlen, boundary, &err);
	free(ct);
	if (blen < 0) {
		FZ_CHECK(err != NULL);
		return 0;
	}
	FZ_CHECK(blen >= 1 && blen <= FW_MULTIPART_BOUNDARY_MAX && strlen(boundary) == (size_t)blen);
	data = nl + 1;
	size -= ctlen + 1;

	if ((whole = malloc(sizeof(*whole))) == NULL || (pieces = malloc(sizeof(*pieces))) == NULL)
		abort();
	run_init(whole, boundary, (size_t)blen, split.flags, true);
	feed(whole, data, size);
	run_end(whole);

	run_init(pieces, boundary, (size_t)blen, split.flags, false);
	do {
		size_t n = fz_split_next(&split, size - pos);

		if (!feed(pieces, data + pos, n))
			break;
		pos += n;
	} while (pos < size);
	run_end(pieces);

	FZ_CHECK(whole->hash == pieces->hash);
	FZ_CHECK(whole->failed == pieces->failed && whole->error == pieces->error);
	FZ_CHECK(!whole->failed || whole->offset == pieces->offset);
	FZ_CHECK(whole->parts == pieces->parts && whole->ended == pieces->ended);
	free(whole);
	free(pieces);
	return 0;
}
