#!/usr/bin/env python3
"""System calls per request in a warm worker, counted with strace -c.

One client, one request at a time, straight to the hello app's unix socket
(one worker): the counts are then deterministic, unlike under load, where
one epoll_wait serves several requests (bench/peers.py --count measures
that).
(a) keep-alive (FCGI_KEEP_CONN): per request one epoll_wait, one read and
    one write, nothing else (the worker's once-a-second heartbeat adds a
    few per second the run lasted: counted from its duration).
(b) a connection per request, case by case. What every connection costs
    whatever the timing, from the full trace, per descriptor: one accept4,
    a read at once that finds the request (under strace the worker is far
    slower than the client), one write, one close, no epoll_ctl, and no
    second read: the peer's close is never read. Then per case:
    - FastCGI over a unix socket: one shutdown each (a bare close there
      breaks the npm fastcgi-client, and nginx waits for our end of
      file), then the close when the lingering sweep (a poll() every
      5 ms over all such connections) sees the peer's hang-up; the
      peer's close is never read. The same whether the client waits for
      our end of file (nginx, the npm fastcgi-client: FastCGI 1.0, 5.1)
      or closes first.
    - The same from a peer whose SERVER_SOFTWARE names nginx (known to
      write nothing after its request): a bare close, no shutdown and no
      poll, 5 calls.
    - TCP: a bare close, no shutdown and no poll: epoll_wait, accept4,
      read, write, close.
    - SCGI over a unix socket: the same bare close once its body is read.
    A connection whose request came after the accept adds a read, two
    epoll_ctl and a wake-up; a sweep adds its poll and, when nothing else
    woke the worker, its wake-up: each is counted from the trace, and the
    sweeps come 5 ms apart at the least.
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
        for line in (trace_lines(f) if full else f):
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
UNFINISHED = re.compile(r'(?:\[pid +(\d+)\] |(\d+) +)?(\w+\(.*) <(unfinished|detached) \.\.\.>$')
RESUMED = re.compile(r'(?:\[pid +(\d+)\] |(\d+) +)?<\.\.\. \w+ resumed>(.*)$')


def trace_lines(f):
    """The lines of a full trace with each call on one line: with -f,
    strace splits a call another thread interrupts ("<unfinished ...>",
    then "<... name resumed>"); the worker has threads (its offload pool).
    A call strace saw begin but not end, because it detached in between
    (the client saw the close before strace wrote its result), counts,
    with the result "?"."""
    pending = {}
    for line in f:
        line = line.rstrip('\n')
        m = UNFINISHED.match(line)
        if m:
            pending[m.group(1) or m.group(2)] = m.group(3)
            continue
        m = RESUMED.match(line)
        if m and (m.group(1) or m.group(2)) in pending:
            yield pending.pop(m.group(1) or m.group(2)) + m.group(3)
            continue
        yield line
    for call in pending.values():
        yield call + ') = ?'


def timer_wakes(path):
    """epoll_wait calls of a full trace that returned no event: a timer (or a signal) woke the worker."""
    with open(path) as f:
        return sum(1 for line in trace_lines(f) if (lambda m: m and m.group(1) == 'epoll_wait'
                                       and m.group(3) in ('0', '-1'))(TRACE_LINE.match(line)))


def connections(path):
    """Per connection the worker accepted in a full trace: did its first
    read find the request, its reads, writes, shutdowns and epoll_ctl
    calls, its lingering reads (after shutdown) that found nothing yet,
    and whether it was closed. A descriptor number is one connection from
    its accept4 to its close."""
    conns, open_ = [], {}
    with open(path) as f:
        for line in trace_lines(f):
            m = TRACE_LINE.match(line)
            if not m:
                continue
            name, args, result = m.groups()
            fd = args.split(',', 1)[0].strip()
            if name == 'accept4' and result.isdigit():
                open_[result] = {'first_read': None, 'epoll_ctl': 0, 'shut': 0, 'early': 0,
                                 'read': 0, 'write': 0, 'closed': False}
                conns.append(open_[result])
                continue
            if name == 'epoll_ctl':
                fd = args.split(',')[2].strip() if args.count(',') >= 2 else ''
            c = open_.get(fd)
            if c is None:
                continue
            if name == 'read':
                c['read'] += 1
            if name == 'read' and c['first_read'] is None:
                c['first_read'] = result not in ('-1', '?') and result != '0'
            elif name == 'read' and c['shut'] and result == '-1':
                c['early'] += 1
            elif name == 'write':
                c['write'] += 1
            elif name == 'shutdown':
                c['shut'] += 1
            elif name == 'epoll_ctl':
                c['epoll_ctl'] += 1
            elif name == 'close':
                c['closed'] = True
                del open_[fd]
    return conns


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

    def fcgi_closes_first(addr):
        """As nginx without fastcgi_keep_conn: close right after END_REQUEST."""
        with FcgiConn(addr) as c:
            r = c.request(params)
            if b'hello\n' not in r.stdout:
                raise harness.HarnessError(f'unexpected answer {r.stdout!r}')

    def fcgi_waits_for_close(addr, sent=params):
        """As the npm fastcgi-client: wait for the server to close (FastCGI 1.0, 5.1)."""
        with FcgiConn(addr) as c:
            r = c.request(sent)
            if b'hello\n' not in r.stdout:
                raise harness.HarnessError(f'unexpected answer {r.stdout!r}')
            if not c.closed_by_peer():
                raise harness.HarnessError('the worker did not close the connection')

    nginx_params = fcgi_params('GET', '/hello', extra={'SERVER_SOFTWARE': 'nginx/1.22.1'})

    def fcgi_nginx(addr):
        """nginx itself (it names itself in SERVER_SOFTWARE): waits for our end
        of file, and writes nothing after its request."""
        fcgi_waits_for_close(addr, nginx_params)

    def scgi_client(addr):
        raw, closed, _ = harness.scgi_exchange(addr, harness.scgi_request(
            harness.scgi_params('GET', '/hello')))
        if not closed or not raw.endswith(b'hello\n'):
            raise harness.HarnessError(f'unexpected answer {raw!r} (closed: {closed})')

    def per_connection(how, addr, client, n, shut_each, bare):
        """n connections of client, one at a time, traced in full; then the
        checks of (b): per descriptor, and the total with what interleaving
        adds, each kind counted from the trace."""
        for _ in range(20):
            client(addr)
        settle()  # so that none of these closes while traced

        def run():
            for _ in range(n):
                client(addr)
            settle()  # the last ones close while traced
        trace = t.path(how + '.strace')
        calls, took = traced(t, wpid, trace, run, full=True)
        total = sum(calls.values())
        slack = SLACK + PER_SECOND * (int(took) + 1)
        conns = connections(trace)
        ready = [c for c in conns if c['first_read']]
        waited = len(conns) - len(ready)
        shut = sum(c['shut'] for c in conns)
        early = sum(c['early'] for c in conns)
        polls, wakes = calls.get('poll', 0), timer_wakes(trace)
        per = ', '.join(f'{k} {v / n:.2f}' for k, v in sorted(calls.items(), key=lambda kv: -kv[1]))
        print(f'# {how}: {len(ready)} connections had their request at accept time, {waited} not; '
              f'{shut} shut down, {early} lingering reads before the peer\'s close; {polls} sweeps, '
              f'{wakes} wake-ups by a timer alone in {took:.2f} s; per connection '
              f'{total / n:.2f} ({per})', flush=True)
        t.check(f'{how}: {n} connections: accept4 {calls.get("accept4")}, close {calls.get("close")}, '
                f'each closed', calls.get('accept4') == n and len(conns) == n
                and all(c['closed'] for c in conns) and n <= calls.get('close', 0) <= n + slack, calls)
        t.check(f'{how}: every connection is read at once after accept4: '
                f'{sum(c["first_read"] is None for c in conns)} were not',
                all(c['first_read'] is not None for c in conns))
        t.check(f'{how}: the {len(ready)} answered on that first read: one read and one write each, '
                f'never in epoll (reads {sum(c["read"] for c in ready)}, writes '
                f'{sum(c["write"] for c in ready)}, epoll_ctl {sum(c["epoll_ctl"] for c in ready)}); '
                f'the others at most two epoll_ctl (add, delete): {calls.get("epoll_ctl", 0)} in all',
                ready and all(c['read'] == 1 and c['write'] == 1 and not c['epoll_ctl'] for c in ready)
                and calls.get('epoll_ctl', 0) <= 2 * waited, (len(ready), waited, calls))
        if shut_each:
            t.check(f'{how}: one shutdown per connection: {calls.get("shutdown", 0)}',
                    calls.get('shutdown', 0) == n and all(c['shut'] == 1 for c in conns), calls)
        if bare:
            t.check(f'{how}: a bare close: shutdown {calls.get("shutdown", 0)}, poll {polls}',
                    calls.get('shutdown', 0) == 0 and polls == 0, calls)
        t.check(f'{how}: {total} system calls in all (at most 5 x {n}, 4 more for each of the {waited} '
                f'whose request came after the accept, 1 for each of the {shut} shutdowns, the {early} '
                f'early lingering reads, the {polls} sweeps and the {wakes} wake-ups by a timer alone, '
                f'and {slack})', total <= 5 * n + 4 * waited + shut + early + polls + wakes + slack,
                calls)
        t.check(f'{how}: the {polls} sweeps came at most every 5 ms in {took:.2f} s',
                polls <= 200 * (took + 1) + slack, polls)

    with t.section('(b) unix socket, the client waits for our end of file (nginx, npm fastcgi-client)'):
        per_connection('nka-unix', app.sock, fcgi_waits_for_close, N, shut_each=True, bare=False)

    with t.section('(b) unix socket, the client closes first: the same, its close not read either'):
        per_connection('nka-unix-first', app.sock, fcgi_closes_first, N // 3, shut_each=True, bare=False)

    with t.section('(b) unix socket, a peer that names itself nginx: a bare close, 5 system calls'):
        per_connection('nka-unix-nginx', app.sock, fcgi_nginx, N, shut_each=False, bare=True)

    with t.section('(b) TCP: a bare close, 5 system calls a connection'):
        per_connection('nka-tcp', ('127.0.0.1', port), fcgi_closes_first, N, shut_each=False, bare=True)

    with t.section('(b) SCGI over a unix socket: a bare close once its body is read'):
        per_connection('scgi-unix', scgi_sock, scgi_client, N, shut_each=False, bare=True)

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

            def recycle_ages():
                return [int(a) for a in re.findall(r'recycled \(max_requests: \d+ requests\) after \d+ '
                                                   r'requests, (\d+) s', app.log_text()[log0:])]
            # The master counts a recycle on the scoreboard just before it
            # logs it: on a loaded machine the last line may still be coming.
            harness.wait_until(lambda: len(recycle_ages()) >= reaped, harness.WAIT)
            ages = recycle_ages()
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
