#!/usr/bin/env python3
"""System calls per request in a warm worker, counted with strace -c.

One client, one request at a time, straight to the hello app's unix socket
(one worker): the counts are then deterministic, unlike under load, where
one epoll_wait serves several requests (bench/peers.py --count measures
that).
(a) keep-alive (FCGI_KEEP_CONN): per request one epoll_wait, one read and
    one write, nothing else (the worker's once-a-second heartbeat may add a
    handful in all).
(b) a connection per request: at most 7 calls per request (accept4, a read
    at once, write, shutdown, the read of the peer's close, close, and
    epoll_wait; a connection whose request is not there at accept time
    adds a read and two epoll_ctl).
(c) recycling with keep-alive connections (two workers, max_requests 10):
    a retiring worker hands its idle connections straight to its
    replacement, so the master closes no connection, only its own four
    descriptors per recycle; and every connection keeps being answered.
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
SLACK = 12  # the heartbeat's calls during the run
# Under the sanitizers requests are not reused (core/reuse.h) and ASan's
# allocator maps memory as it goes: its memory calls are not fw's.
SANITIZED = os.environ.get('FW_SANITIZE', 'none') not in ('', 'none')
MEMORY_CALLS = ('mmap', 'munmap', 'madvise', 'brk', 'mprotect')


def traced(t, pid, out, run, follow=True):
    """strace -c [-f] -p pid over run(): {syscall: calls}."""
    p = subprocess.Popen(['strace', '-c'] + (['-f'] if follow else []) + ['-o', out, '-p', str(pid)],
                         stderr=subprocess.PIPE, text=True)
    try:
        # strace says "attached" on stderr once it traces; bounded wait.
        deadline = time.monotonic() + 10
        line = ''
        while 'attached' not in line and time.monotonic() < deadline:
            line = p.stderr.readline()
            if not line:
                break
        if 'attached' not in line:
            if 'not permitted' in line:
                return None  # ptrace restricted (yama ptrace_scope, no CAP_SYS_PTRACE)
            raise harness.HarnessError(f'strace did not attach to {pid}: {line!r}')
        run()
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    calls = {}
    with open(out) as f:
        for line in f:
            m = re.match(r'\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d*)\s*(\w+)$', line)
            if m and m.group(3) != 'total' and not (SANITIZED and m.group(3) in MEMORY_CALLS):
                calls[m.group(3)] = int(m.group(1))
    return calls


def main(t):
    # scripts/lib.sh installs strace: its absence is a failure, not a skip.
    if not t.check('strace is installed', shutil.which('strace') is not None):
        return
    port, scgi_sock = harness.free_port(), t.path('hello-scgi.sock')
    app = t.start_app('hello', env={'FW_SERVER_WORKERS': '1', 'FW_SERVER_LOG_LEVEL': 'warn',
                                    'FW_SERVER_LISTEN': f'{t.path("hello.sock")}, 127.0.0.1:{port}, '
                                                        f'scgi:{scgi_sock}'},
                      workers=1)
    wpid = app.workers()[0]
    params = fcgi_params('GET', '/hello')

    def open_fds():
        return len(os.listdir(f'/proc/{wpid}/fd'))
    fds = open_fds()  # no connection yet

    def settle():
        """Wait until the worker has closed every connection: a closed
        connection lingers a few ms until the worker sees the peer's close."""
        if not harness.wait_until(lambda: open_fds() <= fds, 5):
            raise harness.HarnessError('the worker kept connections open')

    with t.section('(a) keep-alive: one read, one write, one epoll_wait per request'):
        with FcgiConn(app.sock) as c:
            for _ in range(20):  # warm: the request object, pools, buffers
                c.request(params, keep_conn=True)

            def run():
                for _ in range(N):
                    r = c.request(params, keep_conn=True)
                    if b'hello\n' not in r.stdout:
                        raise harness.HarnessError(f'unexpected answer {r.stdout!r}')
            calls = traced(t, wpid, t.path('ka.strace'), run)
        if calls is None:
            print('# SKIP: strace may not attach to the worker here', flush=True)
            app.stop()
            return
        total = sum(calls.values())
        t.check(f'{N} requests: read {calls.get("read")}, write {calls.get("write")} '
                f'(the heartbeat may add a few)',
                N <= calls.get('read', 0) <= N + SLACK and N <= calls.get('write', 0) <= N + SLACK,
                calls)
        # The worker may already wait in epoll_wait when strace attaches: N - 1.
        t.check(f'{N} requests: epoll_wait {calls.get("epoll_wait")} (at most {N} + {SLACK})',
                N - 1 <= calls.get('epoll_wait', 0) <= N + SLACK, calls)
        t.check(f'{N} requests: {total} system calls in all (at most 3 x {N} + {SLACK})',
                total <= 3 * N + SLACK, calls)

    def warm(addr, client):
        for _ in range(20):
            client(addr)
        settle()  # so that none of these closes while traced

    def per_connection(how, addr, client, n=N):
        """n connections, one at a time, traced: {syscall: calls}."""
        def run():
            for _ in range(n):
                client(addr)
            settle()  # the last ones close while traced
        return traced(t, wpid, t.path(how + '.strace'), run)

    def fcgi_closes_first(addr):
        """As nginx without fastcgi_keep_conn: close right after END_REQUEST."""
        with FcgiConn(addr) as c:
            r = c.request(params)
            if b'hello\n' not in r.stdout:
                raise harness.HarnessError(f'unexpected answer {r.stdout!r}')

    def fcgi_waits_for_close(addr):
        """As the npm fastcgi-client: wait for the server to close (FastCGI 1.0, 5.1)."""
        with FcgiConn(addr) as c:
            r = c.request(params)
            if b'hello\n' not in r.stdout:
                raise harness.HarnessError(f'unexpected answer {r.stdout!r}')
            if not c.closed_by_peer():
                raise harness.HarnessError('the worker did not close the connection')

    def scgi_client(addr):
        raw, closed, _ = harness.scgi_exchange(addr, harness.scgi_request(
            harness.scgi_params('GET', '/hello')))
        if not closed or not raw.endswith(b'hello\n'):
            raise harness.HarnessError(f'unexpected answer {raw!r} (closed: {closed})')

    def per_conn_checks(how, calls, n, exact_reads):
        """What every connection costs whatever the timing: one accept4, one
        write, one close; a read at accept time, and a second one only for
        a connection whose request was not there yet (which then cost an
        epoll_ctl too), never one for the peer's close."""
        ctl = calls.get('epoll_ctl', 0)
        t.check(f'{how}: {n} connections: accept4 {calls.get("accept4")}, write {calls.get("write")}, '
                f'close {calls.get("close")}', calls.get('accept4') == n and calls.get('write') == n
                and n <= calls.get('close', 0) <= n + SLACK, calls)
        most = n + SLACK if exact_reads else n + ctl + SLACK
        t.check(f'{how}: read {calls.get("read")} (at most {most}: none for the peer\'s close)',
                n <= calls.get('read', 0) <= most, calls)
        t.check(f'{how}: answered on their first read: epoll_ctl {ctl} (at most {n // 2})',
                ctl <= n // 2, calls)
        per = ', '.join(f'{k} {v / n:.2f}' for k, v in sorted(calls.items(), key=lambda kv: -kv[1]))
        print(f'# {how}, per connection: {sum(calls.values()) / n:.2f} ({per})', flush=True)

    with t.section('(b) unix socket, the client closes first (nginx): no shutdown, no read of its close'):
        warm(app.sock, fcgi_closes_first)
        calls = per_connection('nka-unix', app.sock, fcgi_closes_first)
        per_conn_checks('unix', calls, N, False)
        # Lingering connections are looked at by one poll() a sweep (every
        # 5 ms), and one that stays silent is shut down then: how many of
        # those a run costs depends on the machine's timing, so their count
        # is printed above, not asserted.

    with t.section('(c) unix socket, the client waits for the server to close (npm fastcgi-client)'):
        n = N // 3
        calls = per_connection('nka-unix-wait', app.sock, fcgi_waits_for_close, n)
        per_conn_checks('unix, waiting client', calls, n, False)
        t.check(f'unix, waiting client: shutdown {calls.get("shutdown", 0)}: once each',
                calls.get('shutdown', 0) == n, calls)

    with t.section('(d) TCP: a bare close, 5 system calls a connection'):
        addr = ('127.0.0.1', port)
        warm(addr, fcgi_closes_first)
        calls = per_connection('nka-tcp', addr, fcgi_closes_first)
        per_conn_checks('tcp', calls, N, True)
        total = sum(calls.values())
        t.check(f'tcp: no shutdown, no poll: {calls.get("shutdown", 0)}, {calls.get("poll", 0)}',
                calls.get('shutdown', 0) == 0 and calls.get('poll', 0) == 0, calls)
        # TCP_DEFER_ACCEPT: the request is there when the worker wakes.
        t.check(f'tcp: {N} connections: {total} system calls in all (at most 5 x {N} + {SLACK}: '
                f'epoll_wait, accept4, read, write, close)', total <= 5 * N + SLACK, calls)

    with t.section('(e) SCGI over a unix socket: a bare close once its body is read'):
        warm(scgi_sock, scgi_client)
        calls = per_connection('scgi-unix', scgi_sock, scgi_client)
        per_conn_checks('scgi', calls, N, False)
        total = sum(calls.values())
        extra = 4 * calls.get('epoll_ctl', 0)
        t.check(f'scgi: no shutdown, no poll: {calls.get("shutdown", 0)}, {calls.get("poll", 0)}',
                calls.get('shutdown', 0) == 0 and calls.get('poll', 0) == 0, calls)
        t.check(f'scgi: {N} connections: {total} system calls in all (at most 5 x {N} + {extra} '
                f'for requests not there at accept + {SLACK})', total <= 5 * N + extra + SLACK, calls)

    with t.section('logs'):
        t.equal('hello stops with status 0', app.stop(), 0)
        t.check_logs()
    recycling_handoff(t, params)


CONNS = 16
RECYCLE_REQUESTS = 600
# Page faults of the whole life of a worker born of recycling in (c), with
# tcmalloc: about 56; 64 before worker/preboot.c's reserve, 80 without any
# preboot.
MAX_FAULTS = 68
TCMALLOC = os.environ.get('FW_ALLOCATOR', 'tcmalloc') == 'tcmalloc'


def recycling_handoff(t, params):
    with t.section('(c) recycling: idle connections go from worker to worker, not through the master'):
        app = t.start_app('hello', env={'FW_SERVER_WORKERS': '2', 'FW_SERVER_LOG_LEVEL': 'warn',
                                        'FW_SERVER_MAX_REQUESTS': '10',
                                        'FW_SERVER_STATUS_PATH': '/status'}, workers=2)
        conns = [FcgiConn(app.sock) for _ in range(CONNS)]
        try:
            for c in conns:  # every connection open and answered once before the count
                c.request(params, keep_conn=True)
            # The workers started with the server lived through its start-up
            # and their first heartbeat: count only workers born of recycling.
            first = {w['pid'] for w in status(conns[0])['workers']}
            for i in range(200):
                if not any(alive(p) for p in first):
                    break
                conns[i % CONNS].request(params, keep_conn=True)
            faults0, reaped0 = reaped_faults(app.pid), settled(conns[0])

            def run():
                for i in range(RECYCLE_REQUESTS):
                    r = conns[i % CONNS].request(params, keep_conn=True)
                    if b'hello\n' not in r.stdout:
                        raise harness.HarnessError(f'unexpected answer {r.stdout!r}')
            t0 = time.monotonic()
            calls = traced(t, app.pid, t.path('master.strace'), run, follow=False)
            ticks = int(time.monotonic() - t0) + 1  # the master's timer wakes it every second
            if calls is None:
                run()  # strace may not attach here; the faults are counted anyway
            reaped = settled(conns[0]) - reaped0
            faults = reaped_faults(app.pid) - faults0
        finally:
            for c in conns:
                c.close()
        if calls is None:
            print('# SKIP: strace may not attach to the master here', flush=True)
        else:
            forks = calls.get('clone', 0) + calls.get('clone3', 0) + calls.get('fork', 0)
            t.check(f'{RECYCLE_REQUESTS} requests on {CONNS} connections recycled workers: {forks} forks',
                    forks >= 5, calls)
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
            # its connections, exit. The count is the kernel's (cminflt).
            per = faults / max(reaped, 1)
            t.check(f'{reaped} workers gone, {per:.1f} page faults each (at most {MAX_FAULTS})',
                    reaped >= 5 and per <= MAX_FAULTS, (faults, reaped))
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


def settled(conn):
    """Workers recycled so far, once every retired one is reaped: two
    workers, both ready (bounded wait; the count is taken either way)."""
    s = harness.wait_until(lambda: (lambda s: s if len(s['workers']) == 2 and all(
        w['state'] == 'ready' for w in s['workers']) else None)(status(conn)), 10)
    return sum((s or status(conn))['recycled'].values())


if __name__ == '__main__':
    harness.run(main)
