/*
 * hello for uWSGI's symcall plugin: the same work as apps/hello (parse the
 * request, a Content-Type header, a 6-byte body). bench/peers.py builds it
 * with the header `uwsgi --dot-h` prints and loads it with
 *     uwsgi --plugin symcall --dlopen ./uwsgi_hello.so --symcall uwsgi_hello
 */
#include "uwsgi.h"

int uwsgi_hello(struct wsgi_request *wsgi_req);

int uwsgi_hello(struct wsgi_request *wsgi_req)
{
	if (uwsgi_parse_vars(wsgi_req))
		return -1;
	if (uwsgi_response_prepare_headers(wsgi_req, "200 OK", 6))
		return -1;
	if (uwsgi_response_add_content_type(wsgi_req, "text/plain", 10))
		return -1;
	if (uwsgi_response_write_body_do(wsgi_req, "hello\n", 6))
		return -1;
	return UWSGI_OK;
}
