#!/usr/bin/env python3
"""System calls per request in a warm worker, counted with strace -c.

One client, one request at a time, straight to the hello app's unix socket
(one worker): the counts are then deterministic, unlike under load, where
one epoll_wait serves several requests (bench/peers.py --count measures
that).
(a) keep-alive (FCGI_KEEP_CONN): per request one epoll_wait, one read and
    one write, nothing else (the worker's once-a-second heartbeat adds a
    few per second the run lasted: counted from its duration).
(b) a connection per request: at most 7 calls per request (accept4, a read
    at once, write, shutdown, the read of the peer's close, close, and
    epoll_wait; a connection whose request is not there at accept time
    adds a read, two epoll_ctl and the wake-up for its request; a lingering
    read that comes before the peer's close adds itself; a wake-up of the
    lingering sweep's 5 ms timer that serves nothing else adds itself).
    Whether the request is there at accept time, whether the peer has
    closed at the sweep and whether the sweep's timer or the next
    connection wakes the worker first depends on how client and worker
    interleave: the full trace says, and the bound counts each kind. The
    timer's wake-ups come 5 ms apart at the least.
(c) recycling with keep-alive connections (two workers, max_requests 10):
    a retiring worker hands its idle connections straight to its
    replacement, so the master closes no connection, only its own four
    descriptors per recycle; and every connection keeps being answered.
    The requests go on until RECYCLES recycles are done (how many requests
    that takes depends on how fast replacements boot), and the bounds are
    per recycle.
    And the page faults of the whole life of each worker born of recycling
    (the kernel's count for the master's reaped children) stay under
    MAX_FAULTS: a count, where the CPU a recycle costs is too noisy to
    assert (bench/recycle.py measures it).
Skipped where ptrace is not allowed (strace itself is installed by scripts/lib.sh). Under the
sanitizers, memory mapping calls (their allocator's) are left out.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import FcgiConn, fcgi_params  # noqa: E402

N = 300
SLACK = 12  # calls outside the requests: the worker may be inside one as strace attaches
# The worker's heartbeat, per second the run lasted: an epoll_wait that
# times out, and every 5 s an open, read and close of smaps_rollup.
PER_SECOND = 2
# Under the sanitizers requests are not reused (core/reuse.h) and ASan's
# allocator maps memory as it goes: its memory calls are not fw's.
SANITIZED = os.environ.get('FW_SANITIZE', 'none') not in ('', 'none')
MEMORY_CALLS = ('mmap', 'munmap', 'madvise', 'brk', 'mprotect')


def traced(t, pid, out, run, follow=True, full=False):
    """strace -c [-f] -p pid over run(): ({syscall: calls}, seconds run()
    took). With full, every call is written to out instead (strace without
    -c) and counted from there."""
    p = subprocess.Popen(['strace'] + ([] if full else ['-c']) + (['-f'] if follow else [])
                         + ['-o', out, '-p', str(pid)], stderr=subprocess.PIPE, text=True)
    t0 = None
    try:
        # strace says "attached" on stderr once it traces; bounded wait.
        deadline = time.monotonic() + harness.WAIT
        line = ''
        while 'attached' not in line and time.monotonic() < deadline:
            line = p.stderr.readline()
            if not line:
                break
        if 'attached' not in line:
            if 'not permitted' in line:
                return None, 0  # ptrace restricted (yama ptrace_scope, no CAP_SYS_PTRACE)
            raise harness.HarnessError(f'strace did not attach to {pid}: {line!r}')
        t0 = time.monotonic()
        run()
    finally:
        took = time.monotonic() - t0 if t0 is not None else 0
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=30)
    calls = {}
    with open(out) as f:
        for line in f:
            if full:
                m = TRACE_LINE.match(line)
                name = m and m.group(1)
                if name and not (SANITIZED and name in MEMORY_CALLS):
                    calls[name] = calls.get(name, 0) + 1
                continue
            m = re.match(r'\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d*)\s*(\w+)$', line)
            if m and m.group(3) != 'total' and not (SANITIZED and m.group(3) in MEMORY_CALLS):
                calls[m.group(3)] = int(m.group(1))
    return calls, took


# A call in a full trace: "name(args) = result", with -f perhaps after a pid.
TRACE_LINE = re.compile(r'(?:\[pid +\d+\] |\d+ +)?(\w+)\((.*)\) += (-?\d+|\?)')


def timer_wakes(path):
    """epoll_wait calls of a full trace that returned no event: a timer (or a signal) woke the worker."""
    with open(path) as f:
        return sum(1 for line in f if (lambda m: m and m.group(1) == 'epoll_wait'
                                       and m.group(3) in ('0', '-1'))(TRACE_LINE.match(line)))


def connections(path):
    """Per connection the worker accepted in a full trace: did its first
    read find the request, its epoll_ctl calls, and its lingering reads
    (after shutdown) that found nothing yet. A descriptor number is one
    connection from its accept4 to its close."""
    conns, open_ = [], {}
    with open(path) as f:
        for line in f:
            m = TRACE_LINE.match(line)
            if not m:
                continue
            name, args, result = m.groups()
            fd = args.split(',', 1)[0].strip()
            if name == 'accept4' and result.isdigit():
                open_[result] = {'first_read': None, 'epoll_ctl': 0, 'shut': False, 'early': 0}
                conns.append(open_[result])
                continue
            if name == 'epoll_ctl':
                fd = args.split(',')[2].strip() if args.count(',') >= 2 else ''
            c = open_.get(fd)
            if c is None:
                continue
            if name == 'read' and c['first_read'] is None:
                c['first_read'] = result not in ('-1', '?') and result != '0'
            elif name == 'read' and c['shut'] and result == '-1':
                c['early'] += 1
            elif name == 'shutdown':
                c['shut'] = True
            elif name == 'epoll_ctl':
                c['epoll_ctl'] += 1
            elif name == 'close':
                del open_[fd]
    return conns


def main(t):
    # scripts/lib.sh installs strace: its absence is a failure, not a skip.
    if not t.check('strace is installed', shutil.which('strace') is not None):
        return
    app = t.start_app('hello', env={'FW_SERVER_WORKERS': '1', 'FW_SERVER_LOG_LEVEL': 'warn'},
                      workers=1)
    wpid = app.workers()[0]
    params = fcgi_params('GET', '/hello')

    def open_fds():
        return len(os.listdir(f'/proc/{wpid}/fd'))
    fds = open_fds()  # no connection yet

    def settle():
        """Wait until the worker has closed every connection: a closed
        connection lingers a few ms until the worker sees the peer's close."""
        if not harness.wait_until(lambda: open_fds() <= fds, harness.WAIT):
            raise harness.HarnessError(f'the worker kept connections open: {open_fds()} descriptors, '
                                       f'{fds} before')

    with t.section('(a) keep-alive: one read, one write, one epoll_wait per request'):
        with FcgiConn(app.sock) as c:
            for _ in range(20):  # warm: the request object, pools, buffers
                c.request(params, keep_conn=True)

            def run():
                for _ in range(N):
                    r = c.request(params, keep_conn=True)
                    if b'hello\n' not in r.stdout:
                        raise harness.HarnessError(f'unexpected answer {r.stdout!r}')
            calls, took = traced(t, wpid, t.path('ka.strace'), run)
        if calls is None:
            print('# SKIP: strace may not attach to the worker here', flush=True)
            app.stop()
            return
        total = sum(calls.values())
        slack = SLACK + PER_SECOND * (int(took) + 1)
        t.check(f'{N} requests: read {calls.get("read")}, write {calls.get("write")} '
                f'(the heartbeat may add a few in {took:.1f} s)',
                N <= calls.get('read', 0) <= N + slack and N <= calls.get('write', 0) <= N + slack,
                calls)
        # The worker may already wait in epoll_wait when strace attaches: N - 1.
        t.check(f'{N} requests: epoll_wait {calls.get("epoll_wait")} (at most {N} + {slack})',
                N - 1 <= calls.get('epoll_wait', 0) <= N + slack, calls)
        t.check(f'{N} requests: {total} system calls in all (at most 3 x {N} + {slack})',
                total <= 3 * N + slack, calls)

    with t.section('(b) a connection per request: at most 7 system calls each, and what interleaving adds'):
        for _ in range(20):
            with FcgiConn(app.sock) as c:
                c.request(params)
        settle()  # so that none of these closes while traced

        def run_nka():
            for _ in range(N):
                with FcgiConn(app.sock) as c:
                    r = c.request(params)
                    if b'hello\n' not in r.stdout:
                        raise harness.HarnessError(f'unexpected answer {r.stdout!r}')
                    if not c.closed_by_peer():
                        raise harness.HarnessError('the worker did not close the connection')
            settle()  # the last ones close while traced
        trace = t.path('nka.strace')
        calls, took = traced(t, wpid, trace, run_nka, full=True)
        total = sum(calls.values())
        slack = SLACK + PER_SECOND * (int(took) + 1)
        conns = connections(trace)
        ready = [c for c in conns if c['first_read']]
        waited = len(conns) - len(ready)
        early = sum(c['early'] for c in conns)
        wakes = timer_wakes(trace)
        print(f'# {len(ready)} connections had their request there at accept time, {waited} not; '
              f'{early} lingering reads came before the peer\'s close; {wakes} wake-ups by a timer '
              f'alone in {took:.2f} s', flush=True)
        t.check(f'{N} connections: accept4 {calls.get("accept4")}, close {calls.get("close")}',
                calls.get('accept4') == N and len(conns) == N
                and N <= calls.get('close', 0) <= N + slack, calls)
        t.check(f'{N} connections: {total} system calls in all (at most 7 x {N}, 4 more for each of '
                f'the {waited} whose request came after the accept, 1 for each of the {early} early '
                f'lingering reads and of the {wakes} wake-ups by a timer alone, and {slack})',
                total <= 7 * N + 4 * waited + early + wakes + slack, calls)
        t.check(f'the {wakes} wake-ups by a timer alone came at most every 5 ms (the sweep) in '
                f'{took:.2f} s', wakes <= 200 * (took + 1) + slack, wakes)
        t.check(f'every connection is read at once after accept4: {sum(c["first_read"] is None for c in conns)} '
                f'were not', all(c['first_read'] is not None for c in conns))
        # Under strace the worker is far slower than the client: requests
        # are there at accept time for nearly every connection.
        t.check(f'the {len(ready)} answered on that first read never entered epoll '
                f'(epoll_ctl on them: {sum(c["epoll_ctl"] for c in ready)}), and the others at most '
                f'twice (add, delete): epoll_ctl {calls.get("epoll_ctl", 0)} in all',
                ready and not any(c['epoll_ctl'] for c in ready)
                and calls.get('epoll_ctl', 0) <= 2 * waited, (len(ready), waited, calls))

    with t.section('logs'):
        t.equal('hello stops with status 0', app.stop(), 0)
        t.check_logs()
    recycling_handoff(t, params)


CONNS = 16
RECYCLES = 6            # recycles the traced run waits for
MAX_RECYCLE_REQUESTS = 20000  # its bound in requests (and harness.WAIT in time)
# Page faults of the whole life of a worker born of recycling in (c), with
# tcmalloc: about 56; 64 before worker/preboot.c's reserve, 80 without any
# preboot.
MAX_FAULTS = 68
# A worker that lives a second or more reads its memory on its heartbeat (at
# 1 s of age, then every 5 s: smaps_rollup and tcmalloc's figures for the
# status page), which costs it about 27 faults more each time.
READING_FAULTS = 32
TCMALLOC = os.environ.get('FW_ALLOCATOR', 'tcmalloc') == 'tcmalloc'


def recycling_handoff(t, params):
    with t.section('(c) recycling: idle connections go from worker to worker, not through the master'):
        app = t.start_app('hello', env={'FW_SERVER_WORKERS': '2', 'FW_SERVER_LOG_LEVEL': 'info',
                                        'FW_SERVER_MAX_REQUESTS': '10',
                                        'FW_SERVER_STATUS_PATH': '/status'}, workers=2)
        # The counts come from the scoreboard, not from the status page: a
        # worker answering it reads every slot's page, faults the count
        # below would take for the worker's own.
        sb = harness.Scoreboard(app.pid)
        conns = [FcgiConn(app.sock) for _ in range(CONNS)]
        try:
            for c in conns:  # every connection open and answered once before the count
                c.request(params, keep_conn=True)
            # The workers started with the server lived through its start-up
            # and their first heartbeat: count only workers born of recycling.
            # One that holds none of the connections never serves again and
            # is never reaped meanwhile: wait only for the others.
            first = {w['pid'] for w in status(conns[0])['workers'] if w['conns']}
            deadline, i = time.monotonic() + harness.WAIT, 0
            while any(alive(p) for p in first) and time.monotonic() < deadline:
                conns[i % CONNS].request(params, keep_conn=True)
                i += 1
            if any(alive(p) for p in first):
                raise harness.HarnessError(f'the first workers {first} were not replaced in {i} requests')
            reaped0 = settled(sb)
            faults0, log0 = reaped_faults(app.pid), len(app.log_text())
            sent = [0]

            def run():
                """Requests until RECYCLES more workers are recycled and
                reaped, then until nothing is left of them (bounded)."""
                deadline = time.monotonic() + harness.WAIT
                i = 0
                while i < MAX_RECYCLE_REQUESTS and time.monotonic() < deadline:
                    r = conns[i % CONNS].request(params, keep_conn=True)
                    if b'hello\n' not in r.stdout:
                        raise harness.HarnessError(f'unexpected answer {r.stdout!r}')
                    i += 1
                    if i % 10 == 0 and sum(sb.recycled().values()) - reaped0 >= RECYCLES:
                        break
                sent[0] = i
                settled(sb)
            calls, took = traced(t, app.pid, t.path('master.strace'), run, follow=False)
            ticks = int(took) + 1  # the master's timer wakes it every second
            if calls is None:
                run()  # strace may not attach here; the faults are counted anyway
            reaped = settled(sb) - reaped0
            faults = reaped_faults(app.pid) - faults0
            ages = [int(a) for a in re.findall(r'recycled \(max_requests: \d+ requests\) after \d+ requests, '
                                                r'(\d+) s', app.log_text()[log0:])]
        finally:
            for c in conns:
                c.close()
        t.check(f'{reaped} workers recycled in {sent[0]} requests on {CONNS} connections '
                f'(at least {RECYCLES})', reaped >= RECYCLES, reaped)
        if calls is None:
            print('# SKIP: strace may not attach to the master here', flush=True)
        else:
            forks = calls.get('clone', 0) + calls.get('clone3', 0) + calls.get('fork', 0)
            # A recycle may have begun just before strace attached: its fork is not counted.
            t.check(f'a fork for each of the {reaped} recycles but one at most: {forks} forks',
                    reaped - 1 <= forks <= reaped, calls)
            # Per recycle the master closes both ends of the old worker's
            # channel (it keeps the worker's end until reaping, master/proc.c)
            # and both ends of the pair it passed on.
            t.check(f'the master closed {calls.get("close", 0)} descriptors for {forks} recycles '
                    f'(at most 4 each and {SLACK}: no connection went through it)',
                    calls.get('close', 0) <= 4 * forks + SLACK, calls)
            # It wakes for the old worker's RETIRE, the new one's READY and
            # the old one's SIGCHLD: not for end of file on the old worker's
            # channel as well, since it holds that worker's end until reaping.
            t.check(f'the master woke {calls.get("ppoll", 0)} times for {forks} recycles '
                    f'(at most 3 each, {ticks} for its timer and {SLACK})',
                    calls.get('ppoll', 0) <= 3 * forks + ticks + SLACK, calls)
        if SANITIZED or not TCMALLOC:
            print('# (page faults of a worker are counted with tcmalloc, without sanitizers)', flush=True)
        else:
            # A worker's life: fork, boot, 10 requests or so, the handoff of
            # its connections, exit. The count is the kernel's (cminflt). How
            # long each lived (the master's log, in whole seconds) tells how
            # many memory readings its heartbeat made: at ages 1, 6, 11...
            readings = sum((a + 4) // 5 for a in ages)
            bound = MAX_FAULTS * reaped + READING_FAULTS * readings
            t.check(f'{reaped} workers gone, {faults / max(reaped, 1):.1f} page faults each: {faults} in all, '
                    f'at most {MAX_FAULTS} each and {READING_FAULTS} for each of the {readings} memory '
                    f'readings of their heartbeats (ages {ages} s)',
                    reaped >= RECYCLES and len(ages) == reaped and faults <= bound, (faults, reaped, ages))
        t.equal('hello stops with status 0', app.stop(), 0)
        t.check_logs()


def reaped_faults(pid):
    """Minor page faults of the master's children it has reaped (cminflt)."""
    with open(f'/proc/{pid}/stat') as f:
        return int(f.read().rsplit(')', 1)[1].split()[8])


def status(conn):
    r = conn.request(fcgi_params('GET', '/status'), keep_conn=True)
    return json.loads(r.stdout.split(b'\r\n\r\n', 1)[-1])


def alive(pid):
    try:
        os.kill(pid, 0)  # a zombie still answers: true until the master reaps it
        return True
    except ProcessLookupError:
        return False


def settled(sb):
    """Workers recycled so far, once every retired one is reaped: two
    workers, both ready, neither asking to retire (bounded wait; the count
    is taken either way)."""
    harness.wait_until(lambda: (lambda ws: len(ws) == 2 and all(
        w['state'] == 'ready' and not w['retiring'] for w in ws))(sb.workers()), harness.WAIT)
    return sum(sb.recycled().values())


if __name__ == '__main__':
    harness.run(main)
