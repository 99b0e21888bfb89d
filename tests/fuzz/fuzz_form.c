/*
 * http/form.c (fw_form_parse, fw_form*, fw_form_file*) over a request body,
 * and http/urlencoded underneath.
 *
 * Input: one byte, then the body. Bit 0 of the byte: 0 = urlencoded, 1 =
 * multipart/form-data with the boundary "XyZ". Bits 1-2: max_form_fields
 * (2, 5, 50, 1000). What fw_form gives is compared with a reference:
 * - urlencoded: split at '&', empty parts skipped, cut at the first '=',
 *   percent-decoded with '+' as space (each a C string, so it ends at a
 *   decoded NUL); 400 exactly when there are more pairs than the limit;
 * - multipart: the parts fw_multipart_parse reports for the whole body;
 *   400 exactly when it fails or there are more parts than the limit
 *   (an empty body has no fields and is no error);
 *   text parts become fields (values as C strings), parts with a filename
 *   uploads whose data are the part's bytes, inside the body.
 */
#include "fuzz.h"
#include "fuzz_req.h"

#include "core/buf.h"
#include "core/result.h"
#include "http/form.h"
#include "http/multipart.h"
#include "http/req.h"
#include "proto/fcgi.h"

static const size_t limits[] = {2, 5, 50, 1000};

static fw_req *request(const char *ct, const uint8_t *body, size_t len)
{
	fw_req *req = fz_request("CONTENT_TYPE", ct, strlen(ct));

	if (fw_buf_append(&req->body, body, len) != 0)
		abort();
	req->state = FW_REQ_RUNNING;
	return req;
}

static int hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode p[0..n) as a C string into a fresh allocation. */
static char *ref_decode(const uint8_t *p, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (out == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%' && i + 2 < n && hex(p[i + 1]) >= 0 && hex(p[i + 2]) >= 0) {
			out[o++] = (char)(hex(p[i + 1]) * 16 + hex(p[i + 2]));
			i += 2;
		} else {
			out[o++] = p[i] == '+' ? ' ' : (char)p[i];
		}
	}
	out[o] = '\0';
	return out;
}

static void check_urlencoded(const uint8_t *body, size_t len, size_t limit)
{
	fw_req *req = request("application/x-www-form-urlencoded", body, len);
	size_t n = 0, pos = 0;
	int status = fw_form_parse(req);

	while (pos < len) {
		const uint8_t *amp = memchr(body + pos, '&', len - pos);
		size_t end = amp != NULL ? (size_t)(amp - body) : len;

		if (end > pos) {
			const uint8_t *eq = memchr(body + pos, '=', end - pos);
			size_t nend = eq != NULL ? (size_t)(eq - body) : end;
			char *name = ref_decode(body + pos, nend - pos);
			char *value = eq != NULL ? ref_decode(eq + 1, end - nend - 1)
						 : ref_decode(body, 0);
			const char *gn, *gv;

			if (n < limit && status == 0) {
				FZ_CHECK(fw_form_at(req, n, &gn, &gv) == 0);
				FZ_CHECK(strcmp(gn, name) == 0 && strcmp(gv, value) == 0);
			}
			free(name);
			free(value);
			n++;
		}
		pos = end + 1;
	}
	FZ_CHECK(status == (n > limit ? 400 : 0));
	FZ_CHECK(fw_form_count(req) == (status == 0 ? n : 0));
	FZ_CHECK(status == 0 || fw_error_message(req) != NULL);
	FZ_CHECK(fw_form_file_count(req) == 0);
	req->state = FW_REQ_IDLE;
	fw_req_reset(req, 0);
	fw_req_destroy(req);
}

/* The reference for multipart: the parser's own events over the whole body. */
struct ref_part {
	char *name, *filename, *content_type;
	const uint8_t *data;
	size_t len;
};

static size_t ref_parts(const uint8_t *body, size_t len, size_t limit, struct ref_part *parts,
			size_t max, bool *ok)
{
	struct fw_multipart *p = malloc(sizeof(*p));
	struct fw_mp_event ev;
	size_t pos = 0, used, n = 0;
	int rc;

	if (p == NULL)
		abort();
	fw_multipart_init(p, "XyZ", 3, limit, 8192);
	while ((rc = fw_multipart_parse(p, body + pos, len - pos, &used, &ev)) == FW_OK) {
		pos += used;
		if (ev.ev == FW_MP_PART && n < max) {
			parts[n] = (struct ref_part){
				strdup(ev.part.name), ev.part.filename ? strdup(ev.part.filename) : NULL,
				ev.part.content_type ? strdup(ev.part.content_type) : NULL, NULL, 0};
			n++;
		} else if (ev.ev == FW_MP_DATA) {
			if (parts[n - 1].data == NULL)
				parts[n - 1].data = ev.data;
			FZ_CHECK(parts[n - 1].data + parts[n - 1].len == ev.data);
			parts[n - 1].len += ev.len;
		}
	}
	*ok = rc != FW_ERROR && fw_multipart_finish(p) == FW_OK;
	free(p);
	return n;
}

static void check_multipart(const uint8_t *body, size_t len, size_t limit)
{
	fw_req *req = request("multipart/form-data; boundary=XyZ", body, len);
	struct ref_part *parts = calloc(limit + 1, sizeof(*parts));
	size_t nparts, nfields = 0, nfiles = 0;
	bool ok;
	int status = fw_form_parse(req);

	if (parts == NULL)
		abort();
	nparts = ref_parts(body, len, limit, parts, limit + 1, &ok);
	if (len == 0) /* an empty body is no form at all, not a malformed one */
		ok = true;
	FZ_CHECK(status == (ok ? 0 : 400));
	FZ_CHECK(status == 0 || fw_error_message(req) != NULL);
	for (size_t i = 0; i < nparts && ok; i++) {
		if (parts[i].filename == NULL) {
			const char *n, *v;
			size_t vlen = parts[i].data != NULL
					      ? strnlen((const char *)parts[i].data, parts[i].len)
					      : 0;

			FZ_CHECK(fw_form_at(req, nfields++, &n, &v) == 0);
			FZ_CHECK(strcmp(n, parts[i].name) == 0);
			FZ_CHECK(strlen(v) == vlen &&
				 memcmp(v, parts[i].data ? (const char *)parts[i].data : "", vlen) == 0);
		} else {
			const fw_upload *f = fw_form_file_at(req, nfiles++);

			FZ_CHECK(f != NULL && strcmp(f->name, parts[i].name) == 0);
			FZ_CHECK(strcmp(f->filename, parts[i].filename) == 0);
			FZ_CHECK(strcmp(f->content_type, parts[i].content_type ? parts[i].content_type
									       : "text/plain") == 0);
			FZ_CHECK(f->len == parts[i].len && f->data != NULL);
			if (f->len > 0) {
				FZ_CHECK((const char *)f->data >= req->body.data &&
					 (const char *)f->data + f->len <=
						 req->body.data + req->body.len);
				FZ_CHECK(memcmp(f->data, body + ((const uint8_t *)parts[i].data - body),
						f->len) == 0);
			}
		}
	}
	FZ_CHECK(fw_form_count(req) == (ok ? nfields : 0));
	FZ_CHECK(fw_form_file_count(req) == (ok ? nfiles : 0));
	for (size_t i = 0; i < nparts; i++) {
		free(parts[i].name);
		free(parts[i].filename);
		free(parts[i].content_type);
	}
	free(parts);
	req->state = FW_REQ_IDLE;
	fw_req_reset(req, 0);
	fw_req_destroy(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t limit;
	uint8_t *body;

	if (size < 1)
		return 0;
	limit = limits[(data[0] >> 1) & 3];
	fw_form_configure(limit);
	body = fz_dup(data + 1, size - 1);
	if (data[0] & 1)
		check_multipart(body, size - 1, limit);
	else
		check_urlencoded(body, size - 1, limit);
	free(body);
	return 0;
}
