#!/usr/bin/env python3
"""Deferred (FW_ASYNC) requests whose client goes away are cancelled: the
app's cancel callback runs, the timer never fires, the worker survives."""
import json
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import http


def stats(port):
    r = http(port, 'GET', '/slow/stats')
    if r.status != 200:
        raise harness.HarnessError(f'GET /slow/stats gave {r!r}')
    return json.loads(r.body)


def poll_stats(port, pred, timeout=10.0):
    """Poll /slow/stats until pred(stats) holds; returns the last stats."""
    last = {}

    def probe():
        nonlocal last
        last = stats(port)
        return pred(last)

    harness.wait_until(probe, timeout, interval=0.1)
    return last


def main(t):
    app = t.start_app('hello', env={'FW_SERVER_WORKERS': 1})
    ngx = t.start_nginx()
    port = ngx.port
    worker = app.workers()
    t.equal('one worker', len(worker), 1)

    with t.section('initial stats'):
        s = stats(port)
        t.equal('/slow/stats answers for the only worker', s.get('pid'), worker[0])
        t.equal('nothing completed yet', s.get('completed'), 0)
        t.equal('nothing cancelled yet', s.get('cancelled'), 0)

    with t.section('client closes during /slow?ms=3000 (through nginx)'):
        start = time.monotonic()
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        sock.sendall(b'GET /slow?ms=3000 HTTP/1.1\r\nHost: localhost\r\n\r\n')
        time.sleep(0.3)
        sock.settimeout(0.01)
        early = b''
        try:
            early = sock.recv(100)
        except socket.timeout:
            pass
        t.equal('no answer within 0.3 s', early, b'')
        sock.close()
        s = poll_stats(port, lambda s: s.get('cancelled', 0) >= 1, timeout=10)
        t.equal('cancelled becomes 1 after the client left', s.get('cancelled'), 1)
        t.check(f'cancelled within {time.monotonic() - start:.2f} s, before the timer was due',
                time.monotonic() - start < 3.0)
        t.equal('completed is still 0', s.get('completed'), 0)
        # Past the 3 s the cancelled timer would have fired: it must not.
        harness.wait_until(lambda: False, max(0.0, start + 3.6 - time.monotonic()))
        s = stats(port)
        t.equal('after 3.6 s the cancelled timer has not completed it', s.get('completed'), 0)
        t.equal('still cancelled 1', s.get('cancelled'), 1)
        t.equal('the same worker is serving (no crash)', s.get('pid'), worker[0])

    with t.section('a slow request that completes'):
        t0 = time.monotonic()
        r = http(port, 'GET', '/slow?ms=200')
        took = time.monotonic() - t0
        t.check('GET /slow?ms=200 answered 200 "slept 200 ms"',
                r.status == 200 and r.body == b'slept 200 ms\n', repr(r))
        t.check(f'it took at least 200 ms ({took:.3f} s)', took >= 0.19)
        s = stats(port)
        t.equal('completed becomes 1', s.get('completed'), 1)
        t.equal('cancelled stays 1', s.get('cancelled'), 1)
        r = http(port, 'GET', '/slow?ms=70000')
        t.equal('GET /slow?ms=70000 (over the limit) is 400', r.status, 400)

    with t.section('FCGI_ABORT_REQUEST of a deferred request (direct FastCGI)'):
        with harness.FcgiConn(app.sock) as c:
            c.send(harness.fcgi_begin(7, flags=harness.FCGI_KEEP_CONN)
                   + harness.fcgi_stream(harness.FCGI_PARAMS, 7,
                                         harness.fcgi_nv(harness.fcgi_params('GET', '/slow?ms=3000')))
                   + harness.fcgi_stream(harness.FCGI_STDIN, 7, b''))
            time.sleep(0.3)
            t0 = time.monotonic()
            c.send(harness.fcgi_record(harness.FCGI_ABORT_REQUEST, 7))
            resp = c.read_response(7)
            t.check('END_REQUEST comes at once after the abort', time.monotonic() - t0 < 2.0)
            t.equal('END_REQUEST protocolStatus is REQUEST_COMPLETE', resp.protocol_status,
                    harness.FCGI_REQUEST_COMPLETE)
            t.equal('no STDOUT for the aborted request', resp.stdout, b'')
            s = stats(port)
            t.equal('cancelled becomes 2', s.get('cancelled'), 2)
            # The connection stays usable (keep-conn).
            r = c.request(harness.fcgi_params('GET', '/hello'), req_id=8, keep_conn=True)
            st, _, body = r.cgi()
            t.check('the same connection serves the next request', st == 200 and body == b'hello\n',
                    repr(r.stdout))

    with t.section('FastCGI client closes during a deferred request'):
        c = harness.FcgiConn(app.sock)
        c.send(harness.fcgi_begin(1)
               + harness.fcgi_stream(harness.FCGI_PARAMS, 1,
                                     harness.fcgi_nv(harness.fcgi_params('GET', '/slow?ms=3000')))
               + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
        time.sleep(0.3)
        c.close()
        s = poll_stats(port, lambda s: s.get('cancelled', 0) >= 3, timeout=10)
        t.equal('cancelled becomes 3', s.get('cancelled'), 3)
        t.equal('completed stays 1', s.get('completed'), 1)
        t.equal('still the same worker', s.get('pid'), worker[0])

    with t.section('logs'):
        t.check_logs()


if __name__ == '__main__':
    harness.run(main)
