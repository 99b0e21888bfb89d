#!/usr/bin/env python3
"""Apache, lighttpd, Caddy and H2O in front of fw, each started from its
file in conf/ (only ports and the socket directory changed), over FastCGI
and, where the front end has it, SCGI: what users copy is what is tested.

For each: requests, bodies and HEAD come through; the path reaches fw as
documented (the /echo prefix included); the status page is private (a
client on 127.0.0.2 is refused); dot segments never reach a route
parameter (Caddy passes them on: fw answers 400); a body over max_body_kb
gets 413 and the front end's next request to the same app is served (with
Apache's enablereuse=on, the same connection and request id: issue 21);
a chunked upload reaches the handler (Caddy sends CONTENT_LENGTH=-1);
keep-alive is what docs/frontends.md says; no error in any log."""
import json
import socket
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import frontends  # noqa: E402
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

MAX_BODY = 2048 * 1024  # max_body_kb of conf/fw.ini

# Does the front end keep FastCGI connections to fw open (docs/frontends.md)?
KEEPALIVE = {'apache': True, 'h2o': True, 'lighttpd': False, 'caddy': False}


def raw_get(port, target, source='127.0.0.1'):
    """GET target exactly as written (no client-side resolving of dot
    segments), from source: (status, body)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(harness.IO_TIMEOUT)
    try:
        s.bind((source, 0))
        s.connect(('127.0.0.1', port))
        s.sendall(f'GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'.encode())
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b'\r\n\r\n')
    status = int(head.split(b' ', 2)[1]) if head.startswith(b'HTTP/') else None
    if b'transfer-encoding: chunked' in head.lower():
        body = dechunk(body)
    return status, body


def dechunk(data):
    out = b''
    while data:
        size, _, rest = data.partition(b'\r\n')
        n = int(size.split(b';')[0], 16)
        if n == 0:
            break
        out += rest[:n]
        data = rest[n + 2:]
    return out


def chunked_post(port, path, body):
    """POST with Transfer-Encoding: chunked (no Content-Length): (status, body)."""
    conn = harness.httpclient.HTTPConnection('127.0.0.1', port, timeout=harness.IO_TIMEOUT)
    try:
        conn.putrequest('POST', path)
        conn.putheader('Content-Type', 'application/x-chunked')
        conn.putheader('Transfer-Encoding', 'chunked')
        conn.endheaders()
        for i in range(0, len(body), 7000):
            piece = body[i:i + 7000]
            conn.send(b'%x\r\n' % len(piece) + piece + b'\r\n')
        conn.send(b'0\r\n\r\n')
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def post_early(port, path, body):
    """POST body, tolerating a front end that answers and closes before it
    has read it all (H2O's limit-request-body): (status, body)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=harness.IO_TIMEOUT)
    try:
        s.sendall(f'POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: a/b\r\n'
                  f'Content-Length: {len(body)}\r\nConnection: close\r\n\r\n'.encode())
        try:
            for i in range(0, len(body), 65536):
                s.sendall(body[i:i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b''
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    finally:
        s.close()
    head, _, rest = data.partition(b'\r\n\r\n')
    status = int(head.split(b' ', 2)[1]) if head.startswith(b'HTTP/') else None
    return status, rest


def open_conns(sock):
    """Connections the app's workers hold, less the one asking."""
    s = rc.status(sock)
    return None if s is None else sum(w['conns'] for w in s['workers']) - 1


def basics(t, fe, proto, what):
    port, p = fe.url(proto, '/hello')
    r = harness.http(port, 'GET', p)
    t.check(f'{what}: GET /hello -> 200 "hello"', r.status == 200 and r.body == b'hello\n', r)
    t.check(f'{what}: no CGI Status header reaches the client', r.header('Status') is None,
            r.header_list)
    r = harness.http(port, 'HEAD', p)
    t.check(f'{what}: HEAD /hello -> 200, no body', r.status == 200 and r.body == b'', r)
    port, p = fe.url(proto, '/users/w%C3%B6rld%20x')
    r = harness.http(port, 'GET', p)
    t.check(f'{what}: a route parameter, percent-decoded once',
            r.status == 200 and r.body == 'id=wörld x path=/users/wörld x\n'.encode(), r)
    body = bytes(range(256)) * 400
    port, p = fe.url(proto, '/hello')
    r = harness.http(port, 'POST', p, body=body, headers={'Content-Type': 'application/x-b'})
    t.check(f'{what}: POST of 100 KiB echoed byte for byte', r.status == 200 and r.body == body,
            (r.status, len(r.body)))
    port, p = fe.url(proto, '/echo')
    st, got = chunked_post(port, p, body)
    if (fe.kind, proto) == ('apache', 'scgi'):
        # mod_proxy_scgi does not take a body without a length (SCGI needs one).
        t.equal(f'{what}: a chunked upload -> 411 from Apache', st, 411)
    else:
        t.check(f'{what}: a chunked upload (no Content-Length) echoed', st == 200 and got == body,
                (st, len(got), got[:100]))


def params(t, fe, proto, what):
    port, p = fe.url(proto, '/echo/env?a=1')
    r = harness.http(port, 'GET', p)
    env = json.loads(r.body) if r.status == 200 else {}
    routed = env.get('DOCUMENT_URI') or (env.get('SCRIPT_NAME', '') + env.get('PATH_INFO', ''))
    t.check(f'{what}: /echo/env reaches the app mounted at /echo with its prefix '
            f'(SCRIPT_NAME={env.get("SCRIPT_NAME")!r}, PATH_INFO={env.get("PATH_INFO")!r})',
            r.status == 200 and routed == '/echo/env', r)
    t.equal(f'{what}: QUERY_STRING', env.get('QUERY_STRING'), 'a=1')
    t.check(f'{what}: REQUEST_URI is what the client sent',
            env.get('REQUEST_URI') in ('/echo/env?a=1',), env.get('REQUEST_URI'))


def private_status(t, fe, proto, what):
    port, p = fe.url(proto, '/status')
    st, body = raw_get(port, p)
    t.check(f'{what}: /status from 127.0.0.1 -> fw\'s status page',
            st == 200 and b'"master_pid"' in body, (st, body[:200]))
    st, body = raw_get(port, p, source='127.0.0.2')
    t.check(f'{what}: /status from 127.0.0.2 -> 403, not the page',
            st == 403 and b'master_pid' not in body, (st, body[:200]))
    st, body = raw_get(port, fe.url(proto, '/hello')[1], source='127.0.0.2')
    t.check(f'{what}: /hello from 127.0.0.2 is served', st == 200, (st, body[:200]))


def dot_segments(t, fe, proto, what):
    for target in ('/users/..', '/users/.%2e', '/users/%2e%2e', '/users/%2E.', '/users/.',
                   '/users/%2e', '/users/../users/x', '/x/../status'):
        port, p = fe.url(proto, target)
        st, body = raw_get(port, p)
        leaked = body.split(b' ')[0] in (b'id=.', b'id=..')
        t.check(f'{what}: GET {target} -> no route parameter "." or ".." ({st})',
                st is not None and not leaked, (st, body[:200]))
        if fe.kind == 'caddy':
            t.equal(f'{what}: Caddy passes {target} on; fw answers 400', st, 400)


def too_big(t, fe, proto, what, app):
    """max_body_kb + 1 byte: 413 (from fw, or from H2O whose limit-request-body
    is max_body_kb), then the next requests to the same app are served."""
    big = b'z' * (MAX_BODY + 1)
    mark = rc.LogMark(app.log_text)
    for i in range(3):
        port, p = fe.url(proto, '/echo')
        st, _ = post_early(port, p, big)
        t.equal(f'{what}: POST of max_body_kb + 1 byte -> 413 ({i + 1})', st, 413)
        port, p = fe.url(proto, '/echo/env')
        r = harness.http(port, 'GET', p)
        t.equal(f'{what}: the next request to that app is served ({i + 1})', r.status, 200)
    if fe.kind != 'h2o':
        t.check(f'{what}: fw gave the 413', 'over max_body_kb; answering 413' in mark.text(),
                mark.text()[-1000:])
    bad = [line for line in mark.text().splitlines() if 'protocol error' in line]
    t.check(f'{what}: no FastCGI protocol error', not bad, bad[:3])
    big = b'y' * MAX_BODY
    r = harness.http(port, 'POST', fe.url(proto, '/echo')[1], body=big, headers={'Content-Type': 'a/b'})
    t.check(f'{what}: a body of exactly max_body_kb is echoed', r.status == 200 and r.body == big,
            (r.status, len(r.body)))


def keepalive(t, fe, proto, what, hello):
    """Connections fw holds for this front end once it is idle: some with
    FastCGI keep-alive, none otherwise (those of a previous part stay)."""
    before = open_conns(hello.sock) or 0
    port, p = fe.url(proto, '/hello')
    for _ in range(5):
        harness.http(port, 'GET', p)
    if proto == 'fastcgi' and KEEPALIVE[fe.kind]:
        n = harness.wait_until(lambda: (open_conns(hello.sock) or 0) >= 1, harness.WAIT)
        t.check(f'{what}: the front end keeps its FastCGI connections to fw open',
                n, open_conns(hello.sock))
    else:
        # Closed by the front end after each answer (fw lingers up to 2 s).
        n = harness.wait_until(lambda: open_conns(hello.sock) == before, harness.WAIT)
        t.check(f'{what}: a connection per request, none kept open ({before} before)', n,
                open_conns(hello.sock))


def one_frontend(t, kind, hello, echo):
    fe = frontends.start(t, kind)
    for proto in frontends.KINDS[kind][3]:
        what = f'{kind} {proto}'
        with t.section(f'{what}: requests'):
            basics(t, fe, proto, what)
            params(t, fe, proto, what)
        with t.section(f'{what}: the status page is private'):
            private_status(t, fe, proto, what)
        with t.section(f'{what}: dot segments'):
            dot_segments(t, fe, proto, what)
        with t.section(f'{what}: max_body_kb'):
            too_big(t, fe, proto, what, echo)
        with t.section(f'{what}: keep-alive'):
            keepalive(t, fe, proto, what, hello)
    fe.stop()
    # AH01630: Apache refusing 127.0.0.2 the status page, as it should.
    bad = [line for line in fe.bad_lines() if 'AH01630' not in line]
    t.check(f'{kind}: no error in its logs', not bad, '\n'.join(bad[:10]))


# The params each front end sends for a path (docs/frontends.md), with the
# client's raw URI in REQUEST_URI; PATH is put in where each puts it.
PATH_FORMS = {
    'nginx': lambda path, uri: {'DOCUMENT_URI': path, 'SCRIPT_NAME': path, 'REQUEST_URI': uri},
    'apache': lambda path, uri: {'SCRIPT_NAME': path, 'REQUEST_URI': uri},
    'lighttpd': lambda path, uri: {'SCRIPT_NAME': '', 'PATH_INFO': path, 'REQUEST_URI': uri},
    'caddy': lambda path, uri: {'SCRIPT_NAME': '', 'PATH_INFO': path, 'DOCUMENT_URI': '',
                                'REQUEST_URI': uri},
    'h2o': lambda path, uri: {'SCRIPT_NAME': '', 'PATH_INFO': path, 'REQUEST_URI': uri},
    'REQUEST_URI alone': lambda path, uri: {'REQUEST_URI': uri},
}


def raw_path_forms(t, hello):
    """Straight to the app's sockets, as each front end would send the path
    if it did not resolve dot segments itself: never a route parameter
    '.' or '..', always 400; the same path without them is routed."""
    scgi = t.path('hello-scgi.sock')
    for form, make in PATH_FORMS.items():
        for path, uri in (('/users/..', '/users/..'), ('/users/..', '/users/.%2e'),
                          ('/users/.', '/users/%2E'), ('/users/../pid', '/users/%2e%2e/pid'),
                          ('/users/%2e%2e', '/users/%252e%252e')):
            extra = make(path, uri)
            p = harness.fcgi_params('GET', '/')
            for k in ('DOCUMENT_URI', 'SCRIPT_NAME', 'REQUEST_URI'):
                p.pop(k)
            p.update(extra)
            with harness.FcgiConn(hello.sock) as c:
                st, _, body = c.request(p).cgi()
            t.check(f'FastCGI, {form} form of {uri}: 400, no route parameter',
                    st == 400 and not body.startswith(b'id='), (st, body[:100], extra))
            p.pop('CONTENT_LENGTH', None)
            raw, closed, _ = harness.scgi_exchange(scgi, harness.scgi_request(p))
            st, _, body = harness.parse_cgi(raw)
            t.check(f'SCGI, {form} form of {uri}: 400, no route parameter',
                    st == 400 and not body.startswith(b'id='), raw[:200])
        p = harness.fcgi_params('GET', '/')
        for k in ('DOCUMENT_URI', 'SCRIPT_NAME', 'REQUEST_URI'):
            p.pop(k)
        p.update(make('/users/a..b', '/users/a..b'))
        with harness.FcgiConn(hello.sock) as c:
            st, _, body = c.request(p).cgi()
        t.check(f'FastCGI, {form} form of /users/a..b: routed, id="a..b"',
                st == 200 and body == b'id=a..b path=/users/a..b\n', (st, body[:100]))


def both(t, name, binary=None):
    fcgi, scgi = t.path(f'{name}.sock'), t.path(f'{name}-scgi.sock')
    env = {'FW_SERVER_LISTEN': f'{fcgi}, scgi:{scgi}', 'FW_SERVER_WORKERS': 2,
           'FW_SERVER_STATUS_PATH': '/status'}
    app = t.start_app(name, sock=fcgi, env=env, workers=2, binary=binary)
    harness.wait_until(lambda: harness.unix_accepts(scgi), harness.START_TIMEOUT)
    return app


def main(t):
    # The front ends' files name hello.sock, hello-scgi.sock, echo.sock and
    # echo-scgi.sock: testapp as hello (it has /users/:id), and apps/echo.
    hello = both(t, 'hello', rc.testapp())
    echo = both(t, 'echo')
    with t.section('the path forms of every front end, with dot segments, on the raw sockets'):
        raw_path_forms(t, hello)
    for kind in ('apache', 'lighttpd', 'caddy', 'h2o'):
        with t.section(kind):
            one_frontend(t, kind, hello, echo)
    t.check_logs()


if __name__ == '__main__':
    harness.run(main)
