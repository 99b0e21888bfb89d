#!/usr/bin/env python3
"""Load through nginx: concurrent keep-alive clients, wrk, and a deferred
request that must not block its worker."""
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402
from harness import http

THREADS = 32
PER_THREAD = 100


def client(port, seed, results, errors):
    rnd = random.Random(seed)
    conn = HTTPConnection('127.0.0.1', port, timeout=harness.IO_TIMEOUT)
    done = 0
    try:
        for i in range(PER_THREAD):
            if i % 2 == 0:
                r = harness.http_on(conn, 'GET', '/hello')
                if r.status != 200 or r.body != b'hello\n':
                    errors.append(f'client {seed} request {i}: GET /hello gave {r!r}')
                    continue
            else:
                body = rnd.randbytes(rnd.randrange(0, 4096))
                ctype = f'application/x-client-{seed}'
                r = harness.http_on(conn, 'POST', '/echo', body=body,
                                    headers={'Content-Type': ctype})
                if r.status != 200 or r.body != body or r.header('Content-Type') != ctype:
                    errors.append(f'client {seed} request {i}: POST /echo of {len(body)} bytes '
                                  f'gave {r.status}, {len(r.body)} bytes, '
                                  f'same={r.body == body}, type {r.header("Content-Type")}')
                    continue
            done += 1
    except Exception as e:  # noqa: BLE001 - reported as a failure
        errors.append(f'client {seed}: {type(e).__name__}: {e} after {done} requests')
    finally:
        conn.close()
        results[seed] = done


def parse_wrk(out):
    m = re.search(r'(\d+) requests in ([\d.]+)(\w+)', out)
    return int(m.group(1)) if m else None


def main(t):
    t.start_app('hello')
    t.start_app('echo')
    ngx = t.start_nginx()
    port = ngx.port

    with t.section(f'{THREADS} keep-alive clients x {PER_THREAD} requests'):
        results, errors = {}, []
        threads = [threading.Thread(target=client, args=(port, s, results, errors), daemon=True)
                   for s in range(THREADS)]
        start = time.monotonic()
        for th in threads:
            th.start()
        deadline = start + 300  # a bound: they finish in seconds
        for th in threads:
            th.join(max(0.0, deadline - time.monotonic()))
        elapsed = time.monotonic() - start
        hung = sum(th.is_alive() for th in threads)
        t.equal('every client thread finished in time', hung, 0)
        total = sum(results.values())
        t.check(f'all {THREADS * PER_THREAD} requests succeeded ({total} in {elapsed:.1f} s)',
                total == THREADS * PER_THREAD and not errors,
                f'{len(errors)} errors; first: {errors[:5]}')

    with t.section('wrk -t1 -c32 -d3s GET /hello'):
        wrk = shutil.which('wrk')
        t.check('wrk is installed', wrk is not None)
        if wrk:
            p = subprocess.run([wrk, '-t1', '-c32', '-d3s', '--timeout', '10s',
                                f'http://127.0.0.1:{port}/hello'],
                               capture_output=True, text=True, timeout=60)
            out = p.stdout + p.stderr
            print('\n'.join('#   ' + line for line in out.splitlines()))
            n = parse_wrk(out)
            t.equal('wrk exit status', p.returncode, 0)
            t.check(f'wrk made requests ({n})', n is not None and n > 0, out)
            t.check('wrk saw no non-2xx responses', 'Non-2xx' not in out, out)
            t.check('wrk saw no socket errors', 'Socket errors' not in out, out)

    with t.section('a deferred request does not block its worker (workers=1)'):
        old = [p for p in t.procs if getattr(p, 'app', None) == 'hello' and p.alive()]
        for p in old:
            t0 = time.monotonic()
            t.equal('SIGTERM: hello with 2 workers stops with status 0', p.stop(), 0)
            t.check(f'despite nginx\'s idle keep-alive connections, before graceful_timeout '
                    f'({time.monotonic() - t0:.2f} s, graceful_timeout is 30 s)',
                    time.monotonic() - t0 < 20)
        app = t.start_app('hello', env={'FW_SERVER_WORKERS': 1})
        t.equal('hello runs 1 worker', len(app.workers()), 1)
        # Warm up nginx's upstream connections to the new socket.
        r = http(port, 'GET', '/hello')
        t.equal('GET /hello through nginx after the restart', r.status, 200)

        # A minute-long deferred request, waited for in the worker: the fast
        # ones must all be answered while it is still in flight, however
        # long they take here. Its client leaves afterwards (a cancel).
        slow = socket.create_connection(('127.0.0.1', port), timeout=harness.IO_TIMEOUT)
        slow.sendall(b'GET /slow?ms=60000 HTTP/1.1\r\nHost: localhost\r\n\r\n')
        in_flight = rc.wait_status(app.sock, lambda s: rc.in_flight(s) == 1, harness.WAIT)
        fast_done = []
        fast_bad = []

        def fast_client(n):
            conn = HTTPConnection('127.0.0.1', port, timeout=harness.IO_TIMEOUT)
            try:
                for _ in range(n):
                    r = harness.http_on(conn, 'GET', '/hello')
                    if r.status != 200 or r.body != b'hello\n':
                        fast_bad.append(repr(r))
                    fast_done.append(time.monotonic())
            except Exception as e:  # noqa: BLE001
                fast_bad.append(f'{type(e).__name__}: {e}')
            finally:
                conn.close()

        # 20 requests: 4 concurrent connections x 5 sequential requests.
        fast = [threading.Thread(target=fast_client, args=(5,), daemon=True) for _ in range(4)]
        for f in fast:
            f.start()
        for f in fast:
            f.join(harness.IO_TIMEOUT + 10)
        t.check('the slow request was in flight in the worker when the others started', in_flight)
        t.check('20 GET /hello all answered 200', len(fast_done) == 20 and not fast_bad,
                f'{len(fast_done)} done, errors {fast_bad[:3]}')
        s = rc.status(app.sock)
        slow.setblocking(False)
        try:
            early = slow.recv(100)
        except BlockingIOError:
            early = b''
        t.check('all 20 fast requests finished before the slow one: it is still in flight, unanswered',
                s and rc.in_flight(s) == 1 and early == b'', (s and rc.in_flight(s), early))
        slow.close()
        t0 = time.monotonic()
        r = http(port, 'GET', '/slow?ms=1500')
        took = time.monotonic() - t0
        t.check('GET /slow?ms=1500 answered 200 "slept 1500 ms"',
                r.status == 200 and r.body == b'slept 1500 ms\n', repr(r))
        t.check(f'GET /slow took at least its 1500 ms ({took:.2f} s)', took >= 1.45)

    with t.section('logs'):
        t.check_logs()


if __name__ == '__main__':
    harness.run(main)
