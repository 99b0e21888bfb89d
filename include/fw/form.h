/*
 * Request bodies of HTML forms: application/x-www-form-urlencoded and
 * multipart/form-data (text fields and file uploads).
 *
 * The body is parsed on the first call of any of these functions. Every
 * pointer they return lives until the end of the request, like the
 * strings of <fw/req.h>: names, values and the fw_upload structs are in
 * request memory; an upload's data points into the request body.
 *
 * Limits: the body is at most max_body_kb (fw answers 413 before the
 * handler); at most max_form_fields fields or parts, part headers of at
 * most 8 KiB each (fw_form_parse() reports 400 beyond either).
 */
#ifndef FW_FORM_H
#define FW_FORM_H

#include <stddef.h>
#include <fw/api.h>
#include <fw/app.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A file part of a multipart/form-data body. */
typedef struct fw_upload {
	const char *name;         /* the form field's name */
	const char *filename;     /* as the client sent it ("" for a file input left empty):
				     never use it as a path */
	const char *content_type; /* as sent; "text/plain" when absent (RFC 7578) */
	const void *data;         /* the content, inside the request body (not NUL-terminated) */
	size_t len;
} fw_upload;

/*
 * Parse the body as a form now. Returns 0 when it is one (or is not a
 * form at all: no body, another Content-Type; there are then no fields),
 * or 400 when it is malformed or over the limits: fw_error_message() says
 * why, and the handler can return the 400 as it is. Later calls return
 * the same.
 */
FW_API int fw_form_parse(fw_req *req);

/*
 * The first value of a text field: a urlencoded pair (percent-decoded,
 * '+' as space) or a multipart part without a filename (as sent). NUL-
 * terminated; a value holding a NUL byte ends there. NULL when there is
 * no such field, or the body is not a valid form.
 */
FW_API const char *fw_form(fw_req *req, const char *name);

/*
 * Every text field in order, repeated names included: the count, and
 * the i-th name and value. fw_form_at returns 0, or -1 when i is not
 * below the count (name and value are then untouched).
 */
FW_API size_t fw_form_count(fw_req *req);
FW_API int fw_form_at(fw_req *req, size_t i, const char **name, const char **value);

/* The first file part named `name`, or NULL. */
FW_API const fw_upload *fw_form_file(fw_req *req, const char *name);

/* Every file part in order (several for <input type=file multiple>); NULL past the count. */
FW_API size_t fw_form_file_count(fw_req *req);
FW_API const fw_upload *fw_form_file_at(fw_req *req, size_t i);

#ifdef __cplusplus
}
#endif

#endif
