#!/usr/bin/env python3
"""Deferred (FW_ASYNC) requests whose client goes away are cancelled: the
app's cancel callback runs, the timer never fires, the worker survives.

Nothing here depends on how fast the machine is: a request is waited for
in flight (the status page) before its client leaves, and that a
cancelled timer never fires is shown by a later timer of the same length
that does: the worker's loop runs timers in the order they are due."""
import json
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402
from harness import http

SLOW_MS = 3000


def stats(port):
    r = http(port, 'GET', '/slow/stats')
    if r.status != 200:
        raise harness.HarnessError(f'GET /slow/stats gave {r!r}')
    return json.loads(r.body)


def poll_stats(port, pred, timeout=harness.WAIT):
    """Poll /slow/stats until pred(stats) holds; returns the last stats."""
    last = {}

    def probe():
        nonlocal last
        last = stats(port)
        return pred(last)

    harness.wait_until(probe, timeout, interval=0.1)
    return last


def in_flight(app):
    """Wait until the worker has a request in flight (besides the status request)."""
    if not rc.wait_status(app.sock, lambda s: rc.in_flight(s) == 1, harness.WAIT):
        raise harness.HarnessError('the deferred request never reached the worker')


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

    with t.section(f'client closes during /slow?ms={SLOW_MS} (through nginx)'):
        sock = socket.create_connection(('127.0.0.1', port), timeout=harness.IO_TIMEOUT)
        sock.sendall(f'GET /slow?ms={SLOW_MS} HTTP/1.1\r\nHost: localhost\r\n\r\n'.encode())
        in_flight(app)
        sock.setblocking(False)
        try:
            early = sock.recv(100)
        except BlockingIOError:
            early = b''
        t.equal('no answer while it is in flight', early, b'')
        sock.close()
        s = poll_stats(port, lambda s: s.get('cancelled', 0) >= 1)
        t.equal('cancelled becomes 1 after the client left', s.get('cancelled'), 1)
        # Had the timer fired first, it would have completed the request
        # and the cancel callback would not have run.
        t.equal('completed is still 0: cancelled before its timer', s.get('completed'), 0)

    with t.section('a slow request that completes: after it, the cancelled timer has not fired'):
        # Its timer is armed after the cancelled one was and runs as long:
        # once it has fired, the cancelled one would have fired before it.
        t0 = time.monotonic()
        r = http(port, 'GET', f'/slow?ms={SLOW_MS}')
        took = time.monotonic() - t0
        t.check(f'GET /slow?ms={SLOW_MS} answered 200 "slept {SLOW_MS} ms"',
                r.status == 200 and r.body == f'slept {SLOW_MS} ms\n'.encode(), repr(r))
        t.check(f'it took at least {SLOW_MS} ms ({took:.3f} s)', took >= SLOW_MS / 1000 - 0.01)
        s = stats(port)
        t.equal('completed becomes 1: only this one', s.get('completed'), 1)
        t.equal('cancelled stays 1', s.get('cancelled'), 1)
        t.equal('the same worker is serving (no crash)', s.get('pid'), worker[0])
        r = http(port, 'GET', '/slow?ms=70000')
        t.equal('GET /slow?ms=70000 (over the limit) is 400', r.status, 400)

    with t.section('FCGI_ABORT_REQUEST of a deferred request (direct FastCGI)'):
        with harness.FcgiConn(app.sock) as c:
            # A minute: END_REQUEST before it can only come from the abort.
            c.send(harness.fcgi_begin(7, flags=harness.FCGI_KEEP_CONN)
                   + harness.fcgi_stream(harness.FCGI_PARAMS, 7,
                                         harness.fcgi_nv(harness.fcgi_params('GET', '/slow?ms=60000')))
                   + harness.fcgi_stream(harness.FCGI_STDIN, 7, b''))
            in_flight(app)
            t0 = time.monotonic()
            c.send(harness.fcgi_record(harness.FCGI_ABORT_REQUEST, 7))
            resp = c.read_response(7)
            t.check(f'END_REQUEST comes after the abort, not the 60 s timer ({time.monotonic() - t0:.1f} s)',
                    time.monotonic() - t0 < 50)
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
                                     harness.fcgi_nv(harness.fcgi_params('GET', '/slow?ms=60000')))
               + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
        in_flight(app)
        c.close()
        s = poll_stats(port, lambda s: s.get('cancelled', 0) >= 3)
        t.equal('cancelled becomes 3', s.get('cancelled'), 3)
        t.equal('completed stays 1', s.get('completed'), 1)
        t.equal('still the same worker', s.get('pid'), worker[0])

    with t.section('logs'):
        t.check_logs()


if __name__ == '__main__':
    harness.run(main)
