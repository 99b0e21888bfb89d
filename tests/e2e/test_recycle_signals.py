#!/usr/bin/env python3
"""Signals to the master with recycling in the picture: SIGKILL leaves no
worker behind (even one stuck in a handler), SIGTERM lets a deferred
request finish and stops at once while a replacement is still booting,
SIGHUP reloads the file and replaces every worker under load without a
failed request, SIGTTIN/SIGTTOU change the worker count."""
import os
import signal
import sys
import threading
import time
from http.client import HTTPConnection

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402


def section_sigkill(t, busy):
    name = 'killbusy' if busy else 'killidle'
    app = rc.start(t, name=name, workers=2)
    ws = app.remember_children()
    t.equal('2 workers', len(ws), 2)
    conn = None
    if busy:
        # A handler that would block for BLOCK_S: only the orphan backstop
        # (PR_SET_PDEATHSIG, then alarm(2)) ends it early.
        conn = harness.FcgiConn(app.sock)
        conn.send(harness.fcgi_begin(1)
                  + harness.fcgi_stream(harness.FCGI_PARAMS, 1,
                                        harness.fcgi_nv(harness.fcgi_params('GET', f'/block?ms={BLOCK_S * 1000}')))
                  + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
        s = rc.wait_status(app.sock, lambda s: sum(w['busy_ms'] > 0 for w in s['workers']) == 1,
                           harness.WAIT)
        t.check('one worker is busy in GET /block', s, s)
    try:
        t0 = time.monotonic()
        os.kill(app.pid, signal.SIGKILL)
        app.wait(harness.WAIT)
        gone = harness.wait_pids_gone(ws, BLOCK_S - 10)
        took = time.monotonic() - t0
    finally:
        if conn is not None:
            conn.close()
    left = [p for p in ws if harness.pid_alive(p)]
    t.check(f'all workers exit after the master is SIGKILLed ({took:.2f} s), '
            f'{"before the stuck handler would have returned" if busy else "idle ones at once"}', gone, left)


# A handler stuck this long outlives the orphan backstop by far: the workers
# must be gone well before it would have returned.
BLOCK_S = 120


def section_sigterm(t):
    app = rc.start(t, name='hello', workers=2)
    ngx = t.start_nginx()
    r = harness.http(ngx.port, 'GET', '/hello')
    t.equal('GET /hello through nginx', r.status, 200)
    ws = app.remember_children()
    res = {}

    def slow():
        t0 = time.monotonic()
        try:
            res['resp'] = harness.http(ngx.port, 'GET', '/slow?ms=2000')
        except Exception as e:  # noqa: BLE001 - checked below
            res['error'] = e
        res['took'] = time.monotonic() - t0

    th = threading.Thread(target=slow, daemon=True)
    th.start()
    s = rc.wait_status(app.sock, lambda s: rc.in_flight(s) == 1, harness.WAIT)
    t.check('the slow request is in flight in a worker', s and th.is_alive(), s)
    app.send_signal(signal.SIGTERM)
    status = app.wait(harness.WAIT)
    th.join(harness.IO_TIMEOUT)
    r = res.get('resp')
    t.check('GET /slow?ms=2000 completes with 200 "slow"',
            r is not None and r.status == 200 and r.body == b'slow\n', r or res.get('error'))
    t.check(f'after its 2 s ({res.get("took", 0):.2f} s)', res.get('took', 0) >= 1.9)
    t.equal('the master exits with status 0', status, 0)
    t.check('its workers are gone', harness.wait_pids_gone(ws, harness.WAIT), ws)
    bad = rc.nginx_bad_lines(ngx.error_log())
    t.check('nginx logged no upstream error', not bad, '\n'.join(bad[:10]))
    ngx.stop()


def section_sigterm_booting(t):
    """SIGTERM while a replacement is still booting: it was forked with its
    end of the handoff pair, and the master's end must close when the
    recycle is called off, or the replacement waits for it until
    graceful_timeout. The replacement's start-up hook waits while a file
    exists: the test removes it once the master has taken the SIGTERM, so
    the replacement is still booting then, however slow the machine."""
    graceful = 90
    slow = t.path('boot-slow')
    app = rc.start(t, name='termboot', workers=1, max_requests=2, graceful_timeout=graceful,
                   extra_env={'TESTAPP_BOOT_SLOW': slow})
    open(slow, 'w').close()
    ok = all(harness.fcgi_get(app.sock, '/hello')[0] == 200 for _ in range(2))
    t.check('2 requests: the worker asks to retire', ok)
    s = rc.wait_status(app.sock, lambda s: [w for w in s['workers'] if w['state'] == 'booting'], harness.WAIT)
    t.check('its replacement is booting (its start-up hook waits)', s, s)
    ws = app.remember_children()
    t0 = time.monotonic()
    mark = rc.LogMark(app.log_text)
    app.send_signal(signal.SIGTERM)
    t.check('the master takes the SIGTERM while the replacement boots',
            harness.wait_until(lambda: 'stopping gracefully' in mark.text(), harness.WAIT), mark.text())
    os.unlink(slow)
    status = app.wait(graceful - 30)
    took = time.monotonic() - t0
    t.equal('the master exits with status 0', status, 0)
    t.check(f'in {took:.1f} s, not after graceful_timeout ({graceful} s)', status is not None)
    t.check('its workers are gone', harness.wait_pids_gone(ws, harness.WAIT), ws)


def section_sighup(t):
    ini = t.path('reload.ini')
    rc.write_ini(ini, workers=2, status_path=rc.STATUS, max_requests=0)
    app = rc.start_with_config(t, ini, workers=2)
    ngx = t.start_nginx()
    before = rc.settled(app, 2)
    t.check(f'2 workers from {ini}', before, app.workers())
    mark = rc.LogMark(app.log_text)
    ngx_mark = rc.LogMark(ngx.error_log)

    # wrk runs until the reload is over (bounded): the load is there from
    # before the SIGHUP to after the last old worker left, however long
    # that takes here.
    requests0 = rc.status(app.sock)['requests']
    w = rc.start_wrk(t, ngx.port, WRK_MAX_S)
    t.check('wrk is running: it has made requests',
            rc.wait_status(app.sock, lambda s: s['requests'] >= requests0 + 200 or w.poll() is not None,
                           harness.WAIT) and w.poll() is None)
    rc.write_ini(ini, workers=3, status_path=rc.STATUS, max_requests=0)
    app.send_signal(signal.SIGHUP)
    after = rc.settled(app, 3)
    requests1 = rc.status(app.sock)['requests']
    ended = rc.wait_status(app.sock, lambda s: s['requests'] >= requests1 + 200 or w.poll() is not None,
                           harness.WAIT)
    t.check('wrk still running once the reload is over, and serving', ended and w.poll() is None)
    if w.poll() is None:
        w.send_signal(signal.SIGINT)  # wrk prints its summary and the script's done()
    code, out = rc.finish_wrk(w, WRK_MAX_S)
    rc.check_wrk(t, 'SIGHUP under wrk', code, out)

    text = mark.text()
    t.check('the master logged the reload',
            rc.lines_with(text, 'SIGHUP: configuration reloaded; replacing 2 worker(s), 3 wanted'),
            text[-2000:])
    t.check(f'the master ends with 3 workers ({after})', after, app.workers())
    s = rc.status(app.sock)
    t.check('the status page answers', s is not None)
    if s is not None:
        t.check(f'recycled.reload >= 2 ({s["recycled"]["reload"]})', s['recycled']['reload'] >= 2,
                s)
        t.equal('workers_wanted is 3', s['workers_wanted'], 3)
    if before and after:
        t.check(f'no worker from before the reload is left ({before} -> {after})',
                not set(before) & set(after))
    bad = rc.error_lines(text)
    t.check('the app logged no error', not bad, '\n'.join(bad[:10]))
    bad = rc.nginx_bad_lines(ngx_mark.text())
    t.check('nginx logged no upstream error', not bad, '\n'.join(bad[:10]))
    t.equal('the app stops with status 0', app.stop(), 0)
    ngx.stop()


WRK_MAX_S = 90  # the bound of the load during a reload


class LightLoad:
    """Two keep-alive clients through nginx, GET and POST /hello in turn,
    until stopped; every failure is kept."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.done = 0
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True)
                        for i in range(2)]
        for th in self.threads:
            th.start()

    def client(self, k):
        conn = HTTPConnection('127.0.0.1', self.port, timeout=harness.IO_TIMEOUT)
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                try:
                    if i % 2:
                        r = harness.http_on(conn, 'GET', '/hello')
                        ok = r.status == 200 and r.body == b'hello\n'
                    else:
                        body = f'client {k} request {i}\n'.encode()
                        r = harness.http_on(conn, 'POST', '/hello', body=body,
                                            headers={'Content-Type': 'text/plain'})
                        ok = r.status == 200 and r.body == body
                    with self.lock:
                        self.done += 1
                        if not ok:
                            self.failures.append(repr(r))
                except Exception as e:  # noqa: BLE001 - a failure to report
                    with self.lock:
                        self.failures.append(f'{type(e).__name__}: {e}')
                    conn.close()
                    conn = HTTPConnection('127.0.0.1', self.port, timeout=harness.IO_TIMEOUT)
                time.sleep(0.005)
        finally:
            conn.close()

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(harness.IO_TIMEOUT + 5)
        return sum(th.is_alive() for th in self.threads)


def section_ttin_ttou(t):
    app = rc.start(t, name='hello', workers=2)
    ngx = t.start_nginx()
    t.check('2 workers', rc.settled(app, 2), app.workers())
    load = LightLoad(ngx.port)

    def flowing(n=20):
        """The load goes on: n more requests answered (bounded), not a pause."""
        done = load.done
        return harness.wait_until(lambda: load.done >= done + n or load.failures, harness.WAIT)
    try:
        for sig, want in ((signal.SIGTTIN, 3), (signal.SIGTTOU, 2), (signal.SIGTTOU, 1)):
            flowing()
            app.send_signal(sig)
            ws = rc.settled(app, want)
            t.check(f'{signal.Signals(sig).name}: {want} worker(s) {ws}', ws, app.workers())
            s = rc.status(app.sock)
            t.equal(f'{signal.Signals(sig).name}: workers_wanted', s and s['workers_wanted'], want)
        flowing()
    finally:
        hung = load.finish()
    t.equal('the load clients finished', hung, 0)
    t.check(f'no failed request ({load.done} done)', load.done > 0 and not load.failures,
            load.failures[:5])
    t.equal('2 workers retired for SIGTTOU',
            len(rc.lines_with(app.log_text(), 'retired (fewer workers wanted)')), 2)
    s = rc.status(app.sock)
    t.check('no recycle counted', s and not any(s['recycled'].values()), s)
    bad = rc.error_lines(app.log_text())
    t.check('the app logged no error', not bad, '\n'.join(bad[:10]))
    bad = rc.nginx_bad_lines(ngx.error_log())
    t.check('nginx logged no upstream error', not bad, '\n'.join(bad[:10]))
    t.equal('the app stops with status 0', app.stop(), 0)
    ngx.stop()


def main(t):
    rc.testapp()
    with t.section('SIGKILL of the master, workers idle'):
        section_sigkill(t, busy=False)
    with t.section('SIGKILL of the master while a worker is stuck in GET /block?ms=10000'):
        section_sigkill(t, busy=True)
    with t.section('SIGTERM while a replacement is still booting'):
        section_sigterm_booting(t)
    with t.section('SIGTERM during GET /slow?ms=2000 through nginx'):
        section_sigterm(t)
    with t.section('SIGHUP: workers 2 -> 3 in the file, under wrk'):
        section_sighup(t)
    with t.section('SIGTTIN, SIGTTOU, SIGTTOU under light load'):
        section_ttin_ttou(t)


if __name__ == '__main__':
    harness.run(main)
