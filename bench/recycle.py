#!/usr/bin/env python3
"""Recycling at full load, side by side, in interleaved rounds.

The issue's set-up: nginx 1.22 (conf/nginx.conf, keepalive + fastcgi_keep_conn),
workers = 2, wrk -t1 -c32 with half the requests POSTs, one round per
configuration in turn so that drift of the machine hits all of them alike.

Configurations:
  off        max_requests = 0, no memory limits
  mem-check  rss_limit_mb and rss_soft_limit_mb set high (checks run, never fire)
  recycle    max_requests = 100
For each round: requests/s, p99 latency, non-2xx + socket errors, backend
CPU per request (utime+stime of the master, its workers and the workers
already reaped, from /proc), recycles seen on the status page.

  bench/recycle.py [--build build] [--seconds 20] [--rounds 3] [--markdown]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = r'''
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("POST", "/hello", {["Content-Type"]="application/octet-stream"},
                      "0123456789abcdef0123456789abcdef")
  end
  return wrk.format("GET", "/hello")
end
'''
CONFIGS = {
    'off': {},
    'mem-check': {'FW_SERVER_RSS_LIMIT_MB': '4096', 'FW_SERVER_RSS_SOFT_LIMIT_MB': '2048'},
    'recycle': {'FW_SERVER_MAX_REQUESTS': '100'},
}
TICK = os.sysconf('SC_CLK_TCK')


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime+stime of pid and its reaped children, plus its live children."""
    def stat(p):
        with open(f'/proc/{p}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()
    f = stat(pid)
    total = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    with open(f'/proc/{pid}/task/{pid}/children') as c:
        for child in c.read().split():
            try:
                g = stat(child)
                total += int(g[11]) + int(g[12])
            except OSError:
                pass
    return total


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def start_nginx(tmp, port):
    with open(os.path.join(ROOT, 'conf', 'nginx.conf')) as f:
        conf = f.read().replace('127.0.0.1:8080', f'127.0.0.1:{port}').replace('/tmp/fw-run/', tmp + '/')
    for d in ('logs', 'tmp'):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    path = os.path.join(tmp, 'nginx.conf')
    with open(path, 'w') as f:
        f.write(conf)
    p = subprocess.Popen(['nginx', '-p', tmp + '/', '-c', path], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, 'nginx.out'), 'w'))
    return p


def status(port):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}/status', timeout=10) as r:
        return json.load(r)


def one_round(args, tmp, port, name, lua):
    sock = os.path.join(tmp, 'hello.sock')
    env = {k: v for k, v in os.environ.items() if not k.startswith('FW_SERVER_')}
    env.update({'FW_SERVER_LISTEN': sock, 'FW_SERVER_WORKERS': '2', 'FW_SERVER_STATUS_PATH': '/status',
                'FW_SERVER_LOG_LEVEL': 'warn'})
    env.update(CONFIGS[name])
    app = subprocess.Popen([os.path.join(args.build, 'tests', 'apps', 'testapp'), '-c',
                            os.path.join(ROOT, 'conf', 'fw.ini')], env=env,
                           stderr=open(os.path.join(tmp, f'app-{name}.log'), 'a'))
    try:
        if not wait_for(lambda: os.path.exists(sock) and len(open(
                f'/proc/{app.pid}/task/{app.pid}/children').read().split()) == 2, 10):
            raise SystemExit(f'{name}: the app did not start')
        time.sleep(0.3)
        c0 = cpu_ticks(app.pid)
        out = subprocess.run(['wrk', '-t1', '-c32', f'-d{args.seconds}s', '--latency', '-s', lua,
                              f'http://127.0.0.1:{port}/'], capture_output=True, text=True,
                             timeout=args.seconds + 60).stdout
        c1 = cpu_ticks(app.pid)
        st = status(port)
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=40)
    n = int(re.search(r'(\d+) requests in', out).group(1))
    p99 = re.search(r'99%\s+([\d.]+)(us|ms|s)', out)
    p99_ms = float(p99.group(1)) * {'us': 0.001, 'ms': 1, 's': 1000}[p99.group(2)]
    errors = sum(int(x) for x in re.findall(r'Non-2xx or 3xx responses: (\d+)', out))
    sock_err = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    errors += sum(int(x) for x in sock_err.groups()) if sock_err else 0
    return {
        'rps': float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)),
        'p99_ms': p99_ms,
        'errors': errors,
        'cpu_us': (c1 - c0) * 1e6 / TICK / n,
        'recycles': sum(st['recycled'].values()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--seconds', type=int, default=20)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--markdown', action='store_true')
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='fw-bench-')
    os.chmod(tmp, 0o755)
    lua = os.path.join(tmp, 'mix.lua')
    with open(lua, 'w') as f:
        f.write(LUA)
    port = free_port()
    ngx = start_nginx(tmp, port)
    results = {name: [] for name in CONFIGS}
    try:
        if not wait_for(lambda: ngx.poll() is None and os.path.exists(os.path.join(tmp, 'nginx.pid')), 10):
            raise SystemExit('nginx did not start: ' + open(os.path.join(tmp, 'nginx.out')).read())
        for r in range(args.rounds):
            for name in CONFIGS:
                res = one_round(args, tmp, port, name, lua)
                results[name].append(res)
                print(f'round {r + 1} {name:9s} {res["rps"]:9.0f} req/s  p99 {res["p99_ms"]:6.2f} ms  '
                      f'errors {res["errors"]}  backend {res["cpu_us"]:5.1f} us/req  '
                      f'recycles {res["recycles"]}', flush=True)
    finally:
        ngx.send_signal(signal.SIGQUIT)
        ngx.wait(timeout=20)
        upstream = [l for l in open(os.path.join(tmp, 'logs', 'error.log')) if 'upstream' in l]
        shutil.rmtree(tmp, ignore_errors=True)
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in results.items()}
    base = med['off']
    rows = [('configuration', 'req/s', 'ratio', 'p99 ms', 'p99 ratio', 'errors', 'backend us/req', 'recycles')]
    for n, m in med.items():
        rows.append((n, f'{m["rps"]:.0f}', f'{m["rps"] / base["rps"]:.3f}', f'{m["p99_ms"]:.2f}',
                     f'{m["p99_ms"] / base["p99_ms"]:.2f}', f'{sum(r["errors"] for r in results[n])}',
                     f'{m["cpu_us"]:.1f}', f'{m["recycles"]:.0f}'))
    print(f'\nmedians of {args.rounds} rounds of {args.seconds} s; nginx error log lines about upstreams: {len(upstream)}')
    if args.markdown:
        print('| ' + ' | '.join(rows[0]) + ' |')
        print('|' + '---|' * len(rows[0]))
        for row in rows[1:]:
            print('| ' + ' | '.join(row) + ' |')
    else:
        for row in rows:
            print(f'{row[0]:14s}' + ''.join(f'{c:>15s}' for c in row[1:]))


if __name__ == '__main__':
    main()
