/*
 * proto/fcgi: the record parser and the name-value decoder.
 *
 * Input: a split prefix (fuzz.h), then a FastCGI byte stream. The stream
 * is parsed twice, whole and cut into pieces, and both must give the same
 * events (chunks of one record joined), end in the same state and fail at
 * the same offset with the same message. Each piece is copied into a heap
 * block of its exact size, so a read past it is an AddressSanitizer
 * report. PARAMS streams (per request id, capped like max_params_kb) and
 * GET_VALUES records are decoded with fw_fcgi_nv_count/_unpack and
 * compared with a reference decoder; so is the raw stream itself.
 */
#include "fuzz.h"

#include "core/buf.h"
#include "core/result.h"
#include "proto/fcgi.h"

#define PARAMS_CAP (256 * 1024) /* what max_params_kb allows by default, roughly */
#define MAX_STREAMS 16

/* ---- name-value pairs: reference decoder and checks ---- */

struct ref_pair {
	const uint8_t *name, *value;
	uint32_t nlen, vlen;
};

/* Read one 1- or 4-byte length; false past the end. */
static bool ref_length(const uint8_t *b, size_t len, size_t *pos, uint64_t *out)
{
	if (*pos >= len)
		return false;
	if (b[*pos] < 0x80) {
		*out = b[(*pos)++];
		return true;
	}
	if (len - *pos < 4)
		return false;
	*out = ((uint64_t)(b[*pos] & 0x7f) << 24) | ((uint64_t)b[*pos + 1] << 16) |
	       ((uint64_t)b[*pos + 2] << 8) | b[*pos + 3];
	*pos += 4;
	return true;
}

/*
 * Decode the whole stream into pairs (pairs may be NULL to count only).
 * -1 when a pair runs past the end.
 */
static long ref_decode(const uint8_t *b, size_t len, struct ref_pair *pairs)
{
	size_t pos = 0;
	long n = 0;
	uint64_t nl, vl;

	while (pos < len) {
		if (!ref_length(b, len, &pos, &nl) || !ref_length(b, len, &pos, &vl))
			return -1;
		if (nl + vl > (uint64_t)(len - pos))
			return -1;
		if (pairs != NULL) {
			pairs[n].name = b + pos;
			pairs[n].nlen = (uint32_t)nl;
			pairs[n].value = b + pos + nl;
			pairs[n].vlen = (uint32_t)vl;
		}
		pos += (size_t)(nl + vl);
		n++;
	}
	return n;
}

/* The unpacked pairs lie in buf in order, NUL-terminated, and equal the reference. */
static void check_unpacked(const uint8_t *buf, size_t len, const struct fw_nv *out, size_t count,
			   const struct ref_pair *ref)
{
	const char *lo = (const char *)buf, *end = (const char *)buf + len;

	for (size_t i = 0; i < count; i++) {
		const struct fw_nv *nv = &out[i];

		FZ_CHECK(nv->name != NULL && nv->value != NULL);
		FZ_CHECK(nv->name >= lo && nv->name_len < (size_t)(end - nv->name));
		FZ_CHECK(nv->name[nv->name_len] == '\0');
		FZ_CHECK(nv->value == nv->name + nv->name_len + 1);
		FZ_CHECK(nv->value_len < (size_t)(end - nv->value));
		FZ_CHECK(nv->value[nv->value_len] == '\0');
		FZ_CHECK(nv->name_len == ref[i].nlen && nv->value_len == ref[i].vlen);
		FZ_CHECK(memcmp(nv->name, ref[i].name, nv->name_len) == 0);
		FZ_CHECK(memcmp(nv->value, ref[i].value, nv->value_len) == 0);
		lo = nv->value + nv->value_len + 1;
	}
}

/* Count and unpack an exact-size copy; returns the count, or -1 when invalid. */
static long nv_decode_check(const uint8_t *stream, size_t len, const struct ref_pair *ref, long want)
{
	uint8_t *buf = fz_dup(stream, len);
	const char *err = NULL;
	size_t count = 12345;
	struct fw_nv *out;
	int rc = fw_fcgi_nv_count(buf, len, &count, &err);

	FZ_CHECK(len == 0 || memcmp(buf, stream, len) == 0); /* counting does not write */
	if (want < 0) {
		FZ_CHECK(rc == FW_ERROR && err != NULL);
		free(buf);
		return -1;
	}
	FZ_CHECK(rc == FW_OK && count == (size_t)want);
	out = calloc(count + 1, sizeof(*out));
	if (out == NULL)
		abort();
	fw_fcgi_nv_unpack(buf, len, out, count);
	check_unpacked(buf, len, out, count, ref);
	FZ_CHECK(out[count].name == NULL); /* nothing written past count */
	free(out);
	free(buf);
	return (long)count;
}

/* Decode a complete name-value stream; re-encode what it held and decode that too. */
static void nv_check(const uint8_t *stream, size_t len)
{
	long want = ref_decode(stream, len, NULL);
	struct ref_pair *ref = NULL, *ref2 = NULL;
	struct fw_buf enc = FW_BUF_INIT;

	if (want > 0 && (ref = calloc((size_t)want, sizeof(*ref))) == NULL)
		abort();
	if (want > 0)
		ref_decode(stream, len, ref);
	if (nv_decode_check(stream, len, ref, want) > 0) {
		for (long i = 0; i < want; i++)
			FZ_CHECK(fw_fcgi_nv_put(&enc, (const char *)ref[i].name, ref[i].nlen,
						(const char *)ref[i].value, ref[i].vlen) == 0);
		/* The shortest encoding is never longer than the one we were given. */
		FZ_CHECK(enc.len <= len);
		FZ_CHECK(ref_decode((const uint8_t *)enc.data, enc.len, NULL) == want);
		if ((ref2 = calloc((size_t)want, sizeof(*ref2))) == NULL)
			abort();
		ref_decode((const uint8_t *)enc.data, enc.len, ref2);
		for (long i = 0; i < want; i++)
			FZ_CHECK(ref2[i].nlen == ref[i].nlen && ref2[i].vlen == ref[i].vlen);
		FZ_CHECK(nv_decode_check((const uint8_t *)enc.data, enc.len, ref, want) == want);
	}
	fw_buf_release(&enc);
	free(ref2);
	free(ref);
}

/* ---- collecting PARAMS streams and GET_VALUES records ---- */

struct stream {
	bool used, overflow;
	uint16_t id;
	uint8_t *data;
	size_t len;
};

struct collect {
	struct stream params[MAX_STREAMS];
	uint8_t *mgmt; /* the GET_VALUES record being read */
	size_t mgmt_len;
};

static void stream_drop(struct stream *s)
{
	free(s->data);
	memset(s, 0, sizeof(*s));
}

static struct stream *stream_find(struct collect *c, uint16_t id, bool create)
{
	struct stream *free_slot = NULL;

	for (size_t i = 0; i < MAX_STREAMS; i++) {
		if (c->params[i].used && c->params[i].id == id)
			return &c->params[i];
		if (!c->params[i].used && free_slot == NULL)
			free_slot = &c->params[i];
	}
	if (!create || free_slot == NULL)
		return NULL;
	free_slot->used = true;
	free_slot->id = id;
	return free_slot;
}

/* Append to a growing byte block. */
static void append(uint8_t **data, size_t *len, const uint8_t *p, size_t n)
{
	uint8_t *d;

	if (n == 0)
		return;
	if ((d = realloc(*data, *len + n)) == NULL)
		abort();
	memcpy(d + *len, p, n);
	*data = d;
	*len += n;
}

static void on_params(struct collect *c, const struct fw_fcgi_event *ev)
{
	struct stream *s = stream_find(c, ev->id, true);

	if (s == NULL)
		return;
	if (ev->len == 0 && ev->first && ev->last) { /* the empty record ends the stream */
		if (!s->overflow)
			nv_check(s->data, s->len);
		stream_drop(s);
		return;
	}
	if (s->overflow)
		return;
	if (s->len + ev->len > PARAMS_CAP) {
		s->overflow = true;
		free(s->data);
		s->data = NULL;
		s->len = 0;
		return;
	}
	append(&s->data, &s->len, ev->data, ev->len);
}

static void on_get_values(struct collect *c, const struct fw_fcgi_event *ev)
{
	if (ev->first) {
		free(c->mgmt);
		c->mgmt = NULL;
		c->mgmt_len = 0;
	}
	append(&c->mgmt, &c->mgmt_len, ev->data, ev->len);
	if (ev->last)
		nv_check(c->mgmt, c->mgmt_len);
}

static void collect_event(struct collect *c, const struct fw_fcgi_event *ev)
{
	struct stream *s;

	switch (ev->ev) {
	case FW_FCGI_EV_BEGIN:
	case FW_FCGI_EV_ABORT:
		if ((s = stream_find(c, ev->id, false)) != NULL)
			stream_drop(s);
		break;
	case FW_FCGI_EV_PARAMS:
		on_params(c, ev);
		break;
	case FW_FCGI_EV_GET_VALUES:
		on_get_values(c, ev);
		break;
	default:
		break;
	}
}

static void collect_finish(struct collect *c)
{
	for (size_t i = 0; i < MAX_STREAMS; i++)
		stream_drop(&c->params[i]);
	free(c->mgmt);
}

/* ---- one parse of the stream ---- */

struct run {
	struct fw_fcgi_parser p;
	uint64_t hash;
	size_t offset;     /* bytes consumed in all */
	bool failed;       /* FW_ERROR */
	const char *error; /* its message */
	bool in_record;    /* a chunked record has begun and not ended */
	enum fw_fcgi_ev rec_ev;
	uint16_t rec_id;
	struct collect *collect; /* NULL: do not decode params */
};

static bool is_chunk(enum fw_fcgi_ev e)
{
	return e == FW_FCGI_EV_PARAMS || e == FW_FCGI_EV_STDIN || e == FW_FCGI_EV_DATA ||
	       e == FW_FCGI_EV_GET_VALUES;
}

/* Check one event against the piece it came from; fold it into the hash. */
static void on_event(struct run *r, const struct fw_fcgi_event *ev, const uint8_t *piece,
		     size_t piece_len)
{
	uint64_t h = r->hash;

	FZ_CHECK(ev->ev >= FW_FCGI_EV_BEGIN && ev->ev <= FW_FCGI_EV_UNKNOWN);
	FZ_CHECK((ev->id == 0) == (ev->ev == FW_FCGI_EV_GET_VALUES || ev->ev == FW_FCGI_EV_UNKNOWN));
	if (is_chunk(ev->ev)) {
		FZ_CHECK(ev->data != NULL && ev->data >= piece);
		FZ_CHECK(ev->len <= (size_t)(piece + piece_len - ev->data));
		FZ_CHECK(ev->len <= FCGI_MAX_LENGTH);
		FZ_CHECK(ev->len > 0 || (ev->first && ev->last));
		if (r->in_record)
			FZ_CHECK(!ev->first && ev->ev == r->rec_ev && ev->id == r->rec_id);
		else
			FZ_CHECK(ev->first);
		r->in_record = !ev->last;
		r->rec_ev = ev->ev;
		r->rec_id = ev->id;
		if (ev->first)
			h = fz_hash_u64(fz_hash_u64(fz_hash_u64(h, 'S'), ev->ev),
					(uint64_t)ev->type << 16 | ev->id);
		h = fz_hash(h, ev->data, ev->len);
		if (ev->last)
			h = fz_hash_u64(h, 'E');
	} else {
		FZ_CHECK(!r->in_record);
		FZ_CHECK(ev->data == NULL && ev->len == 0);
		h = fz_hash_u64(h, ev->ev);
		h = fz_hash_u64(h, (uint64_t)ev->type << 40 | (uint64_t)ev->id << 24 |
					   (uint64_t)ev->role << 8 | ev->flags);
	}
	r->hash = h;
	if (r->collect != NULL)
		collect_event(r->collect, ev);
}

/* Feed one piece until it is used up; false after FW_ERROR. */
static bool feed(struct run *r, const uint8_t *src, size_t len)
{
	uint8_t *piece = fz_dup(src, len);
	size_t pos = 0;
	bool ok = true;

	for (;;) {
		struct fw_fcgi_event ev;
		size_t used = (size_t)-1;
		int rc = fw_fcgi_parse(&r->p, piece + pos, len - pos, &used, &ev);

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
		FZ_CHECK(used > 0); /* an event always takes at least one byte */
		on_event(r, &ev, piece, len);
	}
	free(piece);
	return ok;
}

static void run_init(struct run *r, struct collect *c)
{
	memset(r, 0, sizeof(*r));
	fw_fcgi_parser_init(&r->p);
	FZ_CHECK(fw_fcgi_parser_at_boundary(&r->p));
	r->hash = FZ_HASH_INIT;
	r->collect = c;
}

static void run_end(const struct run *r)
{
	if (!r->failed && fw_fcgi_parser_at_boundary(&r->p))
		FZ_CHECK(!r->in_record);
}

/* The two parses ended in the same state. */
static void same_end(const struct run *a, const struct run *b)
{
	FZ_CHECK(a->hash == b->hash);
	FZ_CHECK(a->failed == b->failed && a->offset == b->offset && a->error == b->error);
	FZ_CHECK(a->in_record == b->in_record);
	FZ_CHECK(fw_fcgi_parser_at_boundary(&a->p) == fw_fcgi_parser_at_boundary(&b->p));
	FZ_CHECK(a->p.state == b->p.state && a->p.hdr_len == b->p.hdr_len);
	FZ_CHECK(a->p.type == b->p.type && a->p.id == b->p.id);
	FZ_CHECK(a->p.content_left == b->p.content_left && a->p.padding_left == b->p.padding_left);
	FZ_CHECK(a->p.body_len == b->p.body_len && a->p.first == b->p.first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_split split;
	struct run whole, pieces;
	struct collect collect;
	size_t pos = 0;

	if (!fz_split_init(&split, &data, &size))
		return 0;

	/* The raw stream as a name-value block, for the decoder alone. */
	nv_check(data, size);

	run_init(&whole, NULL);
	feed(&whole, data, size);
	run_end(&whole);

	memset(&collect, 0, sizeof(collect));
	run_init(&pieces, &collect);
	do {
		size_t n = fz_split_next(&split, size - pos);

		if (!feed(&pieces, data + pos, n))
			break;
		pos += n;
	} while (pos < size);
	run_end(&pieces);
	same_end(&whole, &pieces);
	collect_finish(&collect);
	return 0;
}
