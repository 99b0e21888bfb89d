#!/usr/bin/env python3
"""Recycling by max_requests under load through the real nginx: wrk with
mixed GET and POST /hello while the workers are replaced every ~100
requests, then every 30 (recycles queueing up behind each other), then
every 30 with two recycles at once, without one failed request
or one upstream error in nginx's log.

Each phase runs wrk until the status page counts its recycles (at most
WRK_MAX_S, and then the check for recycles fails), not for a time: a slow
machine makes fewer requests per second, not fewer recycles."""
import re
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402


WRK_MAX_S = 60


def phase(t, what, min_recycles, **keys):
    app = rc.start(t, workers=2, **keys)
    ngx = t.start_nginx()
    ngx_log = rc.LogMark(ngx.error_log)
    app_log = rc.LogMark(app.log_text)
    before = rc.recycled(app.sock, 'max_requests')
    t.equal(f'{what}: no recycle before the load', before, 0)

    # While wrk runs, every pid the status page shows is a live child of
    # the master, or a worker that has just exited (gone, or a zombie).
    w = rc.start_wrk(t, ngx.port, WRK_MAX_S)
    samples, strangers = 0, []
    deadline = time.monotonic() + WRK_MAX_S + 10
    while w.poll() is None and time.monotonic() < deadline:
        s = rc.status(app.sock, tries=1)
        if s is not None:
            samples += 1
            strangers += [(x['pid'], x['state']) for x in s['workers']
                          if x['pid'] and harness.pid_alive(x['pid'])
                          and rc.ppid(x['pid']) not in (app.pid, None)]
            if s['recycled']['max_requests'] >= min_recycles:
                break
        harness.wait_until(lambda: w.poll() is not None, 0.3)  # the next sample
    if w.poll() is None:
        w.send_signal(signal.SIGINT)  # wrk prints its summary and the script's done()
    code, out = rc.finish_wrk(w, WRK_MAX_S)
    n = rc.check_wrk(t, what, code, out)
    t.check(f'{what}: during the load ({samples} status pages) every worker shown '
            f'was a child of the master', samples > 0 and not strangers, strangers[:10])

    bad = rc.nginx_bad_lines(ngx_log.text())
    t.check(f'{what}: nginx logged no upstream error', not bad, '\n'.join(bad[:10]))
    bad = rc.error_lines(app_log.text())
    t.check(f'{what}: the app logged no error', not bad, '\n'.join(bad[:10]))

    s = rc.status(app.sock)
    t.check(f'{what}: the status page answers', s is not None)
    if s is not None:
        got = s['recycled']['max_requests']
        t.check(f'{what}: recycled.max_requests >= {min_recycles} ({got} for {n} requests)',
                got >= min_recycles, s)
        others = {k: v for k, v in s['recycled'].items() if k != 'max_requests' and v}
        t.check(f'{what}: no recycle for another reason', not others, others)
        t.equal(f'{what}: master_pid is the master', s['master_pid'], app.pid)
        # (what wrk counts, but for the failures the app never answered)
        answered = n - rc.wrk_non2xx(out) if n is not None else None
        t.check(f'{what}: the status page counts the requests ({s["requests"]} >= {answered})',
                answered is None or s['requests'] >= answered, s['requests'])
        lines = rc.lines_with(app_log.text(), 'recycled (max_requests:')
        t.check(f'{what}: the master logged the recycles ({len(lines)} lines)',
                len(lines) >= min_recycles, app_log.text()[-2000:])
        limits = [int(m) for m in re.findall(r'recycled \(max_requests: (\d+) requests\)',
                                             app_log.text())]
        lo = keys['max_requests']
        hi = lo + keys.get('max_requests_jitter', 0)
        t.check(f'{what}: every logged limit is in max_requests + 0..jitter [{lo}, {hi}]',
                limits and all(lo <= x <= hi for x in limits),
                sorted(set(limits))[:20])
        if hi > lo:
            t.check(f'{what}: the jitter varies the limit ({len(set(limits))} distinct)',
                    len(set(limits)) >= 2, sorted(set(limits)))

    ws = rc.settled(app, 2)
    t.check(f'{what}: afterwards exactly 2 workers, all in the status page and ready', ws,
            f'children {app.workers()}, status {rc.status(app.sock)}')
    # A pid must be a child before or after the status request: a worker
    # that exits between the reads is in one of them.
    kids = set(app.workers())
    s = rc.status(app.sock)
    kids |= set(app.workers())
    if s is not None:
        strangers = [w['pid'] for w in s['workers'] if w['pid'] not in kids]
        t.check(f'{what}: every worker pid in the status page is a child of the master',
                not strangers, f'not children: {strangers}; children {sorted(kids)}')
    r = harness.http(ngx.port, 'GET', '/hello')
    t.check(f'{what}: GET /hello after the load', r.status == 200 and r.body == b'hello\n', r)
    t.equal(f'{what}: the app stops with status 0', app.stop(), 0)
    ngx.stop()


def main(t):
    rc.testapp()
    with t.section('max_requests=100, jitter 20: wrk -t1 -c32 mixed GET/POST until 24 recycles'):
        phase(t, 'max_requests=100', 24, max_requests=100, max_requests_jitter=20)
    with t.section('max_requests=30, no jitter: overlapping recycles, until 24'):
        phase(t, 'max_requests=30', 24, max_requests=30)
    with t.section('max_requests=30, recycle_concurrency=2: two recycles at once, until 24'):
        phase(t, 'recycle_concurrency=2', 24, max_requests=30, recycle_concurrency=2)


if __name__ == '__main__':
    harness.run(main)
