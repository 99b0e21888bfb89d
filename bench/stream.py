#!/usr/bin/env python3
"""Streaming and offload (issue 18), side by side in one run, through a
private nginx from conf/nginx.conf, one worker per app:

  memory     a 40 MiB answer: the worker's private memory before, at its
             peak and after, for the answer built whole (tests/apps/testapp
             /big, with heap_release_kb = 0 as before issue 18, and with
             the default 4096) and streamed (apps/stream /stream/bytes);
             then a big download read at --rate MB/s and a big upload
             (/stream/sha256), each with the worker's peak
  sse        server-sent events (/stream/events): first-event latency
             through nginx (median and max of --rounds), and when each of
             5 events 300 ms apart arrived
  offload    a quick request's latency (GET /hello, one after another)
             while 4 jobs of --job-ms block: idle, on the offload pool
             (/offload-block), and in the handler on the loop (/block)

Private memory is Private_Clean + Private_Dirty of smaps_rollup. Latency is
wall-clock as a client sees it; on a loaded machine compare the columns,
not the absolute figures.

  bench/stream.py [--build build] [--gib 1] [--rate 100] [--rounds 10]
                  [--job-ms 1000] [--markdown]
"""
import argparse
import os
import statistics
import sys
import threading
import time

import benchlib as b

sys.path.insert(0, os.path.join(b.ROOT, 'tests', 'e2e'))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import stream_common as sc  # noqa: E402


STREAM, TESTAPP = 'apps/stream', 'tests/apps/testapp'  # in the build directory


class App:
    """An fw app behind the bench nginx as upstream `name` (TMP/name.sock)."""

    def __init__(self, ngx, build, binary, name, **keys):
        self.sock = ngx.path(f'{name}.sock')
        env = {f'FW_SERVER_{k.upper()}': str(v) for k, v in keys.items()}
        env.setdefault('FW_SERVER_WORKERS', '1')
        self.proc = b.start_app(os.path.join(build, binary), self.sock, env, ngx.path(f'{name}.log'))
        self.worker = int(b.children(self.proc.pid)[0])

    def private_kb(self):
        return sc.private_kb(self.worker)

    def stop(self):
        b.stop_app(self.proc)


def settle(app):
    """The worker's private memory once it stops moving (the release runs
    after the last byte left)."""
    last = app.private_kb()
    for _ in range(40):
        time.sleep(0.1)
        now = app.private_kb()
        if now == last:
            break
        last = now
    return last


def measured(app, fn):
    """(before, peak, after) KiB of the worker around fn(), and fn's result."""
    before = settle(app)
    peak = sc.Peak(app.worker, every=0.01)
    result = fn()
    peak.stop()
    return (before, peak.peak, settle(app)), result


def download(port, path, rate=None):
    def run():
        r = sc.HttpStream(port, 'GET', path, rcvbuf=256 * 1024 if rate else None, timeout=120)
        st = r.read_head()
        start = time.monotonic()
        n, ok = r.read_all(pace_bytes_per_s=rate, check_pattern=False, piece=256 * 1024)
        took = time.monotonic() - start
        r.close()
        return st, n, n / took / 1e6
    return run


def memory(ngx, args):
    rows = [('answer', 'status', 'bytes', 'MB/s', 'before KiB', 'peak KiB', 'after KiB')]
    cases = [
        ('40 MiB whole, no release (as before)', TESTAPP, 'hello', {'heap_release_kb': 0},
         download(ngx.port, '/big?mb=40')),
        ('40 MiB whole, heap_release_kb 4096', TESTAPP, 'hello', {},
         download(ngx.port, '/big?mb=40')),
        ('40 MiB streamed', STREAM, 'stream', {}, download(ngx.port, '/stream/bytes?mb=40')),
        (f'{args.gib} GiB streamed at {args.rate} MB/s', STREAM, 'stream', {},
         download(ngx.port, f'/stream/bytes?mb={args.gib << 10}', rate=args.rate * 1e6)),
    ]
    for what, binary, name, keys, fn in cases:
        app = App(ngx, args.build, binary, name, **keys)
        (before, peak, after), (st, n, rate) = measured(app, fn)
        app.stop()
        rows.append((what, str(st), f'{n:,}', f'{rate:.0f}', str(before), str(peak), str(after)))
    app = App(ngx, args.build, STREAM, 'stream')
    size = args.gib << 30
    t0 = time.monotonic()
    (before, peak, after), (st, body) = measured(app, lambda: sc.upload(ngx.port, '/stream/sha256', size))
    took = time.monotonic() - t0
    ok = body.strip() == f'{size} {sc.pattern_sha(size)}'.encode()
    app.stop()
    rows.append((f'{args.gib} GiB upload, hashed as it comes', f'{st}{"" if ok else " WRONG"}',
                 f'{size:,}', f'{size / took / 1e6:.0f}', str(before), str(peak), str(after)))
    return rows


def first_event(port):
    start = time.monotonic()
    r = sc.HttpStream(port, 'GET', '/stream/events?n=2&ms=5000')
    r.read_head()
    got = r.read_until(b'data: 0\n\n')
    took = time.monotonic() - start
    r.close()
    assert got == b'data: 0\n\n', got
    return took * 1000


def sse(ngx, args):
    app = App(ngx, args.build, STREAM, 'stream')
    peak = sc.Peak(app.worker, every=0.01)
    firsts = [first_event(ngx.port) for _ in range(args.rounds)]
    start = time.monotonic()
    r = sc.HttpStream(ngx.port, 'GET', '/stream/events?n=5&ms=300')
    r.read_head()
    arrivals = []
    for i in range(5):
        r.read_until(b'data: %d\n\n' % i)
        arrivals.append((time.monotonic() - start) * 1000)
    r.close()
    peak.stop()
    app.stop()
    rows = [(f'figure (worker peak {peak.peak} KiB private)', 'ms')]
    rows.append((f'first event, median of {args.rounds}', f'{statistics.median(firsts):.1f}'))
    rows.append((f'first event, max of {args.rounds}', f'{max(firsts):.1f}'))
    for i, a in enumerate(arrivals):
        rows.append((f'event {i} of 5 (due at {300 * i} ms)', f'{a:.0f}'))
    return rows


def quick_latencies(port, busy):
    """GET /hello one after another while busy() is alive; ms each."""
    out = []
    while busy():
        t0 = time.monotonic()
        st, _, _ = sc.harness.http(port, 'GET', '/hello', timeout=120)
        out.append((time.monotonic() - t0) * 1000)
        assert st == 200, st
    return out


def offload(ngx, args):
    rows = [('4 jobs of %d ms' % args.job_ms, 'quick requests', 'p50 ms', 'max ms', 'jobs done after s',
             'peak KiB')]
    for what, path in (('idle (no jobs)', None), ('offload pool', '/offload-block'),
                       ('blocking the loop', '/block')):
        app = App(ngx, args.build, TESTAPP, 'hello', offload_threads=4, timeout=600)
        jobs, t0, peak = [], time.monotonic(), sc.Peak(app.worker, every=0.01)
        if path:
            jobs = [threading.Thread(target=sc.harness.http, daemon=True,
                                     args=(ngx.port, 'GET', f'{path}?ms={args.job_ms}'),
                                     kwargs={'timeout': 600}) for _ in range(4)]
            for th in jobs:
                th.start()
            time.sleep(0.2)  # the jobs reach the worker first
            lat = quick_latencies(ngx.port, lambda: any(th.is_alive() for th in jobs))
        else:
            end = t0 + args.job_ms / 1000
            lat = quick_latencies(ngx.port, lambda: time.monotonic() < end)
        for th in jobs:
            th.join(600)
        took = time.monotonic() - t0
        peak.stop()
        app.stop()
        rows.append((what, str(len(lat)), f'{statistics.median(lat):.1f}', f'{max(lat):.1f}',
                     f'{took:.1f}' if path else '-', str(peak.peak)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default='build')
    ap.add_argument('--gib', type=int, default=1)
    ap.add_argument('--rate', type=int, default=100, help='MB/s of the paced download')
    ap.add_argument('--rounds', type=int, default=10)
    ap.add_argument('--job-ms', type=int, default=1000)
    ap.add_argument('--markdown', action='store_true')
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    ngx = b.Nginx()
    try:
        for title, part in (('memory', memory), ('sse', sse), ('offload', offload)):
            print(f'\n{title}\n' if not args.markdown else f'\n**{title}**\n')
            print(b.table(part(ngx, args), args.markdown), flush=True)
        errors = ngx.upstream_errors()
        print(f'\nnginx upstream errors: {len(errors)}')
        for line in errors[:5]:
            print('  ' + line.rstrip())
    finally:
        ngx.close()


if __name__ == '__main__':
    main()
