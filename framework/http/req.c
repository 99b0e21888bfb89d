#include "http/req.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/reuse.h"
#include "core/result.h"
#include "core/str.h"
#include "http/router.h"

#define REQ_POOL_BLOCK 4096

fw_req *fw_req_create(void)
{
	fw_req *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	fw_pool_init(&req->pool, REQ_POOL_BLOCK);
	req->state = FW_REQ_IDLE;
	return req;
}

void fw_req_destroy(fw_req *req)
{
	if (req == NULL)
		return;
	fw_pool_finish(&req->pool);
	fw_buf_release(&req->params);
	fw_buf_release(&req->body);
	fw_buf_release(&req->out);
	fw_buf_release(&req->err);
	free(req);
}

void fw_req_reset(fw_req *req, size_t keep_bytes)
{
	/*
	 * In this order: the application's cleanups may still use everything;
	 * the scratch buffers go back next (their list lives in the pool);
	 * the pool's memory goes last.
	 */
	fw_pool_run_cleanups(&req->pool);
	fw_scratch_return_all(req);
	fw_pool_reset(&req->pool);
	if (!FW_REUSE)
		keep_bytes = 0;
	fw_poison(req->params.data, req->params.len);
	fw_poison(req->body.data, req->body.len);
	fw_poison(req->out.data, req->out.len);
	fw_buf_reset(&req->params, keep_bytes);
	fw_buf_reset(&req->body, keep_bytes);
	fw_buf_reset(&req->out, keep_bytes);
	fw_buf_reset(&req->err, keep_bytes);
	req->env = NULL;
	req->nenv = 0;
	req->method = NULL;
	req->path = NULL;
	req->content_length = 0;
	req->has_content_length = false;
	req->query = NULL;
	req->nquery = 0;
	req->query_parsed = false;
	req->cookies = NULL;
	req->ncookies = 0;
	req->cookies_parsed = false;
	req->fields = NULL;
	req->nfields = 0;
	req->files = NULL;
	req->nfiles = 0;
	req->form_parsed = false;
	req->form_status = 0;
	req->error_msg = NULL;
	req->data = NULL;
	req->after_done = false;
	req->json = NULL;
	req->json_parsed = false;
	req->json_status = 0;
	req->route_params = NULL;
	req->nroute_params = 0;
	req->headers = NULL;
	req->head = false;
	req->complete = NULL;
	req->finish_status = 0;
	req->cancel_fn = NULL;
	req->cancel_arg = NULL;
	memset(&req->stream, 0, sizeof(req->stream));
	req->owner = NULL;
	req->id = 0;
	req->keep_conn = false;
	req->start_ms = 0;
	req->start_us = 0;
	req->log_as = NULL;
	req->internal = false;
	req->state = FW_REQ_IDLE;
}

const struct fw_nv *fw_req_env_find(fw_req *req, const char *name)
{
	size_t len = strlen(name);

	/* Lengths first: most names differ in length, and it is already known. */
	for (size_t i = req->nenv; i-- > 0;) {
		const struct fw_nv *nv = &req->env[i];

		if (nv->name_len == len && memcmp(nv->name, name, len) == 0)
			return nv;
	}
	return NULL;
}

static const char *env_value(fw_req *req, const char *name)
{
	const struct fw_nv *nv = fw_req_env_find(req, name);

	return nv != NULL ? nv->value : NULL;
}

/*
 * The path to route on. nginx's stock fastcgi_params and scgi_params both
 * send DOCUMENT_URI ($document_uri: decoded, dot segments resolved, merged
 * slashes, after rewrites), the path nginx itself chose a location by; so
 * it wins. Other clients follow CGI (SCRIPT_NAME + PATH_INFO); a bare
 * REQUEST_URI is the last resort and is decoded here.
 */
static const char *derive_path(fw_req *req, const struct fw_nv *doc_uri)
{
	const char *script, *info, *uri;
	char *p;
	size_t n;

	if (doc_uri != NULL && doc_uri->value[0] != '\0')
		return doc_uri->value;
	script = env_value(req, "SCRIPT_NAME");
	info = env_value(req, "PATH_INFO");
	if ((script != NULL && script[0] != '\0') || (info != NULL && info[0] != '\0')) {
		size_t a = script ? strlen(script) : 0, b = info ? strlen(info) : 0;

		if ((p = fw_pool_alloc(&req->pool, a + b + 1)) == NULL)
			return NULL;
		memcpy(p, script ? script : "", a);
		memcpy(p + a, info ? info : "", b + 1);
		return p;
	}
	uri = env_value(req, "REQUEST_URI");
	if (uri == NULL || uri[0] == '\0')
		return "/";
	n = strcspn(uri, "?#");
	if ((p = fw_pool_strndup(&req->pool, uri, n)) == NULL)
		return NULL;
	p[fw_percent_decode(p, n, false)] = '\0';
	return p;
}

/*
 * A body of unknown length is read to its end (the empty STDIN record)
 * with max_body_kb applied as it arrives. Front ends say "unknown" with a
 * missing or empty CONTENT_LENGTH (nginx, on every request without a body)
 * or with a negative one: Caddy sends -1, Go's ContentLength, for a chunked
 * upload. SCGI never gets here without a length: its parser requires one.
 */
static int content_length(fw_req *req, const struct fw_nv *cl, const char **error)
{
	unsigned long long n;

	req->content_length = 0;
	req->has_content_length = false;
	if (cl == NULL || cl->value_len == 0)
		return FW_OK;
	if (cl->value[0] == '-' && fw_parse_uint(cl->value + 1, cl->value_len - 1, 1ULL << 62, &n) &&
	    n > 0)
		return FW_OK;
	if (!fw_parse_uint(cl->value, cl->value_len, 1ULL << 62, &req->content_length)) {
		*error = "CONTENT_LENGTH is not a decimal number";
		return FW_ERROR;
	}
	req->has_content_length = true;
	return FW_OK;
}

int fw_req_prepare(fw_req *req, const char **error)
{
	const struct fw_nv *cl = NULL, *method = NULL, *doc_uri = NULL;

	/*
	 * The three params every request needs, in one pass instead of a
	 * lookup each. From the end, as fw_req_env_find(): the last one wins.
	 */
	for (size_t i = req->nenv; i-- > 0;) {
		const struct fw_nv *nv = &req->env[i];

		if (nv->name_len == 14 && method == NULL && memcmp(nv->name, "REQUEST_METHOD", 14) == 0)
			method = nv;
		else if (nv->name_len == 14 && cl == NULL && memcmp(nv->name, "CONTENT_LENGTH", 14) == 0)
			cl = nv;
		else if (nv->name_len == 12 && doc_uri == NULL &&
			 memcmp(nv->name, "DOCUMENT_URI", 12) == 0)
			doc_uri = nv;
	}
	req->method = method != NULL ? method->value : NULL;
	if (req->method == NULL || req->method[0] == '\0')
		req->method = "GET";
	req->head = strcmp(req->method, "HEAD") == 0;
	if ((req->path = derive_path(req, doc_uri)) == NULL) {
		*error = "out of memory";
		return FW_ERROR;
	}
	/*
	 * nginx, Apache, lighttpd and H2O resolve "." and ".." before they
	 * pass the path on; Caddy passes them as the client sent them. They
	 * are refused, not resolved: the front end chose its location (and
	 * its access rules, such as the status page's) by the path as it
	 * read it, and fw resolving "/x/../status" to "/status" would serve
	 * what the front end thought was under /x (docs/handlers.md).
	 */
	if (fw_path_dot_segment(req->path)) {
		*error = "the path has a '.' or '..' segment";
		return FW_ERROR;
	}
	return content_length(req, cl, error);
}

int fw_req_set_route_params(fw_req *req, const struct fw_route_match *m)
{
	req->nroute_params = 0;
	if (m->nparams == 0)
		return FW_OK;
	req->route_params = fw_pool_alloc(&req->pool, m->nparams * sizeof(*req->route_params));
	if (req->route_params == NULL)
		return FW_ERROR;
	for (size_t i = 0; i < m->nparams; i++) {
		const char *v = fw_pool_strndup(&req->pool, m->params[i].value, m->params[i].len);

		if (v == NULL)
			return FW_ERROR;
		req->route_params[i].name = m->params[i].name;
		req->route_params[i].value = v;
	}
	req->nroute_params = m->nparams;
	return FW_OK;
}

void fw_req_view_of(fw_req *stand_in, const fw_req *req)
{
	stand_in->env = req->env;
	stand_in->nenv = req->nenv;
	stand_in->method = req->method;
	stand_in->path = req->path;
	stand_in->head = req->head;
	stand_in->route_params = req->route_params;
	stand_in->nroute_params = req->nroute_params;
	stand_in->error_msg = req->error_msg;
}

/* ---- public accessors ---- */

FW_API const char *fw_method(fw_req *req)
{
	return req->method;
}

FW_API const char *fw_path(fw_req *req)
{
	return req->path;
}

FW_API const char *fw_env(fw_req *req, const char *name)
{
	return env_value(req, name);
}

FW_API size_t fw_env_count(fw_req *req)
{
	return req->nenv;
}

FW_API int fw_env_at(fw_req *req, size_t i, const char **name, const char **value)
{
	if (i >= req->nenv)
		return -1;
	*name = req->env[i].name;
	*value = req->env[i].value;
	return 0;
}

FW_API const char *fw_param(fw_req *req, const char *name)
{
	for (size_t i = 0; i < req->nroute_params; i++) {
		if (strcmp(req->route_params[i].name, name) == 0)
			return req->route_params[i].value;
	}
	return NULL;
}

FW_API const char *fw_header(fw_req *req, const char *name)
{
	for (size_t i = req->nenv; i-- > 0;) {
		const struct fw_nv *nv = &req->env[i];

		if (!fw_header_is_cgi(name, nv->name))
			continue;
		/*
		 * nginx's stock params send CONTENT_TYPE and CONTENT_LENGTH on every
		 * request, empty when the client sent no such header: that is a
		 * missing header. An empty HTTP_* param is a header sent empty.
		 * A negative CONTENT_LENGTH (Caddy's -1 for a chunked upload)
		 * stands for no Content-Length header either.
		 */
		if (nv->value_len == 0 && strncmp(nv->name, "HTTP_", 5) != 0)
			return NULL;
		if (nv->value[0] == '-' && nv->name[0] == 'C' && strcmp(nv->name, "CONTENT_LENGTH") == 0)
			return NULL;
		return nv->value;
	}
	return NULL;
}

FW_API const void *fw_body(fw_req *req, size_t *len)
{
	if (len != NULL)
		*len = req->body.len;
	return req->body.len > 0 ? req->body.data : NULL;
}

FW_API void *fw_alloc(fw_req *req, size_t size)
{
	return fw_pool_alloc(&req->pool, size);
}

FW_API char *fw_strdup(fw_req *req, const char *s)
{
	return fw_pool_strndup(&req->pool, s, strlen(s));
}

FW_API int fw_on_request_end(fw_req *req, void (*fn)(void *arg), void *arg)
{
	return fn != NULL ? fw_pool_cleanup_add(&req->pool, fn, arg) : -1;
}

FW_API fw_buf *fw_request_body(fw_req *req)
{
	return &req->body;
}

FW_API fw_buf *fw_response_body(fw_req *req)
{
	return &req->out;
}

FW_API int fw_finish(fw_req *req, int status)
{
	/* An offload's done for a request that ended meanwhile: nothing to answer (fw_offload). */
	if (req->stream.cancelled)
		return -1;
	/* Called from inside the handler (a client answered at once): the
	 * worker answers when the handler returns. */
	if (req->state == FW_REQ_RUNNING && req->finish_status == 0) {
		req->finish_status = status < 200 || status > 599 ? 500 : status;
		return 0;
	}
	if (req->state != FW_REQ_DEFERRED && req->state != FW_REQ_ORPHANED) {
		fw_log(FW_LOG_ERROR, "fw_finish: the request is not deferred (handler did not return "
				     "FW_ASYNC, or it was finished already)");
		return -1;
	}
	req->complete(req, status);
	return 0;
}

FW_API void fw_on_cancel(fw_req *req, void (*fn)(fw_req *req, void *arg), void *arg)
{
	req->cancel_fn = fn;
	req->cancel_arg = arg;
}

FW_API void fw_cancel_callback(fw_req *req, void (**fn)(fw_req *req, void *arg), void **arg)
{
	*fn = req->cancel_fn;
	*arg = req->cancel_arg;
}
