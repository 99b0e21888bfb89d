#!/usr/bin/env python3
"""Recycling by max_requests under load behind every front end and
protocol, each from its file in conf/: Apache and lighttpd over FastCGI
and SCGI, nginx over SCGI (test_recycle_load.py does nginx over FastCGI),
Caddy and H2O over FastCGI. wrk -c16 sends mixed GET and POST /hello while
workers are replaced every 100 requests: not one failed request, nor an
error in a log.

Each case waits for events, not for a time: wrk runs until the status
page shows MIN_RECYCLES more recycles (at most WRK_MAX_S seconds, and
then the check for recycles fails), so a slow machine gives fewer
requests, not a failed test. bench/frontends.py runs the same longer."""
import signal
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import frontends  # noqa: E402
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

MAX_REQUESTS = 100
MIN_RECYCLES = 30
WRK_MAX_S = 60
CONNS = 16

CASES = [('apache', 'fastcgi'), ('lighttpd', 'fastcgi'), ('caddy', 'fastcgi'), ('h2o', 'fastcgi'),
         ('nginx', 'scgi'), ('apache', 'scgi'), ('lighttpd', 'scgi')]


def recycled(app):
    s = rc.status(app.sock)
    return s['recycled']['max_requests'] if s else None


def load_until_recycles(t, app, port, path, what):
    """wrk on port until MIN_RECYCLES more recycles (or WRK_MAX_S): (wrk output, recycles)."""
    before = recycled(app)
    w = rc.start_wrk(t, port, WRK_MAX_S, conns=CONNS, path=path)
    got = harness.wait_until(lambda: w.poll() is not None or
                             (recycled(app) or 0) - before >= MIN_RECYCLES, WRK_MAX_S + 5, 0.2)
    if w.poll() is None:
        w.send_signal(signal.SIGINT)  # wrk prints its summary and the script's done()
    code, out = rc.finish_wrk(w, WRK_MAX_S)
    after = recycled(app)
    n = (after or 0) - (before or 0)
    t.check(f'{what}: {MIN_RECYCLES} recycles or more under the load ({n})',
            got and n >= MIN_RECYCLES, (before, after))
    return code, out


def one_case(t, app, kind, proto):
    what = f'{kind} {proto}'
    site = frontends.NginxSite(t.start_nginx()) if kind == 'nginx' else frontends.start(t, kind)
    fe_log = rc.LogMark(site.error_log)
    app_log = rc.LogMark(app.log_text)
    port, path = site.url(proto, '/hello')
    r = harness.http(port, 'GET', path)
    t.check(f'{what}: GET {path} before the load', r.status == 200 and r.body == b'hello\n', r)
    code, out = load_until_recycles(t, app, port, path, what)
    rc.check_wrk(t, what, code, out)
    bad = site.bad_lines(fe_log.text())
    t.check(f'{what}: {kind} logged no error', not bad, '\n'.join(bad[:10]))
    bad = rc.error_lines(app_log.text())
    t.check(f'{what}: the app logged no error', not bad, '\n'.join(bad[:10]))
    ws = rc.settled(app, 2)
    t.check(f'{what}: afterwards 2 workers, ready', ws, app.workers())
    r = harness.http(port, 'GET', path)
    t.check(f'{what}: GET {path} after the load', r.status == 200 and r.body == b'hello\n', r)
    site.stop()


def main(t):
    rc.testapp()
    fcgi, scgi = t.path('hello.sock'), t.path('hello-scgi.sock')
    app = rc.start(t, workers=2, max_requests=MAX_REQUESTS, listen=f'{fcgi}, scgi:{scgi}')
    harness.wait_until(lambda: harness.unix_accepts(scgi), harness.START_TIMEOUT)
    for kind, proto in CASES:
        note = ' (fails until the fix of issue 21 defect 1: SCGI connections closed by a retiring worker)' \
            if proto == 'scgi' else ''
        with t.section(f'{kind} over {proto}: max_requests={MAX_REQUESTS}, wrk -c{CONNS}{note}'):
            one_case(t, app, kind, proto)
    with t.section('afterwards'):
        s = rc.status(app.sock)
        others = {k: v for k, v in (s or {}).get('recycled', {}).items() if k != 'max_requests' and v}
        t.check('no recycle for another reason than max_requests', s and not others, s)
        t.equal('the app stops with status 0', app.stop(), 0)


if __name__ == '__main__':
    harness.run(main)
