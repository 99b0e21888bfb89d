"""
Live upgrade (SIGUSR2) between two builds of tests/apps/upgradeapp, which
answer GET /version with "a" or "b", through nginx, under load:

- the executable at its path is replaced (a new inode, as install and mv
  do), SIGUSR2 moves every worker to it with no failed request, over
  FastCGI with keep-alive and over SCGI (a connection per request); the
  master keeps its pid; the status page shows the builds and the result;
- a broken new build is refused, one clear line, the old workers serve on
  untouched: not executable, not a program, exits before READY, its start-up
  hook fails, it crashes at boot;
- SIGUSR2 (and SIGHUP) during an upgrade is refused;
- SIGTERM during an upgrade (the canary booting, the old workers being
  replaced) stops everything cleanly;
- a fake NOTIFY_SOCKET: RELOADING=1 with MONOTONIC_USEC, then READY=1 once
  the last old worker is gone, all from the master's pid;
- upgrades in a row leave the master's descriptors and memory as they
  were, and no zombie.
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

APPS = os.path.join(harness.BUILD_DIR, 'tests', 'apps')
BUILDS = {v: os.path.join(APPS, f'upgradeapp_{v}') for v in ('a', 'b')}
RESUME_FAIL = os.path.join(APPS, 'libresume_fail.so')
UPGRADE_TIMEOUT = 90  # a canary boots, the master execs, every worker is replaced (ASan: slow)
ROUNDS = int(os.environ.get('FW_UPGRADE_ROUNDS', '12'))


def build_id(path):
    """The ELF build-id of a file, as the status page writes it."""
    out = subprocess.run(['readelf', '-n', path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if 'Build ID:' in line:
            return 'build-id:' + line.split('Build ID:')[1].strip()
    raise harness.HarnessError(f'{path} has no build-id')


def install(src, dst, mode=0o755):
    """Replace dst as install(1) and package managers do: a new file, renamed over."""
    tmp = dst + '.new'
    shutil.copyfile(src, tmp)
    os.chmod(tmp, mode)
    os.replace(tmp, dst)


class Load:
    """Keep-alive clients through nginx until stopped, bounded in time and
    count: GET /version (whichever build answers) and POST /hello (the body
    back), half each; over FastCGI (/...) and SCGI (/scgi/...). Every
    failure is kept; so are the versions seen, in order of first sight."""

    MAX_S = 300
    MAX_REQUESTS = 2_000_000

    def __init__(self, port, clients=6):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.done = 0
        self.failures = []
        self.versions = []
        self.deadline = time.monotonic() + self.MAX_S
        self.threads = [threading.Thread(target=self.client, args=(k,), daemon=True)
                        for k in range(clients)]
        for th in self.threads:
            th.start()

    def one(self, conn, k, i, prefix):
        if i % 2:
            r = harness.http_on(conn, 'GET', prefix + '/version')
            v = r.body.decode(errors='replace').strip()
            with self.lock:
                if r.status == 200 and v not in self.versions:
                    self.versions.append(v)
            return r.status == 200 and v in ('a', 'b'), r
        body = f'client {k} request {i}\n'.encode()
        r = harness.http_on(conn, 'POST', prefix + '/hello', body=body,
                            headers={'Content-Type': 'text/plain'})
        return r.status == 200 and r.body == body, r

    def client(self, k):
        prefix = '/scgi' if k % 3 == 2 else ''
        conn = HTTPConnection('127.0.0.1', self.port, timeout=harness.IO_TIMEOUT)
        i = 0
        try:
            while not self.stop.is_set() and time.monotonic() < self.deadline and \
                    self.done < self.MAX_REQUESTS:
                i += 1
                try:
                    ok, r = self.one(conn, k, i, prefix)
                    with self.lock:
                        self.done += 1
                        if not ok:
                            self.failures.append(f'{prefix or "/"} {r!r}')
                except Exception as e:  # noqa: BLE001 - a failure to report
                    with self.lock:
                        self.failures.append(f'{prefix or "/"} {type(e).__name__}: {e}')
                    conn.close()
                    conn = HTTPConnection('127.0.0.1', self.port, timeout=harness.IO_TIMEOUT)
        finally:
            conn.close()

    def wait_requests(self, n, timeout=30):
        start = self.done
        return harness.wait_until(lambda: self.done >= start + n, timeout)

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(harness.IO_TIMEOUT + 5)
        return sum(th.is_alive() for th in self.threads)


class Server:
    """upgradeapp installed at TMP/bin/app, started with -c TMP/upgrade.ini,
    on hello.sock (FastCGI, nginx's /) and hello-scgi.sock (SCGI, /scgi/)."""

    def __init__(self, t, version='a', workers=3, notify=None, knob=None, concurrency=1, env=None):
        os.makedirs(t.path('bin'), exist_ok=True)
        self.t = t
        self.exe = t.path('bin/app')
        self.knob = knob or t.path('knob')
        install(BUILDS[version], self.exe)
        self.ini = t.path('upgrade.ini')
        sock, scgi = t.path('hello.sock'), t.path('hello-scgi.sock')
        rc.write_ini(self.ini, workers=workers, status_path=rc.STATUS, max_requests=0,
                     recycle_concurrency=concurrency, log_level='info',
                     listen=f'{sock}, scgi:{scgi}')
        env = dict(env or {}, UPGRADEAPP_KNOB=self.knob)
        if notify:
            env['NOTIFY_SOCKET'] = notify
        environ = t.app_env(sock, env)
        del environ['FW_SERVER_LISTEN']  # the file says both
        self.app = rc.ConfApp(t, 'hello', sock, t.log_path('upgradeapp'), environ, self.exe,
                              self.ini)
        self.app.wait_ready(workers=workers)
        self.workers = workers

    def status(self):
        return rc.status(self.app.sock)

    def upgrades(self, result):
        s = self.status()
        return s['upgrade'][result] if s else None

    def upgrade(self, version=None, src=None, mode=0o755):
        """Install a build, send SIGUSR2."""
        if version or src:
            install(src or BUILDS[version], self.exe, mode)
        self.app.send_signal(signal.SIGUSR2)

    def wait_result(self, result, count, timeout=UPGRADE_TIMEOUT):
        """The status page once `count` upgrades have ended with `result`."""
        return rc.wait_status(self.app.sock,
                              lambda s: s['upgrade'][result] >= count and s['upgrade']['state'] == 'none',
                              timeout)

    def builds(self):
        """{build: workers} on the status page."""
        s = self.status()
        return {w['build']: w['workers'] for w in s['build']['workers']} if s else None

    def knob_set(self, text):
        with open(self.knob, 'w') as f:
            f.write(text)

    def knob_clear(self):
        if os.path.exists(self.knob):
            os.unlink(self.knob)


def master_fds(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def master_rss_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return None


def zombies(pid):
    return [p for p in harness.children(pid) if harness.proc_state(p) == 'Z']


def expected_lines(text):
    """The app's error lines, but the refusals this test provokes."""
    return [line for line in rc.error_lines(text)
            if 'upgrade refused' not in line and 'this build cannot' not in line
            and 'worker start-up hook failed' not in line]


def section_upgrade_under_load(t, srv, ngx, notify, got):
    a, b = build_id(BUILDS['a']), build_id(BUILDS['b'])
    t.check('the two builds differ', a != b, a)
    s = srv.status()
    t.equal('the status page names the running build', s and s['build']['master'], a)
    t.equal('every worker runs it', srv.builds(), {a: srv.workers})
    t.equal('with the application version', s and s['build']['version'], '1.0-a')
    mark = rc.LogMark(srv.app.log_text)
    ngx_mark = rc.LogMark(ngx.error_log)
    pid = srv.app.pid
    before = srv.app.workers()
    load = Load(ngx.port)
    try:
        t.check('the load runs', load.wait_requests(300))
        got.clear()
        srv.upgrade('b')
        s = srv.wait_result('done', 1)
        t.check('the upgrade is done', s and s['upgrade']['done'] == 1, s and s['upgrade'])
        t.check('the load goes on with b', load.wait_requests(300))
    finally:
        hung = load.finish()
    t.equal('the load clients finished', hung, 0)
    t.check(f'no failed request ({load.done} done, FastCGI keep-alive and SCGI)',
            load.done > 600 and not load.failures, load.failures[:5])
    t.equal('the versions answered, in order', load.versions, ['a', 'b'])
    t.check('the master kept its pid', srv.app.alive() and srv.app.pid == pid)
    s = srv.status()
    t.equal('the master runs b', s and s['build']['master'], b)
    t.equal('every worker runs b', srv.builds(), {b: srv.workers})
    t.equal('the version beside it', s and s['build']['version'], '1.0-b')
    t.check('the last upgrade came from a', s and s['upgrade']['from'] == a, s and s['upgrade'])
    after = srv.app.workers()
    t.check(f'no worker from before is left ({before} -> {after})',
            after and not set(before) & set(after))
    t.equal(f'{srv.workers} workers', len(after), srv.workers)
    t.check('recycled.upgrade counts the old ones', s and s['recycled']['upgrade'] >= srv.workers, s)
    text = mark.text()
    for needle in ('SIGUSR2: upgrading to the build at ' + srv.exe, 'of the new build starts',
                   'the master re-executes', f'the master runs {b}', 'upgrade done'):
        t.check(f'logged: {needle}', rc.lines_with(text, needle), text[-3000:])
    t.check('the app logged no error', not rc.error_lines(text), '\n'.join(rc.error_lines(text)[:10]))
    bad = rc.nginx_bad_lines(ngx_mark.text())
    t.check('nginx logged no upstream error', not bad, '\n'.join(bad[:10]))

    # sd_notify: what systemd hears, in order, from the master alone.
    got += harness.recv_notify(notify, 0.5)
    texts = [x for _, x in got]
    rel = [i for i, x in enumerate(texts) if 'RELOADING=1' in x]
    ready = [i for i, x in enumerate(texts) if 'READY=1' in x]
    t.check('RELOADING=1 at SIGUSR2', rel, texts)
    t.check('with MONOTONIC_USEC', rel and 'MONOTONIC_USEC=' in texts[rel[0]], texts)
    t.check('READY=1 after it', rel and ready and ready[-1] > rel[0], texts)
    t.check('READY=1 says the upgrade is done', ready and 'upgrade done' in texts[ready[-1]], texts)
    t.equal('every datagram came from the master', {p for p, _ in got}, {pid})
    t.check('no MAINPID= needed: the main process stayed', not any('MAINPID' in x for x in texts))


def section_refused(t, srv, ngx, notify, got):
    """Each broken build refused, the running one untouched."""
    running = build_id(BUILDS['b'])
    cases = [
        ('not executable', dict(version='a', mode=0o644), None, 'cannot be executed (Permission denied)'),
        ('not a program', dict(src=t.path('garbage')), None, 'cannot be executed (Exec format error)'),
        ('exits before READY', dict(version='a'), 'a exit', 'exited with status 7 before the master took over'),
        ('its start-up hook fails', dict(version='a'), 'a fail', 'failed its start-up hook'),
        ('it crashes at boot', dict(version='a'), 'a crash', 'was killed by signal 6'),
    ]
    with open(t.path('garbage'), 'wb') as f:
        f.write(b'\x7fELF? not really\n')
    load = Load(ngx.port)
    try:
        t.check('the load runs', load.wait_requests(200))
        for n, (what, how, knob, needle) in enumerate(cases, start=1):
            with t.section(f'refused: {what}'):
                before = sorted(srv.app.workers())
                mark = rc.LogMark(srv.app.log_text)
                srv.knob_clear()
                if knob:
                    srv.knob_set(knob)
                got.clear()
                srv.upgrade(**how)
                s = srv.wait_result('refused', n)
                t.check(f'refused ({needle})', s and needle in s['upgrade']['detail'],
                        s and s['upgrade'])
                t.equal('the status page says so', s and s['upgrade']['last'], 'refused')
                refusals = rc.lines_with(mark.text(), 'upgrade refused')
                t.equal('one line says it', len(refusals), 1)
                t.check('naming the path', refusals and srv.exe in refusals[0], refusals)
                t.check('the load goes on', load.wait_requests(100))
                t.equal('the old workers serve on, untouched', sorted(srv.app.workers()), before)
                t.equal('every worker runs the running build', srv.builds(), {running: srv.workers})
                t.check('no zombie', harness.wait_until(lambda: not zombies(srv.app.pid), 5),
                        zombies(srv.app.pid))
                t.check('READY=1 for systemd once refused',
                        harness.wait_notify(notify, got, 'upgrade refused', 10), got)
    finally:
        hung = load.finish()
        srv.knob_clear()
    t.equal('the load clients finished', hung, 0)
    t.check(f'no failed request through the refusals ({load.done} done)',
            load.done > 0 and not load.failures, load.failures[:5])
    t.equal('the versions answered', load.versions, ['b'])
    with t.section('after the refusals, a good build upgrades'):
        srv.upgrade('a')
        s = srv.wait_result('done', 2)
        t.check('done', s and s['upgrade']['last'] == 'done', s and s['upgrade'])
        t.equal('every worker runs a', srv.builds(), {build_id(BUILDS['a']): srv.workers})


def section_signals_during(t, srv):
    """SIGUSR2 and SIGHUP during an upgrade: refused; it completes."""
    mark = rc.LogMark(srv.app.log_text)
    done = srv.upgrades('done')
    srv.knob_set('b slow 1500')  # each b worker takes 1.5 s to start
    srv.upgrade('b')
    t.check('the canary is booting',
            rc.wait_status(srv.app.sock, lambda s: s['upgrade']['state'] == 'canary', 10))
    srv.app.send_signal(signal.SIGUSR2)
    srv.app.send_signal(signal.SIGHUP)
    t.check('a second SIGUSR2 is refused', harness.wait_until(
        lambda: rc.lines_with(mark.text(), 'SIGUSR2: refused, an upgrade is under way'), 10),
        mark.text()[-2000:])
    t.check('SIGHUP is refused', harness.wait_until(
        lambda: rc.lines_with(mark.text(), 'SIGHUP: refused, an upgrade is under way'), 10))
    s = srv.wait_result('done', done + 1)
    t.check('the upgrade completes', s and s['upgrade']['done'] == done + 1, s and s['upgrade'])
    t.equal('every worker runs b', srv.builds(), {build_id(BUILDS['b']): srv.workers})
    srv.knob_clear()


def section_term_during(t, state):
    """SIGTERM while the canary boots, or while old workers are replaced."""
    srv = Server(t, 'a', workers=3)
    srv.knob_set('b slow 1500')
    ws = srv.app.workers()
    srv.upgrade('b')
    t.check(f'the upgrade reaches {state}',
            rc.wait_status(srv.app.sock, lambda s: s['upgrade']['state'] == state, 30))
    srv.app.remember_children()
    kids = sorted(srv.app.known_children)
    t0 = time.monotonic()
    code = srv.app.stop(timeout=30)
    took = time.monotonic() - t0
    t.equal(f'SIGTERM during {state}: the master exits with status 0', code, 0)
    t.check(f'within the grace period ({took:.1f} s)', took < 25)
    t.check('every worker, old and new, is gone', harness.wait_pids_gone(kids, 5),
            [p for p in kids if harness.pid_alive(p)])
    t.check('the canary was among them', len(kids) > len(ws), (ws, kids))
    t.check('"upgrade abandoned" logged', rc.lines_with(srv.app.log_text(), 'upgrade abandoned'))
    t.check('the socket file is removed', not os.path.exists(srv.app.sock))


def section_way_back(t):
    """The new build's master cannot read the table: the old build is executed
    again from the descriptor kept for that, takes its table back, serves on."""
    marker = t.path('resume-fail')
    notify_path = t.path('notify-back.sock')
    notify = harness.notify_listener(notify_path)
    got = []
    try:
        srv = Server(t, 'a', workers=2, notify=notify_path,
                     env={'LD_PRELOAD': RESUME_FAIL, 'FW_TEST_RESUME_FAIL': marker})
        harness.wait_notify(notify, got, 'READY=1', 10)
        pid = srv.app.pid
        with open(marker, 'w'):
            pass
        mark = rc.LogMark(srv.app.log_text)
        got.clear()
        srv.upgrade('b')
        s = srv.wait_result('refused', 1)
        # The build that came back still has systemd's socket: the
        # RELOADING=1 of the upgrade is ended by its READY=1.
        t.check('systemd hears READY=1 from the build that came back, from the master',
                harness.wait_notify(notify, got, 'READY=1', 30) and
                all(p == pid for p, text in got if 'READY=1' in text), got)
    finally:
        notify.close()
    t.check('refused: the new master could not take over',
            s and 'could not take over' in s['upgrade']['detail'], s and s['upgrade'])
    text = mark.text()
    t.check('the new image said why', rc.lines_with(text, 'upgrade: reading the master\'s table'),
            text[-2000:])
    t.check('and went back', rc.lines_with(text, 'upgrade: going back to the running build'))
    t.check('the master kept its pid', srv.app.alive() and srv.app.pid == pid)
    a = build_id(BUILDS['a'])
    t.check('the canary of b is replaced by a: one build serves',
            harness.wait_until(lambda: srv.builds() == {a: 2}, 30), srv.builds())
    s = srv.status()
    t.equal('the master is a again', s and s['build']['master'], a)
    code, _, body, _ = harness.fcgi_get(srv.app.sock, '/version')
    t.equal('a answers', (code, body), (200, b'a\n'))
    os.unlink(marker)
    srv.upgrade('b')
    s = srv.wait_result('done', 1)
    t.check('without the fault, the same build upgrades', s and s['upgrade']['last'] == 'done',
            s and s['upgrade'])
    t.equal('every worker runs b', srv.builds(), {build_id(BUILDS['b']): 2})
    t.equal('the app stops with status 0', srv.app.stop(), 0)


def uid_of(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('Uid:'):
                return int(line.split()[1])
    return None


def section_dropped(t):
    """Started as root with user = nobody: the canary and the new master
    run as nobody, and the new master asks for no privilege it dropped."""
    nobody = pwd.getpwnam('nobody').pw_uid
    os.chmod(t.tmp, 0o755)
    srv = Server(t, 'a', workers=2, env={'FW_SERVER_USER': 'nobody', 'FW_SERVER_STATE_PATH':
                                         t.path('dropped.state')})
    t.equal('the master dropped to nobody', uid_of(srv.app.pid), nobody)
    srv.upgrade('b')
    s = srv.wait_result('done', 1)
    t.check('the upgrade is done', s and s['upgrade']['last'] == 'done', s and s['upgrade'])
    t.equal('the new master is still nobody', uid_of(srv.app.pid), nobody)
    t.check('its workers too', all(uid_of(w) == nobody for w in srv.app.workers()))
    t.equal('every worker runs b', srv.builds(), {build_id(BUILDS['b']): 2})
    bad = expected_lines(srv.app.log_text())
    t.check('no error logged (no privilege asked for again)', not bad, '\n'.join(bad[:10]))
    t.equal('the app stops with status 0', srv.app.stop(), 0)


def section_symlink(t):
    """Started by a path through a symbolic link (current -> releases/1), as
    release-directory deploys do: the link is moved, the upgrade follows it."""
    rel = t.path('releases')
    for n, v in ((1, 'a'), (2, 'b')):
        os.makedirs(os.path.join(rel, str(n)), exist_ok=True)
        install(BUILDS[v], os.path.join(rel, str(n), 'app'))
    current = t.path('current')
    os.symlink('releases/1', current)
    ini = t.path('symlink.ini')
    sock = t.path('hello.sock')
    rc.write_ini(ini, workers=2, status_path=rc.STATUS, log_level='info', listen=sock)
    environ = t.app_env(sock)
    app = rc.ConfApp(t, 'hello', sock, t.log_path('symlinked'), environ,
                     os.path.join(current, 'app'), ini)
    app.wait_ready(workers=2)
    os.symlink('releases/2', current + '.new')
    os.replace(current + '.new', current)  # the link moved in one step
    app.send_signal(signal.SIGUSR2)
    s = rc.wait_status(sock, lambda s: s['upgrade']['done'] == 1 and s['upgrade']['state'] == 'none',
                       UPGRADE_TIMEOUT)
    t.check('the upgrade is done', s and s['upgrade']['last'] == 'done', s and s['upgrade'])
    t.check('through the link', rc.lines_with(app.log_text(), f'upgrading to the build at {current}/app'),
            app.log_text()[-1500:])
    builds = {w['build']: w['workers'] for w in s['build']['workers']} if s else None
    t.equal('every worker runs releases/2', builds, {build_id(BUILDS['b']): 2})
    t.equal('the app stops with status 0', app.stop(), 0)


def section_rounds(t, srv):
    """Upgrades in a row: the master's descriptors and memory stay, no zombie."""
    pid = srv.app.pid
    done = srv.upgrades('done')
    fds, rss = master_fds(pid), master_rss_kb(pid)
    fds_list = sorted(os.listdir(f'/proc/{pid}/fd'), key=int)
    t0 = time.monotonic()
    ok = 0
    for i in range(ROUNDS):
        srv.upgrade('a' if i % 2 == 0 else 'b')
        s = srv.wait_result('done', done + i + 1)
        if not (s and s['upgrade']['done'] == done + i + 1):
            t.check(f'upgrade {i + 1} of {ROUNDS} done', False, s and s['upgrade'])
            break
        ok += 1
    took = time.monotonic() - t0
    t.equal(f'{ROUNDS} upgrades in a row, each done ({took:.1f} s)', ok, ROUNDS)
    t.equal('the master kept its pid', srv.app.pid, pid)
    fds2 = master_fds(pid)
    t.equal(f'the master holds as many descriptors ({fds} -> {fds2})', fds2, fds)
    if fds2 != fds:
        print(f'# before {fds_list}\n# after {sorted(os.listdir(f"/proc/{pid}/fd"), key=int)}')
    rss2 = master_rss_kb(pid)
    t.check(f'the master\'s memory stays ({rss} -> {rss2} KiB)', rss2 <= rss * 1.25 + 2048,
            (rss, rss2))
    t.check('no zombie', harness.wait_until(lambda: not zombies(pid), 5), zombies(pid))
    t.equal(f'{srv.workers} workers', len(srv.app.workers()), srv.workers)
    for w in srv.app.workers():
        n = len(os.listdir(f'/proc/{w}/fd'))
        t.check(f'worker {w} holds few descriptors ({n})', n < 20, os.listdir(f'/proc/{w}/fd'))


def main(t):
    for path in BUILDS.values():
        if not os.access(path, os.X_OK):
            raise harness.HarnessError(f'{path} is not built')
    notify_path = t.path('notify.sock')
    notify = harness.notify_listener(notify_path)
    got = []
    try:
        srv = Server(t, 'a', workers=3, notify=notify_path)
        ngx = t.start_nginx()
        harness.wait_notify(notify, got, 'READY=1', 10)
        with t.section('an upgrade under keep-alive load, over FastCGI and SCGI'):
            section_upgrade_under_load(t, srv, ngx, notify, got)
        with t.section('broken builds are refused'):
            section_refused(t, srv, ngx, notify, got)
        with t.section('SIGUSR2 and SIGHUP during an upgrade'):
            section_signals_during(t, srv)
        with t.section(f'{ROUNDS} upgrades in a row'):
            section_rounds(t, srv)
        bad = expected_lines(srv.app.log_text())
        t.check('the app logged no unexpected error', not bad, '\n'.join(bad[:10]))
        t.equal('the app stops with status 0', srv.app.stop(), 0)
        ngx.stop()
    finally:
        notify.close()
    for state in ('canary', 'rolling'):
        with t.section(f'SIGTERM during an upgrade ({state})'):
            section_term_during(t, state)
    with t.section('the new master cannot take over: the old build comes back'):
        section_way_back(t)
    with t.section('a deploy that moves a symbolic link'):
        section_symlink(t)
    if os.geteuid() == 0:
        with t.section('started as root, running as nobody'):
            section_dropped(t)


if __name__ == '__main__':
    harness.run(main)
