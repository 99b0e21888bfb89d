#!/usr/bin/env python3
"""The container's memory limit: a per-worker rss_limit_mb derived from the
cgroup limit when none is set (and logged), and the largest worker recycled
before the group reaches its limit, one at a time, with no request lost.

Two ways: a fake cgroup directory (FW_CGROUP_DIR) whose files the test
writes, for exact figures; and, where the test may create a cgroup v1 or v2
memory group (root on this machine), the real kernel with a real limit and
workers that leak until the master must act before the OOM killer does."""
import os
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

MIB = 1 << 20


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def fake_group(t, limit_mb):
    d = t.path('cgroup')
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, 'memory.max'), f'{limit_mb * MIB}\n')
    write(os.path.join(d, 'memory.current'), f'{10 * MIB}\n')
    write(os.path.join(d, 'memory.stat'), 'anon 1000\ninactive_file 0\n')
    return d


def ticks(app, n):
    """Wait for n whole ticks of the master, each begun after the one before
    (bounded): what its once-a-second cgroup check would do, it has done."""
    return all(harness.wait_master_tick(app.pid) for _ in range(n))


def section_fake(t):
    d = fake_group(t, 3000)
    with t.section('derived rss_limit_mb: 85% of the limit over workers + recycle_concurrency'):
        app = rc.start(t, workers=2, recycle_concurrency=1, extra_env={'FW_CGROUP_DIR': d})
        # 3000 MiB * 85 / 100 / 3 = 850 MiB
        t.check('logged with the figures', 'rss_limit_mb derived from the cgroup memory limit (3000 MiB' in app.log_text()
                and ': 850 MiB per worker' in app.log_text(), app.log_text())
        s = rc.status(app.sock)
        t.equal('the status page shows it', s and s.get('limits', {}).get('rss_limit_mb'), 850)
        t.equal('and the group', s and s.get('cgroup', {}).get('limit_bytes'), 3000 * MIB)
        app.send_signal(signal.SIGTTIN)  # 3 workers: 3000 * 85% / 4 = 637 MiB
        s = rc.wait_status(app.sock, lambda s: s.get('limits', {}).get('rss_limit_mb') == 637, harness.WAIT)
        t.check('SIGTTIN shares it anew: 637 MiB over 3 workers and a replacement',
                s is not None and s['limits']['rss_limit_mb'] == 637 and ': 637 MiB per worker' in app.log_text(),
                app.log_text()[-600:])
        app.send_signal(signal.SIGTTOU)
        s = rc.wait_status(app.sock, lambda s: s.get('limits', {}).get('rss_limit_mb') == 850, harness.WAIT)
        t.check('SIGTTOU: back to 850 MiB', s is not None and s['limits']['rss_limit_mb'] == 850,
                app.log_text()[-600:])
    with t.section('the group near its limit: the largest worker goes, one at a time, nothing lost'):
        # Small workers are not recycled for the group: the memory is elsewhere.
        mark = rc.LogMark(app.log_text)
        write(os.path.join(d, 'memory.current'), f'{2800 * MIB}\n')  # 93%
        t.check('93% with small workers: a warning that the memory is elsewhere',
                harness.wait_until(lambda: 'the memory is elsewhere' in mark.text(), harness.WAIT), mark.text())
        # The master looks once a tick: two whole ticks after the warning, it
        # would have recycled or warned again.
        t.check('the master ran two ticks since', ticks(app, 2))
        t.check('and no recycle, and the warning not repeated every second',
                'recycling worker' not in mark.text() and len(rc.lines_with(mark.text(), 'elsewhere')) == 1,
                mark.text())
        write(os.path.join(d, 'memory.current'), f'{10 * MIB}\n')
        # Make one worker clearly the largest, over 2% of the limit: hold one
        # in a handler (until the test releases it) while the other leaks 72 MiB.
        release = t.path('leak-release')
        hold = threading.Thread(target=lambda: harness.fcgi_get(app.sock, f'/block?ms=120000&until={release}'))
        hold.start()
        t.check('one worker is held in its handler', rc.wait_status(
            app.sock, lambda s: sum(w['busy_ms'] > 0 for w in s['workers']) == 1, harness.WAIT))
        codes = [harness.fcgi_get(app.sock, '/leak?kb=4096')[0] for _ in range(18)]
        open(release, 'w').close()
        hold.join(harness.IO_TIMEOUT)
        t.equal('leaks answered', codes, [200] * 18)
        big, sizes = None, {}

        def apart():
            nonlocal big, sizes
            s = rc.status(app.sock)
            sizes = {w['pid']: w['private_kb'] for w in s['workers'] if w['state'] == 'ready'} if s else {}
            top = sorted(sizes.values())
            big = max(sizes, key=sizes.get) if len(top) == 2 and top[1] > top[0] + 64 * 1024 else None
            return big is not None
        harness.wait_until(apart, harness.WAIT, interval=0.2)  # memory figures are a second old at most
        t.check('one worker is 64 MiB larger than the other', big is not None, sizes)
        mark = rc.LogMark(app.log_text)
        write(os.path.join(d, 'memory.current'), f'{2800 * MIB}\n')  # 93%
        t.check('the master recycles the largest worker',
                harness.wait_until(lambda: f'recycling worker {big}, the largest' in mark.text(), harness.WAIT),
                mark.text())
        t.check('that worker exits and a new one takes its place',
                harness.wait_until(lambda: big not in app.workers() and len(app.workers()) == 2, harness.WAIT),
                app.workers())
        code, _, body, _ = harness.fcgi_get(app.sock, '/hello')
        t.equal('requests served meanwhile', (code, body), (200, b'hello\n'))
        s = rc.wait_status(app.sock, lambda s: s['recycled'].get('memory', 0) >= 1, harness.WAIT)
        t.check('counted as a memory recycle', s and s['recycled'].get('memory', 0) >= 1, s and s['recycled'])
        # Still high: one more worker goes (after the first is gone), not both at once.
        n = len(rc.lines_with(mark.text(), 'recycling worker'))
        t.check('only one worker at a time', n <= 2, mark.text())
        write(os.path.join(d, 'memory.current'), f'{100 * MIB}\n')
        # Once a whole tick has read 100 MiB, no decision is left to come
        # from the high figure; two more ticks are the witness for what
        # the low one decides.
        t.check('the master ran a tick that read 100 MiB', ticks(app, 1))
        quiet = rc.LogMark(app.log_text)
        t.check('and two more', ticks(app, 2))
        t.check('below the mark: no more recycles', 'recycling worker' not in quiet.text(), quiet.text())
        app.stop()
    with t.section('inactive page cache does not count (memory.stat inactive_file)'):
        write(os.path.join(d, 'memory.current'), f'{2900 * MIB}\n')
        write(os.path.join(d, 'memory.stat'), f'anon 1000\ninactive_file {800 * MIB}\n')
        app = rc.start(t, workers=1, extra_env={'FW_CGROUP_DIR': d})
        t.check('the master ran two ticks', ticks(app, 2))
        t.check('no recycle at 2100 MiB of working set (70%)',
                'recycling worker' not in app.log_text() and 'elsewhere' not in app.log_text(), app.log_text())
        app.stop()
    with t.section('rss_limit_mb set: kept as set (the group check still runs)'):
        write(os.path.join(d, 'memory.current'), f'{10 * MIB}\n')
        app = rc.start(t, workers=1, rss_limit_mb=300, extra_env={'FW_CGROUP_DIR': d})
        t.check('nothing derived', 'derived' not in app.log_text(), app.log_text())
        s = rc.status(app.sock)
        t.equal('status page shows 300', s and s.get('limits', {}).get('rss_limit_mb'), 300)
        app.stop()
    with t.section('no limit ("max"): nothing derived, nothing checked'):
        write(os.path.join(d, 'memory.max'), 'max\n')
        app = rc.start(t, workers=1, extra_env={'FW_CGROUP_DIR': d})
        t.check('nothing derived', 'derived' not in app.log_text(), app.log_text())
        app.stop()


def ready_workers(app):
    """N of the master's 'ready: N worker(s)' line."""
    m = re.search(r'ready: (\d+) worker', app.log_text())
    return int(m.group(1)) if m else None


def section_cpus(t):
    """workers = auto: the CPUs this process may use, not the machine's."""
    d = t.path('cgroup-cpu')
    os.makedirs(d, exist_ok=True)
    mine = len(os.sched_getaffinity(0))
    with t.section('workers = auto under a CPU quota (cpu.max 0.5 CPU): 1 worker'):
        write(os.path.join(d, 'cpu.max'), '50000 100000\n')
        app = rc.start(t, extra_env={'FW_CGROUP_DIR': d, 'FW_SERVER_WORKERS': 'auto'})
        t.equal('started', ready_workers(app), 1)
        app.stop()
    with t.section(f'workers = auto without a quota ("max"): one per CPU of the affinity ({mine})'):
        write(os.path.join(d, 'cpu.max'), 'max 100000\n')
        app = rc.start(t, extra_env={'FW_CGROUP_DIR': d, 'FW_SERVER_WORKERS': 'auto'})
        t.equal('started', ready_workers(app), mine)
        app.stop()
    if mine > 1:
        with t.section('workers = auto under taskset to one CPU: 1 worker'):
            saved = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {min(saved)})  # inherited by the app
            try:
                app = rc.start(t, extra_env={'FW_CGROUP_DIR': d, 'FW_SERVER_WORKERS': 'auto'})
            finally:
                os.sched_setaffinity(0, saved)
            t.equal('started', ready_workers(app), 1)
            app.stop()


# ------------------------------------------------------------ a real cgroup

def real_group(t):
    """(dir, version, limit file) of a new memory cgroup the test may use, or None."""
    name = f'fw-test-{os.getpid()}'
    with open('/proc/self/cgroup') as f:
        lines = f.read().splitlines()
    v1 = [x.split(':', 2)[2] for x in lines if x.split(':')[1] == 'memory']
    candidates = []
    if v1:
        candidates.append((f'/sys/fs/cgroup/memory{v1[0]}'.rstrip('/'), 1))
    if os.path.exists('/sys/fs/cgroup/cgroup.controllers'):
        v2 = [x.split(':', 2)[2] for x in lines if x.startswith('0::')]
        if v2:
            candidates.append((f'/sys/fs/cgroup{v2[0]}'.rstrip('/'), 2))
    for parent, version in candidates:
        d = os.path.join(parent, name)
        try:
            os.mkdir(d)
        except OSError as e:
            print(f'# cannot create {d}: {e}')
            continue
        limit = os.path.join(d, 'memory.limit_in_bytes' if version == 1 else 'memory.max')
        if os.path.exists(limit):
            return d, version, limit
        os.rmdir(d)
    return None


def usage(d, version):
    with open(os.path.join(d, 'memory.usage_in_bytes' if version == 1 else 'memory.current')) as f:
        return int(f.read())


def oom_kills(d, version):
    path = os.path.join(d, 'memory.oom_control' if version == 1 else 'memory.events')
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(' ')
                if k == 'oom_kill':
                    return int(v)
    except OSError:
        pass
    return 0


def section_real(t):
    g = real_group(t)
    if g is None:
        print('# no memory cgroup can be created here (not root, or no cgroup file system): '
              'the fake-directory checks above stand alone')
        return
    d, version, limit_file = g
    try:
        run_real(t, d, version, limit_file)
    finally:
        # Every process of the test is gone by now (stopped or killed); the
        # kernel may hold the group a moment longer.
        def removed():
            try:
                os.rmdir(d)
                return True
            except OSError:
                return False
        harness.wait_until(removed, harness.WAIT, interval=0.1)


def run_real(t, d, version, limit_file):
    with t.section(f'a real cgroup v{version} memory limit ({d})'):
        # The group is entered before exec, so the master and every worker are in it.
        wrapper = t.path('in-cgroup.sh')
        write(wrapper, f'#!/bin/sh\necho $$ > {d}/cgroup.procs || exit 1\nexec "{rc.testapp()}" "$@"\n')
        os.chmod(wrapper, 0o755)
        # Room for the processes as they start (ASan's are larger), then a
        # limit 200 MiB above what they use: the workers leak towards it.
        write(limit_file, f'{1024 * MIB}\n')
        sock = t.path('hello.sock')
        app = harness.App(t, 'hello', sock, t.log_path('hello'),
                          t.app_env(sock, rc.env(workers=2, status_path=rc.STATUS, rss_limit_mb=4096)),
                          binary=wrapper)
        app.wait_ready(workers=2)
        base = usage(d, version)
        limit = base + 200 * MIB
        write(limit_file, f'{limit}\n')
        print(f'# group usage at start {base / MIB:.1f} MiB; limit set to {limit / MIB:.1f} MiB')
        app.send_signal(signal.SIGHUP)  # the master reads the limit again on reload
        t.check('the master sees the limit',
                harness.wait_until(lambda: 'reload done' in app.log_text(), harness.WAIT), app.log_text())
        mark = rc.LogMark(app.log_text)
        oom0 = oom_kills(d, version)
        failed = 0
        sent = 0
        deadline = time.monotonic() + 180
        # Leak fast to 70% of the headroom, then 4 MiB at a time, each step
        # once the master has had a whole tick to look at the one before:
        # it sees the group's usage at most 4 MiB short of what it is, and
        # must recycle at 90%, before the kernel's OOM killer acts at 100%.
        while time.monotonic() < deadline and 'recycling worker' not in mark.text():
            u = usage(d, version)
            step = 8192 if u < base + 140 * MIB else 4096
            code, _, _, _ = harness.fcgi_get(sock, f'/leak?kb={step}')
            sent += 1
            failed += code != 200
            if step == 4096:
                harness.wait_master_tick(app.pid)
        print(f'# {sent} leak requests; group usage {usage(d, version) / MIB:.1f} MiB; '
              f'oom kills {oom_kills(d, version) - oom0}')
        t.check('the master recycled the largest worker before the limit',
                'recycling worker' in mark.text(), mark.text())
        t.equal('no OOM kill in the group', oom_kills(d, version) - oom0, 0)
        t.equal('every leak request answered 200', failed, 0)
        t.check('master alive', app.alive())
        t.check('two workers again',
                harness.wait_until(lambda: len(app.workers()) == 2, harness.WAIT), app.workers())
        t.check('the group fell back under 90%',
                harness.wait_until(lambda: usage(d, version) < limit * 0.9, harness.WAIT), usage(d, version))
        app.stop()


def main(t):
    section_fake(t)
    section_cpus(t)
    section_real(t)


harness.run(main)
