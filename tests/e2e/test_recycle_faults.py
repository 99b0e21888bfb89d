#!/usr/bin/env python3
"""Workers that go wrong: a handler stuck past `timeout` is killed with the
evidence logged; a deferred request past it gets a 504; a crash is logged
with its request and replaced; a start-up hook that keeps failing makes the
master give up after a few spaced retries, and one that recovers in time
does not; a replacement that retires while the worker it replaced still
finishes a request waits for it, so no connection is lost between them; a
connection passed to a worker that dies before taking it goes to another."""
import os
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402


def hello_ok(sock, n=1):
    for _ in range(n):
        st, _, body, _ = harness.fcgi_get(sock, '/hello')
        if st != 200 or body != b'hello\n':
            return False
    return True


def background(fn):
    """Run fn() in a thread; a dict gets 'result' or 'error', and 'end'."""
    out = {'start': time.monotonic()}

    def body():
        try:
            out['result'] = fn()
        except Exception as e:  # noqa: BLE001 - the caller checks
            out['error'] = e
        out['end'] = time.monotonic()

    th = threading.Thread(target=body, daemon=True)
    th.start()
    out['thread'] = th
    return out


# A stuck handler blocks this long: the master must end it well before, so
# that a 504 proves the master answered (a handler that returned would say
# 200). Under IO_TIMEOUT, and under nginx's fastcgi_read_timeout (60 s), so
# that a master that failed to answer shows as a 200, not a client timeout.
BLOCK_MS = 25000


def busy_worker(sock):
    """The pid of the worker whose handler has been running, from the status page."""
    # A status request can meet the stuck worker (it accepted it before its
    # handler ran): it then times out here and the next one goes elsewhere.
    s = rc.status(sock, tries=1, timeout=2.0)
    if s is None:
        return None
    busy = [w['pid'] for w in s['workers'] if w['busy_ms'] > 0]
    return busy[0] if len(busy) == 1 else None


def section_timeout(t):
    app = rc.start(t, name='hello', workers=2, timeout=2)
    before = app.workers()
    t.equal('2 workers', len(before), 2)

    # A stuck handler: killed by the master, with what the kernel says.
    blocked = background(lambda: harness.fcgi_get(app.sock, f'/block?ms={BLOCK_MS}'))
    victim = harness.wait_until(lambda: busy_worker(app.sock), harness.WAIT, interval=0.1)
    t.check(f'the status page shows the busy worker ({victim})', victim in before,
            rc.status(app.sock))
    t.check('the other worker serves meanwhile', hello_ok(app.sock, 5))
    line = harness.wait_until(lambda: rc.lines_with(app.log_text(), 'timed out: GET /block'), harness.WAIT)
    took = time.monotonic() - blocked['start']
    t.check(f'the master logged "timed out: GET /block" after {took:.1f} s', line,
            app.log_text()[-2000:])
    t.check(f'before the {BLOCK_MS / 1000:.0f} s handler would have returned', took < BLOCK_MS / 1000,
            f'{took:.1f} s')
    if line:
        line = line[0]
        print(f'#   {line}')
        for word in ('wchan', 'syscall', 'kernel stack', 'timeout 2 s', 'answered 504',
                     'killing'):
            t.check(f'the line says "{word}"', word in line, line)
        t.check(f'the line names the busy worker {victim}', f'worker {victim} ' in line, line)
    blocked['thread'].join(harness.IO_TIMEOUT + 10)
    res = blocked.get('result')
    t.check('the stuck request was answered 504 by the master before the kill',
            res and res[0] == 504, res[:3] if res else blocked.get('error'))
    t.check(f'worker {victim} is gone', harness.wait_pids_gone([victim], harness.WAIT))
    after = harness.wait_until(lambda: (lambda ws: len(ws) == 2 and victim not in ws and ws)(
        app.workers()), harness.WAIT)
    t.check(f'a replacement came: workers {before} -> {after}', after, app.workers())
    s = rc.wait_status(app.sock, lambda s: s['recycled']['timeout'] >= 1, harness.WAIT)
    t.check('recycled.timeout >= 1', s and s['recycled']['timeout'] >= 1, s)
    t.equal('recycled.crash is 0 (a timeout is not a crash)', s and s['recycled']['crash'], 0)
    t.check('requests keep working', hello_ok(app.sock, 10))

    # A deferred request past the timeout: the worker answers 504 itself.
    ws = rc.settled(app, 2) or app.workers()
    slow = background(lambda: harness.fcgi_get(app.sock, f'/slow?ms={BLOCK_MS}'))
    slow['thread'].join(harness.IO_TIMEOUT + 10)
    took = slow.get('end', time.monotonic()) - slow['start']
    res = slow.get('result')
    t.check(f'GET /slow?ms={BLOCK_MS} is answered 504 after {took:.1f} s', res and res[0] == 504,
            res[:3] if res else slow.get('error'))
    t.check(f'before the {BLOCK_MS / 1000:.0f} s timer would have fired', took < BLOCK_MS / 1000,
            f'{took:.1f} s')
    t.check('the worker logged it', rc.lines_with(app.log_text(), 'GET /slow: no answer after timeout'),
            app.log_text()[-1500:])
    t.equal('no worker was killed for it', app.workers(), ws)
    s = rc.status(app.sock)
    t.equal('recycled.timeout is still 1', s and s['recycled']['timeout'], 1)
    t.check('requests keep working', hello_ok(app.sock, 5))

    # Through nginx: a 504, and nginx does not retry the request on another
    # worker (where it would get stuck again).
    ngx = t.start_nginx()
    ngx_log = rc.LogMark(ngx.error_log)
    mark = rc.LogMark(app.log_text)
    ws = rc.settled(app, 2) or app.workers()
    t0 = time.monotonic()
    r = harness.http(ngx.port, 'GET', f'/block?ms={BLOCK_MS}')
    took = time.monotonic() - t0
    t.equal(f'through nginx, GET /block?ms={BLOCK_MS} is answered 504 ({took:.1f} s)', r.status, 504)
    t.check(f'before the {BLOCK_MS / 1000:.0f} s handler would have returned', took < BLOCK_MS / 1000,
            f'{took:.1f} s')
    # Had nginx retried on another worker, that one would have been stuck
    # before this answer came, and killed (its line logged first) before no
    # worker is busy any more: that state is the witness, not a pause.
    s = rc.wait_status(app.sock, lambda s: len(s['workers']) == 2 and
                       all(w['busy_ms'] == 0 and w['state'] == 'ready' for w in s['workers']), harness.WAIT)
    t.check('then no worker is stuck any more', s, s)
    lines = rc.lines_with(mark.text(), 'timed out: GET /block')
    t.equal('one worker timed out (nginx did not retry on another)', len(lines), 1)
    after = harness.wait_until(lambda: (lambda w: len(w) == 2 and w != ws and w)(app.workers()),
                               harness.WAIT)
    t.check(f'its worker was replaced: {ws} -> {after}', after, app.workers())
    s = rc.wait_status(app.sock, lambda s: s['recycled']['timeout'] >= 2, harness.WAIT)
    t.equal('recycled.timeout is 2', s and s['recycled']['timeout'], 2)
    r = harness.http(ngx.port, 'GET', '/hello')
    t.check('GET /hello through nginx afterwards', r.status == 200 and r.body == b'hello\n', r)
    bad = rc.nginx_bad_lines(ngx_log.text())
    t.check('nginx logged no upstream error', not bad, '\n'.join(bad[:10]))
    ngx.stop()
    t.equal('the app stops with status 0', app.stop(), 0)


def section_crash(t):
    # AddressSanitizer catches SIGSEGV itself and exits 1: let the signal
    # kill the worker as it does in a production build.
    extra = {}
    if 'address' in os.environ.get('FW_SANITIZE', ''):
        extra['ASAN_OPTIONS'] = os.environ.get('ASAN_OPTIONS', '') + ':handle_segv=0'
    app = rc.start(t, workers=2, extra_env=extra)
    ngx = t.start_nginx()
    r = harness.http(ngx.port, 'GET', '/hello')
    t.equal('GET /hello through nginx', r.status, 200)
    before = app.workers()
    mark = rc.LogMark(app.log_text)
    r = harness.http(ngx.port, 'GET', '/crash')
    t.equal('GET /crash through nginx is 502', r.status, 502)
    line = harness.wait_until(lambda: rc.lines_with(mark.text(), 'killed by signal 11'), harness.WAIT)
    t.check('the master logged "killed by signal 11"', line, mark.text()[-1500:])
    if line:
        print(f'#   {line[0]}')
        t.check('with the request: "GET /crash"', 'GET /crash' in line[0], line[0])
        t.check('and the signal\'s name', 'Segmentation fault' in line[0], line[0])
    after = harness.wait_until(lambda: (lambda ws: len(ws) == 2 and ws != before and ws)(
        app.workers()), harness.WAIT)
    t.check(f'a replacement came: {before} -> {after}', after, app.workers())
    s = rc.wait_status(app.sock, lambda s: s['recycled']['crash'] >= 1, harness.WAIT)
    t.check('recycled.crash >= 1', s and s['recycled']['crash'] >= 1, s)
    t.check(f'recycled.crash counts the one crash ({s and s["recycled"]["crash"]}; 2 if nginx '
            'retried it on another cached connection)', s and s['recycled']['crash'] <= 2, s)
    ok = all(harness.http(ngx.port, 'GET', '/hello').status == 200 for _ in range(10))
    t.check('GET /hello works afterwards (10 times)', ok)
    t.check('the master is alive', app.alive())
    t.equal('the app stops with status 0', app.stop(), 0)
    ngx.stop()


def boot_events(text):
    """('fork'|'fail'|'giveup', pid) in log order, from a debug-level master log."""
    events = []
    for line in text.splitlines():
        m = re.search(r'worker (\d+) forked into slot', line)
        if m:
            events.append(('fork', int(m.group(1))))
        m = re.search(r'worker (\d+) failed to start', line)
        if m:
            events.append(('giveup' if 'giving up' in line else 'fail', int(m.group(1))))
    return events


def section_boot_fail(t):
    flag = t.path('boot-fail')
    open(flag, 'w').close()
    t0 = time.monotonic()
    app = rc.start(t, name='bootfail', wait=False, workers=2, log_level='debug',
                   extra_env={'TESTAPP_BOOT_FAIL': flag})
    ws = set()

    def gone():
        ws.update(app.workers())
        return not app.alive()
    harness.wait_until(gone, harness.WAIT)
    status = app.wait(1)
    took = time.monotonic() - t0
    t.equal(f'the master exits with status 1 (after {took:.1f} s)', status, 1)
    text = app.log_text()
    t.check('its log says "giving up"', 'giving up' in text, text[-2000:])
    fails = rc.lines_with(text, 'failed to start')
    t.check(f'{len(fails)} "failed to start" lines: between 3 and 10, no tight loop',
            3 <= len(fails) <= 10, '\n'.join(fails[:20]))
    t.check('the retries were spaced (the backoff): it took >= 1 s', took >= 1.0, f'{took:.2f} s')
    t.check('the worker said why', 'failing the boot on purpose' in text, text[-1500:])
    t.check('no worker is left', harness.wait_pids_gone(sorted(ws), harness.WAIT), sorted(ws))
    t.check('the socket file is removed', not os.path.exists(app.sock))
    # proc.c: "after a failed boot, one at a time until one works": once a
    # boot has failed, a worker is forked only after the last one failed,
    # so that each retry waits for its backoff (250 ms, 0.5 s, 1 s, 2 s).
    ev = boot_events(text)
    first = next((i for i, e in enumerate(ev) if e[0] != 'fork'), len(ev))
    booting, doubled = 0, []
    for kind, pid in ev[first:]:
        if kind == 'fork':
            booting += 1
            if booting > 1:
                doubled.append(pid)
        else:
            booting = max(0, booting - 1)
    t.check('after the first failure, one worker boots at a time (each retry gets its backoff)',
            not doubled, f'forked while another retry was booting: {doubled}; events {ev}')


def section_boot_recovers(t, workers):
    # The first round (all the workers, forked together: one failure for
    # the backoff) fails, then RETRIES single retries, then boots work.
    # A count in the file, not a file the test removes in time: a removal
    # later than the backoff's 4 s would make the master give up.
    flag = t.path(f'boot-fail-once-{workers}')
    with open(flag, 'w') as f:
        f.write(f'{workers + RETRIES}\n')
    app = rc.start(t, name=f'recovers{workers}', wait=False, workers=workers,
                   extra_env={'TESTAPP_BOOT_FAIL': flag})
    try:
        app.wait_ready(workers=workers, timeout=harness.WAIT)
        ready = True
    except harness.HarnessError as e:
        ready = False
        print(f'#   {str(e).splitlines()[0]}')
    text = app.log_text()
    t.check(f'after {workers} + {RETRIES} failed boots the app comes up with {workers} workers', ready,
            text[-2000:])
    fails = rc.lines_with(text, 'failed to start')
    t.equal('each failed boot logged', len(fails), workers + RETRIES)
    t.check('it retried with a delay ("retrying in")', 'retrying in' in text, text[-1500:])
    t.check('it did not give up', 'giving up' not in text, text[-1500:])
    if not ready:
        return
    t.check('the master is alive', app.alive())
    t.check('it serves', ready and hello_ok(app.sock, 5))
    t.check(f'the status page shows {workers} ready workers', rc.settled(app, workers), rc.status(app.sock))
    t.equal('the app stops with status 0', app.stop(), 0)


RETRIES = 2  # failed single boots after the first round in section_boot_recovers


def new_child(app, known, limit=10000):
    """Send GET /hello on new connections, one at a time, until the master
    has a child not in known (a replacement): its pid, or None. Bounded in
    requests and in time: how many requests go by before the master forks
    depends on how fast it runs."""
    deadline = time.monotonic() + harness.WAIT
    for _ in range(limit):
        if not hello_ok(app.sock):
            return None
        born = [p for p in app.workers() if p not in known]
        if born:
            return born[0]
        if time.monotonic() > deadline:
            break
    return None


def section_chain(t):
    """A replacement that retires while the worker it replaced still
    finishes a slow request stays until that one has exited: the old
    worker sends its last keep-alive connection on to it when the request
    ends, and a worker that had exited would leave that connection unread
    in its socket (closed under nginx: a reset). A's request is held until
    the test releases it (/hold): B and C come in their own time, and B
    stays for A's request, not because it had not had time to go."""
    app = rc.start(t, name='chain', workers=1, max_requests=5, recycle_concurrency=2)
    a = app.workers()
    t.equal('one worker (A)', len(a), 1)
    if len(a) != 1:
        return
    a = a[0]
    release = t.path('chain-release')
    keep = harness.FcgiConn(app.sock)
    keep.send(harness.fcgi_begin(1, flags=harness.FCGI_KEEP_CONN)
              + harness.fcgi_stream(harness.FCGI_PARAMS, 1,
                                    harness.fcgi_nv(harness.fcgi_params('GET', f'/hold?until={release}')))
              + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
    held = rc.wait_status(app.sock, lambda s: rc.in_flight(s) == 1, harness.WAIT)
    t.check('A holds GET /hold', held, held)
    b = new_child(app, {a})
    t.check(f'A ({a}) reaches max_requests during its slow request: replacement B ({b})', b)
    c = new_child(app, {a, b}) if b else None
    t.check(f'B reaches max_requests too: replacement C ({c})', c)
    if not c:
        keep.close()
        return
    # C serves, A and B drain. B has nothing left of its own, yet it stays.
    def drained(s):
        states = {w['pid']: w['state'] for w in s['workers']}
        return states.get(c) == 'ready' and states.get(b) == 'draining'
    s = rc.wait_status(app.sock, drained, harness.WAIT)
    states = {w['pid']: w['state'] for w in s['workers']} if s else {}
    t.check(f'C is ready, A and B drain: {states}',
            states.get(c) == 'ready' and states.get(a) == 'draining' and states.get(b) == 'draining',
            s)
    t.check('B still runs while A holds GET /hold', harness.pid_alive(b) and harness.pid_alive(a),
            app.workers())
    open(release, 'w').close()
    r = keep.read_response(1)
    st, _, body = r.cgi()
    t.check('released, A answers GET /hold with 200 "released"', st == 200 and body == b'released\n', r)
    r = keep.request(harness.fcgi_params('GET', '/hello'), req_id=2, keep_conn=True)
    st, _, body = r.cgi()
    t.check('the same connection, passed on from A, serves GET /hello', st == 200 and body == b'hello\n',
            r)
    keep.close()
    t.check('A and B exit', harness.wait_pids_gone([a, b], harness.WAIT), app.workers())
    s = rc.status(app.sock)
    t.check('both counted as max_requests recycles', s and s['recycled']['max_requests'] >= 2, s)
    bad = rc.error_lines(app.log_text())
    t.check('the app logged no error', not bad, '\n'.join(bad[:10]))
    t.equal('the app stops with status 0', app.stop(), 0)


def served_by(sock, want, limit=5):
    """A keep-alive connection whose GET /pid a worker in want answered, or None."""
    for _ in range(limit):
        conn = harness.FcgiConn(sock)
        r = conn.request(harness.fcgi_params('GET', '/pid'), keep_conn=True)
        st, _, body = r.cgi()
        if st == 200 and int(body) in want:
            return conn
        conn.close()
    return None


def section_unread(t):
    """The master passes the idle connections of a worker that leaves
    without a replacement (SIGTTOU) to another worker. If that one dies
    before it has read them, they are still in its socket: the master takes
    them back when it reaps it and passes them on again."""
    app = rc.start(t, name='unread', workers=1)
    a = app.workers()
    t.equal('one worker (A)', len(a), 1)
    app.send_signal(signal.SIGTTIN)
    ws = rc.settled(app, 2)
    b = [p for p in (ws or []) if p not in a]
    t.check(f'SIGTTIN: a second worker (B: {b})', len(b) == 1, app.workers())
    if len(a) != 1 or len(b) != 1:
        return
    a, b = a[0], b[0]
    mark = rc.LogMark(app.log_text)
    # Stopped, B neither accepts (A takes the connection below) nor reads
    # what the master sends it.
    os.kill(b, signal.SIGSTOP)
    try:
        keep = served_by(app.sock, {a})
        t.check('a keep-alive connection served by A', keep)
        if keep is None:
            return
        app.send_signal(signal.SIGTTOU)  # A, the oldest, leaves: its connection goes to B
        t.check('SIGTTOU: A exits', harness.wait_pids_gone([a], harness.WAIT), app.workers())
        gave = harness.wait_until(lambda: rc.lines_with(mark.text(), 'retired (fewer workers'), harness.WAIT)
        t.check('A retired for SIGTTOU', gave, mark.text()[-1500:])
    finally:
        os.kill(b, signal.SIGKILL)
    t.check('B is killed', harness.wait_pids_gone([b], harness.WAIT))
    took = harness.wait_until(lambda: rc.lines_with(mark.text(), 'left 1 connection(s) unread'), harness.WAIT)
    t.check('the master took the connection back from B', took, mark.text()[-1500:])
    c = harness.wait_until(lambda: [p for p in app.workers() if p not in (a, b)], harness.WAIT)
    t.check(f'a replacement for B (C: {c})', c, app.workers())
    r = keep.request(harness.fcgi_params('GET', '/pid'), req_id=2, keep_conn=True)
    st, _, body = r.cgi()
    t.check(f'the connection A served, passed through B, is served by C ({body!r})',
            st == 200 and c and int(body) == c[0], r)
    keep.close()
    t.equal('the app stops with status 0', app.stop(), 0)


def main(t):
    rc.testapp()
    with t.section(f'timeout=2: GET /block?ms={BLOCK_MS} on the socket'):
        section_timeout(t)
    with t.section('GET /crash through nginx'):
        section_crash(t)
    with t.section('a replacement retires while the worker it replaced finishes a request'):
        section_chain(t)
    with t.section('a connection passed to a worker that dies before reading it'):
        section_unread(t)
    with t.section('a start-up hook that always fails'):
        section_boot_fail(t)
    with t.section('a start-up hook that fails, then works'):
        section_boot_recovers(t, 2)
    # All 6 first boots fail at once: the retries must still come.
    with t.section('a start-up hook that fails, then works, with workers=6'):
        section_boot_recovers(t, 6)


if __name__ == '__main__':
    harness.run(main)
