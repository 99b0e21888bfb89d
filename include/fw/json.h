/*
 * JSON in and out.
 *
 * In: fw_json_body() parses the request body with jansson
 * (https://jansson.readthedocs.io, Debian's libjansson-dev); read the
 * json_t it returns with jansson's own functions (json_object_get,
 * json_string_value, json_unpack, ...). The value lives in request memory
 * and belongs to the request: keep nothing of it past the end of the
 * request, and don't json_decref() it (harmless, but fw does it when the
 * request ends). fw sets jansson's allocation functions
 * (json_set_alloc_funcs) when the program starts, so that a parse takes
 * request memory instead of one malloc per value: don't set them again.
 * Values you create yourself (json_object(), ...) are malloc'd as usual.
 *
 * Out: fw_json is a writer that appends JSON text to an fw_buf or to the
 * response, without allocating anything itself (the buffer grows as
 * usual). Its fields are private: use the functions.
 */
#ifndef FW_JSON_H
#define FW_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <fw/api.h>
#include <fw/app.h>
#include <fw/buf.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parse the request body as JSON (any value at the top, RFC 8259).
 * Returns 0 with *root set, or the status to answer, with *root NULL and
 * fw_error_message() saying why: 415 when the Content-Type is not
 * application/json or application/...+json (a browser form cannot send
 * those cross-site, so a JSON API is not open to CSRF through this), 400
 * for an empty body, malformed JSON (the message names line and column),
 * a repeated object key, a \u0000 escape, or numbers jansson cannot hold.
 * Later calls return the same.
 */
FW_API int fw_json_body(fw_req *req, json_t **root);

#define FW_JSON_MAX_DEPTH 64

typedef struct fw_json {
	fw_buf *out;
	unsigned depth;
	int error;
	int done;          /* a whole top-level value is written */
	int key_pending;   /* a key was written; its value comes next */
	uint64_t object;   /* bit d: the container at depth d is an object */
	uint64_t nonempty; /* bit d: it holds something already */
} fw_json;

/* Write into out (appending). */
FW_API void fw_json_init(fw_json *j, fw_buf *out);

/*
 * Write into the response body, and set Content-Type: application/json
 * unless the handler set one. Returns 0, or -1 (finished response).
 */
FW_API int fw_json_init_response(fw_json *j, fw_req *req);

/*
 * Values: each returns 0, or -1 when it is misplaced (a value in an
 * object without its key, a second top-level value, a key in an array),
 * the number is not finite, nesting passes FW_JSON_MAX_DEPTH, or memory
 * runs out. A failure sticks: later calls and fw_json_end() fail too.
 */
FW_API int fw_json_object(fw_json *j); /* { ... until fw_json_close() */
FW_API int fw_json_array(fw_json *j);  /* [ ... until fw_json_close() */
FW_API int fw_json_close(fw_json *j);  /* the innermost object or array */
FW_API int fw_json_key(fw_json *j, const char *key);
/* A string: bytes that are not UTF-8 become U+FFFD; NULL writes null. */
FW_API int fw_json_str(fw_json *j, const char *s);
FW_API int fw_json_strn(fw_json *j, const char *s, size_t len);
FW_API int fw_json_int(fw_json *j, long long v);
FW_API int fw_json_uint(fw_json *j, unsigned long long v);
FW_API int fw_json_double(fw_json *j, double v);
FW_API int fw_json_bool(fw_json *j, int v);
FW_API int fw_json_null(fw_json *j);
/* A jansson value, whole (objects in their order). */
FW_API int fw_json_value(fw_json *j, const json_t *v);

/* 0 when exactly one complete value was written without error, else -1. */
FW_API int fw_json_end(fw_json *j);

#ifdef __cplusplus
}
#endif

#endif
