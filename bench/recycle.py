#!/usr/bin/env python3
"""Recycling at full load, side by side, in interleaved rounds.

The issue's set-up: nginx 1.22 (conf/nginx.conf, keepalive + fastcgi_keep_conn),
workers = 2, wrk -t1 -c32 with half the requests POSTs, one run of each
configuration per round, so that drift of the machine hits all of them
alike, in an order that rotates from round to round (use a multiple of 4
rounds), so that no configuration always runs first.

Configurations:
  off        max_requests = 0, no memory limits
  mem-check  rss_limit_mb and rss_soft_limit_mb set high (checks run, never fire)
  recycle    max_requests = 100
  recycle1000  max_requests = 1000 (what a deployment would set)
For each round: requests/s, p99 latency, non-2xx + socket errors, backend
CPU per request (utime+stime of the master, its workers and the workers
already reaped, from /proc), recycles seen on the status page.

Then the ratio within each round (the configurations run back to back),
the ratio of medians with a 90% bootstrap interval over rounds, what a
recycle costs in backend CPU, and beside it the floor: what a fork
and an exit alone cost a process linked like the apps, and the kernel's
share of handing a worker's keep-alive connections over
(bench/forkfloor.c), with the best ratio that floor would leave.

  bench/recycle.py [--build build] [--seconds 20] [--rounds 9] [--markdown] [--save FILE]

Nine rounds of 20 s take about ten minutes. Fewer do not settle a 5%
question on a VM whose 20 s rounds of one configuration differ by up to
10% (bench/RESULTS.md).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
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
WORKERS = 2
CONNECTIONS = 32  # wrk's, and nginx's keep-alive pool (conf/nginx.conf) holds as many
CONFIGS = {
    'off': {},
    'mem-check': {'FW_SERVER_RSS_LIMIT_MB': '4096', 'FW_SERVER_RSS_SOFT_LIMIT_MB': '2048'},
    'recycle': {'FW_SERVER_MAX_REQUESTS': '100'},
    'recycle1000': {'FW_SERVER_MAX_REQUESTS': '1000'},
}


def one_round(args, ngx, name, lua):
    sock = ngx.path('hello.sock')
    env = {'FW_SERVER_WORKERS': str(WORKERS), 'FW_SERVER_STATUS_PATH': '/status'}
    env.update(CONFIGS[name])
    app = b.start_app(os.path.join(args.build, 'tests', 'apps', 'testapp'), sock, env,
                      ngx.path(f'app-{name}.log'))
    try:
        c0, n0 = b.cpu_ticks(app.pid), b.cpu_ticks(ngx.proc.pid)
        res = b.wrk(f'http://127.0.0.1:{ngx.port}/', args.seconds, connections=CONNECTIONS, lua=lua)
        c1, n1 = b.cpu_ticks(app.pid), b.cpu_ticks(ngx.proc.pid)
        with urllib.request.urlopen(f'http://127.0.0.1:{ngx.port}/status', timeout=10) as r:
            st = json.load(r)
        res['master_anon_pages'] = anon_pages(app.pid)
    finally:
        b.stop_app(app)
    res['cpu_us'] = (c1 - c0) * 1e6 / b.TICK / res['requests']
    res['nginx_us'] = (n1 - n0) * 1e6 / b.TICK / res['requests']
    res['recycles'] = sum(st['recycled'].values())
    return res


def anon_pages(pid):
    """The resident anonymous pages of a process (what fork copies and exit unmaps)."""
    with open(f'/proc/{pid}/smaps_rollup') as f:
        for line in f:
            if line.startswith('Anonymous:'):
                return int(line.split()[1]) * 1024 // os.sysconf('SC_PAGESIZE')
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default=os.path.join(b.ROOT, 'build'))
    ap.add_argument('--seconds', type=int, default=20)
    ap.add_argument('--rounds', type=int, default=9)
    ap.add_argument('--markdown', action='store_true')
    ap.add_argument('--save', metavar='FILE', help='write every round as JSON (to pool runs later)')
    args = ap.parse_args()
    ngx = b.Nginx()
    lua = ngx.path('mix.lua')
    with open(lua, 'w') as f:
        f.write(LUA)
    results = {name: [] for name in CONFIGS}
    try:
        names = list(CONFIGS)
        # Not counted: one short run of each first. The first round after a
        # quiet spell has come out apart from the rest (recycle at 0.74-0.80
        # of off against 0.87-0.98 in the rounds after, in one comparison).
        warm = argparse.Namespace(**{**vars(args), 'seconds': min(5, args.seconds)})
        for name in names:
            one_round(warm, ngx, name, lua)
        for r in range(args.rounds):
            # Each round starts with the next configuration: a place in the
            # round (the first one follows the previous round's recycling)
            # must not favour one configuration over the others.
            for name in names[r % len(names):] + names[:r % len(names)]:
                res = one_round(args, ngx, name, lua)
                results[name].append(res)
                print(f'round {r + 1} {name:11s} {res["rps"]:9.0f} req/s  p99 {res["p99_ms"]:6.2f} ms  '
                      f'errors {res["errors"]}  backend {res["cpu_us"]:5.1f} us/req  nginx {res["nginx_us"]:5.1f} us/req  '
                      f'recycles {res["recycles"]}', flush=True)
        upstream = ngx.upstream_errors()
    finally:
        ngx.close()
    if args.save:
        with open(args.save, 'w') as f:
            json.dump({'seconds': args.seconds, 'rounds': results}, f, indent=1)
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in results.items()}
    base = med['off']
    rows = [('configuration', 'req/s', 'ratio', 'p99 ms', 'p99 ratio', 'errors', 'backend us/req', 'nginx us/req',
             'recycles')]
    for n, m in med.items():
        rows.append((n, f'{m["rps"]:.0f}', f'{m["rps"] / base["rps"]:.3f}', f'{m["p99_ms"]:.2f}',
                     f'{m["p99_ms"] / base["p99_ms"]:.2f}', f'{sum(r["errors"] for r in results[n])}',
                     f'{m["cpu_us"]:.1f}', f'{m["nginx_us"]:.1f}', f'{m["recycles"]:.0f}'))
    print(f'\nmedians of {args.rounds} rounds of {args.seconds} s; '
          f'nginx error log lines about upstreams: {len(upstream)}')
    print(b.table(rows, args.markdown))
    # Each round runs the configurations back to back: the ratio within a
    # round is spared most of the machine's drift, and its spread says how
    # far one run's ratio can be trusted.
    for n in CONFIGS:
        if n == 'off':
            continue
        per = sorted(x['rps'] / o['rps'] for x, o in zip(results[n], results['off']))
        lo, hi = bootstrap_ratio(results[n], results['off'])
        print(f'{n}: ratio within each round, lowest first: {", ".join(f"{r:.3f}" for r in per)} '
              f'(median {statistics.median(per):.3f}); ratio of medians '
              f'{med[n]["rps"] / base["rps"]:.3f}, 90% interval {lo:.3f}..{hi:.3f}')
    floor_report(args, med)


def bootstrap_ratio(rounds, off_rounds, resamples=10000):
    """Where the ratio of medians would land in other runs like this one: a
    percentile bootstrap over whole rounds (each keeps its pair, so the
    drift they share stays out), 5th to 95th percentile. Seeded: the same
    rounds give the same interval."""
    pairs = list(zip(rounds, off_rounds))
    rng = random.Random(1)
    got = []
    for _ in range(resamples):
        pick = rng.choices(pairs, k=len(pairs))
        got.append(statistics.median(x['rps'] for x, _ in pick) /
                   statistics.median(o['rps'] for _, o in pick))
    got.sort()
    return got[int(0.05 * len(got))], got[int(0.95 * len(got)) - 1]


def floor_report(args, med):
    """What a recycle costs, against what a fork and an exit alone cost."""
    rec = med['recycle']
    if rec['recycles'] == 0:
        print('\nno recycle seen: nothing to compare with the fork floor')
        return
    for name in ('recycle', 'recycle1000'):
        r = med[name]
        if r['recycles'] > 0:
            print(f'\n{name}: backend CPU per recycle '
                  f'{(r["cpu_us"] - med["off"]["cpu_us"]) / (r["recycles"] / r["requests"]):.0f} us '
                  f'({name} {r["cpu_us"]:.1f} - off {med["off"]["cpu_us"]:.1f} us/req, '
                  f'one recycle per {r["requests"] / r["recycles"]:.0f} requests)')
    per_recycle = (rec['cpu_us'] - med['off']['cpu_us']) / (rec['recycles'] / rec['requests'])
    exe = os.path.join(args.build, 'bench', 'forkfloor')
    if not os.path.exists(exe):
        print(f'(no {exe}: build with -Dtests=true for the fork floor)')
        return
    conns = CONNECTIONS // WORKERS  # the keep-alive connections a retiring worker hands over
    pages = int(med['recycle']['master_anon_pages'])
    fl = json.loads(subprocess.run([exe, '2000', str(conns), str(pages)], capture_output=True, text=True,
                                   check=True).stdout)
    machine_us = (os.cpu_count() or 1) * 1e6 / med['off']['rps']
    # Requests per recycle as measured: a retiring worker serves on until its replacement is ready.
    every = rec['requests'] / rec['recycles']
    rows = [('fork + exit (bench/forkfloor)', 'parent us', 'child us', 'total us', 'ratio at best')]
    for name in ('empty', 'boot', 'empty-trim', 'boot-trim'):
        total = fl[name]['parent_us'] + fl[name]['child_us']
        rows.append((name, f'{fl[name]["parent_us"]:.0f}', f'{fl[name]["child_us"]:.0f}', f'{total:.0f}',
                     f'{1 / (1 + total / (every * machine_us)):.3f}'))
    total = fl['boot-trim']['parent_us'] + fl['boot-trim']['child_us'] + fl['handoff']['us']
    rows.append((f'boot-trim + handoff of {conns} connections ({fl["handoff"]["us"]:.0f} us)', '', '',
                 f'{total:.0f}', f'{1 / (1 + total / (every * machine_us)):.3f}'))
    if 'image' in fl:
        total = fl['image']['parent_us'] + fl['image']['child_us']
        rows.append((f'image: boot-trim with {pages} more resident pages (the master\'s)',
                     f'{fl["image"]["parent_us"]:.0f}', f'{fl["image"]["child_us"]:.0f}', f'{total:.0f}',
                     f'{1 / (1 + total / (every * machine_us)):.3f}'))
    goal = 1.25 * (fl['boot-trim']['parent_us'] + fl['boot-trim']['child_us'] + fl['handoff']['us'])
    print(f'\nA recycle costs {per_recycle / (goal / 1.25):.2f}x the floor (boot-trim + handoff); '
          f'the goal is 1.25x, {goal:.0f} us.')
    print(f'\nThe machine spends {machine_us:.1f} us of CPU per request without recycling '
          f'({os.cpu_count()} CPUs / {med["off"]["rps"]:.0f} req/s). A recycle every {every:.0f} requests '
          f'that cost only a fork and an exit would leave at best the ratio in the last column:')
    print(b.table(rows, args.markdown))


if __name__ == '__main__':
    main()
