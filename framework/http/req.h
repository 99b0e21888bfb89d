/*
 * The request object behind the public fw_req (framework side).
 *
 * A protocol (FastCGI, SCGI) fills env and body; the worker routes it,
 * runs the handler and asks http/resp.c for the CGI header block. Request
 * objects are reused: fw_req_reset() keeps their buffers (up to ceilings)
 * and pool's first block, so a warm worker allocates nothing per request.
 */
#ifndef FW_HTTP_REQ_H
#define FW_HTTP_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <fw.h>

#include "core/buf.h"
#include "core/nv.h"
#include "core/pool.h"
#include "http/urlencoded.h"

enum fw_req_state {
	FW_REQ_IDLE,      /* on the free list */
	FW_REQ_READING,   /* params and body arriving */
	FW_REQ_RUNNING,   /* in the handler */
	FW_REQ_DEFERRED,  /* the handler returned FW_ASYNC */
	FW_REQ_ORPHANED,  /* deferred, client gone, no cancel callback: awaits fw_finish */
	FW_REQ_CANCELLED, /* its cancel callback is running */
};

struct fw_resp_header {
	struct fw_resp_header *next;
	const char *name;
	const char *value;
};

struct fw_scratch_ref {
	struct fw_scratch_ref *next;
	fw_buf *buf;
};

struct fw_req {
	enum fw_req_state state;
	struct fw_pool pool;

	/* Request: env points into `params` (protocol-owned layout). */
	struct fw_buf params;
	struct fw_nv *env;
	size_t nenv;
	struct fw_buf body;
	const char *method;
	const char *path;
	unsigned long long content_length;
	bool has_content_length; /* CONTENT_LENGTH gave a length: the body must have it */
	struct fw_pair *query;
	size_t nquery;
	bool query_parsed;
	struct fw_pair *cookies;
	size_t ncookies;
	bool cookies_parsed;
	/* The form body (http/form.c), in a scratch buffer. */
	struct fw_pair *fields;
	size_t nfields;
	struct fw_upload *files;
	size_t nfiles;
	bool form_parsed;
	int form_status;
	const char *error_msg;    /* fw_error_message(): why the request failed, for its error page */
	struct fw_req_data *data; /* fw_set_data() */
	bool after_done;          /* its fw_after hooks ran */
	void *json;               /* fw_json_body(): the parsed json_t */
	bool json_parsed;
	int json_status;
	struct {
		const char *name;
		const char *value;
	} * route_params;
	size_t nroute_params;

	/* Scratch buffers lent to the handler (nodes in the pool). */
	struct fw_scratch_ref *scratch;

	/* Response. */
	struct fw_resp_header *headers;
	struct fw_buf out;
	struct fw_buf err; /* lines for FCGI_STDERR (fcgi_stderr) */
	bool head;         /* HEAD request: the body is counted, not sent */

	/* Async completion: set by the worker, called by fw_finish(). */
	int finish_status; /* fw_finish() called while the handler still ran */
	void (*complete)(fw_req *req, int status);
	void (*cancel_fn)(fw_req *req, void *arg);
	void *cancel_arg;

	/* Owner's fields (the worker's connection and bookkeeping). */
	void *owner;
	uint16_t id;
	bool keep_conn;
	uint64_t start_ms;
	uint64_t start_us; /* for the duration histogram */
	fw_req *log_as;    /* a stand-in answer (a 504): the request the access log names */
	bool internal;     /* answered by fw itself (the status page): not an app request */
	fw_req *next_free;
};

fw_req *fw_req_create(void);
void fw_req_destroy(fw_req *req);

/*
 * Make a used request ready for the next one: run pool cleanups, free
 * buffers grown beyond keep_bytes, forget everything else.
 */
void fw_req_reset(fw_req *req, size_t keep_bytes);

/*
 * After env is set: derive method, path and content length.
 * FW_OK, or FW_ERROR with *error (bad CONTENT_LENGTH, no memory).
 */
int fw_req_prepare(fw_req *req, const char **error);

/* Copy the router's parameters into the request. FW_OK or FW_ERROR (memory). */
struct fw_route_match;
int fw_req_set_route_params(fw_req *req, const struct fw_route_match *m);

/* scratch.c: the ceiling a returned buffer is trimmed to; owned by this request? */
void fw_scratch_configure(size_t keep_bytes);
bool fw_scratch_owned(const fw_req *req, const fw_buf *b);
void fw_scratch_return_all(fw_req *req);

/*
 * Let `stand_in` (a fresh request that answers for `req`, a 504) show
 * req's method, path, params and route parameters to the error and after
 * hooks. The pointers are req's: valid while req is.
 */
void fw_req_view_of(fw_req *stand_in, const fw_req *req);

/* Last value of a param (CGI semantics: a later duplicate wins). */
const struct fw_nv *fw_req_env_find(fw_req *req, const char *name);

#endif
