#!/usr/bin/env python3
"""Recycling by memory: workers that keep 1 MiB per request are replaced
once their private memory passes rss_limit_mb, never more than one
request's growth above it, without a failed request; rss_soft_limit_mb
releases free heap and breaks nothing."""
import os
import re
import sys
from http.client import HTTPConnection

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

LIMIT_MB = 32
LEAK_KB = 1024
MAX_REQUESTS = 400
# One request's growth over the limit, plus slack for what is not heap
# (stack, libevent buffers, the status page's own buffers).
BOUND_KB = LIMIT_MB * 1024 + LEAK_KB + 512


def memory_figures(text):
    return [int(x) for x in re.findall(r'recycled \(memory: (\d+) KiB private\)', text)]


def main(t):
    rc.testapp()
    with t.section(f'rss_limit_mb={LIMIT_MB}: sequential GET /leak?kb={LEAK_KB} through nginx'):
        app = rc.start(t, workers=2, rss_limit_mb=LIMIT_MB)
        ngx = t.start_nginx()
        conn = HTTPConnection('127.0.0.1', ngx.port, timeout=harness.IO_TIMEOUT)
        sent, failed, peak, pids = 0, [], 0, set()
        s = None
        try:
            # 8 MiB kept, then idle: the status page's private_kb is at most
            # 1 s old with limits set (docs/operations.md).
            for _ in range(8):
                r = harness.http_on(conn, 'GET', f'/leak?kb={LEAK_KB}')
                sent += 1
                if r.status != 200:
                    failed.append(f'request {sent}: {r!r}')
            s = rc.wait_status(app.sock, lambda s: sum(w['private_kb'] for w in s['workers'])
                               >= 8 * LEAK_KB, harness.WAIT)
            total = s and sum(w['private_kb'] for w in s['workers'])
            t.check(f'idle, the status page shows the 8 MiB kept (private_kb total {total})',
                    total and total >= 8 * LEAK_KB, s)
            while sent < MAX_REQUESTS:
                r = harness.http_on(conn, 'GET', f'/leak?kb={LEAK_KB}')
                sent += 1
                if r.status != 200 or r.body != f'kept {LEAK_KB} KiB more\n'.encode():
                    failed.append(f'request {sent}: {r!r}')
                if sent % 8 == 0:
                    s = rc.status(app.sock)
                    if s is not None:
                        peak = max([peak] + [w['private_kb'] for w in s['workers']])
                        pids.update(w['pid'] for w in s['workers'])
                        if s['recycled']['memory'] >= 2:
                            break
        finally:
            conn.close()
        s = rc.status(app.sock) or s
        got = s['recycled']['memory'] if s else None
        t.check(f'recycled.memory >= 2 within {MAX_REQUESTS} requests ({got} after {sent})',
                got is not None and got >= 2, s)
        t.check(f'all {sent} requests answered 200 "kept {LEAK_KB} KiB more"', not failed,
                failed[:5])
        others = {k: v for k, v in (s or {}).get('recycled', {}).items() if k != 'memory' and v}
        t.check('no recycle for another reason', not others, others)

        figures = memory_figures(app.log_text())
        t.check(f'the master logged the memory recycles: {figures}',
                got is not None and len(figures) >= min(got, 2), app.log_text()[-2000:])
        t.check(f'each was over the limit ({LIMIT_MB * 1024} KiB)',
                figures and all(f > LIMIT_MB * 1024 for f in figures), figures)
        t.check(f'no worker went more than one request\'s growth above the limit: '
                f'all <= {BOUND_KB} KiB', figures and all(f <= BOUND_KB for f in figures), figures)
        t.check(f'no status page showed more than that (peak private_kb {peak})',
                peak <= BOUND_KB, peak)
        t.check(f'replacements came ({len(pids)} pids seen)', len(pids) > 2, sorted(pids))
        ws = rc.settled(app, 2)
        t.check('afterwards 2 workers, ready', ws, app.workers())
        r = harness.http(ngx.port, 'GET', '/hello')
        t.check('GET /hello afterwards', r.status == 200 and r.body == b'hello\n', r)
        bad = rc.nginx_bad_lines(ngx.error_log())
        t.check('nginx logged no upstream error', not bad, '\n'.join(bad[:10]))
        bad = rc.error_lines(app.log_text())
        t.check('the app logged no error', not bad, '\n'.join(bad[:10]))
        t.equal('the app stops with status 0', app.stop(), 0)
        ngx.stop()

    with t.section('rss_soft_limit_mb=16 below rss_limit_mb=32: leaks and large POSTs'):
        # One worker, so that it surely passes the soft limit: 48 x 512 KiB
        # kept (24 MiB: over 16, under 32), and a 256 KiB POST after each,
        # whose buffers become free heap to release.
        # Under AddressSanitizer freed memory waits in its quarantine, which
        # no release can return: without it, the figures mean what they say.
        extra = {}
        if 'address' in os.environ.get('FW_SANITIZE', ''):
            extra['ASAN_OPTIONS'] = os.environ.get('ASAN_OPTIONS', '') + ':quarantine_size_mb=0'
        app = rc.start(t, workers=1, rss_limit_mb=32, rss_soft_limit_mb=16, extra_env=extra)
        ngx = t.start_nginx()
        ngx_log = rc.LogMark(ngx.error_log)
        conn = HTTPConnection('127.0.0.1', ngx.port, timeout=harness.IO_TIMEOUT)
        failed, n = [], 0
        try:
            for i in range(48):
                r = harness.http_on(conn, 'GET', '/leak?kb=512')
                n += 1
                if r.status != 200:
                    failed.append(f'leak {i}: {r!r}')
                body = os.urandom(256 * 1024)
                r = harness.http_on(conn, 'POST', '/hello', body=body,
                                    headers={'Content-Type': 'application/octet-stream'})
                n += 1
                if r.status != 200 or r.body != body:
                    failed.append(f'POST {i}: {r.status}, {len(r.body)} bytes, same={r.body == body}')
        finally:
            conn.close()
        t.check(f'all {n} requests answered 200 with the right body', not failed, failed[:5])
        lines = rc.lines_with(app.log_text(), 'over rss_soft_limit_mb: released free heap')
        t.check(f'the soft limit released free heap ({len(lines)} times)', lines,
                app.log_text()[-2000:])
        s = rc.status(app.sock)
        t.check('the status page answers', s is not None)
        if s is not None:
            t.equal('the soft limit recycled no worker', s['recycled']['memory'], 0)
            t.equal('one worker', len(s['workers']), 1)
        t.equal('the master has 1 worker', len(app.workers()), 1)
        r = harness.http(ngx.port, 'GET', '/hello')
        t.check('GET /hello afterwards', r.status == 200 and r.body == b'hello\n', r)
        bad = rc.nginx_bad_lines(ngx_log.text())
        t.check('nginx logged no upstream error', not bad, '\n'.join(bad[:10]))
        bad = rc.error_lines(app.log_text())
        t.check('the app logged no error', not bad, '\n'.join(bad[:10]))
        t.equal('the app stops with status 0', app.stop(), 0)


if __name__ == '__main__':
    harness.run(main)
