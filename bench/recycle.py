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
import statistics
import urllib.request

import benchlib as b

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


def one_round(args, ngx, name, lua):
    sock = ngx.path('hello.sock')
    env = {'FW_SERVER_WORKERS': '2', 'FW_SERVER_STATUS_PATH': '/status'}
    env.update(CONFIGS[name])
    app = b.start_app(os.path.join(args.build, 'tests', 'apps', 'testapp'), sock, env,
                      ngx.path(f'app-{name}.log'))
    try:
        c0 = b.cpu_ticks(app.pid)
        res = b.wrk(f'http://127.0.0.1:{ngx.port}/', args.seconds, lua=lua)
        c1 = b.cpu_ticks(app.pid)
        with urllib.request.urlopen(f'http://127.0.0.1:{ngx.port}/status', timeout=10) as r:
            st = json.load(r)
    finally:
        b.stop_app(app)
    res['cpu_us'] = (c1 - c0) * 1e6 / b.TICK / res['requests']
    res['recycles'] = sum(st['recycled'].values())
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default=os.path.join(b.ROOT, 'build'))
    ap.add_argument('--seconds', type=int, default=20)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--markdown', action='store_true')
    args = ap.parse_args()
    ngx = b.Nginx()
    lua = ngx.path('mix.lua')
    with open(lua, 'w') as f:
        f.write(LUA)
    results = {name: [] for name in CONFIGS}
    try:
        for r in range(args.rounds):
            for name in CONFIGS:
                res = one_round(args, ngx, name, lua)
                results[name].append(res)
                print(f'round {r + 1} {name:9s} {res["rps"]:9.0f} req/s  p99 {res["p99_ms"]:6.2f} ms  '
                      f'errors {res["errors"]}  backend {res["cpu_us"]:5.1f} us/req  '
                      f'recycles {res["recycles"]}', flush=True)
        upstream = ngx.upstream_errors()
    finally:
        ngx.close()
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in results.items()}
    base = med['off']
    rows = [('configuration', 'req/s', 'ratio', 'p99 ms', 'p99 ratio', 'errors', 'backend us/req', 'recycles')]
    for n, m in med.items():
        rows.append((n, f'{m["rps"]:.0f}', f'{m["rps"] / base["rps"]:.3f}', f'{m["p99_ms"]:.2f}',
                     f'{m["p99_ms"] / base["p99_ms"]:.2f}', f'{sum(r["errors"] for r in results[n])}',
                     f'{m["cpu_us"]:.1f}', f'{m["recycles"]:.0f}'))
    print(f'\nmedians of {args.rounds} rounds of {args.seconds} s; '
          f'nginx error log lines about upstreams: {len(upstream)}')
    print(b.table(rows, args.markdown))


if __name__ == '__main__':
    main()
