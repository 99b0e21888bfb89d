#!/usr/bin/env python3
"""The request side through nginx, with tests/apps/reqapp: query and form
iteration, multipart uploads (and the malformed, oversized and too-many
ones), cookies in and out (and the invalid ones), HTML escaping,
redirects (and CR/LF in them), JSON in and out, fw_setting (file,
environment, SIGHUP), fw_before, fw_after (deferred and cancelled
requests too), fw_on_error for handler and fw's own errors, default_type,
the 405 beside a catch-all, fw_on_worker_drain and fw_on_worker_exit,
and no allocation per request for a JSON or form handler in a warm
worker."""
import http.client as httpclient
import json
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import http  # noqa: E402

REQAPP = os.path.join(harness.BUILD_DIR, 'tests', 'apps', 'reqapp')
ALLOCATOR = os.environ.get('FW_ALLOCATOR', '')


def fnv(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xffffffffffffffff
    return h


def multipart(parts, boundary='----fwTestBoundary7MA4'):
    """parts: (name, value bytes, filename or None, content type or None)."""
    out = b''
    for name, value, filename, ctype in parts:
        cd = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:  # a quoted-string: '"' and '\\' escaped
            cd += '; filename="' + filename.replace('\\', '\\\\').replace('"', '\\"') + '"'
        out += f'--{boundary}\r\n{cd}\r\n'.encode()
        if ctype:
            out += f'Content-Type: {ctype}\r\n'.encode()
        out += b'\r\n' + value + b'\r\n'
    return out + f'--{boundary}--\r\n'.encode(), f'multipart/form-data; boundary={boundary}'


def jget(port, path, **kw):
    r = http(port, 'GET', path, **kw)
    return r, (json.loads(r.body) if r.body else None)


def post(port, path, body, ctype, headers=None):
    h = {'Content-Type': ctype}
    h.update(headers or {})
    return http(port, 'POST', path, body=body, headers=h)


def check_problem(t, what, r, status, msg_part=None):
    """An error answered by reqapp's fw_on_error hook: JSON with the status and message."""
    t.equal(f'{what}: status', r.status, status)
    ok = r.header('Content-Type') == 'application/problem+json'
    t.check(f'{what}: the error hook wrote the body (application/problem+json)', ok,
            (r.header('Content-Type'), r.body[:300]))
    if ok:
        doc = json.loads(r.body)
        t.equal(f'{what}: its status field', doc['status'], status)
        if msg_part is not None:
            t.check(f'{what}: its message says why ({msg_part!r})',
                    doc['error'] is not None and msg_part in doc['error'], doc)


def forms(t, port):
    r, doc = jget(port, '/q?tag=a&tag=b&x=%20y+z&&empty=&flag')
    t.equal('fw_query_at: every pair, repeats included', doc,
            [['tag', 'a'], ['tag', 'b'], ['x', ' y z'], ['empty', ''], ['flag', '']])

    r = post(port, '/form', b'a=1&b=hello+w%C3%B6rld&a=2', 'application/x-www-form-urlencoded')
    doc = json.loads(r.body)
    t.equal('urlencoded: fields in order', doc['fields'], [['a', '1'], ['b', 'hello w\u00f6rld'], ['a', '2']])
    t.equal('urlencoded: fw_form gives the first value', doc['first_a'], '1')

    blob = bytes(range(256)) * 40 + b'\r\n--not-the-boundary\r\n' + os.urandom(3000)
    body, ct = multipart([('a', b'text value', None, None),
                          ('f', blob, 'my "file".bin', 'application/octet-stream'),
                          ('f', b'', '', None),
                          ('a', 'zwei \u00e4'.encode(), None, 'text/plain; charset=utf-8')])
    r = post(port, '/form', body, ct)
    t.equal('multipart: 200', r.status, 200)
    doc = json.loads(r.body)
    t.equal('multipart: text fields', doc['fields'], [['a', 'text value'], ['a', 'zwei \u00e4']])
    t.equal('multipart: files', doc['files'], [
        {'name': 'f', 'filename': 'my "file".bin', 'type': 'application/octet-stream',
         'len': len(blob), 'fnv': fnv(blob)},
        {'name': 'f', 'filename': '', 'type': 'text/plain', 'len': 0, 'fnv': fnv(b'')}])
    t.check('multipart: fw_form_file finds "f"', doc['file_named_f'] is True, doc)

    # A part as big as it may be: just under max_body_kb (2048 KiB in conf/fw.ini).
    big = os.urandom(2000 * 1024)
    body, ct = multipart([('f', big, 'big.bin', None)])
    r = post(port, '/form', body, ct)
    t.check('multipart: a 2000 KiB upload arrives intact',
            r.status == 200 and json.loads(r.body)['files'][0]['fnv'] == fnv(big), r)
    body, ct = multipart([('f', os.urandom(2100 * 1024), 'too-big.bin', None)])
    check_problem(t, 'multipart over max_body_kb: 413 before the handler', post(port, '/form', body, ct), 413)


def hostile_multipart(t, port):
    b = 'XyZ'
    ct = f'multipart/form-data; boundary={b}'
    cd = 'Content-Disposition: form-data; name="a"'
    cases = {
        'truncated (no closing boundary)': (f'--{b}\r\n{cd}\r\n\r\nvalue', 'cut short'),
        'no Content-Disposition': (f'--{b}\r\nContent-Type: text/plain\r\n\r\nv\r\n--{b}--', 'no Content-Disposition'),
        'two Content-Dispositions': (f'--{b}\r\n{cd}\r\n{cd}\r\n\r\nv\r\n--{b}--', 'two Content-Disposition'),
        'two Content-Types': (f'--{b}\r\n{cd}\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\nv\r\n--{b}--', 'two Content-Type'),
        'a bare LF in the headers': (f'--{b}\r\n{cd}\nX: y\r\n\r\nv\r\n--{b}--', 'bare CR or LF'),
        'a folded header': (f'--{b}\r\n{cd}\r\nX: y\r\n z\r\n\r\nv\r\n--{b}--', 'folded'),
        'no name': (f'--{b}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--{b}--', 'no name'),
        'no boundary line at all': ('just some text', 'no boundary line'),
        'huge part headers (9 KiB)': (f'--{b}\r\n{cd}\r\nX-Big: {"h" * 9000}\r\n\r\nv\r\n--{b}--', 'longer than the limit'),
        'the boundary inside a part': (f'--{b}\r\n{cd}\r\n\r\nv\r\n--{b}junk\r\n--{b}--', 'inside the body'),
    }
    for what, (body, msg) in cases.items():
        check_problem(t, f'malformed multipart, {what}: 400', post(port, '/form', body.encode(), ct), 400, msg)
    check_problem(t, 'multipart without a boundary parameter: 400',
                  post(port, '/form', b'--x--', 'multipart/form-data'), 400, 'boundary')
    body, ct = multipart([(f'p{i}', b'v', None, None) for i in range(6)])
    check_problem(t, 'more parts than max_form_fields (5): 400', post(port, '/form', body, ct), 400,
                  'max_form_fields')
    check_problem(t, 'more urlencoded fields than max_form_fields (5): 400',
                  post(port, '/form', b'a=1&b=2&c=3&d=4&e=5&f=6', 'application/x-www-form-urlencoded'),
                  400, 'max_form_fields')
    r = post(port, '/form', b'a=1&b=2&c=3&d=4&e=5', 'application/x-www-form-urlencoded')
    t.equal('max_form_fields fields exactly: 200', r.status, 200)


def cookies(t, port):
    r, doc = jget(port, '/cookie?name=sid', headers={'Cookie': 'theme=dark; sid="abc"; sid=second; lone'})
    t.equal('fw_cookie: the first of a repeated name, quotes dropped', doc, 'abc')
    r, doc = jget(port, '/cookie?name=', headers={'Cookie': 'theme=dark;lone'})
    t.equal('fw_cookie: a pair without = is a nameless cookie', doc, 'lone')
    r, doc = jget(port, '/cookie?name=missing', headers={'Cookie': ';;;  ; =;=='})
    t.equal('fw_cookie: junk gives NULL', doc, None)

    r = http(port, 'GET', '/setcookie?name=sid&value=v1&defaults=1')
    t.equal('fw_set_cookie defaults (plain HTTP: no Secure)', r.headers('Set-Cookie'),
            ['sid=v1; Path=/; HttpOnly; SameSite=Lax'])
    r = http(port, 'GET', '/setcookie?name=a&value=1&max_age=60&path=/app&domain=example.com'
                          '&samesite=strict&httponly=off')
    t.equal('fw_set_cookie with options', r.headers('Set-Cookie'),
            ['a=1; Path=/app; Domain=example.com; Max-Age=60; SameSite=Strict'])
    r = http(port, 'GET', '/setcookie?name=a&value=&max_age=-1&expires=1445412480&samesite=none')
    t.equal('fw_set_cookie: delete, Expires, SameSite=None forces Secure', r.headers('Set-Cookie'),
            ['a=; Path=/; Max-Age=0; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly; SameSite=None'])
    for what, qs in (('a name with a space', 'name=a%20b&value=1'),
                     ('a name with CR LF', 'name=a%0D%0ASet-Cookie:%20x&value=1'),
                     ('a value with ;', 'name=a&value=1;%20Domain=evil.com'),
                     ('a value with CR LF', 'name=a&value=1%0D%0AX-Evil:%201'),
                     ('a value with a space', 'name=a&value=two%20words'),
                     ('a Path with ;', 'name=a&value=1&path=/a;b'),
                     ('a __Host- cookie with a Domain', 'name=__Host-a&value=1&domain=example.com'),
                     ('SameSite=None without Secure', 'name=a&value=1&samesite=none&secure=off')):
        r = http(port, 'GET', '/setcookie?' + qs)
        t.check(f'fw_set_cookie refuses {what}: -1 and no Set-Cookie',
                r.status == 400 and not r.headers('Set-Cookie') and not r.headers('X-Evil'), r)


def html_redirect(t, port):
    r = http(port, 'GET', '/html?s=%3Cscript%3Ealert(%22x%22)%3C/script%3E%26%27')
    t.equal('fw_write_html escapes & < > " \'', r.body,
            b'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;')
    r = http(port, 'GET', '/redirect?to=/notes%3Fa%3D1&status=303')
    t.equal('fw_redirect: 303 with Location', (r.status, r.header('Location')), (303, '/notes?a=1'))
    r = http(port, 'GET', '/redirect?to=https://example.com/x&status=308')
    t.equal('fw_redirect: 308 to an absolute URL', (r.status, r.header('Location')), (308, 'https://example.com/x'))
    for what, to in (('CR LF', '/x%0D%0ASet-Cookie:%20admin=1'), ('LF', '/x%0Ay'), ('CR', '/x%0Dy')):
        r = http(port, 'GET', '/redirect?to=' + to)
        t.check(f'fw_redirect refuses {what} in the location: 500, no Location, no injected header',
                r.status == 500 and r.header('Location') is None and not r.headers('Set-Cookie'), r)


def json_io(t, port):
    r = post(port, '/json', '{"title": "Caf\\u00e9", "n": [1, 2.5, true, null], "o": {"k": "v"}}',
             'application/json')
    t.equal('JSON in and out: 200, application/json', (r.status, r.header('Content-Type')),
            (200, 'application/json'))
    t.equal('JSON in and out: the document', json.loads(r.body),
            {'got': {'title': 'Caf\u00e9', 'n': [1, 2.5, True, None], 'o': {'k': 'v'}}, 'pi': 3.25})
    check_problem(t, 'malformed JSON: 400 with line and column',
                  post(port, '/json', '{"title": }', 'application/json'), 400, 'line 1, column')
    check_problem(t, 'JSON with a repeated key: 400',
                  post(port, '/json', '{"a": 1, "a": 2}', 'application/json'), 400, 'duplicate')
    check_problem(t, 'JSON with the wrong Content-Type: 415',
                  post(port, '/json', '{}', 'text/plain'), 415, 'application/json')
    check_problem(t, 'an empty JSON body: 400', post(port, '/json', '', 'application/json'), 400, 'empty')
    check_problem(t, 'JSON nested 5000 deep: 400, no crash',
                  post(port, '/json', '[' * 5000, 'application/json'), 400, 'not valid JSON')


def hooks_and_errors(t, port):
    r = http(port, 'GET', '/data')
    t.equal('fw_before runs before the handler; fw_set_data reaches it', r.body, b'seen=yes\n')
    check_problem(t, 'fw_before returns 403: the handler is skipped, the error hook writes it',
                  http(port, 'GET', '/data?deny=1'), 403, 'denied by the before hook')
    r = http(port, 'GET', '/data?go_login=1')
    t.equal('fw_before may redirect', (r.status, r.header('Location')), (303, '/login'))

    check_problem(t, 'a handler error with fw_error: the hook gets the message',
                  http(port, 'GET', '/fail?code=422&msg=title%20missing'), 422, 'title missing')
    check_problem(t, 'a handler\'s bare 404', http(port, 'GET', '/fail?code=404'), 404)
    r = http(port, 'GET', '/fail?code=418')
    t.equal('the error hook may change the status (418 -> 503)', r.status, 503)
    r = http(port, 'GET', '/fail?code=409&msg=taken&plain=1')
    t.equal('a hook that writes nothing: fw\'s text body with the message, text/plain',
            (r.status, r.header('Content-Type'), r.body), (409, 'text/plain; charset=utf-8', b'409 Conflict\ntaken\n'))

    # The automatic 405 beside a "*" catch-all, and its body from the hook.
    r = http(port, 'PUT', '/items/42', body=b'x')
    check_problem(t, '405 with a catch-all registered', r, 405)
    t.equal('405: Allow lists the pattern\'s methods', r.header('Allow'), 'GET, HEAD')
    r = http(port, 'GET', '/items/42')
    t.equal('GET /items/42 reaches its route', r.body, b'item 42\n')
    r = http(port, 'DELETE', '/no/such/thing')
    t.equal('the catch-all takes paths no other pattern matches', (r.status, r.body),
            (200, b'catch-all DELETE no/such/thing\n'))

    r = http(port, 'GET', '/notype')
    t.equal('default_type for a response without Content-Type', r.header('Content-Type'),
            'text/plain; charset=utf-8')


def after_hook(t, port):
    r = http(port, 'GET', '/later?ms=50&status=201')
    t.equal('a deferred answer', r.status, 201)
    r, doc = jget(port, '/after')
    t.equal('fw_after saw the deferred request\'s final status', (doc['last_status'], doc['last_path']),
            (201, '/later'))
    calls = doc['calls']
    r, doc = jget(port, '/after')
    t.equal('fw_after runs once per request', doc['calls'], calls + 1)
    # A client that leaves a deferred request: nginx closes the connection, fw cancels: 499.
    conn = httpclient.HTTPConnection('127.0.0.1', port, timeout=0.5)
    try:
        conn.request('GET', '/later?ms=5000')
        conn.getresponse()
    except (socket.timeout, TimeoutError):
        pass
    finally:
        conn.close()
    got = harness.wait_until(lambda: jget(port, '/after')[1]['last_status'] == 499
                             or None, 10.0, interval=0.2)
    t.check('fw_after gets 499 for a deferred request whose client left', got, jget(port, '/after')[1])


def settings(t, port):
    r, doc = jget(port, '/setting?name=session_secret')
    t.equal('fw_setting: a key of [app] in the file', doc, 'demo-only-secret-change-me-0123456789abcdef')
    r, doc = jget(port, '/setting?name=DATA_DIR')
    t.equal('fw_setting: FW_APP_DATA_DIR wins over the file, any case', doc, '/from/the/environment')
    r, doc = jget(port, '/setting?name=extra.key')
    t.equal('fw_setting: a key only in the environment (FW_APP_EXTRA_KEY)', doc, 'env-only')
    r, doc = jget(port, '/setting?name=nothing')
    t.equal('fw_setting: NULL for a missing key', doc, None)


def zero_allocs(t, port):
    if ALLOCATOR != 'tcmalloc':
        print(f'# skipped: allocations are counted with tcmalloc only (allocator {ALLOCATOR!r})')
        return
    conn = httpclient.HTTPConnection('127.0.0.1', port, timeout=harness.IO_TIMEOUT)

    def status():
        r = harness.http_on(conn, 'GET', '/status')
        return json.loads(r.body)['workers'][0]

    doc = '{"title": "a note", "tags": ["x", "y"], "n": 12.5, "done": false}'
    form = b'title=a+note&body=some+text&tag=x&tag=y'
    for what, path, body, ctype in (('JSON in and out', '/json', doc, 'application/json'),
                                    ('an urlencoded form', '/form', form, 'application/x-www-form-urlencoded')):
        for _ in range(300):
            harness.http_on(conn, 'POST', path, body=body, headers={'Content-Type': ctype})
        for _ in range(3):
            status()
        w1 = status()
        for _ in range(500):
            r = harness.http_on(conn, 'POST', path, body=body, headers={'Content-Type': ctype})
            if r.status != 200:
                break
        w2 = status()
        t.equal(f'{what}: 200', r.status, 200)
        t.check(f'{what}: a warm worker allocates nothing in 500 requests '
                f'(allocs {w1["allocs"]} -> {w2["allocs"]}, frees {w1["frees"]} -> {w2["frees"]})',
                w2['allocs'] == w1['allocs'] and w2['frees'] == w1['frees'] and w2['pid'] == w1['pid'],
                (w1, w2))
    conn.close()


def reload_and_exit(t, ngx):
    ini = t.path('reqapp.ini')
    with open(harness.FW_INI) as f:
        base = f.read()
    with open(ini, 'w') as f:
        f.write(base + 'greeting = one\n')
    exit_file = t.path('exits.log')
    saved, harness.FW_INI = harness.FW_INI, ini
    try:
        app = t.start_app('hello', binary=REQAPP, workers=1,
                          env={'FW_SERVER_WORKERS': 1, 'FW_APP_EXIT_FILE': exit_file})
    finally:
        harness.FW_INI = saved
    r, doc = jget(ngx.port, '/setting?name=greeting')
    t.equal('fw_setting from a custom file', doc, 'one')
    old = app.workers()
    with open(ini, 'w') as f:
        f.write(base + 'greeting = two\n')
    app.send_signal(signal.SIGHUP)
    got = harness.wait_until(lambda: jget(ngx.port, '/setting?name=greeting')[1] == 'two', 15.0, 0.2)
    t.check('after SIGHUP, new workers read the new [app] value', got)
    harness.wait_pids_gone(old, 15.0)
    t.check('the reloaded worker ran fw_on_worker_exit',
            harness.wait_until(lambda: os.path.exists(exit_file) and
                               f'exit {old[0]} ' in open(exit_file).read(), 10.0))
    lines = [ln.split()[:2] for ln in open(exit_file).read().splitlines()]
    t.equal('... after fw_on_worker_drain, run once when it stopped taking requests',
            [w for w, p in lines if p == str(old[0])], ['drain', 'exit'])
    new = app.workers()
    t.equal('the app stops with status 0', app.stop(), 0)
    t.check('the stopped worker ran fw_on_worker_exit, after its last response',
            os.path.exists(exit_file) and any(f'exit {p} after ' in open(exit_file).read() for p in new),
            open(exit_file).read() if os.path.exists(exit_file) else '(no file)')
    lines = [ln.split()[:2] for ln in open(exit_file).read().splitlines()]
    t.equal('... and fw_on_worker_drain before it, once', [w for w, p in lines if p == str(new[0])],
            ['drain', 'exit'])


def main(t):
    env = {'FW_SERVER_WORKERS': 1, 'FW_SERVER_MAX_FORM_FIELDS': 5, 'FW_APP_DATA_DIR': '/from/the/environment',
           'FW_APP_EXTRA_KEY': 'env-only', 'FW_SERVER_STATUS_PATH': '/status', 'FW_COUNT_ALLOCS': 1}
    app = t.start_app('hello', binary=REQAPP, env=env, workers=1)
    ngx = t.start_nginx()
    with t.section('query and forms'):
        forms(t, ngx.port)
    with t.section('hostile multipart and form limits'):
        hostile_multipart(t, ngx.port)
    with t.section('cookies'):
        cookies(t, ngx.port)
    with t.section('HTML and redirects'):
        html_redirect(t, ngx.port)
    with t.section('JSON'):
        json_io(t, ngx.port)
    with t.section('hooks and error pages'):
        hooks_and_errors(t, ngx.port)
    with t.section('fw_after'):
        after_hook(t, ngx.port)
    with t.section('settings'):
        settings(t, ngx.port)
    with t.section('no allocation per request'):
        zero_allocs(t, ngx.port)
    t.equal('reqapp stops with status 0', app.stop(), 0)
    with t.section('SIGHUP, fw_on_worker_drain and fw_on_worker_exit'):
        reload_and_exit(t, ngx)
    t.check_logs()


harness.run(main)
