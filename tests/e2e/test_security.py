#!/usr/bin/env python3
"""The findings of the security review (its report is in the project's
shared reviews, security.md), one section each, every one reproducing the
review's case against the real server: without its fix, each fails.

 1. root's chown of the unix socket follows a link swapped in after bind()
 2. SCGI: a second CONTENT_LENGTH got 40 MiB past max_body_kb = 1
 3. SCGI: a stuck handler's 504 came in FastCGI records (nginx: 502)
 4. /scgi/status rewritten into status_path, past location = /status
 5. workers dumpable after the privilege drop: their memory readable
 6. a FIFO at the predictable scoreboard path hung a root master
 7. no send timeout: unread answers held in memory forever
 8. silent connections never closed: max_conns filled, accepting stopped
 9. rss_limit_mb enforced only when a request ends
10. the params index allocated before max_params was checked
11. after the 504 on a kept connection, that connection was reset
12. graceful_timeout = 0 accepted
13. SIGTTIN/SIGTTOU re-derived the cgroup budget for new workers only
and two loose ends: status requests counted toward max_requests, and
HEAD requests in the access log.

Every wait is for the event, with a generous bound; nothing counts what
happens within a time window."""
import os
import pwd
import signal
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

MIB = 1 << 20
ROOT = os.geteuid() == 0
ASAN = 'address' in os.environ.get('FW_SANITIZE', '')
BIND_DELAY = os.path.join(harness.BUILD_DIR, 'tests', 'apps', 'libbind_delay.so')
# What runs as nobody: the system's python3, not one in root's home.
SYSTEM_PYTHON = '/usr/bin/python3' if os.access('/usr/bin/python3', os.X_OK) else sys.executable


def skip(what):
    print(f'# skip: {what}', flush=True)


def as_user(pw):
    def drop():
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def vm_hwm_kb(pid):
    """Peak resident memory of pid (VmHWM), in KiB."""
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return None


def only_worker(app):
    ws = harness.wait_until(lambda: (lambda w: len(w) == 1 and w)(app.workers()), harness.WAIT)
    return ws[0] if ws else None


def start(t, name, sock=None, listen=None, wait=True, workers=1, extra_env=None, **keys):
    """testapp with the status page, on sock (default TMP/NAME.sock), or
    on a listen list whose first entry, the unix socket sock, is waited for."""
    keys.setdefault('status_path', rc.STATUS)
    keys['workers'] = workers
    if listen is not None:
        keys['listen'] = listen
    e = rc.env(**keys)
    e.update(extra_env or {})
    return t.start_app(name, sock=sock, env=e, binary=rc.testapp(), wait=wait, workers=workers)


# ------------------------------------------------------------ 1. the socket

# The attacker: waits for the socket, swaps it for a link to the victim,
# then says so with a file the master's bind() waits for (bind_delay.c).
SWAP = r'''
import os, stat, sys, time
sock, victim, done = sys.argv[1], sys.argv[2], sys.argv[3]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        if stat.S_ISSOCK(os.lstat(sock).st_mode):
            break
    except FileNotFoundError:
        pass
    time.sleep(0.002)
os.symlink(victim, sock + '.evil')
os.rename(sock + '.evil', sock)
open(done, 'w').close()
print('swapped', flush=True)
'''


def section_socket_swap(t):
    if not ROOT:
        return skip('1: the socket swap needs root (a root master, an attacker as nobody)')
    nobody = pwd.getpwnam('nobody')
    with t.section('1. a link swapped in after bind(): refused, the victim untouched'):
        d = t.path('sockdir')
        os.mkdir(d)
        os.chown(d, nobody.pw_uid, nobody.pw_gid)  # the service user's directory
        os.chmod(d, 0o755)
        victim = t.path('victim')
        with open(victim, 'w') as f:
            f.write('root only\n')
        os.chmod(victim, 0o600)
        sock = os.path.join(d, 'app.sock')
        swapped = os.path.join(d, 'swapped')
        attacker = subprocess.Popen([SYSTEM_PYTHON, '-c', SWAP, sock, victim, swapped], cwd='/',
                                    preexec_fn=as_user(nobody), stdout=subprocess.PIPE, text=True)
        # After bind(), the master waits (a minute at most) until the attacker has swapped.
        app = start(t, 'swap', sock=sock, wait=False, socket_owner='nobody', socket_mode='0666',
                    extra_env={'LD_PRELOAD': BIND_DELAY, 'FW_TEST_BIND_DELAY_MS': '60000',
                               'FW_TEST_BIND_UNTIL': swapped})
        out, _ = attacker.communicate(timeout=90)
        t.check('the attacker swapped the socket for a link to the victim', 'swapped' in out, out)
        code = app.wait(harness.WAIT)
        t.equal('the master refuses to go on (exit 1)', code, 1)
        t.check('naming what happened', 'replaced after bind' in app.log_text(), app.log_text()[-1500:])
        st = os.stat(victim)
        t.equal('the victim still belongs to root', st.st_uid, 0)
        t.equal('with its mode', oct(st.st_mode & 0o777), oct(0o600))
    with t.section('1. without the swap, socket_owner and socket_mode apply'):
        os.unlink(sock)
        app = start(t, 'swap2', sock=sock, socket_owner='nobody', socket_mode='0640')
        st = os.lstat(sock)
        t.equal('the socket belongs to socket_owner', st.st_uid, nobody.pw_uid)
        t.equal('with socket_mode', oct(st.st_mode & 0o777), oct(0o640))
        t.equal('it stops with 0', app.stop(), 0)


# ------------------------------------------------------------ 2. SCGI length

def section_scgi_length(t):
    with t.section('2. SCGI: a second CONTENT_LENGTH is refused before any body is held'):
        sock = t.path('len-scgi.sock')
        app = start(t, 'len', sock=t.path('len.sock'), listen=f'{t.path("len.sock")}, scgi:{sock}',
                    max_body_kb=1)
        worker = only_worker(app)
        before = vm_hwm_kb(worker)
        body = b'x' * (40 * MIB)
        head = harness.scgi_request(
            [('CONTENT_LENGTH', '0')] + list(harness.scgi_params('POST', '/echo').items()),
            b'', content_length=len(body))
        raw, closed, took = harness.scgi_exchange(sock, head + body, timeout=30)
        t.check(f'the connection is closed, unanswered ({took:.1f} s)', closed and raw == b'', raw[:200])
        t.check('the log names the repeated CONTENT_LENGTH',
                harness.wait_until(lambda: 'CONTENT_LENGTH is repeated' in app.log_text(), harness.WAIT),
                app.log_text()[-1000:])
        after = vm_hwm_kb(worker)
        t.check(f'the worker held none of it: peak {before} -> {after} KiB',
                after - before < 8 * 1024, f'{after - before} KiB more')
        st, _, _, _, _ = harness.scgi_get(sock, '/echo', method='POST', body=b'y' * 4096)
        t.equal('one CONTENT_LENGTH over max_body_kb: 413', st, 413)
        t.equal('it stops with 0', app.stop(), 0)


# --------------------------------------------- 3, 11. a stuck handler's 504

# Under IO_TIMEOUT and nginx's read timeouts (60 s): a handler that returned
# would answer 200 to a client still waiting.
BLOCK_MS = 25000


def section_stuck(t):
    with t.section('3. SCGI: a stuck handler is answered 504 as SCGI, not in FastCGI records'):
        sock = t.path('hello.sock')
        scgi = t.path('hello-scgi.sock')
        app = start(t, 'hello', sock=sock, listen=f'{sock}, scgi:{scgi}', workers=2, timeout=1)
        # The handler blocks BLOCK_MS, far past timeout (1 s): only the
        # master's answer comes before it would have returned.
        raw, closed, took = harness.scgi_exchange(
            scgi, harness.scgi_request(harness.scgi_params('GET', f'/block?ms={BLOCK_MS}')),
            timeout=harness.IO_TIMEOUT + 10)
        t.check(f'a plain CGI head: {raw[:40]!r}', raw.startswith(b'Status: 504'), raw[:100])
        t.check(f'and the connection closed after it ({took:.1f} s), before the handler returns',
                closed and took < BLOCK_MS / 1000)
        line = harness.wait_until(lambda: rc.lines_with(app.log_text(), 'timed out: GET /block'), harness.WAIT)
        t.check('the master logged it, answered', line and 'answered 504' in line[0], line)
        t.check('a replacement came', rc.settled(app, 2))
        ngx = t.start_nginx()
        ngx_log = rc.LogMark(ngx.error_log)
        r = harness.http(ngx.port, 'GET', f'/scgi/block?ms={BLOCK_MS}')
        t.equal('through nginx, /scgi/block: 504 (not 502)', r.status, 504)
        bad = [x for x in rc.nginx_bad_lines(ngx_log.text()) if 'invalid header' in x]
        t.check('nginx saw no invalid header', not bad, bad)
    with t.section('11. the 504 on a kept connection: the same connection serves the next request'):
        rc.settled(app, 2)
        with harness.FcgiConn(sock) as c:
            r = c.request(harness.fcgi_params('GET', f'/block?ms={BLOCK_MS}'), keep_conn=True)
            t.equal('GET /block on a kept connection: 504', r.cgi()[0], 504)
            t.equal('END_REQUEST: request complete', r.protocol_status, harness.FCGI_REQUEST_COMPLETE)
            r = c.request(harness.fcgi_params('GET', '/hello'), keep_conn=True)
            t.equal('the next request on it is answered (by another worker)', r.cgi()[:3:2],
                    (200, b'hello\n'))
        ngx.stop()
        t.equal('it stops with 0', app.stop(), 0)


# ------------------------------------------------------- 4. the status page

def http_from(port, addr, path):
    """GET path from a client bound to addr (127.0.0.2: not 127.0.0.1)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=harness.IO_TIMEOUT, source_address=(addr, 0))
    try:
        s.sendall(f'GET {path} HTTP/1.0\r\nHost: x\r\n\r\n'.encode())
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return int(data.split(b' ', 2)[1]), data


def section_status_rewrite(t):
    with t.section('4. the shipped nginx.conf: /scgi/status does not pass location = /status'):
        sock = t.path('hello.sock')
        scgi = t.path('hello-scgi.sock')
        app = start(t, 'hello', sock=sock, listen=f'{sock}, scgi:{scgi}')
        ngx = t.start_nginx()
        st, _ = http_from(ngx.port, '127.0.0.2', '/status')
        t.equal('GET /status from 127.0.0.2: 403', st, 403)
        for path in ('/scgi/status', '/scgi/status?format=prometheus'):
            st, data = http_from(ngx.port, '127.0.0.2', path)
            t.check(f'GET {path} from 127.0.0.2: not the status page ({st})',
                    st != 200 and b'master_pid' not in data and b'fw_workers' not in data, data[:300])
        ngx.stop()
        app.stop()
    with t.section('4. status_listen: the status page on its own socket only'):
        sock = t.path('sl.sock')
        status_sock = t.path('sl-status.sock')
        app = start(t, 'sl', sock=sock, status_listen=status_sock)
        st, _, body, _ = harness.fcgi_get(status_sock, rc.STATUS)
        t.check('on status_listen: the status page', st == 200 and b'"workers"' in body, (st, body[:100]))
        st, _, body, _ = harness.fcgi_get(sock, rc.STATUS)
        t.equal('on the app\'s socket: status_path is the app\'s (404)', st, 404)
        st, _, _, _ = harness.fcgi_get(status_sock, '/hello')
        t.equal('on status_listen, another path: 404', st, 404)
        app.stop()


# ------------------------------------------------------------ 5. dumpable

def read_as(pw, path):
    """Read path as user pw: 'ok' or the error."""
    code = ('import sys\ntry:\n    open(sys.argv[1], "rb").read(64)\n    print("ok")\n'
            'except OSError as e:\n    print(type(e).__name__)\n')
    return subprocess.run([SYSTEM_PYTHON, '-c', code, path], preexec_fn=as_user(pw), cwd='/',
                          capture_output=True, text=True, timeout=30).stdout.strip()


def section_dumpable(t):
    if not ROOT:
        return skip('5: reading another process\'s memory as its user needs a root master')
    nobody = pwd.getpwnam('nobody')
    with t.section('5. after the drop, the workers\' user cannot read a worker\'s memory'):
        d = t.path('dump')
        os.mkdir(d)
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
        app = start(t, 'dump', sock=os.path.join(d, 'dump.sock'), workers=2, user='nobody',
                    state_path=os.path.join(d, 'dump.state'), socket_mode='0666',
                    extra_env={'DB_PASSWORD': 's3cr3t-from-EnvironmentFile'})
        workers = app.workers()
        t.equal('two workers, running as nobody', {os.stat(f'/proc/{p}').st_uid for p in workers},
                {nobody.pw_uid})
        for p in workers:
            t.equal(f'/proc/{p}/environ as nobody', read_as(nobody, f'/proc/{p}/environ'), 'PermissionError')
            t.equal(f'/proc/{p}/mem as nobody', read_as(nobody, f'/proc/{p}/mem'), 'PermissionError')
        t.equal(f'/proc/{app.pid}/environ (the master) as nobody',
                read_as(nobody, f'/proc/{app.pid}/environ'), 'PermissionError')
        app.stop()
    with t.section('5. dumpable = on: the workers are readable by their user again'):
        app = start(t, 'dump2', sock=os.path.join(d, 'dump2.sock'), user='nobody', dumpable='on',
                    state_path=os.path.join(d, 'dump2.state'), socket_mode='0666')
        w = only_worker(app)
        t.equal('/proc/PID/environ of the worker as nobody', read_as(nobody, f'/proc/{w}/environ'), 'ok')
        t.equal('the master still not', read_as(nobody, f'/proc/{app.pid}/environ'), 'PermissionError')
        app.stop()


# ------------------------------------------------------------ 6. scoreboard

def derived_state_path(t, env):
    """The default scoreboard path of env's configuration, as --probe names it."""
    p = subprocess.run([rc.testapp(), '-c', harness.FW_INI, '--probe', 'live'], env=env,
                       capture_output=True, text=True, timeout=30)
    return p.stdout.split('(')[-1].split(':')[0]


def section_scoreboard(t):
    with t.section('6. a FIFO at state_path: no hang, a file made in its place'):
        fifo = t.path('planted.state')
        os.mkfifo(fifo)
        e = t.app_env(t.path('x.sock'), {'FW_SERVER_STATE_PATH': fifo})
        p = subprocess.run([rc.testapp(), '-c', harness.FW_INI, '--probe', 'live'], env=e,
                           capture_output=True, text=True, timeout=30)
        t.check('--probe live answers at once: not a scoreboard', p.returncode == 1 and
                'not a scoreboard' in p.stdout, p.stdout)
        app = start(t, 'fifo', state_path=fifo)
        t.check('the master started (it did not wait on the FIFO)', app.alive())
        t.check('and made a regular file in its place', os.path.isfile(fifo))
        app.stop()
    if not ROOT:
        return skip('6: a directory of another user in /dev/shm needs root to make')
    with t.section('6. the default path is in the server user\'s directory; a squatter\'s is refused'):
        e = t.app_env(t.path('squat.sock'), {'FW_SERVER_USER': 'nobody'})
        path = derived_state_path(t, e)
        nobody = pwd.getpwnam('nobody')
        d = os.path.dirname(path)
        t.check(f'{path} is in fw-{nobody.pw_uid}/', d.endswith(f'/fw-{nobody.pw_uid}'), path)
        made = not os.path.exists(d)
        if made:
            os.mkdir(d, 0o777)
            os.chown(d, 12345, 12345)  # another local user got there first
        try:
            app = start(t, 'squat', sock=t.path('squat.sock'), wait=False, user='nobody')
            code = app.wait(harness.WAIT)
            t.equal('the master exits 1 (no hang)', code, 1)
            t.check('naming the directory\'s owner', 'belongs to uid 12345' in app.log_text(),
                    app.log_text()[-1000:])
        finally:
            if made:
                os.rmdir(d)


# ------------------------------------------------- 7, 8. what a peer may hold

def section_send_timeout(t):
    with t.section('7. clients that do not read their answers are closed after send_timeout'):
        sock = t.path('slow.sock')
        app = start(t, 'slow', sock=sock, send_timeout=2, max_conns=64)
        heap0 = (rc.status(sock) or {}).get('workers', [{}])[0].get('heap_kb', 0)
        clients = []
        for _ in range(3):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(sock)
            s.sendall(harness.fcgi_begin(1) + harness.fcgi_stream(harness.FCGI_PARAMS, 1, harness.fcgi_nv(
                harness.fcgi_params('GET', '/big?mb=16'))) + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
            clients.append(s)
        held = rc.wait_status(sock, lambda s: s['workers'][0]['heap_kb'] > heap0 + 3 * 15 * 1024,
                              harness.WAIT)
        t.check('the worker holds the three answers', held, held and held['workers'][0]['heap_kb'])
        gone = harness.wait_until(lambda: len(rc.lines_with(app.log_text(), 'send_timeout')) >= 3,
                                  harness.WAIT)
        t.check('each is closed after send_timeout, logged', gone, app.log_text()[-1500:])
        s = rc.wait_status(sock, lambda s: s['workers'][0]['conns'] <= 1 and
                           s['workers'][0]['heap_kb'] < heap0 + 8 * 1024, harness.WAIT)
        t.check('and their memory went back', s, s and s['workers'][0])
        for c in clients:
            c.close()
        app.stop()


def section_silent(t):
    with t.section('8. silent connections are closed after request_timeout; accepting goes on'):
        sock = t.path('silent.sock')
        app = start(t, 'silent', sock=sock, max_conns=4, request_timeout=1)
        silent = []
        for _ in range(4):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(harness.IO_TIMEOUT)
            s.connect(sock)
            silent.append(s)

        def closed(s):
            try:
                return s.recv(1) == b''
            except OSError:
                return True
        t.check('all four are closed by the worker', all(closed(s) for s in silent))
        st, _, body, _ = harness.fcgi_get(sock, '/hello')
        t.equal('a real request is answered', (st, body), (200, b'hello\n'))
        for s in silent:
            s.close()
        app.stop()


# ---------------------------------------------------- 9. memory between requests

def section_rss_tick(t):
    with t.section('9. rss_limit_mb applies between requests: uploads in progress retire the worker'):
        sock = t.path('up.sock')
        probe = start(t, 'up0', sock=t.path('up0.sock'))
        base = rc.status(probe.sock)['workers'][0]['private_kb'] // 1024
        probe.stop()
        limit = base + 40
        app = start(t, 'up', sock=sock, workers=1, rss_limit_mb=limit, max_body_kb=8192)
        worker = only_worker(app)
        mark = rc.LogMark(app.log_text)
        uploads = []
        for _ in range(12):
            c = harness.FcgiConn(sock)
            body = b'u' * (8 * MIB - 4096)  # all but the last 4 KiB: never complete
            c.send(harness.fcgi_begin(1) + harness.fcgi_stream(harness.FCGI_PARAMS, 1, harness.fcgi_nv(
                harness.fcgi_params('POST', '/echo', body=b'x' * (8 * MIB)))))
            for i in range(0, len(body), 65535):
                c.send(harness.fcgi_record(harness.FCGI_STDIN, 1, body[i:i + 65535]))
            uploads.append(c)
        line = harness.wait_until(lambda: rc.lines_with(mark.text(), 'over rss_limit_mb'), harness.WAIT)
        t.check(f'the worker retires over rss_limit_mb ({limit} MiB) with no request ended', line,
                mark.text()[-1500:])
        t.check('its replacement comes', harness.wait_until(
            lambda: any(p != worker for p in app.workers()), harness.WAIT), app.workers())
        for c in uploads:
            c.close()
        app.stop()


# ------------------------------------------------------- 10. params index

def section_params_index(t):
    with t.section('10. 1 M empty params: 431 before their index is allocated'):
        sock = t.path('params.sock')
        app = start(t, 'params', sock=sock, max_params_kb=2048)
        worker = only_worker(app)
        before = vm_hwm_kb(worker)
        # Just under max_params_kb: about 1 M pairs of 2 bytes each.
        params = harness.fcgi_nv(harness.fcgi_params('GET', '/hello')) + b'\x00\x00' * ((1 << 20) - 1024)
        with harness.FcgiConn(sock) as c:
            c.send(harness.fcgi_begin(1) + harness.fcgi_stream(harness.FCGI_PARAMS, 1, params)
                   + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
            r = c.read_response(1)
        t.equal('431', r.cgi()[0], 431)
        after = vm_hwm_kb(worker)
        t.check(f'peak memory {before} -> {after} KiB: the 2 MiB of params, not a 24 MiB index',
                after - before < 12 * 1024, f'{after - before} KiB more')
        app.stop()


# ------------------------------------------------------ 12. graceful_timeout

def section_graceful_zero(t):
    with t.section('12. graceful_timeout = 0 is refused by -t'):
        e = t.app_env(t.path('g.sock'), {'FW_SERVER_GRACEFUL_TIMEOUT': '0'})
        p = subprocess.run([rc.testapp(), '-c', harness.FW_INI, '-t'], env=e, capture_output=True,
                           text=True, timeout=30)
        t.check('exit 1, naming the key and its range', p.returncode == 1 and
                'GRACEFUL_TIMEOUT: 0 is out of range (1 to 86400)' in p.stderr, p.stderr)


# ------------------------------------------------------ 13. cgroup budget

def section_budget(t):
    with t.section('13. SIGTTIN: every worker, old and new, takes the budget shared anew'):
        d = t.path('cgroup')
        os.mkdir(d)
        for name, text in [('memory.max', f'{400 * MIB}\n'), ('memory.current', f'{10 * MIB}\n'),
                           ('memory.stat', 'anon 1000\ninactive_file 0\n')]:
            with open(os.path.join(d, name), 'w') as f:
                f.write(text)
        sock = t.path('budget.sock')
        # 400 MiB * 85% / (2 + 1) = 113 MiB each; after 3 x SIGTTIN, / (5 + 1) = 56 MiB.
        app = start(t, 'budget', sock=sock, workers=2, recycle_concurrency=1,
                    extra_env={'FW_CGROUP_DIR': d})
        old = app.workers()
        t.check('113 MiB per worker at start', ': 113 MiB per worker' in app.log_text(), app.log_text()[-800:])
        for i in range(3):
            # Three signals, not one merged: each is taken before the next is sent.
            app.send_signal(signal.SIGTTIN)
            t.check(f'SIGTTIN {i + 1}: {3 + i} workers wanted', rc.wait_status(
                sock, lambda s: s['workers_wanted'] == 3 + i, harness.WAIT))
        s = rc.wait_status(sock, lambda s: s['limits']['rss_limit_mb'] == 56 and len(s['workers']) == 5,
                           harness.WAIT)
        t.check('5 workers, 56 MiB each on the status page', s, s and s['limits'])
        mark = rc.LogMark(app.log_text)
        # Grow one of the workers started before the signals past 56 MiB, below 113.
        grown = None
        for _ in range(200):
            with harness.FcgiConn(sock) as c:
                r = c.request(harness.fcgi_params('GET', '/pid'), keep_conn=True)
                pid = int(r.cgi()[2])
                if pid in old:
                    c.request(harness.fcgi_params('GET', '/leak?kb=71680'), keep_conn=True)
                    grown = pid
                    break
        t.check(f'a worker from before the signals grew by 70 MiB ({grown})', grown in old, old)
        line = harness.wait_until(lambda: rc.lines_with(mark.text(), 'over rss_limit_mb (56 MiB)'), harness.WAIT)
        t.check('it retires over the new 56 MiB, not the 113 it started with', line, mark.text()[-1000:])
        app.stop()


# ------------------------------------------------------------ loose ends

def section_loose_ends(t):
    with t.section('status requests do not count toward max_requests'):
        sock = t.path('count.sock')
        app = start(t, 'count', sock=sock, max_requests=5, access_log=t.path('count-access.log'))
        # One worker: each answer is checked before the next request is read,
        # so a retirement asked for shows in the next status page at once.
        for _ in range(50):
            s = rc.status(sock)
        t.check('after 50 status requests the worker has not asked to retire',
                s and s['workers'][0]['retiring'] == '' and s['recycled']['max_requests'] == 0, s)
        for _ in range(5):
            harness.fcgi_get(sock, '/hello')
        t.check('5 app requests make it retire', rc.wait_status(
            sock, lambda s: s['recycled']['max_requests'] >= 1 or s['workers'][0]['retiring'] != '', harness.WAIT))
    with t.section('HEAD requests log 0 bytes, as nginx does'):
        st, hdrs, body, _ = harness.fcgi_get(sock, '/hello', method='HEAD')
        t.equal('HEAD /hello: 200 with no body', (st, body), (200, b''))
        line = harness.wait_until(lambda: [x for x in open(t.path('count-access.log')).read().splitlines()
                                           if '"HEAD /hello' in x], harness.WAIT)
        t.check(f'logged with 0 bytes: {line}', line and ' 200 0 ' in line[0], line)
        app.stop()


# ------------------------------------------------- siblings of the findings

def section_siblings(t):
    with t.section('sibling of 6: a FIFO at error_log does not hang the master'):
        fifo = t.path('planted.log')
        os.mkfifo(fifo)
        app = start(t, 'logfifo', wait=False, error_log=fifo)
        code = app.wait(20)
        t.equal('it exits 1 at once, no reader being there (not waiting for one)', code, 1)
        t.check('naming the file', 'planted.log' in app.log_text(), app.log_text()[-500:])
    with t.section('sibling of 10: a declared body is not reserved whole before it arrives'):
        sock = t.path('decl.sock')
        # A memory limit makes the heap figures fresh every second.
        app = start(t, 'decl', sock=sock, max_body_kb=16384, rss_limit_mb=4096)
        base = rc.wait_status(sock, lambda s: s['workers'][0]['heap_kb'] is not None, 10)
        base = base['workers'][0]['heap_kb'] if base else 0
        conns = []
        for _ in range(10):
            c = harness.FcgiConn(sock)
            c.send(harness.fcgi_begin(1) + harness.fcgi_stream(harness.FCGI_PARAMS, 1, harness.fcgi_nv(
                harness.fcgi_params('POST', '/echo', body=b'x' * (16 * MIB)))) +
                harness.fcgi_record(harness.FCGI_STDIN, 1, b'first bytes'))
            conns.append(c)
        s = rc.wait_status(sock, lambda s: s['workers'][0]['heap_kb'] >= base + 9 * 1024, 15)
        used = s['workers'][0]['heap_kb'] - base if s else None
        t.check(f'ten 16 MiB bodies declared, none sent: the heap grew by {used} KiB, not 160 MiB',
                used is not None and used < 40 * 1024, s and s['workers'][0])
        for c in conns:
            c.close()
        app.stop()


def main(t):
    section_socket_swap(t)
    section_scgi_length(t)
    section_stuck(t)
    section_status_rewrite(t)
    section_dumpable(t)
    section_scoreboard(t)
    section_send_timeout(t)
    section_silent(t)
    section_rss_tick(t)
    section_params_index(t)
    section_graceful_zero(t)
    section_budget(t)
    section_loose_ends(t)
    section_siblings(t)


harness.run(main)
