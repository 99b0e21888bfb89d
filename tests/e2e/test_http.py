#!/usr/bin/env python3
"""HTTP behaviour of the demo apps through the real nginx front end."""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import http


def main(t):
    t.start_app('hello')
    t.start_app('echo')
    ngx = t.start_nginx()
    port = ngx.port

    with t.section('GET /hello'):
        r = http(port, 'GET', '/hello')
        t.equal('GET /hello status', r.status, 200)
        t.equal('GET /hello body', r.body, b'hello\n')
        t.equal('GET /hello Content-Type', r.header('Content-Type'), 'text/plain')
        t.equal('GET /hello Content-Length', r.header('Content-Length'), '6')

    with t.section('HEAD /hello'):
        r = http(port, 'HEAD', '/hello')
        t.equal('HEAD /hello status', r.status, 200)
        t.equal('HEAD /hello has no body', r.body, b'')
        t.equal('HEAD /hello Content-Length', r.header('Content-Length'), '6')
        t.equal('HEAD /hello Content-Type', r.header('Content-Type'), 'text/plain')

    with t.section('HEAD of error responses'):
        r = http(port, 'HEAD', '/no/such/path')
        t.check('HEAD /no/such/path: 404, no body, Content-Length of the default body (14)',
                r.status == 404 and r.body == b'' and r.header('Content-Length') == '14', repr(r))
        r = http(port, 'HEAD', '/echo/status/500')
        t.check('HEAD /echo/status/500: 500, no body, Content-Length 26',
                r.status == 500 and r.body == b'' and r.header('Content-Length') == '26', repr(r))

    with t.section('paths as nginx normalises them'):
        r = http(port, 'GET', '/foo/../hello')
        t.check('GET /foo/../hello routes to /hello', r.status == 200 and r.body == b'hello\n', repr(r))
        r = http(port, 'GET', '//hello')
        t.check('GET //hello routes to /hello', r.status == 200 and r.body == b'hello\n', repr(r))
        r = http(port, 'GET', '/hello/')
        t.equal('GET /hello/ (empty parameter) is 404', r.status, 404)

    with t.section('nginx alone'):
        r = http(port, 'GET', '/nginx-static')
        t.check('GET /nginx-static is answered by nginx', r.status == 200 and r.body == b'static\n',
                repr(r))

    with t.section('route parameter'):
        r = http(port, 'GET', '/hello/w%C3%B6rld')
        t.equal('GET /hello/w%C3%B6rld status', r.status, 200)
        t.equal('GET /hello/w%C3%B6rld body', r.body.decode('utf-8', 'replace'), 'hello, wörld\n')
        t.equal('GET /hello/w%C3%B6rld Content-Type', r.header('Content-Type'),
                'text/plain; charset=utf-8')
        r = http(port, 'GET', '/hello/a/b')
        t.equal('GET /hello/a/b (two segments) is 404', r.status, 404)

    with t.section('query string'):
        r = http(port, 'GET', '/greet?name=J%C3%BCrgen+X%26Y')
        t.equal('GET /greet?name=J%C3%BCrgen+X%26Y status', r.status, 200)
        t.equal('GET /greet?name=J%C3%BCrgen+X%26Y body', r.body.decode('utf-8', 'replace'),
                'hello, Jürgen X&Y\n')
        r = http(port, 'GET', '/greet?other=1&name=second&name=third')
        t.equal('GET /greet takes the first of repeated names', r.body, b'hello, second\n')
        r = http(port, 'GET', '/greet')
        t.equal('GET /greet without name is 400', r.status, 400)
        t.equal('GET /greet without name has the default body', r.body, b'400 Bad Request\n')
        r = http(port, 'GET', '/greet?name=')
        t.equal('GET /greet?name= (empty) is 400', r.status, 400)

    with t.section('404'):
        r = http(port, 'GET', '/no/such/path')
        t.equal('GET /no/such/path status', r.status, 404)
        t.equal('GET /no/such/path default body', r.body, b'404 Not Found\n')
        t.equal('GET /no/such/path default Content-Type', r.header('Content-Type'),
                'text/plain; charset=utf-8')

    with t.section('405'):
        r = http(port, 'POST', '/hello', body=b'x')
        t.equal('POST /hello status', r.status, 405)
        t.equal('POST /hello Allow header', r.header('Allow'), 'GET, HEAD')
        t.equal('POST /hello default body', r.body, b'405 Method Not Allowed\n')
        r = http(port, 'OPTIONS', '/hello')
        t.check('OPTIONS /hello: 405 with Allow: GET, HEAD',
                r.status == 405 and r.header('Allow') == 'GET, HEAD', repr(r))
        r = http(port, 'DELETE', '/hello/bob')
        t.equal('DELETE /hello/bob status', r.status, 405)
        t.equal('DELETE /hello/bob Allow header', r.header('Allow'), 'GET, HEAD')

    with t.section('POST 1 MiB to /echo'):
        body = os.urandom(1024 * 1024)
        ctype = 'application/x-fw-test; charset=binary'
        r = http(port, 'POST', '/echo', body=body, headers={'Content-Type': ctype})
        t.equal('POST /echo 1 MiB status', r.status, 200)
        t.equal('POST /echo 1 MiB length', len(r.body), len(body))
        t.check('POST /echo 1 MiB echoed byte for byte', r.body == body,
                'bodies differ' + (f' first at {next(i for i, (a, b) in enumerate(zip(r.body, body)) if a != b)}'
                                   if len(r.body) == len(body) and r.body != body else ''))
        t.equal('POST /echo Content-Type preserved', r.header('Content-Type'), ctype)
        r = http(port, 'PUT', '/echo', body=b'put body', headers={'Content-Type': 'text/plain'})
        t.check('PUT /echo echoed (any method)', r.status == 200 and r.body == b'put body', repr(r))

    with t.section('empty POST'):
        r = http(port, 'POST', '/echo', body=b'', headers={'Content-Type': 'text/plain'})
        t.equal('POST /echo empty status', r.status, 200)
        t.equal('POST /echo empty body', r.body, b'')
        t.equal('POST /echo empty Content-Length', r.header('Content-Length'), '0')
        r = http(port, 'POST', '/echo')
        t.equal('POST /echo without Content-Type gets application/octet-stream',
                r.header('Content-Type'), 'application/octet-stream')

    with t.section('413'):
        r = http(port, 'POST', '/echo', body=os.urandom(3 * 1000 * 1000),
                 headers={'Content-Type': 'application/octet-stream'})
        t.equal('POST /echo 3 MB status', r.status, 413)
        t.equal('POST /echo 3 MB default body', r.body, b'413 Content Too Large\n')
        # The worker must still be fine afterwards (the body was drained).
        r = http(port, 'POST', '/echo', body=b'after', headers={'Content-Type': 'text/plain'})
        t.check('POST /echo after a 413 works', r.status == 200 and r.body == b'after', repr(r))
        body = os.urandom(2048 * 1024)
        r = http(port, 'POST', '/echo', body=body, headers={'Content-Type': 'a/b'})
        t.check('POST /echo of exactly max_body_kb (2048 KiB) is accepted',
                r.status == 200 and r.body == body, f'status {r.status}, {len(r.body)} bytes')
        r = http(port, 'POST', '/echo', body=body + b'x', headers={'Content-Type': 'a/b'})
        t.equal('POST /echo of max_body_kb + 1 byte is 413', r.status, 413)

    with t.section('/echo/status'):
        r = http(port, 'GET', '/echo/status/500')
        t.equal('GET /echo/status/500 status', r.status, 500)
        t.equal('GET /echo/status/500 default body', r.body, b'500 Internal Server Error\n')
        r = http(port, 'GET', '/echo/status/418')
        t.check('GET /echo/status/418', r.status == 418 and r.body == b"418 I'm a teapot\n", repr(r))
        r = http(port, 'GET', '/echo/status/204')
        t.check('GET /echo/status/204 has no body', r.status == 204 and r.body == b'', repr(r))
        r = http(port, 'GET', '/echo/status/201')
        t.check('GET /echo/status/201 is empty (no default body below 400)',
                r.status == 201 and r.body == b'', repr(r))

    with t.section('/echo/env'):
        r = http(port, 'GET', '/echo/env?a=1&b=%20x',
                 headers={'X-Test': '1', 'Content-Type': 'text/x-fw', 'X-Quote': 'say "hi" \\ bye'})
        t.equal('GET /echo/env status', r.status, 200)
        t.equal('GET /echo/env Content-Type', r.header('Content-Type'), 'application/json')
        env = None
        try:
            env = json.loads(r.body)
        except ValueError as e:
            t.check('GET /echo/env is JSON', False, f'{e}: {r.body[:300]!r}')
        if env is not None:
            t.check('GET /echo/env is a JSON object', isinstance(env, dict), repr(env)[:200])
            for k in ('DOCUMENT_URI', 'SCRIPT_NAME', 'REQUEST_URI', 'QUERY_STRING',
                      'REQUEST_METHOD', 'CONTENT_TYPE', 'CONTENT_LENGTH', 'HTTP_X_TEST'):
                t.check(f'/echo/env has {k}', k in env, sorted(env))
            t.equal('DOCUMENT_URI', env.get('DOCUMENT_URI'), '/echo/env')
            t.equal('SCRIPT_NAME', env.get('SCRIPT_NAME'), '/echo/env')
            t.equal('REQUEST_URI', env.get('REQUEST_URI'), '/echo/env?a=1&b=%20x')
            t.equal('QUERY_STRING', env.get('QUERY_STRING'), 'a=1&b=%20x')
            t.equal('REQUEST_METHOD', env.get('REQUEST_METHOD'), 'GET')
            t.equal('CONTENT_TYPE', env.get('CONTENT_TYPE'), 'text/x-fw')
            t.equal('HTTP_X_TEST', env.get('HTTP_X_TEST'), '1')
            t.equal('HTTP_X_QUOTE (JSON escaping)', env.get('HTTP_X_QUOTE'), 'say "hi" \\ bye')

    with t.section('logs'):
        t.check_logs()


if __name__ == '__main__':
    harness.run(main)
