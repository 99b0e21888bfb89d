#!/usr/bin/env python3
"""Memory over time: what recycling and the reuse API do to a worker's memory.

Drives the demo apps through nginx (conf/nginx.conf) for a fixed number of
requests per set-up, one worker, 4 keepalive clients, and samples the
worker's private memory (Private_Clean + Private_Dirty in smaps_rollup,
read from /proc, summed over the app's workers) as requests are served.

Set-ups:
  frag              apps/frag, no limits: memory climbs and stays
  frag-soft         rss_soft_limit_mb: free heap given back, the worker kept
  frag-hard         rss_limit_mb: the worker is recycled under the limit
  inplace-copy      apps/inplace, the transform building new strings
  inplace           apps/inplace, the same transform in place (reuse API)

Writes a gnuplot SVG of private memory against requests served and a
table (peak private memory, requests per second, recycles) in Markdown.

  bench/memory.py [--build build] [--requests 3000] [--out bench/results]
Needs gnuplot (Debian: gnuplot-nox).
"""
import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import threading
import time

import benchlib as b

FRAG = '/frag?objects=30000&size=256&keep=5'
SOFT_MB, HARD_MB = 48, 64


def doc(size=32 * 1024, seed=7):
    """A text document with the things the transform cleans up."""
    rnd = random.Random(seed)
    words = ['Hello', 'SECRET', 'secret', 'World', '\tindent', 'trailing  ', '', 'Secretive']
    lines, n = [], 0
    while n < size:
        line = ' '.join(rnd.choice(words) for _ in range(rnd.randint(0, 8)))
        lines.append(line)
        n += len(line) + 2
    return '\r\n'.join(lines).encode()


SETUPS = {
    'frag': ('frag', {}, 'GET', FRAG),
    'frag-soft': ('frag', {'FW_SERVER_RSS_SOFT_LIMIT_MB': str(SOFT_MB)}, 'GET', FRAG),
    'frag-hard': ('frag', {'FW_SERVER_RSS_LIMIT_MB': str(HARD_MB)}, 'GET', FRAG),
    'inplace-copy': ('inplace', {}, 'POST', '/doc?mode=copy'),
    'inplace': ('inplace', {}, 'POST', '/doc?mode=inplace'),
}


def private_mb(master):
    total = 0
    for w in b.children(master):
        try:
            with open(f'/proc/{w}/smaps_rollup') as f:
                for line in f:
                    if line.startswith(('Private_Clean:', 'Private_Dirty:')):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def drive(port, method, path, body, total, clients, on_progress):
    """total requests over `clients` keepalive connections; returns failures."""
    lock = threading.Lock()
    state = {'done': 0, 'failed': 0}

    def client():
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        while True:
            with lock:
                if state['done'] >= total:
                    break
                state['done'] += 1
                n = state['done']
            try:
                conn.request(method, path, body=body, headers={'Content-Type': 'text/plain'} if body else {})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
            with lock:
                state['failed'] += not ok
            on_progress(n)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state['failed']


def wrk_rps(args, ngx, name):
    """Requests per second with wrk (server-bound, unlike the sampling client)."""
    app, env, method, path = SETUPS[name]
    master = b.start_app(os.path.join(args.build, 'apps', app), ngx.path('hello.sock'),
                         dict(env, FW_SERVER_WORKERS='1'), ngx.path(f'{name}-wrk.log'))
    lua = ngx.path(f'{name}.lua')
    with open(lua, 'w') as f:
        if method == 'POST':
            body = doc().decode().replace('\\', '\\\\').replace('"', '\\"')
            body = body.replace('\r', '\\r').replace('\n', '\\n').replace('\t', '\\t')
            f.write(f'wrk.method = "POST"\nwrk.body = "{body}"\n'
                    'wrk.headers["Content-Type"] = "text/plain"\n')
    try:
        return b.wrk(f'http://127.0.0.1:{ngx.port}{path}', args.wrk_seconds, connections=4, lua=lua)
    finally:
        b.stop_app(master)


def plot(results, out_svg, data_dir):
    series = []
    for name, r in results.items():
        path = os.path.join(data_dir, f'{name}.dat')
        with open(path, 'w') as f:
            for n, mb in r['samples']:
                f.write(f'{n} {mb:.2f}\n')
        style = 'dt 2 lw 3' if name == 'frag-soft' else 'lw 2'
        series.append(f"'{path}' using 1:2 with lines {style} title '{name}' noenhanced")
    script = f"""
set terminal svg size 900,500 font 'sans,12' background rgb 'white'
set output '{out_svg}'
set title 'Private memory of one worker against requests served'
set xlabel 'requests served'
set ylabel 'private memory (MiB)'
set key top left
set grid
set arrow from graph 0, first {HARD_MB} to graph 1, first {HARD_MB} nohead dt 2 lc rgb 'red'
set label 'rss_limit_mb = {HARD_MB}' at graph 0.75, first {HARD_MB + 3} tc rgb 'red' noenhanced
plot {', '.join(series)}
"""
    subprocess.run(['gnuplot'], input=script, text=True, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default=os.path.join(b.ROOT, 'build'))
    ap.add_argument('--requests', type=int, default=6000)
    ap.add_argument('--out', default=os.path.join(b.ROOT, 'bench', 'results'))
    ap.add_argument('--wrk-seconds', type=int, default=5)
    args = ap.parse_args()
    if shutil.which('gnuplot') is None:
        raise SystemExit('gnuplot is missing: apt-get install gnuplot-nox')
    os.makedirs(args.out, exist_ok=True)
    ngx = b.Nginx()
    # nginx routes /frag... and /doc through its catch-all location to the
    # `hello` upstream: both apps take its socket name in turn.
    results = {}
    try:
        for name in SETUPS:
            results[name] = run_setup(args, ngx, name)
            w = wrk_rps(args, ngx, name)
            results[name]['wrk_rps'] = w['rps']
            results[name]['failed'] += w['errors']
            r = results[name]
            print(f'{name:13s} peak {r["peak_mb"]:7.1f} MiB  {r["wrk_rps"]:8.0f} req/s  '
                  f'recycles {r["recycles"]}  failed {r["failed"]}', flush=True)
    finally:
        ngx.close()
    svg = os.path.join(args.out, 'memory.svg')
    plot(results, svg, args.out)
    rows = [('set-up', 'peak private MiB', 'req/s', 'recycles', 'failed', 'allocs/request')]
    for name, r in results.items():
        allocs = f'{r["allocs"]:.1f}' if r['allocs'] is not None else 'n/a'
        rows.append((name, f'{r["peak_mb"]:.1f}', f'{r["wrk_rps"]:.0f}', str(r['recycles']),
                     str(r['failed']), allocs))
    table = b.table(rows, True)
    with open(os.path.join(args.out, 'memory.md'), 'w') as f:
        f.write(f'{args.requests} requests per set-up, one worker, 4 keepalive clients through nginx; '
                f'frag: {FRAG}, soft limit {SOFT_MB} MiB, hard limit {HARD_MB} MiB; inplace: a '
                f'{len(doc()) // 1024} KiB document. allocs/request: malloc calls counted by '
                f"tcmalloc's hooks in the current worker (FW_COUNT_ALLOCS=1), warm-up included. "
                f'req/s: wrk -t1 -c4 for {args.wrk_seconds} s on a fresh start of the same set-up.\n\n')
        f.write(table + '\n')
    print('\n' + table)
    print(f'\nwrote {svg} and {os.path.join(args.out, "memory.md")}')


def run_setup(args, ngx, name):
    app, env, method, path = SETUPS[name]
    sock = ngx.path('hello.sock')
    env = dict(env, FW_SERVER_WORKERS='1', FW_SERVER_STATUS_PATH='/fwstatus', FW_COUNT_ALLOCS='1')
    master = b.start_app(os.path.join(args.build, 'apps', app), sock, env, ngx.path(f'{name}.log'))
    body = doc() if method == 'POST' else None
    samples, every = [(0, private_mb(master.pid))], max(1, args.requests // 100)
    lock = threading.Lock()

    def progress(n):
        if n % every == 0:
            mb = private_mb(master.pid)
            with lock:
                samples.append((n, mb))

    try:
        t0 = time.monotonic()
        failed = drive(ngx.port, method, path, body, args.requests, 4, progress)
        elapsed = time.monotonic() - t0
        samples.append((args.requests, private_mb(master.pid)))
        conn = http.client.HTTPConnection('127.0.0.1', ngx.port, timeout=10)
        conn.request('GET', '/fwstatus')
        st = json.loads(conn.getresponse().read())
    finally:
        b.stop_app(master)
    samples.sort()
    w = st['workers'][0]
    allocs = w['allocs'] / w['requests'] if w.get('allocs') is not None and w['requests'] else None
    return {'samples': samples, 'rps': args.requests / elapsed, 'failed': failed,
            'peak_mb': max(m for _, m in samples), 'recycles': sum(st['recycled'].values()),
            'allocs': allocs}


if __name__ == '__main__':
    main()
