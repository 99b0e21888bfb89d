#!/usr/bin/env python3
"""Who may connect: allowed_clients on TCP listeners (FastCGI and SCGI,
IPv4 and IPv6), the refusal log line and its rate limit, bad values
caught by -t, and the unix socket's mode, owner and group."""
import grp
import os
import pwd
import socket
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import FcgiConn, fcgi_params  # noqa: E402

REFUSED = 'refused: not in allowed_clients'


def start(t, listen, env=None, name='hello'):
    """NAME on the listen list (TCP entries too), one worker; waits for
    'ready:' in its log rather than probing (a probe would be refused and
    logged)."""
    e = {'FW_SERVER_LISTEN': listen, 'FW_SERVER_WORKERS': 1}
    e.update(env or {})
    app = t.start_app(name, sock=t.path(f'unused-{len(t.procs)}.sock'), env=e, wait=False)
    ok = harness.wait_until(lambda: 'ready:' in app.log_text() and app.workers() or not app.alive(),
                            harness.START_TIMEOUT)
    if not (ok and app.alive()):
        raise harness.HarnessError(f'{name} did not start on {listen}:\n{app.log_text()}')
    return app


BURSTS = 5  # tries at 5 refusals within 0.9 s


def served(addr):
    """A GET /hello/acl over FastCGI: True if answered "hello, acl"."""
    try:
        with FcgiConn(addr) as c:
            r = c.request(fcgi_params('GET', '/hello/acl'))
        return r.cgi()[2] == b'hello, acl\n'
    except OSError:
        return False


def refused(addr):
    """True when the server closes the connection without a byte of answer."""
    with FcgiConn(addr) as c:
        try:
            c.send(harness.fcgi_begin(1) + harness.fcgi_stream(
                harness.FCGI_PARAMS, 1, harness.fcgi_nv(fcgi_params('GET', '/hello'))))
        except (BrokenPipeError, ConnectionResetError):
            return True
        return c.closed_by_peer() and c.buf == b''


def check_t(t, what, env, rc_want, *needles):
    e = t.app_env(t.path('check.sock'), env)
    p = subprocess.run([harness.app_binary('hello'), '-c', harness.FW_INI, '-t'], env=e,
                       capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    ok = (p.returncode == 0) == (rc_want == 0) and all(n in out for n in needles)
    t.check(f'-t with {what}: {"ok" if rc_want == 0 else "fails"}'
            + (f', saying {needles}' if needles else ''), ok, f'rc {p.returncode}: {out.strip()}')


def main(t):
    with t.section('default allowed_clients (127.0.0.1, ::1): 127.0.0.1 is served'):
        port = harness.free_port()
        app = start(t, f'127.0.0.1:{port}')
        t.check('FastCGI over TCP from 127.0.0.1 served', served(('127.0.0.1', port)))
        t.check('nothing refused in the log', REFUSED not in app.log_text())
        app.stop()

    with t.section('allowed_clients 10.0.0.0/8: 127.0.0.1 refused, unix socket still served'):
        p1, p2 = harness.free_port(), harness.free_port()
        unix = t.path('acl.sock')
        app = start(t, f'127.0.0.1:{p1}, scgi:127.0.0.1:{p2}, {unix}',
                    env={'FW_SERVER_ALLOWED_CLIENTS': '10.0.0.0/8'})
        # Rate limit: at most one line a second; the next says how many it
        # kept quiet. Five refusals within 0.9 s of the first's start all
        # fall in the second after the logged one: then exactly one line.
        # A loaded machine may take longer: then the burst is tried again,
        # a second and more later (a new first line), up to BURSTS times.
        for attempt in range(1, BURSTS + 1):
            mark = len(app.log_text())
            first = time.monotonic()
            t.check(f'FastCGI over TCP: closed without a response (burst {attempt})',
                    refused(('127.0.0.1', p1)))
            t.check('the log says why',
                    harness.wait_until(lambda: REFUSED in app.log_text()[mark:], harness.WAIT),
                    app.log_text()[mark:])
            lines = [ln for ln in app.log_text()[mark:].splitlines() if REFUSED in ln]
            t.check('one line, naming the peer 127.0.0.1, at warn level',
                    len(lines) == 1 and 'connection from 127.0.0.1' in lines[0] and '[warn]' in lines[0],
                    lines)
            n_quiet = 0
            for _ in range(4):
                raw, closed, _ = harness.scgi_exchange(('127.0.0.1', p2), harness.scgi_request(
                    harness.scgi_params('GET', '/hello')))
                n_quiet += closed and raw == b''
            quick = time.monotonic() - first < 0.9
            t.equal('SCGI over TCP: 4 more connections closed without a response', n_quiet, 4)
            if quick:
                break
            print(f'# burst {attempt}: 5 connections took over 0.9 s here; again', flush=True)
            time.sleep(1.2)  # at least: the next refusal starts a new second
        if quick:
            t.equal('and not logged (rate limit: one line a second)',
                    app.log_text()[mark:].count(REFUSED), 1)
        else:
            print(f'# note: the machine is slow ({BURSTS} bursts of 5 connections each took over 0.9 s): '
                  'rate-limit checks skipped', flush=True)
        t.check('the unix socket of the same server is not subject to allowed_clients', served(unix))
        time.sleep(1.2)  # at least a second after the last logged line: a lower bound
        mark2 = len(app.log_text())
        t.check('a connection a second later refused', refused(('127.0.0.1', p1)))
        harness.wait_until(lambda: REFUSED in app.log_text()[mark2:], harness.WAIT)
        lines = [ln for ln in app.log_text()[mark2:].splitlines() if REFUSED in ln]
        t.check('logged again' + (', counting the 4 not logged' if quick else ''),
                len(lines) == 1 and (not quick or '(4 more not logged)' in lines[0]), lines)
        t.equal('the worker is the same one', len(app.workers()), 1)
        app.stop()

    with t.section('allowed_clients any, a /8 and a single address'):
        for acl, ok in [('any', True), ('127.0.0.0/8', True), ('10.0.0.0/8, 127.0.0.1', True),
                        ('127.0.0.2', False), ('0.0.0.0/0', True), ('::/0', False)]:
            port = harness.free_port()
            app = start(t, f'127.0.0.1:{port}, scgi:127.0.0.1:{harness.free_port()}',
                        env={'FW_SERVER_ALLOWED_CLIENTS': acl})
            got = served(('127.0.0.1', port)) if ok else refused(('127.0.0.1', port))
            t.check(f'allowed_clients {acl!r}: 127.0.0.1 {"served" if ok else "refused"}', got)
            app.stop()

    with t.section('IPv6: a [::1] listener'):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(('::1', 0))
            have6 = True
        except OSError as e:
            have6 = False
            print(f'# note: no IPv6 loopback ({e}); IPv6 checks skipped', flush=True)
        if have6:
            for acl, ok in [(None, True), ('::1/128', True), ('127.0.0.1', False), ('fe80::/10', False)]:
                port = harness.free_port()
                app = start(t, f'[::1]:{port}', env={'FW_SERVER_ALLOWED_CLIENTS': acl} if acl else None)
                got = served(('::1', port)) if ok else refused(('::1', port))
                t.check(f'allowed_clients {acl or "default"}: ::1 {"served" if ok else "refused"}', got)
                if not ok:
                    t.check('the log names ::1', harness.wait_until(
                        lambda: 'connection from ::1 refused' in app.log_text(), harness.WAIT),
                        app.log_text()[-500:])
                app.stop()

    with t.section('bad values are caught by -t'):
        check_t(t, "allowed_clients '300.1.1.1'", {'FW_SERVER_ALLOWED_CLIENTS': '300.1.1.1'}, 1,
                'FW_SERVER_ALLOWED_CLIENTS', "'300.1.1.1' is not an IP address")
        check_t(t, "allowed_clients '10.0.0.0/33'", {'FW_SERVER_ALLOWED_CLIENTS': '10.0.0.0/33'}, 1,
                'FW_SERVER_ALLOWED_CLIENTS', '10.0.0.0/33', 'prefix length must be 0 to 32')
        check_t(t, "allowed_clients '::1/129'", {'FW_SERVER_ALLOWED_CLIENTS': '::1/129'}, 1,
                'prefix length must be 0 to 128')
        check_t(t, "allowed_clients '10.0.0.0/'", {'FW_SERVER_ALLOWED_CLIENTS': '10.0.0.0/'}, 1,
                'prefix length')
        check_t(t, "allowed_clients '10.0.0.0/-1'", {'FW_SERVER_ALLOWED_CLIENTS': '10.0.0.0/-1'}, 1,
                'prefix length')
        check_t(t, "allowed_clients 'localhost'", {'FW_SERVER_ALLOWED_CLIENTS': 'localhost'}, 1,
                'not an IP address')
        check_t(t, 'allowed_clients empty', {'FW_SERVER_ALLOWED_CLIENTS': ''}, 1, 'empty')
        check_t(t, "allowed_clients 'any'", {'FW_SERVER_ALLOWED_CLIENTS': 'any'}, 0)
        check_t(t, "allowed_clients '10.0.0.0/8, fd00::/8, 127.0.0.1'",
                {'FW_SERVER_ALLOWED_CLIENTS': '10.0.0.0/8, fd00::/8, 127.0.0.1'}, 0)
        check_t(t, "listen 'http:127.0.0.1:9000'", {'FW_SERVER_LISTEN': 'http:127.0.0.1:9000'}, 1,
                'FW_SERVER_LISTEN')
        check_t(t, 'the same socket twice (scgi:/x and /x)',
                {'FW_SERVER_LISTEN': f'scgi:{t.path("x.sock")}, {t.path("x.sock")}'}, 1, 'listed twice')
        check_t(t, 'protocol uwsgi', {'FW_SERVER_PROTOCOL': 'uwsgi'}, 1, 'FW_SERVER_PROTOCOL')
        check_t(t, 'socket_group that does not exist', {'FW_SERVER_SOCKET_GROUP': 'no-such-group-fw'},
                1, "no group 'no-such-group-fw'")
        check_t(t, 'socket_owner that does not exist', {'FW_SERVER_SOCKET_OWNER': 'no-such-user-fw'},
                1, "no user 'no-such-user-fw'")
        # Without -t: the server does not start at all.
        port = harness.free_port()
        e = t.app_env(f'127.0.0.1:{port}', {'FW_SERVER_ALLOWED_CLIENTS': '300.1.1.1'})
        p = subprocess.run([harness.app_binary('hello'), '-c', harness.FW_INI], env=e,
                           capture_output=True, text=True, timeout=30)
        t.check('started with allowed_clients 300.1.1.1: exits non-zero with the message',
                p.returncode != 0 and '300.1.1.1' in p.stdout + p.stderr,
                f'rc {p.returncode}: {p.stdout + p.stderr}')
        t.check('and listens nowhere', not harness.tcp_accepts(port))

    with t.section('socket_mode'):
        for mode in ('0600', '0640', '0666'):
            fc, sc = t.path(f'mode{mode}.sock'), t.path(f'mode{mode}-scgi.sock')
            app = t.start_app('hello', sock=fc, env={'FW_SERVER_LISTEN': f'{fc}, scgi:{sc}',
                                                     'FW_SERVER_SOCKET_MODE': mode, 'FW_SERVER_WORKERS': 1})
            for path in (fc, sc):
                st = os.stat(path)
                t.check(f'socket_mode {mode}: {os.path.basename(path)} is a socket with mode {mode}',
                        stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == int(mode, 8),
                        oct(stat.S_IMODE(st.st_mode)))
            t.check(f'socket_mode {mode}: served', served(fc))
            app.stop()
        check_t(t, 'socket_mode 0999', {'FW_SERVER_SOCKET_MODE': '0999'}, 1, 'FW_SERVER_SOCKET_MODE')

    with t.section('socket_owner and socket_group'):
        if os.geteuid() != 0:
            print('# note: not root: socket_owner/socket_group checks skipped (chown needs root)',
                  flush=True)
        else:
            group = next((g for g in ('nogroup', 'daemon') if _group(g)), None)
            user = next((u for u in ('nobody', 'daemon') if _user(u)), None)
            if group is None or user is None:
                print('# note: no group nogroup/daemon or user nobody/daemon; skipped', flush=True)
            else:
                fc = t.path('owned.sock')
                app = t.start_app('hello', sock=fc, env={'FW_SERVER_SOCKET_GROUP': group,
                                                         'FW_SERVER_SOCKET_OWNER': user,
                                                         'FW_SERVER_SOCKET_MODE': '0660',
                                                         'FW_SERVER_WORKERS': 1})
                st = os.stat(fc)
                t.equal(f'socket_group {group}: st_gid', st.st_gid, grp.getgrnam(group).gr_gid)
                t.equal(f'socket_owner {user}: st_uid', st.st_uid, pwd.getpwnam(user).pw_uid)
                t.equal('mode 0660', stat.S_IMODE(st.st_mode), 0o660)
                t.check('served', served(fc))
                app.stop()

    with t.section('logs'):
        for p in t.procs:
            bad = [ln for ln in p.log_text().splitlines()
                   if any(m in ln for m in ('[error]', '[crit]', '[alert]', '[emerg]'))]
            t.check(f'no error lines in the log of {p.name} (pid {p.pid})', not bad, '\n'.join(bad[:5]))


def _group(name):
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def _user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


if __name__ == '__main__':
    harness.run(main)
