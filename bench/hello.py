#!/usr/bin/env python3
"""hello through nginx next to nginx's own `return 200`, in interleaved rounds.

conf/nginx.conf as shipped (upstream keepalive, fastcgi_keep_conn on), the
demo app apps/hello with `workers` workers, wrk -t1 -c32 per round:
  nginx-static   GET /nginx-static   (nginx answers alone: the ceiling)
  fw-hello       GET /hello          (FastCGI to fw, keepalive)
Prints req/s, p99, errors, backend CPU per request and the ratio to static.

  bench/hello.py [--build build] [--seconds 10] [--rounds 3] [--workers 2] [--markdown]
"""
import argparse
import os
import statistics

import benchlib as b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default=os.path.join(b.ROOT, 'build'))
    ap.add_argument('--seconds', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--markdown', action='store_true')
    args = ap.parse_args()
    ngx = b.Nginx()
    app = b.start_app(os.path.join(args.build, 'apps', 'hello'), ngx.path('hello.sock'),
                      {'FW_SERVER_WORKERS': str(args.workers)}, ngx.path('hello.log'))
    targets = {'nginx-static': '/nginx-static', 'fw-hello': '/hello'}
    results = {n: [] for n in targets}
    try:
        for r in range(args.rounds):
            for name, path in targets.items():
                c0 = b.cpu_ticks(app.pid)
                res = b.wrk(f'http://127.0.0.1:{ngx.port}{path}', args.seconds)
                c1 = b.cpu_ticks(app.pid)
                res['cpu_us'] = (c1 - c0) * 1e6 / b.TICK / res['requests'] if name != 'nginx-static' else 0
                results[name].append(res)
                print(f'round {r + 1} {name:13s} {res["rps"]:9.0f} req/s  p99 {res["p99_ms"]:6.2f} ms  '
                      f'errors {res["errors"]}  backend {res["cpu_us"]:5.1f} us/req', flush=True)
    finally:
        b.stop_app(app)
        ngx.close()
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in results.items()}
    base = med['nginx-static']['rps']
    rows = [('target', 'req/s', 'ratio to static', 'p99 ms', 'errors', 'backend us/req')]
    for n, m in med.items():
        rows.append((n, f'{m["rps"]:.0f}', f'{m["rps"] / base:.3f}', f'{m["p99_ms"]:.2f}',
                     f'{sum(r["errors"] for r in results[n])}', f'{m["cpu_us"]:.1f}'))
    print(f'\nmedians of {args.rounds} rounds of {args.seconds} s')
    print(b.table(rows, args.markdown))


if __name__ == '__main__':
    main()
