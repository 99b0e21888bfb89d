#!/usr/bin/env python3
"""What systemd and Kubernetes see: `--probe live|ready` (answered from the
scoreboard file, never by a worker; busy workers keep a pod live, a stopped
master does not), sd_notify's READY/RELOADING/STOPPING sent by the master
alone, and the drop to `user`/`group` after the sockets are open."""
import os
import pwd
import grp
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

# How long a probe takes is printed, not asserted: it is mostly a process
# start, which a loaded machine makes as slow as it likes. bench/probe.py
# measures it beside the floor of any process start.
probe_times = []


def probe(t, what, state, binary=None, user=None):
    """(exit status, output line) of APP --probe WHAT for the server whose
    scoreboard is at state (and whose configuration names user)."""
    e = t.app_env(t.path('unused.sock'), {'FW_SERVER_STATE_PATH': state, **({'FW_SERVER_USER': user} if user else {})})
    t0 = time.monotonic()
    p = subprocess.run([binary or rc.testapp(), '-c', harness.FW_INI, '--probe', what], env=e,
                       capture_output=True, text=True, timeout=30)
    probe_times.append(time.monotonic() - t0)
    return p.returncode, (p.stdout + p.stderr).strip()


def check_probe(t, what, state, want_rc, needle, detail='', user=None):
    rcode, out = probe(t, what, state, user=user)
    t.check(f'--probe {what} {detail}: exit {want_rc}, "{needle}"',
            rcode == want_rc and needle in out, f'exit {rcode}: {out!r}')


def section_probes(t):
    state = t.path('probe.state')
    with t.section('--probe before the server runs'):
        check_probe(t, 'live', state, 1, 'no running server', 'with no server')
        check_probe(t, 'ready', state, 1, 'no running server', 'with no server')
        rcode, out = probe(t, 'sideways', state)
        t.check('--probe sideways: exit 2 and says what it takes', rcode == 2 and 'live or ready' in out,
                f'{rcode}: {out}')

    app = rc.start(t, workers=2, state_path=state, graceful_timeout=30)
    with t.section('--probe on a serving server'):
        check_probe(t, 'live', state, 0, 'heartbeat', 'while serving')
        check_probe(t, 'ready', state, 0, '2 worker(s) accepting', 'while serving')

    with t.section('a second server with the same state_path (other sockets) refuses to start'):
        other = rc.start(t, name='other', wait=False, workers=1, state_path=state)
        code = other.wait(harness.START_TIMEOUT)
        t.equal('it exits 1', code, 1)
        t.check('naming the state_path and the running master',
                f'state_path {state} belongs to the running master {app.pid}' in other.log_text(),
                other.log_text())
        check_probe(t, 'live', state, 0, f'master {app.pid}', 'still the first server\'s')

    with t.section('every worker busy: still live and ready (no restart for being busy)'):
        ws = app.workers()
        for w in ws:
            os.kill(w, signal.SIGSTOP)
        try:
            check_probe(t, 'live', state, 0, 'heartbeat', 'with both workers stopped')
            check_probe(t, 'ready', state, 0, 'accepting', 'with both workers stopped')
        finally:
            for w in ws:
                os.kill(w, signal.SIGCONT)

    with t.section('a master stuck for 6 s: not live, and says why'):
        os.kill(app.pid, signal.SIGSTOP)
        try:
            # A lower bound, not a wait for luck: stopped, the master cannot
            # beat, so its heartbeat is at least this old (the probe's limit is 5 s).
            time.sleep(6.5)
            check_probe(t, 'live', state, 1, 'has not run its loop', 'with the master stopped')
            check_probe(t, 'ready', state, 1, 'has not run its loop', 'with the master stopped')
        finally:
            os.kill(app.pid, signal.SIGCONT)
        t.check('live again once the master runs',
                harness.wait_until(lambda: probe(t, 'live', state)[0] == 0, harness.WAIT))

    with t.section('stopping gracefully: live, not ready'):
        # A request in flight keeps the server in its graceful stop, until
        # the test releases it: the probes run in the stop however long
        # they take.
        answered = {}
        release = t.path('stop-release')

        def slow():
            try:
                answered['r'] = harness.fcgi_get(app.sock, f'/hold?until={release}')[0]
            except OSError as e:
                answered['r'] = e
        th = threading.Thread(target=slow)
        th.start()
        t.check('the request is in flight',
                rc.wait_status(app.sock, lambda s: rc.in_flight(s) == 1, harness.WAIT))
        app.send_signal(signal.SIGTERM)
        t.check('ready says "stopping" during the graceful stop',
                harness.wait_until(lambda: 'stopping' in probe(t, 'ready', state)[1], harness.WAIT),
                probe(t, 'ready', state)[1])
        rcode, out = probe(t, 'live', state)
        t.check('live still 0 while the last request runs', rcode == 0, out)
        open(release, 'w').close()
        th.join(harness.IO_TIMEOUT)
        t.equal('the request in flight was answered', answered.get('r'), 200)
        app.wait(harness.WAIT)
        check_probe(t, 'live', state, 1, 'no running server', 'after the server stopped')
        t.check('the scoreboard file is removed at exit', not os.path.exists(state))

    if os.geteuid() == 0:
        with t.section('a scoreboard file another user made is not believed'):
            app = rc.start(t, workers=1, state_path=state)
            fake = t.path('fake.state')
            with open(state, 'rb') as src, open(fake, 'wb') as dst:
                dst.write(src.read())  # a live master's pid, a fresh heartbeat
            nobody = pwd.getpwnam('nobody')
            os.chown(fake, nobody.pw_uid, nobody.pw_gid)
            check_probe(t, 'live', fake, 1, f'belongs to uid {nobody.pw_uid}', 'on a file of nobody')
            e = t.app_env(t.path('unused.sock'), {'FW_SERVER_STATE_PATH': fake, 'FW_SERVER_USER': 'nobody'})
            p = subprocess.run([rc.testapp(), '-c', harness.FW_INI, '--probe', 'live'], env=e,
                               capture_output=True, text=True, timeout=30)
            t.check('but believed when nobody is the server\'s user', p.returncode == 0, p.stdout + p.stderr)
            # Nor does such a file (a live pid, a fresh heartbeat) keep a server from starting.
            other = rc.start(t, name='other', wait=False, workers=1, state_path=fake)
            t.check('a server starts over it', harness.wait_until(
                lambda: 'ready:' in other.log_text() or not other.alive(), harness.START_TIMEOUT)
                and other.alive(), other.log_text())
            other.stop()
            if os.path.exists(fake):
                os.unlink(fake)
            app.stop()

    with t.section('a master killed with SIGKILL: not live (file left behind)'):
        app = rc.start(t, workers=1, state_path=state)
        app.remember_children()
        os.kill(app.pid, signal.SIGKILL)
        app.wait(10)
        check_probe(t, 'live', state, 1, 'is not running', 'after SIGKILL of the master')
        app.kill_leftover_children()
        with t.section('a new server takes the stale file over'):
            app = rc.start(t, workers=1, state_path=state)
            check_probe(t, 'ready', state, 0, 'accepting', 'after a restart over the stale file')
            app.stop()

    # Printed for the record; bench/probe.py measures it.
    print(f'# {len(probe_times)} probes (process start included): '
          f'median {sorted(probe_times)[len(probe_times) // 2] * 1000:.1f} ms, '
          f'worst {max(probe_times) * 1000:.1f} ms')


def section_notify(t):
    path = t.path('notify.sock')
    sock = harness.notify_listener(path)
    try:
        ini = t.path('notify.ini')
        rc.write_ini(ini, status_path=rc.STATUS, workers=2)
        app = rc.ConfApp(t, 'hello', t.path('hello.sock'), t.log_path('hello'),
                         t.app_env(t.path('hello.sock'), {'NOTIFY_SOCKET': path}), rc.testapp(), ini)
        app.wait_ready(workers=2)
        got = []
        with t.section('sd_notify: READY=1 once the workers serve'):
            t.check('READY=1 received', harness.wait_notify(sock, got, 'READY=1', harness.WAIT), got)
            t.check('with a STATUS line', any('STATUS=' in x for _, x in got), got)
        with t.section('sd_notify: SIGHUP sends RELOADING=1 with the time, then READY=1'):
            got.clear()
            app.send_signal(signal.SIGHUP)
            t.check('RELOADING=1 received', harness.wait_notify(sock, got, 'RELOADING=1', harness.WAIT), got)
            rel = [x for _, x in got if 'RELOADING=1' in x]
            t.check('with MONOTONIC_USEC', rel and 'MONOTONIC_USEC=' in rel[0], rel)
            if rel and 'MONOTONIC_USEC=' in rel[0]:
                usec = int(rel[0].split('MONOTONIC_USEC=')[1].split()[0])
                now = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
                t.check('MONOTONIC_USEC is CLOCK_MONOTONIC now (within 30 s)', abs(now - usec) < 30e6,
                        f'{usec} vs {now:.0f}')
            t.check('READY=1 after the reload',
                    harness.wait_notify(sock, got, 'READY=1', harness.WAIT) and
                    [i for i, (_, x) in enumerate(got) if 'READY=1' in x][-1] >
                    [i for i, (_, x) in enumerate(got) if 'RELOADING=1' in x][0], got)
            t.check('"reload done" logged', harness.wait_until(lambda: 'reload done' in app.log_text(), harness.WAIT))
        with t.section('sd_notify: a SIGHUP with configuration errors still ends with READY=1'):
            got.clear()
            rc.write_ini(ini, status_path=rc.STATUS, workers='many')
            app.send_signal(signal.SIGHUP)
            t.check('RELOADING=1 received', harness.wait_notify(sock, got, 'RELOADING=1', harness.WAIT), got)
            # systemd's reload timeout is 90 s (TimeoutStartSec): well under it.
            t.check('READY=1 at once, not systemd\'s reload timeout',
                    harness.wait_notify(sock, got, 'READY=1', 30) and
                    [i for i, (_, x) in enumerate(got) if 'READY=1' in x][-1] >
                    [i for i, (_, x) in enumerate(got) if 'RELOADING=1' in x][0], got)
            t.check('STATUS says the reload failed', any('reload failed' in x for _, x in got), got)
            t.check('the errors logged', 'the configuration has errors' in app.log_text(), app.log_text())
            rc.write_ini(ini, status_path=rc.STATUS, workers=2)
            code, _, _, _ = harness.fcgi_get(app.sock, '/hello')
            t.equal('the running workers serve on', code, 200)
        with t.section('sd_notify: STOPPING=1 on SIGTERM; only the master ever sends'):
            pids = {p for p, _ in got}
            app.stop()
            got += harness.recv_notify(sock, 1.0)
            t.check('STOPPING=1 received', any('STOPPING=1' in x for _, x in got), got)
            pids |= {p for p, _ in got}
            t.equal('every datagram came from the master', pids, {app.pid})
    finally:
        sock.close()


def section_notify_names(t):
    """fw speaks the protocol itself: an @abstract name works like a path,
    and a NOTIFY_SOCKET it cannot use is a warning, not a failed start."""
    name = f'fw-test-notify-{os.getpid()}'
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind('\0' + name)
    try:
        with t.section('sd_notify: NOTIFY_SOCKET=@name (abstract namespace)'):
            app = rc.start(t, workers=1, extra_env={'NOTIFY_SOCKET': '@' + name})
            got = []
            t.check('READY=1 received', harness.wait_notify(sock, got, 'READY=1', harness.WAIT), got)
            app.stop()
            got += harness.recv_notify(sock, 1.0)
            t.check('STOPPING=1 received', any('STOPPING=1' in x for _, x in got), got)
    finally:
        sock.close()
    with t.section('sd_notify: a NOTIFY_SOCKET that is not a unix socket name: warned, served'):
        app = rc.start(t, workers=1, extra_env={'NOTIFY_SOCKET': 'vsock:2:1234'})
        code, _, _, _ = harness.fcgi_get(app.sock, '/hello')
        t.equal('the server serves', code, 200)
        t.check('a warning names the variable', 'NOTIFY_SOCKET=vsock:2:1234' in app.log_text(), app.log_text())
        app.stop()


def proc_ids(pid):
    """(uid, gid) of a process from /proc."""
    uid = gid = None
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('Uid:'):
                uid = int(line.split()[2])  # effective
            elif line.startswith('Gid:'):
                gid = int(line.split()[2])
    return uid, gid


def section_privileges(t):
    if os.geteuid() != 0:
        with t.section('user/group while not root: a warning, the server runs'):
            app = rc.start(t, workers=1, user=pwd.getpwuid(os.geteuid()).pw_name)
            t.check('warns that it stays', 'the master is not root' in app.log_text())
            app.stop()
        return
    user, group = 'nobody', grp.getgrgid(pwd.getpwnam('nobody').pw_gid).gr_name
    nobody = pwd.getpwnam(user)
    # The master, as the user, removes its scoreboard file at exit: the
    # directory must be the user's (systemd: RuntimeDirectory=; /dev/shm,
    # the default, is sticky and open to all).
    run_dir = t.path('run')
    os.mkdir(run_dir)
    os.chown(run_dir, nobody.pw_uid, nobody.pw_gid)
    state = os.path.join(run_dir, 'privs.state')
    with t.section(f'started as root with user={user} group={group}'):
        app = rc.start(t, workers=2, user=user, group=group, state_path=state, timeout=2)
        ids = [proc_ids(p) for p in [app.pid] + app.workers()]
        t.equal('master and workers run as that user and group', set(ids), {(nobody.pw_uid, nobody.pw_gid)})
        with open(f'/proc/{app.pid}/status') as f:
            groups = [ln for ln in f if ln.startswith('Groups:')][0].split()[1:]
        t.check('no supplementary group of root left', '0' not in groups, groups)
        st = os.stat(app.sock)
        t.equal('the socket was made by root before the drop', st.st_uid, 0)
        t.equal('the scoreboard file belongs to the user', os.stat(state).st_uid, nobody.pw_uid)
        code, _, body, _ = harness.fcgi_get(app.sock, '/hello')
        t.check('requests are served', code == 200 and body == b'hello\n', (code, body))
        check_probe(t, 'ready', state, 0, 'accepting', 'as root, of a server running as nobody', user=user)
        # /proc/PID/mem is root's for a process that is not dumpable: no
        # process of the user may read what the master read as root, in
        # the master or in a worker (a fork of it). The stuck handler is
        # answered by its own worker, with no ptrace rights needed.
        t.equal('the master is not dumpable', os.stat(f'/proc/{app.pid}/mem').st_uid, 0)
        t.equal('nor are the workers', {os.stat(f'/proc/{p}/mem').st_uid for p in app.workers()}, {0})
        # Blocks 20 s: far past timeout (2 s), and a handler that returned would say 200.
        code, _, body, _ = harness.fcgi_get(app.sock, '/block?ms=20000')
        t.equal('a handler past timeout is still answered 504 by the master', code, 504)
        t.check('a worker recycled with the same user',
                harness.wait_until(lambda: len(app.workers()) == 2 and
                                   {proc_ids(p) for p in app.workers()} == {(nobody.pw_uid, nobody.pw_gid)},
                                   harness.WAIT))
        app.stop()
        t.check('the master removed its scoreboard file as that user', not os.path.exists(state))
    with t.section('user that does not exist: -t and start fail with the name'):
        e = t.app_env(t.path('x.sock'), {'FW_SERVER_USER': 'no-such-user-fw'})
        p = subprocess.run([rc.testapp(), '-c', harness.FW_INI, '-t'], env=e, capture_output=True,
                           text=True, timeout=30)
        t.check('-t exits 1 naming the user', p.returncode == 1 and "no user 'no-such-user-fw'" in p.stderr,
                p.stderr)


def section_full_tmpfs(t):
    """The scoreboard on a tmpfs with no room (a container's small /dev/shm):
    a clear error at start, never a SIGBUS when a page is first touched."""
    if os.geteuid() != 0:
        print('# skip: mounting a small tmpfs needs root')
        return
    mnt = t.path('shm')
    os.mkdir(mnt)
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt],
                      capture_output=True).returncode != 0:
        print('# skip: cannot mount a tmpfs here')
        return
    try:
        with open(os.path.join(mnt, 'filler'), 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'x' * 4096)
            except OSError:
                pass  # full
        with t.section('scoreboard on a full tmpfs: exit 1 with ENOSPC, no SIGBUS'):
            app = rc.start(t, wait=False, workers=1, state_path=os.path.join(mnt, 'fw.state'))
            code = app.wait(harness.START_TIMEOUT)
            t.equal('the master exits 1', code, 1)
            t.check('naming the file and the reason', 'creating the scoreboard' in app.log_text() and
                    'No space left on device' in app.log_text(), app.log_text())
            t.check('no file left behind', not os.path.exists(os.path.join(mnt, 'fw.state')))
    finally:
        subprocess.run(['umount', '-l', mnt], capture_output=True)


def main(t):
    section_probes(t)
    section_notify(t)
    section_notify_names(t)
    section_privileges(t)
    section_full_tmpfs(t)
    for p in t.procs:  # but the timeout, the second server, the bad configuration and the full tmpfs asked for
        bad = [x for x in rc.error_lines(p.log_text())
               if not any(k in x for k in ('timed out: GET /block', 'belongs to the running master',
                                           'the configuration has errors', 'creating the scoreboard'))]
        t.check(f'no error lines in the log of {p.name} (pid {p.pid}) but those asked for', not bad,
                '\n'.join(bad[:10]))


harness.run(main)
