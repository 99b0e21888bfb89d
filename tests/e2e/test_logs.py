#!/usr/bin/env python3
"""Logs as an operator meets them: the access log (off by default; combined
and JSON lines through the real nginx, with duration and worker pid, lines
a client cannot forge), logrotate's move + SIGUSR1 for the access and error
logs of the master and every worker, the error log in a file, and handler
log lines sent to nginx as FastCGI STDERR only when fcgi_stderr is on;
start-up output buffered in stdio written once, not again by every fork."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

COMBINED = re.compile(
    r'^(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<uri>\S+) (?P<proto>[^"]+)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)" (?P<dur>\d+\.\d{3}) (?P<pid>\d+)$')


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return ''


def wait_lines(path, n, timeout=harness.WAIT):
    """The lines of path once it has at least n of them (or what it has at timeout)."""
    harness.wait_until(lambda: len(read(path).splitlines()) >= n, timeout)
    return read(path).splitlines()


def every_worker(t, app, sync, send, landed):
    """sync(), then send() twice, to each worker in turn: (landed(), the
    workers). An idle worker tends to win every connection, so all workers
    but one are held in a handler (GET /block until the test releases it,
    seen busy in the scoreboard): a request can only land on the free one.
    Then a new hold takes the free one and the oldest is released, and so
    on. Whatever the master had sent the worker before (REOPEN after a
    SIGUSR1), the worker reads in the loop round that serves sync(), so
    the send()s come after it; sync()'s own request may come before."""
    sb = harness.Scoreboard(app.pid)
    pids = set(app.workers())
    holds = []

    def busy():
        return sum(w['busy'] for w in sb.workers())

    def hold():
        release = t.path(f'every-worker-{time.monotonic_ns()}')
        th = threading.Thread(target=lambda: harness.fcgi_get(
            app.sock, f'/block?ms=120000&until={release}'))
        th.start()
        holds.append((th, release))
        if not harness.wait_until(lambda: busy() == len(holds), harness.WAIT):
            raise harness.HarnessError(f'{len(holds)} workers not held: {sb.workers()}')

    def release_oldest():
        th, release = holds.pop(0)
        open(release, 'w').close()
        th.join(harness.IO_TIMEOUT)
        if not harness.wait_until(lambda: busy() == len(holds), harness.WAIT):
            raise harness.HarnessError(f'a held worker was not released: {sb.workers()}')

    try:
        for _ in range(len(pids) - 1):
            hold()
        for i in range(len(pids)):
            sync()
            for _ in range(2):
                send()
            if i < len(pids) - 1:
                hold()  # the free worker
                release_oldest()  # the next one to send to
    finally:
        while holds:
            release_oldest()
    return landed(), pids


def start_file_logged(t, workers, **keys):
    """testapp with error_log in a file: the harness cannot see 'ready:' on
    stderr, so wait for it in that file."""
    app = rc.start(t, wait=False, workers=workers, **keys)
    ok = harness.wait_until(lambda: 'ready:' in read(keys['error_log']) or not app.alive(),
                            harness.START_TIMEOUT)
    if not (ok and app.alive()):
        raise harness.HarnessError(f'no "ready:" in {keys["error_log"]}:\n{read(keys["error_log"])}'
                                   f'\n{app.log_text()}')
    return app


def section_access(t):
    with t.section('no access log by default'):
        app = rc.start(t, workers=1)
        harness.fcgi_get(app.sock, '/hello')
        app.stop()
        t.check('no request line on stderr',
                not [x for x in app.log_text().splitlines() if 'GET /hello' in x], app.log_text())

    log = t.path('access.log')
    with t.section('combined format through nginx'):
        app = rc.start(t, workers=2, access_log=log)
        ngx = t.start_nginx()
        ua = 'agent "quoted" \\ back'
        st, _, _ = harness.http(ngx.port, 'GET', '/hello?x=1', headers={'User-Agent': ua, 'Referer': 'http://r/'})
        t.equal('served', st, 200)
        st, _, _ = harness.http(ngx.port, 'GET', '/nope', headers={'User-Agent': 'plain'})
        t.equal('404 served', st, 404)
        harness.http(ngx.port, 'POST', '/hello', body=b'12345', headers={'User-Agent': 'poster'})
        lines = wait_lines(log, 3)
        t.equal('one line per request', len(lines), 3)
        m = [COMBINED.match(x) for x in lines]
        t.check('every line parses as combined + duration + pid', all(m), lines)
        if all(m) and len(m) == 3:
            a, b, c = (x.groupdict() for x in m)
            t.equal('address, method, uri, protocol, status, bytes',
                    (a['addr'], a['method'], a['uri'], a['proto'], a['status'], a['bytes']),
                    ('127.0.0.1', 'GET', '/hello?x=1', 'HTTP/1.1', '200', '6'))
            t.equal('referer', a['referer'], 'http://r/')
            t.equal('quotes and backslashes escaped as nginx does', a['ua'], 'agent \\x22quoted\\x22 \\x5C back')
            t.check('the pid is one of the workers', int(a['pid']) in app.workers(), (a['pid'], app.workers()))
            t.check('time in nginx\'s format', re.match(r'\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$', a['time']),
                    a['time'])
            t.equal('404 logged with its status', (b['uri'], b['status'], b['referer']), ('/nope', '404', '-'))
            t.equal('POST logged', (c['method'], c['status'], c['bytes']), ('POST', '200', '5'))
        with t.section('a CR/LF in the URI cannot forge a line'):
            harness.fcgi_get(app.sock, '/hello', extra={'REQUEST_URI': '/hello\n127.0.0.6 - - [x] "GET /forged'})
            lines = wait_lines(log, 4)
            t.equal('still one line for it', len(lines), 4)
            t.check('newline escaped', '\\x0A127.0.0.6' in lines[-1], lines[-1])

        with t.section('logrotate: move, SIGUSR1, new lines in the new file'):
            os.rename(log, log + '.1')
            app.send_signal(signal.SIGUSR1)
            t.check('"reopened" logged', harness.wait_until(lambda: 'error log reopened' in app.log_text(),
                                                           harness.WAIT))
            # The master logs that line, then tells the workers: once it has
            # run a tick since, every worker has the message.
            t.check('the master has told the workers', harness.wait_master_tick(app.pid))
            # Every worker reopens when its message arrives: a request from
            # each must land in the new file. Straight to the app's socket:
            # nginx could send a request over a cached connection of a held worker.
            seen, pids = every_worker(
                t, app, lambda: harness.fcgi_get(app.sock, '/hello?sync'),
                lambda: harness.fcgi_get(app.sock, '/hello?after'),
                lambda: {int(x.split()[-1]) for x in read(log).splitlines() if '/hello?after' in x})
            t.equal('both workers write to the new file', seen, pids)
            old = read(log + '.1').splitlines()
            t.check('the old file got nothing after the reopen', not [x for x in old if '/hello?after' in x],
                    [x for x in old if '/hello?after' in x][:3])
        ngx.stop()
        app.stop()

    jlog = t.path('access.json')
    with t.section('JSON lines'):
        app = rc.start(t, workers=1, access_log=jlog, access_log_format='json')
        harness.fcgi_get(app.sock, '/hello?q=%22x', extra={'HTTP_USER_AGENT': 'ua "q"\x01'})
        harness.fcgi_get(app.sock, '/block?ms=120')
        lines = wait_lines(jlog, 2)
        try:
            objs = [json.loads(x) for x in lines]
        except ValueError as e:
            objs = []
            t.check('every line is JSON', False, f'{e}: {lines}')
        if len(objs) == 2:
            a, b = objs
            t.equal('fields', sorted(a), sorted(['time', 'remote_addr', 'remote_user', 'method', 'uri', 'protocol',
                                                 'status', 'bytes', 'referer', 'user_agent', 'duration', 'pid']))
            t.equal('values', (a['method'], a['uri'], a['status'], a['bytes'], a['user_agent'], a['referer']),
                    ('GET', '/hello?q=%22x', 200, 6, 'ua "q"\x01', None))
            t.check('time is ISO 8601 UTC with ms', re.match(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', a['time']),
                    a['time'])
            t.equal('pid is the worker', a['pid'], app.workers()[0])
            t.check('duration of a 120 ms handler is 0.12..60 s', 0.12 <= b['duration'] < 60, b['duration'])
        app.stop()

    with t.section('a deferred request past timeout: its 504 logged with its method, URI and duration'):
        dlog = t.path('deferred.log')
        # apps/hello's /slow answers from a timer: a deferred request.
        app = t.start_app('hello', env={'FW_SERVER_WORKERS': 1, 'FW_SERVER_TIMEOUT': 1,
                                        'FW_SERVER_ACCESS_LOG': dlog, 'FW_SERVER_ACCESS_LOG_FORMAT': 'json'})
        code, _, _, _ = harness.fcgi_get(app.sock, '/slow?ms=60000')
        t.equal('answered 504', code, 504)
        lines = wait_lines(dlog, 1)
        try:
            rec = json.loads(lines[0]) if lines else {}
        except ValueError:
            rec = {}
        t.equal('method, uri, status', (rec.get('method'), rec.get('uri'), rec.get('status')),
                ('GET', '/slow?ms=60000', 504))
        t.check('duration is the request\'s, over the 1 s timeout and short of its 60 s timer',
                1.0 <= (rec.get('duration') or 0) < 50, rec)
        app.stop()

    with t.section('access_log the workers\' user cannot write: one clear error at start'):
        if os.geteuid() == 0:
            bad = t.path('root-only')
            os.mkdir(bad, 0o700)
            app = rc.start(t, wait=False, workers=1, user='nobody', state_path=t.path('nobody.state'),
                           access_log=os.path.join(bad, 'a.log'))
            code = app.wait(harness.START_TIMEOUT)
            t.equal('the master exits 1 at once', code, 1)
            t.check('naming the file and the fix', 'cannot open it for writing as uid' in app.log_text(),
                    app.log_text())
            t.check('before any worker is started', 'failed to start' not in app.log_text(), app.log_text())

    with t.section('SIGHUP to an access_log the workers cannot open: the old one is kept, the server stays up'):
        ini = t.path('access-hup.ini')
        rc.write_ini(ini, status_path=rc.STATUS, workers=1)
        app = rc.ConfApp(t, 'hello', t.path('hello.sock'), t.log_path('hello'),
                         t.app_env(t.path('hello.sock')), rc.testapp(), ini)
        app.wait_ready(workers=1)
        rc.write_ini(ini, status_path=rc.STATUS, workers=1, access_log=t.path('no-such-dir/a.log'))
        app.send_signal(signal.SIGHUP)
        t.check('"reload done"', harness.wait_until(lambda: 'reload done' in app.log_text() or not app.alive(),
                                                    harness.WAIT),
                app.log_text())
        t.check('the master still runs', app.alive(), app.log_text())
        t.check('the bad path named once, the old value kept',
                'cannot open it for writing' in app.log_text() and 'keeping access_log off' in app.log_text(),
                app.log_text())
        t.check('no worker failed to start', 'failed to start' not in app.log_text(), app.log_text())
        if app.alive():
            code, _, _, _ = harness.fcgi_get(app.sock, '/hello')
            t.equal('the new generation serves', code, 200)
            app.stop()

    with t.section('-t names a bad access_log_format and a relative access_log'):
        for key, val, needle in (('ACCESS_LOG_FORMAT', 'xml', "'xml' is not combined or json"),
                                 ('ACCESS_LOG', 'logs/a.log', 'is not stderr, stdout or an absolute path')):
            e = t.app_env(t.path('x.sock'), {f'FW_SERVER_{key}': val})
            p = subprocess.run([rc.testapp(), '-c', harness.FW_INI, '-t'], env=e, capture_output=True,
                               text=True, timeout=30)
            t.check(f'{key.lower()}={val}: exit 1, "{needle}"', p.returncode == 1 and needle in p.stderr,
                    p.stderr)


def section_error_log(t):
    err = t.path('error.log')
    with t.section('error_log in a file: master and worker lines, nothing on stderr'):
        app = start_file_logged(t, 2, error_log=err)
        harness.fcgi_get(app.sock, '/log?msg=from-a-handler')
        t.check('a handler\'s line is in the file',
                harness.wait_until(lambda: 'testapp: from-a-handler' in read(err), harness.WAIT), read(err))
        t.check('stderr stays empty', app.log_text().strip() == '', app.log_text())
    with t.section('logrotate of the error log: move, SIGUSR1'):
        os.rename(err, err + '.1')
        app.send_signal(signal.SIGUSR1)
        t.check('the master writes "reopened" in the new file',
                harness.wait_until(lambda: 'error log reopened' in read(err), harness.WAIT), read(err))
        t.check('the master has told the workers', harness.wait_master_tick(app.pid))
        # Each worker reopens on its own message; a line from each must land
        # in the new file.
        seen, pids = every_worker(
            t, app, lambda: harness.fcgi_get(app.sock, '/hello'),
            lambda: harness.fcgi_get(app.sock, '/log?msg=after-rotate'),
            lambda: {int(m.group(1)) for m in re.finditer(r'\] (\d+): testapp: after-rotate', read(err))})
        t.equal('both workers log to the new file', seen, pids)
        t.check('nothing new in the moved file', 'after-rotate' not in read(err + '.1'))
    app.stop()
    with t.section('SIGHUP moves the error log: to stderr, then to another file'):
        ini, err, err2 = t.path('err.ini'), t.path('error-hup1.log'), t.path('error-hup2.log')
        rc.write_ini(ini, status_path=rc.STATUS, workers=1, error_log=err)
        app = rc.ConfApp(t, 'hello', t.path('hello.sock'), t.log_path('hello'),
                         t.app_env(t.path('hello.sock')), rc.testapp(), ini)
        t.check('started, logging to the file',
                harness.wait_until(lambda: 'ready:' in read(err), harness.START_TIMEOUT), read(err))
        rc.write_ini(ini, status_path=rc.STATUS, workers=1, error_log='stderr')
        app.send_signal(signal.SIGHUP)
        t.check('"reload done" on stderr', harness.wait_until(lambda: 'reload done' in app.log_text(), harness.WAIT),
                app.log_text())
        rc.write_ini(ini, status_path=rc.STATUS, workers=1, error_log=err2)
        app.send_signal(signal.SIGHUP)
        t.check('then in the other file', harness.wait_until(lambda: 'reload done' in read(err2), harness.WAIT),
                read(err2))
        harness.fcgi_get(app.sock, '/log?msg=new-generation')
        t.check('the new workers log there too',
                harness.wait_until(lambda: 'testapp: new-generation' in read(err2), harness.WAIT), read(err2))
        app.stop()


def section_fcgi_stderr(t):
    with t.section('fcgi_stderr off (default): no STDERR record'):
        app = rc.start(t, workers=1)
        with harness.FcgiConn(app.sock) as c:
            r = c.request(harness.fcgi_params('GET', '/log?msg=quiet'))
        t.equal('no STDERR', r.stderr, b'')
        t.check('the line is in the error log', 'testapp: quiet' in app.log_text())
        app.stop()
    with t.section('fcgi_stderr on: the handler\'s lines reach nginx, before the answer'):
        app = rc.start(t, workers=1, fcgi_stderr='on')
        with harness.FcgiConn(app.sock) as c:
            r = c.request(harness.fcgi_params('GET', '/log?msg=loud'))
        t.check('STDERR record with the line', b'[warn]' in r.stderr and b'testapp: loud' in r.stderr, r.stderr)
        kinds = [k for k, _, _ in r.records]
        t.check('STDERR before STDOUT', kinds.index(harness.FCGI_STDERR) < kinds.index(harness.FCGI_STDOUT), kinds)
        t.equal('the answer itself is intact', r.cgi()[2], b'logged\n')
        t.check('and the line is in the error log as well', 'testapp: loud' in app.log_text())
        with harness.FcgiConn(app.sock) as c:
            r = c.request(harness.fcgi_params('GET', '/hello'))
        t.equal('a handler that logs nothing sends no STDERR', r.stderr, b'')
        ngx = t.start_nginx()
        st, _, body = harness.http(ngx.port, 'GET', '/log?msg=via-nginx')
        t.equal('answered through nginx', (st, body), (200, b'logged\n'))
        t.check('nginx logs it as "FastCGI sent in stderr"',
                harness.wait_until(lambda: 'FastCGI sent in stderr' in ngx.error_log() and
                                   'testapp: via-nginx' in ngx.error_log(), harness.WAIT), ngx.error_log()[-2000:])
        ngx.stop()
        app.stop()


def section_stdout(t):
    with t.section('start-up output buffered in stdio is written once, not by every worker'):
        mark = 'testapp start-up line, buffered'
        app = rc.start(t, name='stdout', workers=2, max_requests=3,
                       extra_env={'TESTAPP_STDOUT': mark})
        ok = all(harness.fcgi_get(app.sock, '/hello')[0] == 200 for _ in range(30))
        t.check('30 requests with max_requests = 3', ok)

        # Requests for the status page don't count toward max_requests:
        # requests go on until four recycles have happened (bounded).
        def recycled_4():
            if harness.fcgi_get(app.sock, '/hello')[0] != 200:
                return None
            s = rc.status(app.sock, tries=1)
            return s if s and s['recycled']['max_requests'] >= 4 else None
        s = harness.wait_until(recycled_4, 30, interval=0.02)
        t.check('workers were recycled', s and s['recycled']['max_requests'] >= 4, rc.status(app.sock))
        t.equal('the app stops with status 0', app.stop(), 0)
        n = app.log_text().count(mark)
        t.equal('the line is in its output once', n, 1)


def main(t):
    section_access(t)
    section_error_log(t)
    section_fcgi_stderr(t)
    section_stdout(t)


harness.run(main)
