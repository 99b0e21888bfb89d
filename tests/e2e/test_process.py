#!/usr/bin/env python3
"""The process model: config check, pre-forked workers, replacement of a
dead worker, graceful and fast stops, stale and busy sockets, orphaned
workers."""
import os
import signal
import stat
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402
from harness import FcgiConn, fcgi_params

# A deferred request that outlasts every bound below: a connection closed,
# or a process gone, before it would have ended proves who ended it.
LONG_MS = 60000


def in_flight(app):
    """Wait until a worker has a request in flight (the status page)."""
    if not rc.wait_status(app.sock, lambda s: rc.in_flight(s) >= 1, harness.WAIT):
        raise harness.HarnessError('the request never reached a worker')


def hello_ok(sock, n=1):
    """n requests on new connections; True if all answered 'hello'."""
    for _ in range(n):
        st, _, body, _ = harness.fcgi_get(sock, '/hello')
        if st != 200 or body != b'hello\n':
            return False
    return True


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def main(t):
    binary = harness.app_binary('hello')

    with t.section('-t on conf/fw.ini'):
        p = subprocess.run([binary, '-c', harness.FW_INI, '-t'], capture_output=True, text=True,
                           timeout=30)
        t.equal('exit status 0', p.returncode, 0)
        t.check('says ok', 'ok' in p.stderr, p.stderr)

    with t.section('-t on a bad file'):
        bad = t.path('bad.ini')
        with open(bad, 'w') as f:
            f.write('[server]\nworkers = 2\nno_such_key = 1\nlog_level = info\n')
        p = subprocess.run([binary, '-c', bad, '-t'], capture_output=True, text=True, timeout=30)
        t.equal('exit status 1', p.returncode, 1)
        t.check(f'stderr names {bad}:3:', f'{bad}:3:' in p.stderr, p.stderr)
        bad2 = t.path('bad2.ini')
        with open(bad2, 'w') as f:
            f.write('[server]\n; comment\n\nworkers = lots\n')
        p = subprocess.run([binary, '-c', bad2, '-t'], capture_output=True, text=True, timeout=30)
        t.check(f'a bad value is reported as {bad2}:4:', p.returncode == 1 and f'{bad2}:4:' in p.stderr,
                f'{p.returncode} {p.stderr}')
        p = subprocess.run([binary, '-c', bad], capture_output=True, text=True, timeout=30)
        t.equal('starting with the bad file fails with 1 too', p.returncode, 1)

    with t.section('FW_SERVER_WORKERS=3'):
        app = t.start_app('hello', sock=t.path('three.sock'), env={'FW_SERVER_WORKERS': 3})
        workers = harness.wait_until(lambda: len(app.workers()) == 3 and app.workers(), harness.WAIT)
        t.check('exactly 3 worker children', workers and len(workers) == 3, app.workers())
        # One more would have been forked by now: the master has run a whole tick since.
        t.check('the master ran a tick since', harness.wait_master_tick(app.pid))
        t.equal('still exactly 3 after it', len(app.workers()), 3)
        t.check('requests are served', hello_ok(app.sock, 5))

        victim = app.workers()[0]
        os.kill(victim, signal.SIGKILL)
        replaced = harness.wait_until(
            lambda: (lambda ws: len(ws) == 3 and victim not in ws and ws)(app.workers()), harness.WAIT)
        t.check(f'SIGKILL of worker {victim}: a new worker replaces it', replaced,
                f'workers now {app.workers()}')
        if replaced:
            new = set(replaced) - set(workers)
            t.equal('exactly one new pid', len(new), 1)
        t.check('requests keep working after the replacement', hello_ok(app.sock, 10))
        t.check('the master logged the death', 'killed by signal 9' in app.log_text(),
                app.log_text()[-1500:])
        t.check('the master is alive', app.alive())

    with t.section('SIGTERM on the master during /slow?ms=1500'):
        sock = app.sock
        ws = app.workers()
        c = FcgiConn(sock)
        result = {}
        try:
            # A first request proves a worker owns the connection.
            r = c.request(fcgi_params('GET', '/hello'), req_id=1, keep_conn=True)
            t.check('warm-up request on the connection', r.cgi()[2] == b'hello\n', repr(r.stdout))
            t0 = time.monotonic()
            c.send(harness.fcgi_begin(2, flags=harness.FCGI_KEEP_CONN)
                   + harness.fcgi_stream(harness.FCGI_PARAMS, 2,
                                         harness.fcgi_nv(fcgi_params('GET', '/slow?ms=1500')))
                   + harness.fcgi_stream(harness.FCGI_STDIN, 2, b''))

            def reader():
                try:
                    result['resp'] = c.read_response(2)
                except Exception as e:  # noqa: BLE001
                    result['error'] = e
                result['t'] = time.monotonic()

            th = threading.Thread(target=reader, daemon=True)
            th.start()
            in_flight(app)
            app.send_signal(signal.SIGTERM)
            status = app.wait(harness.WAIT)
            th.join(harness.IO_TIMEOUT)
        finally:
            c.close()
        resp = result.get('resp')
        ok = resp is not None and resp.cgi()[0] == 200 and resp.cgi()[2] == b'slept 1500 ms\n'
        t.check('the slow request still completes with 200 "slept 1500 ms"', ok,
                repr(resp.stdout) if resp else repr(result.get('error')))
        if resp is not None:
            t.check(f'after its full 1500 ms ({result["t"] - t0:.2f} s)', result['t'] - t0 >= 1.45)
        t.equal('the master exits with status 0', status, 0)
        t.check('the unix socket file is removed', not os.path.exists(sock), sock)
        t.check('its workers are gone', harness.wait_pids_gone(ws, harness.WAIT), ws)

    with t.section('SIGINT: fast stop'):
        app = t.start_app('hello', sock=t.path('int.sock'))
        ws = app.workers()
        t0 = time.monotonic()
        app.send_signal(signal.SIGINT)
        status = app.wait(harness.WAIT)
        t.equal('the master exits with status 0', status, 0)
        t.check(f'promptly ({time.monotonic() - t0:.2f} s; graceful_timeout is 30 s)',
                time.monotonic() - t0 < 20)
        t.check('the unix socket file is removed', not os.path.exists(app.sock))
        t.check('its workers are gone', harness.wait_pids_gone(ws, harness.WAIT), ws)

    with t.section('SIGKILL of the master: workers exit, the stale socket is reused'):
        sock = t.path('stale.sock')
        app = t.start_app('hello', sock=sock, env={'FW_SERVER_WORKERS': 2})
        ws = app.workers()
        t.equal('2 workers', len(ws), 2)
        app.remember_children()
        # Like nginx's: an idle keep-alive connection, and one waiting for
        # a deferred request that would take a minute.
        idle = FcgiConn(sock)
        busy = FcgiConn(sock)
        try:
            r = idle.request(fcgi_params('GET', '/hello'), keep_conn=True)
            t.check('an idle keep-alive connection is open', r.cgi()[2] == b'hello\n')
            busy.send(harness.fcgi_begin(1, flags=harness.FCGI_KEEP_CONN)
                      + harness.fcgi_stream(harness.FCGI_PARAMS, 1,
                                            harness.fcgi_nv(fcgi_params('GET', f'/slow?ms={LONG_MS}')))
                      + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
            in_flight(app)
            t0 = time.monotonic()
            os.kill(app.pid, signal.SIGKILL)
            app.wait(harness.WAIT)
            gone = harness.wait_pids_gone(ws, LONG_MS / 1000 - 15)
            took = time.monotonic() - t0
            t.check('the idle connection is closed', idle.closed_by_peer())
            t.check('the connection of the deferred request is closed', busy.closed_by_peer())
        finally:
            idle.close()
            busy.close()
        t.check(f'all workers exit after the master is SIGKILLed (within {took:.2f} s), before the '
                f'deferred request would have ended', gone, [p for p in ws if harness.pid_alive(p)])
        t.check('the socket file is left behind (stale)', is_socket(sock))
        t.check('nothing accepts on it', not harness.unix_accepts(sock))
        app2 = t.start_app('hello', sock=sock)
        t.check('a new master starts on the stale socket and serves', hello_ok(sock, 3),
                app2.log_text())

        with t.section('a second server on a socket a live server owns'):
            p = subprocess.run([binary, '-c', harness.FW_INI], env=t.app_env(sock), capture_output=True,
                               text=True, timeout=30)
            t.check('the second server fails (non-zero exit)', p.returncode != 0,
                    f'exit {p.returncode}')
            t.check('with a clear message', 'another server is listening' in p.stderr, p.stderr)
            t.check('the first server keeps its socket file', is_socket(sock))
            t.check('and keeps serving', hello_ok(sock, 3))
            t.check('the first master is alive', app2.alive())

        t.equal('SIGTERM: exit 0', app2.stop(), 0)
        t.check('socket removed', not os.path.exists(sock))

    with t.section('a path that is not a socket'):
        path = t.path('not-a-socket')
        with open(path, 'w') as f:
            f.write('data\n')
        p = subprocess.run([binary, '-c', harness.FW_INI], env=t.app_env(path), capture_output=True,
                           text=True, timeout=30)
        t.check('refused with a message', p.returncode != 0 and 'not a socket' in p.stderr,
                f'{p.returncode} {p.stderr}')
        with open(path) as f:
            t.equal('the file is left alone', f.read(), 'data\n')

    with t.section('an environment override with a bad value'):
        p = subprocess.run([binary, '-c', harness.FW_INI, '-t'],
                           env=dict(t.app_env(t.path('x.sock')), FW_SERVER_WORKERS='lots'),
                           capture_output=True, text=True, timeout=30)
        t.check('-t exits 1 naming FW_SERVER_WORKERS',
                p.returncode == 1 and 'FW_SERVER_WORKERS' in p.stderr, f'{p.returncode} {p.stderr}')

    with t.section('max_conns: a worker at its limit leaves new connections queued'):
        app = t.start_app('hello', sock=t.path('maxc.sock'),
                          env={'FW_SERVER_WORKERS': 1, 'FW_SERVER_MAX_CONNS': 2})
        a, b = FcgiConn(app.sock), FcgiConn(app.sock)
        c = FcgiConn(app.sock)
        try:
            for name, conn in (('first', a), ('second', b)):
                r = conn.request(fcgi_params('GET', '/hello'), keep_conn=True)
                t.check(f'the {name} connection is served', r.cgi()[2] == b'hello\n')
            c.send(harness.fcgi_begin(1) + harness.fcgi_stream(
                harness.FCGI_PARAMS, 1, harness.fcgi_nv(fcgi_params('GET', '/hello')))
                + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
            # The witness that the worker leaves c queued: it serves b twice
            # after c's request was there. Accepting, it would have taken c
            # in the same loop round as b's first request, and answered it
            # before b's second.
            for i in (2, 3):
                b.request(fcgi_params('GET', '/hello'), req_id=i, keep_conn=True)
            c.sock.setblocking(False)
            try:
                c.sock.recv(100)  # an answer, or end of file: not waiting
                waited = False
            except BlockingIOError:
                waited = True
            c.sock.setblocking(True)
            c.sock.settimeout(harness.IO_TIMEOUT)
            t.check('a third connection waits while 2 are open', waited)
            t.check('the worker logged max_conns', 'max_conns (2) reached' in app.log_text(),
                    app.log_text()[-1000:])
            a.close()
            r = c.read_response(1)
            t.check('it is served once one of them closes', r.cgi()[2] == b'hello\n', repr(r.stdout))
        finally:
            for conn in (a, b, c):
                conn.close()
        app.stop()

    with t.section('graceful_timeout expires: the deferred request is cut, the master exits 0'):
        app = t.start_app('hello', sock=t.path('gt.sock'),
                          env={'FW_SERVER_WORKERS': 1, 'FW_SERVER_GRACEFUL_TIMEOUT': 1})
        with FcgiConn(app.sock) as c:
            c.send(harness.fcgi_begin(1, flags=harness.FCGI_KEEP_CONN)
                   + harness.fcgi_stream(harness.FCGI_PARAMS, 1,
                                         harness.fcgi_nv(fcgi_params('GET', f'/slow?ms={LONG_MS}')))
                   + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
            in_flight(app)
            t0 = time.monotonic()
            app.send_signal(signal.SIGTERM)
            t.check('the connection is closed after graceful_timeout (1 s), not the request\'s minute',
                    c.closed_by_peer())
            took = time.monotonic() - t0
            t.check(f'not before it ({took:.2f} s)', took >= 0.9)
            status = app.wait(harness.WAIT)
        t.equal('the master exits with status 0', status, 0)
        t.check(f'long before the request would have ended ({time.monotonic() - t0:.2f} s)',
                time.monotonic() - t0 < 40)
        t.check('the worker logged the timeout', 'graceful_timeout reached' in app.log_text(),
                app.log_text()[-1000:])
        t.check('the socket file is removed', not os.path.exists(app.sock))

    with t.section('socket mode'):
        app = t.start_app('hello', sock=t.path('mode.sock'), env={'FW_SERVER_SOCKET_MODE': '0600'})
        t.equal('FW_SERVER_SOCKET_MODE=0600', stat.S_IMODE(os.stat(app.sock).st_mode), 0o600)
        app.stop()
        app = t.start_app('hello', sock=t.path('mode2.sock'))
        t.equal('conf/fw.ini socket_mode 0666', stat.S_IMODE(os.stat(app.sock).st_mode), 0o666)
        app.stop()


if __name__ == '__main__':
    harness.run(main)
