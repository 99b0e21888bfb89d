#!/usr/bin/env python3
"""SCGI: the demo apps through the real nginx under /scgi/... (the same
servers answering FastCGI at the same time), then a raw SCGI client for
hostile input straight on the socket: every malformed request gets one
log line and its connection closed, and the worker keeps serving."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import cgi_header, scgi_exchange, scgi_get, scgi_params, scgi_request  # noqa: E402

REQUEST_TIMEOUT = 2  # FW_SERVER_REQUEST_TIMEOUT of the hostile-input server
LATE_S = 20  # how late a loaded machine may close after request_timeout (a bound)
# The server for malformed requests waits this long for the rest of one:
# a close within a bound far below it was not a timeout, it came at once.
PATIENT_TIMEOUT = 300


def start_both(t, name, fcgi, scgi, env=None):
    """NAME listening on a FastCGI and an SCGI socket at once."""
    e = {'FW_SERVER_LISTEN': f'{fcgi}, scgi:{scgi}'}
    e.update(env or {})
    app = t.start_app(name, sock=fcgi, env=e, workers=int(e.get('FW_SERVER_WORKERS', 2)))
    ok = harness.wait_until(lambda: harness.unix_accepts(scgi), harness.START_TIMEOUT)
    t.check(f'{name} accepts on its SCGI socket too', ok, app.log_text()[-2000:])
    return app


WRK_MAX_S = 60


def nginx_part(t, hello, echo, ngx):
    port = ngx.port

    with t.section('GET, HEAD, route params, query, 404, 405 over SCGI'):
        r = harness.http(port, 'GET', '/scgi/hello')
        t.check('GET /scgi/hello -> 200 "hello"', r.status == 200 and r.body == b'hello\n', repr(r))
        t.equal('its Content-Type', r.header('Content-Type'), 'text/plain')
        t.equal('its Content-Length', r.header('Content-Length'), '6')
        r = harness.http(port, 'HEAD', '/scgi/hello')
        t.check('HEAD /scgi/hello -> 200 without a body', r.status == 200 and r.body == b'', repr(r))
        t.equal('HEAD keeps Content-Length 6', r.header('Content-Length'), '6')
        r = harness.http(port, 'GET', '/scgi/hello/w%C3%B6rld')
        t.check('GET /scgi/hello/w%C3%B6rld -> "hello, wörld" (route param, decoded)',
                r.status == 200 and r.body == 'hello, wörld\n'.encode(), repr(r))
        r = harness.http(port, 'GET', '/scgi/greet?name=a+b%21%20c')
        t.check('GET /scgi/greet?name=a+b%21%20c -> "hello, a b! c" (query decoded)',
                r.status == 200 and r.body == b'hello, a b! c\n', repr(r))
        r = harness.http(port, 'GET', '/scgi/greet')
        t.equal('GET /scgi/greet without a name -> 400', r.status, 400)
        r = harness.http(port, 'GET', '/scgi/nope')
        t.check('GET /scgi/nope -> 404 with the default body',
                r.status == 404 and r.body == b'404 Not Found\n', repr(r))
        r = harness.http(port, 'POST', '/scgi/hello', body=b'x')
        t.equal('POST /scgi/hello -> 405', r.status, 405)
        allow = [m.strip() for m in (r.header('Allow') or '').split(',')]
        t.check('with Allow naming GET (and HEAD)', 'GET' in allow, repr(r.header('Allow')))

    with t.section('POST bodies over SCGI'):
        data = os.urandom(1024 * 1024)
        r = harness.http(port, 'POST', '/scgi/echo', body=data,
                         headers={'Content-Type': 'application/x-scgi-test'})
        t.check('POST /scgi/echo of 1 MiB echoed byte for byte', r.status == 200 and r.body == data,
                f'status {r.status}, {len(r.body)} bytes')
        t.equal('its Content-Type echoed', r.header('Content-Type'), 'application/x-scgi-test')
        r = harness.http(port, 'POST', '/scgi/echo', body=b'',
                         headers={'Content-Type': 'text/plain'})
        t.check('an empty POST echoed empty', r.status == 200 and r.body == b'', repr(r))
        big = b'z' * (3 * 1000 * 1000)
        r = harness.http(port, 'POST', '/scgi/echo', body=big, headers={'Content-Type': 'a/b'})
        t.check('POST /scgi/echo of 3 MB -> 413 from fw (max_body_kb 2048)',
                r.status == 413 and r.body.startswith(b'413 '), repr(r))
        r = harness.http(port, 'GET', '/scgi/hello')
        t.equal('the next request after the 413 is served', r.status, 200)

    with t.section('/scgi/echo/env: what nginx sends over SCGI'):
        r = harness.http(port, 'GET', '/scgi/echo/env?a=1', headers={'X-Test': 'yes'})
        t.equal('status', r.status, 200)
        env = json.loads(r.body) if r.status == 200 else {}
        t.equal('DOCUMENT_URI is the path without /scgi', env.get('DOCUMENT_URI'), '/echo/env')
        t.equal('SCGI=1', env.get('SCGI'), '1')
        t.equal('REQUEST_URI is what the client sent', env.get('REQUEST_URI'), '/scgi/echo/env?a=1')
        t.equal('QUERY_STRING', env.get('QUERY_STRING'), 'a=1')
        t.equal('HTTP_X_TEST', env.get('HTTP_X_TEST'), 'yes')
        t.equal('CONTENT_LENGTH is the first variable', next(iter(env), None), 'CONTENT_LENGTH')

    with t.section('both protocols at once: wrk on /scgi/hello, FastCGI /hello beside it'):
        t.check('wrk is installed', shutil.which('wrk') is not None)
        fcgi_results = []
        stop = threading.Event()

        def fcgi_loop():
            conn = harness.httpclient.HTTPConnection('127.0.0.1', port, timeout=30)
            try:
                while not stop.is_set() and len(fcgi_results) < 5000:
                    r = harness.http_on(conn, 'GET', '/hello/fcgi')
                    fcgi_results.append(r.status == 200 and r.body == b'hello, fcgi\n')
            except Exception as e:  # noqa: BLE001 - reported below
                fcgi_results.append(f'{type(e).__name__}: {e}')
            finally:
                conn.close()

        # Both run until each has made its share (bounded), not for a time:
        # wrk (at most WRK_MAX_S) is stopped once the status page counts 200
        # requests beyond the FastCGI loop's, and the loop has made 200.
        base = json.loads(harness.http(port, 'GET', '/status').body)['requests']
        th = threading.Thread(target=fcgi_loop, daemon=True)
        th.start()
        p = subprocess.Popen(['wrk', '-t2', '-c8', f'-d{WRK_MAX_S}s', '--timeout', '10s',
                              f'http://127.0.0.1:{port}/scgi/hello'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        polls = [0]

        def both_served():
            polls[0] += 1
            st = json.loads(harness.http(port, 'GET', '/status').body)['requests']
            return p.poll() is not None or (len(fcgi_results) >= 200
                                            and st - base - polls[0] - len(fcgi_results) >= 200)
        harness.wait_until(both_served, WRK_MAX_S, interval=0.2)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # wrk prints its summary
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        stop.set()
        th.join(30)
        print('\n'.join('#   ' + line for line in out.splitlines()), flush=True)
        m = re.search(r'(\d+) requests in', out)
        t.check('wrk ran and counted requests', p.returncode == 0 and m and int(m.group(1)) > 100,
                out + err)
        t.check('wrk: no socket errors', 'Socket errors' not in out, out)
        t.check('wrk: no non-2xx responses', 'Non-2xx' not in out, out)
        t.check('FastCGI requests beside it all answered',
                len(fcgi_results) > 10 and all(x is True for x in fcgi_results),
                f'{len(fcgi_results)} results, bad: {[x for x in fcgi_results if x is not True][:5]}')
        t.check('both served by the same hello master and workers',
                hello.alive() and len(hello.workers()) == 2, hello.workers())
        r = harness.http(port, 'GET', '/status')
        st = json.loads(r.body) if r.status == 200 else {}
        t.equal('/status is hello\'s master', st.get('master_pid'), hello.pid)
        t.check('it counted the requests of both protocols',
                st.get('requests', 0) >= int(m.group(1) if m else 0) + len(fcgi_results),
                (st.get('requests'), m and m.group(1), len(fcgi_results)))


# ------------------------------------------------------------- hostile SCGI

def worker_pid_over_scgi(addr):
    """The pid of the (only) worker, from the status page asked over SCGI."""
    st, hdrs, body, raw, closed = scgi_get(addr, '/status')
    if st != 200:
        return None
    pids = [w['pid'] for w in json.loads(body).get('workers', [])]
    return pids[0] if len(pids) == 1 else pids


def warn_lines(text):
    return [line for line in text.splitlines() if '[warn]' in line or '[error]' in line
            or '[crit]' in line or '[alert]' in line]


def hostile_part(t, app, scgi, wpid, patient, patient_pid):
    """Malformed requests go to `patient` (request_timeout PATIENT_TIMEOUT),
    the rest to app (request_timeout REQUEST_TIMEOUT)."""
    h = scgi_params('GET', '/echo/status/200')
    ok_req = scgi_request(h)
    head = ok_req[ok_req.index(b':') + 1:ok_req.rindex(b',')]  # the header block
    hl = str(len(head)).encode()
    malformed = 'is malformed'
    cases = [
        # (what, bytes, substring of the expected log line)
        ('a leading zero in the length', b'0' + hl + b':' + head + b',', 'leading zero'),
        ('length "00"', b'00:,', 'leading zero'),
        ('a non-digit in the length', hl[:1] + b'x' + hl[1:] + b':' + head + b',', 'not a decimal'),
        ('a negative length', b'-' + hl + b':' + head + b',', 'not a decimal'),
        ('an HTTP request', b'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'not a decimal'),
        ('a 30-digit length', b'1' * 30 + b':' + head + b',', 'larger than the limit'),
        ('a 30-digit length of 9s', b'9' * 30 + b':', 'larger than the limit'),
        ('no ":" after the length', hl + head + b',', 'not a decimal'),
        ('":" with no length', b':' + head + b',', 'length missing'),
        ('no "," after the headers', hl + b':' + head + b';', "does not end with ','"),
        ('headers longer than announced', str(len(head) - 1).encode() + b':' + head + b',',
         "does not end with ','"),
        ('an empty header block "0:,"', b'0:,', 'empty header block'),
        ('an odd number of strings',
         harness_netstring(b'CONTENT_LENGTH\x000\x00SCGI\x00'), 'odd number'),
        ('a block not ending in NUL', harness_netstring(b'CONTENT_LENGTH\x000\x00X'),
         'does not end with a NUL'),
        ('CONTENT_LENGTH not first',
         harness_netstring(b'SCGI\x001\x00CONTENT_LENGTH\x000\x00'), 'not the first header'),
        ('no CONTENT_LENGTH at all', harness_netstring(b'SCGI\x001\x00'), 'not the first header'),
        ('an empty name',
         harness_netstring(b'CONTENT_LENGTH\x000\x00\x00x\x00'), 'empty header name'),
        ('CONTENT_LENGTH "+5"', harness_netstring(b'CONTENT_LENGTH\x00+5\x00') + b'12345',
         'CONTENT_LENGTH is not a decimal'),
        ('CONTENT_LENGTH "-1"', harness_netstring(b'CONTENT_LENGTH\x00-1\x00'),
         'CONTENT_LENGTH is not a decimal'),
        ('CONTENT_LENGTH "05"', harness_netstring(b'CONTENT_LENGTH\x0005\x00') + b'12345',
         'CONTENT_LENGTH is not a decimal'),
        ('CONTENT_LENGTH empty', harness_netstring(b'CONTENT_LENGTH\x00\x00'),
         'CONTENT_LENGTH is not a decimal'),
        ('CONTENT_LENGTH of 30 digits', harness_netstring(b'CONTENT_LENGTH\x00' + b'9' * 30 + b'\x00'),
         'CONTENT_LENGTH is not a decimal'),
        ('a header block over max_params_kb (65537 bytes announced)', b'65537:' + head,
         'larger than the limit'),
    ]
    pscgi = patient.scgi
    for what, data, want in cases:
        with t.section(f'SCGI: {what}'):
            mark = len(patient.log_text())
            raw, closed, secs = scgi_exchange(pscgi, data, timeout=harness.IO_TIMEOUT)
            t.check(f'{what}: closed at once without a response, not by request_timeout '
                    f'({PATIENT_TIMEOUT} s) ({secs:.1f} s)',
                    closed and raw == b'' and secs < harness.IO_TIMEOUT, (raw[:200], closed, secs))
            harness.wait_until(lambda: want in patient.log_text()[mark:], harness.WAIT)
            new = warn_lines(patient.log_text()[mark:])
            t.check(f'{what}: one log line saying "{want}"',
                    len(new) == 1 and want in new[0] and (malformed in new[0]),
                    '\n'.join(new) or '(none)')
            t.equal(f'{what}: the same worker answers the next request',
                    worker_pid_over_scgi(pscgi), patient_pid)

    with t.section('SCGI: a body shorter than CONTENT_LENGTH'):
        mark = len(app.log_text())
        data = scgi_request(scgi_params('POST', '/echo', 'text/plain'), b'abc', content_length=10)
        raw, closed, secs = scgi_exchange(scgi, data, timeout=REQUEST_TIMEOUT + LATE_S + 5)
        t.check(f'no response, and closed by request_timeout ({REQUEST_TIMEOUT} s)',
                closed and raw == b'' and REQUEST_TIMEOUT - 0.5 <= secs <= REQUEST_TIMEOUT + LATE_S,
                (raw[:200], closed, round(secs, 2)))
        harness.wait_until(lambda: 'request_timeout' in app.log_text()[mark:], harness.WAIT)
        new = warn_lines(app.log_text()[mark:])
        t.check('one log line about request_timeout',
                len(new) == 1 and 'request_timeout' in new[0], '\n'.join(new) or '(none)')
        t.equal('the same worker answers the next request', worker_pid_over_scgi(scgi), wpid)

    with t.section('SCGI: bytes after the body are not another request'):
        mark = len(app.log_text())
        second = scgi_request(scgi_params('GET', '/echo/status/202'))
        data = scgi_request(scgi_params('GET', '/echo/status/201')) + second + b'garbage' + second
        raw, closed, secs = scgi_exchange(scgi, data)
        t.check('exactly one response (201), then closed',
                closed and raw.count(b'Status:') == 1 and raw.startswith(b'Status: 201 '), raw)
        t.check('the bytes that followed made no second response', b'202' not in raw, raw)
        # With a body: what follows CONTENT_LENGTH bytes is not body either.
        data = scgi_request(scgi_params('POST', '/echo', 'text/x'), b'12345') + b'6789' + second
        raw, closed, secs = scgi_exchange(scgi, data)
        st, hdrs, body = harness.parse_cgi(raw)
        t.check('POST /echo of 5 bytes + 4 extra: one response echoing the 5',
                closed and raw.count(b'Status:') == 1 and st == 200 and body == b'12345', raw)
        new = warn_lines(app.log_text()[mark:])
        t.check('and no log line about the extra bytes', not new, '\n'.join(new))
        t.equal('the same worker answers the next request', worker_pid_over_scgi(scgi), wpid)

    with t.section('SCGI: 1 byte per second'):
        mark = len(app.log_text())
        data = scgi_request(scgi_params('GET', '/echo/status/200'))
        # A sender whose every byte restarted the clock would never be
        # closed: the upper bound only has to be short of the bytes it has.
        closed_at, sent, got = harness.trickle(scgi, data, REQUEST_TIMEOUT + LATE_S + 5)
        t.check(f'closed by request_timeout ({REQUEST_TIMEOUT} s) after {sent} of {len(data)} bytes',
                closed_at is not None and REQUEST_TIMEOUT - 0.5 <= closed_at <= REQUEST_TIMEOUT + LATE_S
                and got == b'', (closed_at, sent, got))
        harness.wait_until(lambda: 'request_timeout' in app.log_text()[mark:], harness.WAIT)
        new = warn_lines(app.log_text()[mark:])
        t.check('one log line about request_timeout',
                len(new) == 1 and 'request_timeout' in new[0], '\n'.join(new) or '(none)')
        t.equal('the same worker answers the next request', worker_pid_over_scgi(scgi), wpid)

    with t.section('SCGI: a peer that closes at every point of a request'):
        data = scgi_request(scgi_params('POST', '/echo', 'text/plain'), b'0123456789')
        mark = len(app.log_text())
        for cut in range(1, len(data)):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(scgi)
            s.sendall(data[:cut])
            s.close()
        t.equal('the same worker answers afterwards', worker_pid_over_scgi(scgi), wpid)
        new = [line for line in warn_lines(app.log_text()[mark:]) if '[warn]' not in line]
        t.check('no error lines for peers that left', not new, '\n'.join(new[:5]))


def recycle_part(t):
    """A connection the front end opened and has not written to yet, when
    its worker retires: front ends connect before they write (nginx,
    Apache and lighttpd all do), so it must reach a worker that answers."""
    with t.section('SCGI: a connection not written to yet survives its worker\'s recycle'):
        fcgi, scgi = t.path('rc.sock'), t.path('rc-scgi.sock')
        app = start_both(t, 'hello', fcgi, scgi, env={'FW_SERVER_WORKERS': 1, 'FW_SERVER_MAX_REQUESTS': 1,
                                                       'FW_SERVER_STATUS_PATH': '/status'})
        old = app.workers()
        a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        a.settimeout(harness.IO_TIMEOUT)
        a.connect(scgi)  # accepted by the one worker, nothing sent
        st, _, body, _, _ = scgi_get(scgi, '/hello')  # B: the worker's last request
        t.equal('B: 200', (st, body), (200, b'hello\n'))
        replaced = harness.wait_until(lambda: (lambda w: len(w) == 1 and w != old and w)(app.workers()),
                                      harness.WAIT)
        t.check(f'the worker was replaced: {old} -> {replaced}', replaced, app.log_text()[-1500:])
        a.sendall(scgi_request(scgi_params('GET', '/hello')))
        raw = b''
        try:
            while True:
                chunk = a.recv(65536)
                if not chunk:
                    break
                raw += chunk
        except OSError as e:
            raw += f' ({e})'.encode()
        a.close()
        t.check(f'A, written to after the recycle, is answered: {raw[:40]!r}',
                raw.startswith(b'Status: 200 OK') and raw.endswith(b'hello\n'), raw[:200])
        app.stop()


def harness_netstring(block):
    return str(len(block)).encode() + b':' + block + b','


def main(t):
    # nginx.conf expects hello.sock + hello-scgi.sock, echo.sock + echo-scgi.sock.
    hello = start_both(t, 'hello', t.path('hello.sock'), t.path('hello-scgi.sock'))
    echo = start_both(t, 'echo', t.path('echo.sock'), t.path('echo-scgi.sock'))
    ngx = t.start_nginx()
    nginx_part(t, hello, echo, ngx)

    with t.section('direct SCGI: well-formed requests'):
        scgi = t.path('hello-scgi.sock')
        st, hdrs, body, raw, closed = scgi_get(scgi, '/hello')
        t.check('GET /hello -> exactly "Status: 200 OK" head + "hello\\n", then close',
                raw == b'Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n'
                and closed, raw)
        st, hdrs, body, raw, closed = scgi_get(scgi, '/hello', method='HEAD')
        t.check('HEAD /hello -> head only', st == 200 and body == b'' and closed, raw)
        data = os.urandom(300000)
        st, hdrs, body, raw, closed = scgi_get(t.path('echo-scgi.sock'), '/echo', 'POST', data, 'x/y')
        t.check('POST /echo 300000 bytes echoed', st == 200 and body == data and closed,
                (st, len(body)))
        t.equal('its Content-Type', cgi_header(hdrs, 'Content-Type'), 'x/y')
        # The netstring length is exactly the header bytes; nothing else
        # (not even a trailing NUL after the last value) is needed.
        raw, closed, _ = scgi_exchange(scgi, b'24:CONTENT_LENGTH\x000\x00SCGI\x001\x00,')
        t.check('a minimal request (CONTENT_LENGTH, SCGI only) -> 404 for path /', raw.startswith(
            b'Status: 404 ') and closed, raw)

    with t.section('direct SCGI: the request limits'):
        escgi = t.path('echo-scgi.sock')
        # 62 KiB of headers in 4 values of 15.5 KiB: under every limit.
        extra = {f'HTTP_X_BIG{i}': chr(97 + i) * (15 * 1024 + 512) for i in range(4)}
        st, hdrs, body, raw, closed = scgi_get(escgi, '/echo/env', extra=extra)
        env = json.loads(body) if st == 200 else {}
        t.check('62 KiB of headers (under max_params_kb 64, values under max_param_kb 16) -> 200',
                st == 200 and all(env.get(k) == v for k, v in extra.items()), raw[:300])
        st, hdrs, body, raw, closed = scgi_get(escgi, '/echo/env',
                                               extra={'HTTP_X_LONG': 'v' * (16 * 1024 + 1)})
        t.check('a value of 16 KiB + 1 -> 431, then close', st == 431 and closed, raw[:300])
        st, hdrs, body, raw, closed = scgi_get(
            escgi, '/echo/env', extra={f'HTTP_X_H{i}': 'x' for i in range(101)})
        t.check('101 HTTP_ headers (max_headers 100) -> 431', st == 431 and closed, raw[:300])
        st, hdrs, body, raw, closed = scgi_get(
            escgi, '/echo/env', extra={f'X_P{i}': '' for i in range(520)})
        t.check('over 512 params (max_params) -> 431', st == 431 and closed, raw[:300])
        big = b'b' * (2048 * 1024 + 1)
        st, hdrs, body, raw, closed = scgi_get(escgi, '/echo', 'POST', big, 'a/b')
        t.check('a body of max_body_kb + 1 byte -> 413, then close', st == 413 and closed, raw[:300])
        big = b'b' * (2048 * 1024)
        st, hdrs, body, raw, closed = scgi_get(escgi, '/echo', 'POST', big, 'a/b')
        t.check('a body of exactly max_body_kb -> echoed', st == 200 and body == big,
                (st, len(body)))

    # Hostile input on a separate server: one worker, request_timeout 2.
    fcgi2, scgi2 = t.path('e2.sock'), t.path('e2-scgi.sock')
    app = start_both(t, 'echo', fcgi2, scgi2, env={'FW_SERVER_WORKERS': 1,
                                                     'FW_SERVER_REQUEST_TIMEOUT': REQUEST_TIMEOUT})
    wpid = worker_pid_over_scgi(scgi2)
    t.check('the one worker answers over SCGI', wpid is not None and [wpid] == app.workers(),
            (wpid, app.workers()))
    patient = start_both(t, 'echo', t.path('e3.sock'), t.path('e3-scgi.sock'),
                         env={'FW_SERVER_WORKERS': 1, 'FW_SERVER_REQUEST_TIMEOUT': PATIENT_TIMEOUT})
    patient.scgi = t.path('e3-scgi.sock')
    ppid = worker_pid_over_scgi(patient.scgi)
    hostile_part(t, app, scgi2, wpid, patient, ppid)
    recycle_part(t)

    with t.section('after all that'):
        t.equal('still the same single worker', app.workers(), [wpid])
        t.equal('and on the server of the malformed requests', patient.workers(), [ppid])
        st, hdrs, body, r = harness.fcgi_get(fcgi2, '/echo', 'POST', b'fcgi', 'a/b')
        t.check('FastCGI on the same server still works', st == 200 and body == b'fcgi',
                repr(r.stdout))
        log = app.log_text()
        t.check('no worker died', 'killed by signal' not in log and 'starting a new one' not in log,
                log[-2000:])
        t.check_logs()


if __name__ == '__main__':
    harness.run(main)
