/*
 * Form bodies, parsed once into a scratch buffer of the request: the
 * field array, the upload structs and every string in one block, whose
 * size is counted first, so that a warm worker parses a form without
 * allocating (scratch buffers are reused) and nothing in it moves.
 */
#include <stdalign.h>
#include <string.h>

#include "core/log.h"
#include "core/result.h"
#include "http/form.h"
#include "http/mime.h"
#include "http/multipart.h"
#include "http/req.h"
#include "http/urlencoded.h"

#define PART_HEAD_MAX 8192

static size_t max_fields = 1000;

void fw_form_configure(size_t fields)
{
	/* Called in every new worker: a write would copy the page it shares with the master. */
	if (max_fields != fields)
		max_fields = fields;
}

static int bad(fw_req *req, const char *why)
{
	req->form_status = 400;
	req->error_msg = why;
	return 400;
}

/* Room for `size` bytes in a scratch buffer of the request (not moved again). */
static char *block(fw_req *req, size_t size)
{
	fw_buf *b = fw_scratch(req);

	if (b == NULL || fw_buf_reserve(b, size) != 0)
		return NULL;
	fw_buf_commit(b, size);
	return b->data;
}

static size_t align_up(size_t n)
{
	return (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
}

static int urlencoded(fw_req *req)
{
	size_t len = req->body.len, n = fw_urlencoded_count(req->body.data, len), room, total;
	char *mem, *text;

	room = n < max_fields ? n : max_fields;
	total = align_up(room * sizeof(struct fw_pair)) + len + 1;
	if ((mem = block(req, total)) == NULL)
		return 500;
	text = mem + align_up(room * sizeof(struct fw_pair));
	memcpy(text, req->body.data, len);
	req->fields = (struct fw_pair *)(void *)mem;
	req->nfields = fw_urlencoded_split(text, len, req->fields, room);
	if (req->nfields > max_fields) {
		req->nfields = 0;
		return bad(req, "the form has more fields than max_form_fields");
	}
	return 0;
}

/* ---- multipart ---- */

struct mp_walk {
	fw_req *req;
	bool fill;         /* second pass: copy into the block */
	size_t text_bytes; /* first pass: strings and text values, with their NULs */
	size_t ntext, nfiles;
	char *text; /* second pass: where the next string goes */
	/* the part being read */
	struct fw_pair *field;
	fw_upload *file;
	bool in_file;
	const uint8_t *data;
	size_t len;
	bool broken; /* its content came in pieces that do not follow each other */
};

static const char *put(struct mp_walk *w, const char *s, size_t n)
{
	char *d = w->text;

	memcpy(d, s, n);
	d[n] = '\0';
	w->text += n + 1;
	return d;
}

static void part_begin(struct mp_walk *w, const struct fw_mp_part *p)
{
	fw_req *req = w->req;
	bool is_file = p->filename != NULL;

	w->data = NULL;
	w->len = 0;
	w->in_file = is_file;
	if (!w->fill) {
		w->text_bytes += p->name_len + 1 + (is_file ? p->filename_len + 1 : 0) +
				 (p->content_type != NULL ? p->content_type_len + 1 : 0);
		w->ntext += !is_file;
		w->nfiles += is_file;
		return;
	}
	if (!is_file) {
		w->field = &req->fields[req->nfields++];
		w->field->name = put(w, p->name, p->name_len);
		return;
	}
	w->file = &req->files[req->nfiles++];
	w->file->name = put(w, p->name, p->name_len);
	w->file->filename = put(w, p->filename, p->filename_len);
	w->file->content_type = p->content_type != NULL ? put(w, p->content_type, p->content_type_len)
							: "text/plain";
}

static void part_data(struct mp_walk *w, const uint8_t *d, size_t n)
{
	/* The whole body is parsed in one call, so a part's pieces follow each other. */
	if (w->data == NULL)
		w->data = d;
	else if (w->data + w->len != d)
		w->broken = true;
	w->len += n;
}

static void part_end(struct mp_walk *w)
{
	if (!w->fill) {
		w->text_bytes += w->in_file ? 0 : w->len + 1;
		return;
	}
	if (!w->in_file) {
		w->field->value = put(w, w->data != NULL ? (const char *)w->data : "", w->len);
		return;
	}
	w->file->data = w->data != NULL ? (const void *)w->data : "";
	w->file->len = w->len;
}

/* One run of the parser over the whole body; 0, or the status to answer. */
static int mp_run(struct mp_walk *w, const char *boundary, size_t blen)
{
	struct fw_multipart p;
	const uint8_t *body = (const uint8_t *)w->req->body.data;
	size_t len = w->req->body.len, pos = 0, used;
	struct fw_mp_event ev;
	int rc;

	fw_multipart_init(&p, boundary, blen, max_fields, PART_HEAD_MAX);
	while ((rc = fw_multipart_parse(&p, body + pos, len - pos, &used, &ev)) == FW_OK) {
		pos += used;
		if (ev.ev == FW_MP_PART)
			part_begin(w, &ev.part);
		else if (ev.ev == FW_MP_DATA)
			part_data(w, ev.data, ev.len);
		else if (ev.ev == FW_MP_PART_END)
			part_end(w);
	}
	if (rc == FW_ERROR || fw_multipart_finish(&p) != FW_OK)
		return bad(w->req, p.parts > max_fields ? "the form has more parts than max_form_fields"
							: p.error);
	if (w->broken) {
		fw_log(FW_LOG_ERROR, "multipart: a part's content came in pieces (a bug in fw)");
		return 500;
	}
	return 0;
}

static int multipart(fw_req *req, const char *ct)
{
	char boundary[FW_MULTIPART_BOUNDARY_MAX + 1];
	const char *err = NULL;
	long blen = fw_multipart_boundary(ct, strlen(ct), boundary, &err);
	struct mp_walk w = {.req = req};
	size_t fields_at, files_at, text_at;
	char *mem;
	int rc;

	if (blen < 0)
		return bad(req, err);
	if ((rc = mp_run(&w, boundary, (size_t)blen)) != 0)
		return rc;
	fields_at = 0;
	files_at = align_up(w.ntext * sizeof(struct fw_pair));
	text_at = files_at + align_up(w.nfiles * sizeof(fw_upload));
	if ((mem = block(req, text_at + w.text_bytes)) == NULL)
		return 500;
	req->fields = (struct fw_pair *)(void *)(mem + fields_at);
	req->files = (fw_upload *)(void *)(mem + files_at);
	w.fill = true;
	w.text = mem + text_at;
	return mp_run(&w, boundary, (size_t)blen);
}

FW_API int fw_form_parse(fw_req *req)
{
	const char *ct;

	if (req->form_parsed)
		return req->form_status;
	req->form_parsed = true;
	ct = fw_header(req, "Content-Type");
	if (ct == NULL || req->body.len == 0)
		return 0;
	if (fw_mime_is(ct, strlen(ct), "application/x-www-form-urlencoded"))
		req->form_status = urlencoded(req);
	else if (fw_mime_is(ct, strlen(ct), "multipart/form-data"))
		req->form_status = multipart(req, ct);
	if (req->form_status != 0) {
		req->nfields = 0;
		req->nfiles = 0;
	}
	return req->form_status;
}

FW_API const char *fw_form(fw_req *req, const char *name)
{
	fw_form_parse(req);
	for (size_t i = 0; i < req->nfields; i++) {
		if (strcmp(req->fields[i].name, name) == 0)
			return req->fields[i].value;
	}
	return NULL;
}

FW_API size_t fw_form_count(fw_req *req)
{
	fw_form_parse(req);
	return req->nfields;
}

FW_API int fw_form_at(fw_req *req, size_t i, const char **name, const char **value)
{
	if (i >= fw_form_count(req))
		return -1;
	*name = req->fields[i].name;
	*value = req->fields[i].value;
	return 0;
}

FW_API const fw_upload *fw_form_file(fw_req *req, const char *name)
{
	fw_form_parse(req);
	for (size_t i = 0; i < req->nfiles; i++) {
		if (strcmp(req->files[i].name, name) == 0)
			return &req->files[i];
	}
	return NULL;
}

FW_API size_t fw_form_file_count(fw_req *req)
{
	fw_form_parse(req);
	return req->nfiles;
}

FW_API const fw_upload *fw_form_file_at(fw_req *req, size_t i)
{
	return i < fw_form_file_count(req) ? &req->files[i] : NULL;
}
