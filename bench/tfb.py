#!/usr/bin/env python3
"""The TechEmpower database tests side by side, in one run, on one PostgreSQL.

One private PostgreSQL cluster (scripts/pgcluster.py: unix socket, the
World and Fortune tables), one private nginx (conf/nginx.conf plus these
locations, one worker), and behind it, all started once:

  fw       apps/tfb, 2 workers, [pg] pool_size 4 (8 connections at most),
           FastCGI with upstream keep-alive
  fw-r1000 the same, recycling every worker every 1000 requests
           (max_requests = 1000): what recycling costs
  fw-pgb, fw-pgb-r1000
           the same two through PgBouncer (session pooling, DISCARD ALL
           between clients): a replacement worker then gets warm server
           connections instead of new ones, which are what recycling
           costs on a machine where a PostgreSQL backend is expensive to
           start
  php      PHP-FPM, pm = static (--php-children, default 16), the
           TechEmpower PHP style: raw PDO, a persistent connection per
           child, prepared statements, one query per round trip
           (bench/peers/tfb/*.php), FastCGI, a connection per request
  python   Gunicorn, 2 Uvicorn workers, a raw ASGI app on asyncpg with a
           pool of 4 per worker (bench/peers/tfb/app.py), HTTP with
           upstream keep-alive

Then, round after round, for each test (/db, /queries?queries=20,
/fortunes, /updates?queries=20) each target in turn: wrk -t1 -c64 for
--seconds. Per target and as medians: req/s, p99, errors (non-2xx and
socket errors), the backend's CPU per request (utime+stime of all its
processes, from /proc) and PostgreSQL's (the postmaster and its
backends; PgBouncer's too for fw-pgb*), fw's connections (the most seen
in pg_stat_activity during its runs), and the ratios fw/php, fw/python and fw-r1000/fw. At the end, the
lines of PostgreSQL's log written during the fw and fw-r1000 runs that
report an error ("ERROR", "FATAL", "unexpected EOF", ...).

  bench/tfb.py [--build build] [--seconds 10] [--rounds 3] [--only fw,php]
               [--tests db,queries] [--php-children 16] [--markdown]

The Debian packages of the peers are installed if missing (as root, or
with sudo): php-fpm, php-pgsql, python3-gunicorn, python3-uvicorn,
python3-asyncpg, python3-uvloop, pgbouncer.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import urllib.request

import benchlib as b

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'scripts'))
import pgcluster  # noqa: E402

PEERS = os.path.join(HERE, 'peers', 'tfb')
PACKAGES = ['php-fpm', 'php-pgsql', 'python3-gunicorn', 'python3-uvicorn', 'python3-asyncpg',
            'python3-uvloop', 'pgbouncer']
WORKERS = 2
POOL = 4
TESTS = {'db': '/db', 'queries': '/queries?queries=20', 'fortunes': '/fortunes',
         'updates': '/updates?queries=20'}
BAD = ('ERROR:', 'FATAL:', 'PANIC:', 'unexpected EOF', 'could not receive data', 'could not send data',
       'incomplete startup packet')

HTTP_EXTRA = '''
    upstream fw_tfb {
        server unix:@TMP@/fw.sock;
        keepalive 32;
    }
    upstream fw_tfb_r1000 {
        server unix:@TMP@/fw-r1000.sock;
        keepalive 32;
    }
    upstream fw_pgb {
        server unix:@TMP@/fw-pgb.sock;
        keepalive 32;
    }
    upstream fw_pgb_r1000 {
        server unix:@TMP@/fw-pgb-r1000.sock;
        keepalive 32;
    }
    upstream py_tfb {
        server unix:@TMP@/py.sock;
        keepalive 32;
    }
'''
SERVER_EXTRA = '''
        location ~ ^/fw(/.*)$ {
            rewrite ^/fw(/.*)$ $1 break;
            include /etc/nginx/fastcgi_params;
            fastcgi_pass fw_tfb;
            fastcgi_keep_conn on;
        }
        location ~ ^/fw-r1000(/.*)$ {
            rewrite ^/fw-r1000(/.*)$ $1 break;
            include /etc/nginx/fastcgi_params;
            fastcgi_pass fw_tfb_r1000;
            fastcgi_keep_conn on;
        }
        location ~ ^/fw-pgb(/.*)$ {
            rewrite ^/fw-pgb(/.*)$ $1 break;
            include /etc/nginx/fastcgi_params;
            fastcgi_pass fw_pgb;
            fastcgi_keep_conn on;
        }
        location ~ ^/fw-pgb-r1000(/.*)$ {
            rewrite ^/fw-pgb-r1000(/.*)$ $1 break;
            include /etc/nginx/fastcgi_params;
            fastcgi_pass fw_pgb_r1000;
            fastcgi_keep_conn on;
        }
        location ~ ^/php/(db|queries|fortunes|updates)$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME @TMP@/php/$1.php;
            fastcgi_pass unix:@TMP@/php.sock;
        }
        location ~ ^/python(/.*)$ {
            rewrite ^/python(/.*)$ $1 break;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://py_tfb;
        }
'''
TARGETS = ['fw', 'fw-r1000', 'fw-pgb', 'fw-pgb-r1000', 'php', 'python']


def install_packages():
    b.install_packages(PACKAGES)


class Backend:
    def __init__(self, name, proc):
        self.name, self.proc = name, proc

    def ticks(self):
        return b.cpu_ticks(self.proc.pid)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_postgres(tmp, max_connections):
    top = os.path.join(tmp, 'pg')
    log = open(os.path.join(tmp, 'postgresql.log'), 'ab')
    pgcluster.prepare(top, log)
    proc = subprocess.Popen(pgcluster.server_argv(top, max_connections), stdout=log, stderr=log)
    if not pgcluster.wait_ready(top, proc):
        raise SystemExit(f'PostgreSQL did not start; see {tmp}/postgresql.log')
    return top, Backend('postgres', proc)


def start_pgbouncer(ngx, top):
    """PgBouncer on a unix socket in front of the cluster: session pooling, and
    DISCARD ALL (prepared statements included) when a client leaves."""
    d = ngx.path('pgb')
    pgcluster.give(d, 0o755)
    _, pgsock = pgcluster.paths(top)
    with open(os.path.join(d, 'users.txt'), 'w') as f:
        f.write('"tfb" ""\n')
    conf = os.path.join(d, 'pgbouncer.ini')
    with open(conf, 'w') as f:
        f.write(f'''[databases]
tfb = host={pgsock} dbname=tfb user=tfb
[pgbouncer]
listen_addr =
listen_port = 6432
unix_socket_dir = {d}
auth_type = trust
auth_file = {d}/users.txt
pool_mode = session
server_reset_query = DISCARD ALL
max_client_conn = 200
default_pool_size = {4 * WORKERS * POOL}
logfile = {d}/pgbouncer.log
''')
    # PgBouncer refuses to run as root, as PostgreSQL does.
    proc = subprocess.Popen(pgcluster.as_server_user(['pgbouncer', conf]), stdout=subprocess.DEVNULL,
                            stderr=open(ngx.path('pgbouncer.out'), 'w'))
    if not b.wait_for(lambda: os.path.exists(os.path.join(d, '.s.PGSQL.6432')), 10):
        raise SystemExit(f'pgbouncer did not start; see {d}/pgbouncer.log')
    return f'host={d} port=6432 dbname=tfb user=tfb', Backend('pgbouncer', proc)


def start_fw(args, ngx, top, name, extra, conninfo=None):
    sock = ngx.path(f'{name}.sock')
    env = {'FW_SERVER_WORKERS': str(WORKERS), 'FW_PG_POOL_SIZE': str(POOL),
           'FW_PG_CONNINFO': (conninfo or pgcluster.conninfo(top)) + f' application_name={name}'}
    env.update(extra)
    app = b.start_app(os.path.join(args.build, 'apps', 'tfb'), sock, env, ngx.path(f'{name}.log'))
    return Backend(name, app)


def start_php(args, ngx, top):
    fpm = sorted(p for p in os.listdir('/usr/sbin') if re.fullmatch(r'php-fpm[\d.]+', p))[-1]
    os.makedirs(ngx.path('php'), exist_ok=True)
    for f in ('tfb', 'db', 'queries', 'fortunes', 'updates'):
        shutil.copy(os.path.join(PEERS, f + '.php'), ngx.path(f'php/{f}.php'))
    conf = ngx.path('php-fpm.conf')
    _, sock = pgcluster.paths(top)
    with open(conf, 'w') as f:
        f.write(f'''[global]
error_log = {ngx.path('php.log')}
daemonize = no
[tfb]
listen = {ngx.path('php.sock')}
listen.mode = 0666
listen.backlog = 511
pm = static
pm.max_children = {args.php_children}
env[TFB_DSN] = "pgsql:host={sock};dbname=tfb;user=tfb"
''')
    proc = subprocess.Popen([f'/usr/sbin/{fpm}', '-F', '-R', '-y', conf], stdout=subprocess.DEVNULL,
                            stderr=open(ngx.path('php.out'), 'w'))
    if not b.wait_for(lambda: os.path.exists(ngx.path('php.sock')) and
                      len(b.children(proc.pid)) >= args.php_children, 20):
        with open(ngx.path('php.out')) as f:
            raise SystemExit(f'php-fpm did not start: {f.read()[-800:]}')
    return Backend('php', proc)


def start_python(args, ngx, top):
    _, sock = pgcluster.paths(top)
    env = dict(os.environ, TFB_PG_HOST=sock, TFB_PG_POOL=str(POOL), PYTHONPATH=PEERS)
    # Debian's python3, where its packages are (not one of PATH).
    proc = subprocess.Popen(['/usr/bin/python3', '-m', 'gunicorn', '-w', str(WORKERS), '-k', 'uvicorn.workers.UvicornWorker',
                             '--bind', f'unix:{ngx.path("py.sock")}', '--log-level', 'warning',
                             '--backlog', '511', 'app:app'], env=env, cwd=PEERS, stdout=subprocess.DEVNULL,
                            stderr=open(ngx.path('python.log'), 'w'))
    if not b.wait_for(lambda: os.path.exists(ngx.path('py.sock')) and len(b.children(proc.pid)) >= WORKERS, 30):
        with open(ngx.path('python.log')) as f:
            raise SystemExit(f'gunicorn did not start: {f.read()[-1500:]}')
    return Backend('python', proc)


class Peak(threading.Thread):
    """The most connections with an application_name seen while it runs."""

    def __init__(self, top, name):
        super().__init__(daemon=True)
        self.top, self.name, self.peak, self.stop = top, name, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                n = int(pgcluster.psql(self.top, "SELECT count(*) FROM pg_stat_activity "
                                                 f"WHERE application_name = '{self.name}'", user='tfb', db='tfb'))
                self.peak = max(self.peak, n)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired):
                pass
            self.stop.wait(0.5)


def bad_lines(path, offset):
    with open(path, 'rb') as f:
        f.seek(offset)
        return [line for line in f.read().decode('utf-8', 'replace').splitlines() if any(x in line for x in BAD)]


def warm(ngx, names, tests):
    for n in names:
        for t in tests:
            url = f'http://127.0.0.1:{ngx.port}/{n}{TESTS[t]}'
            for _ in range(3):
                with urllib.request.urlopen(url, timeout=20) as r:
                    body = r.read()
                if r.status != 200 or not body:
                    raise SystemExit(f'{url} answered {r.status} {body[:100]!r}')


def measure(args, ngx, names, tests, backends, top, out):
    pglog = ngx.path('postgresql.log')
    pg = backends['postgres']
    for r in range(args.rounds):
        for t in tests:
            for n in names:
                be = backends[n]
                peak = Peak(top, n) if n.startswith('fw') else None
                if peak:
                    peak.start()
                off = os.path.getsize(pglog)
                # The database's CPU: PostgreSQL's, and PgBouncer's for the targets behind it.
                dbs = [pg] + ([backends['pgbouncer']] if n.startswith('fw-pgb') else [])
                c0, d0 = be.ticks(), sum(d.ticks() for d in dbs)
                res = b.wrk(f'http://127.0.0.1:{ngx.port}/{n}{TESTS[t]}', args.seconds, connections=64)
                c1, d1 = be.ticks(), sum(d.ticks() for d in dbs)
                reqs = max(res['requests'], 1)
                res['cpu_us'] = (c1 - c0) * 1e6 / b.TICK / reqs
                res['db_us'] = (d1 - d0) * 1e6 / b.TICK / reqs
                if peak:
                    peak.stop.set()
                    peak.join(5)
                    out['peaks'][n] = max(out['peaks'].get(n, 0), peak.peak)
                    out['fw_bad'] += bad_lines(pglog, off)
                out['results'].setdefault((t, n), []).append(res)
                print(f'round {r + 1} {t:9s} {n:9s} {res["rps"]:8.0f} req/s  p99 {res["p99_ms"]:7.2f} ms  '
                      f'errors {res["errors"]:5d}  backend {res["cpu_us"]:6.1f} us/req  '
                      f'db {res["db_us"]:6.1f} us/req', flush=True)


def bench(args):
    install_packages()
    names = [n for n in TARGETS if not args.only or n in args.only.split(',')]
    tests = [t for t in TESTS if not args.tests or t in args.tests.split(',')]
    ngx = b.Nginx(HTTP_EXTRA, SERVER_EXTRA)
    backends = {}
    out = {'results': {}, 'peaks': {}, 'fw_bad': [], 'recycled': {}, 'errlog': []}
    try:
        top, backends['postgres'] = start_postgres(ngx.tmp, args.php_children + 4 * WORKERS * POOL + 20)
        pgb = None
        if any(n.startswith('fw-pgb') for n in names):
            pgb, backends['pgbouncer'] = start_pgbouncer(ngx, top)
        starters = {'fw': lambda: start_fw(args, ngx, top, 'fw', {}),
                    'fw-pgb': lambda: start_fw(args, ngx, top, 'fw-pgb', {}, pgb),
                    'fw-pgb-r1000': lambda: start_fw(args, ngx, top, 'fw-pgb-r1000', {
                        'FW_SERVER_MAX_REQUESTS': '1000', 'FW_SERVER_LOG_LEVEL': 'info'}, pgb),
                    'fw-r1000': lambda: start_fw(args, ngx, top, 'fw-r1000', {'FW_SERVER_MAX_REQUESTS': '1000',
                                                                   'FW_SERVER_LOG_LEVEL': 'info'}),
                    'php': lambda: start_php(args, ngx, top), 'python': lambda: start_python(args, ngx, top)}
        for n in names:
            backends[n] = starters[n]()
        warm(ngx, names, tests)
        measure(args, ngx, names, tests, backends, top, out)
        for n in names:
            if n.endswith('-r1000'):
                with open(ngx.path(f'{n}.log')) as f:
                    out['recycled'][n] = f.read().count('recycled (max_requests')
        out['errlog'] = ngx.upstream_errors()
    finally:
        for n, be in backends.items():
            if n not in ('postgres', 'pgbouncer'):
                be.stop()
        if 'pgbouncer' in backends:
            backends['pgbouncer'].stop(signal.SIGINT)
        if 'postgres' in backends:
            backends['postgres'].stop(signal.SIGINT)
        ngx.close()
    report(args, names, tests, out)


def report(args, names, tests, out):
    results, peaks, fw_bad, recycled, errlog = (out['results'], out['peaks'], out['fw_bad'], out['recycled'],
                                                out['errlog'])
    med = {k: {f: statistics.median(r[f] for r in rs) for f in rs[0]} for k, rs in results.items()}
    rows = [('test', 'target', 'req/s', 'p99 ms', 'errors', 'backend us/req', 'db us/req', 'vs php',
             'vs python')]
    for t in tests:
        for n in names:
            m = med[(t, n)]
            vs = [f'{m["rps"] / med[(t, p)]["rps"]:.2f}x' if p in names and p != n and n.startswith('fw') else '-'
                  for p in ('php', 'python')]
            rows.append((TESTS[t], n, f'{m["rps"]:.0f}', f'{m["p99_ms"]:.2f}',
                         str(sum(r['errors'] for r in results[(t, n)])), f'{m["cpu_us"]:.1f}',
                         f'{m["db_us"]:.1f}', *vs))
    print(f'\nmedians of {args.rounds} rounds of {args.seconds} s, wrk -t1 -c64 through nginx; '
          f'fw and python: {WORKERS} workers, pool {POOL} each; php: pm = static, {args.php_children} children')
    print(b.table(rows, args.markdown))
    for base in ('fw', 'fw-pgb'):
        if base in names and base + '-r1000' in names:
            print(f'\nrecycling every 1000 requests ({base}-r1000 / {base}): ' + ', '.join(
                f'{TESTS[t]} {med[(t, base + "-r1000")]["rps"] / med[(t, base)]["rps"]:.3f}' for t in tests)
                + f'; {recycled.get(base + "-r1000", 0)} workers recycled')
    for n, p in peaks.items():
        print(f'{n}: at most {p} connections seen in pg_stat_activity (workers x pool_size = {WORKERS * POOL})')
    print(f'PostgreSQL log lines reporting an error during the fw runs: {len(fw_bad)}')
    for line in fw_bad[:5]:
        print('  ' + line)
    print(f'nginx error log, lines about an upstream: {len(errlog)}')
    for line in errlog[:5]:
        print('  ' + line.rstrip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(os.path.dirname(HERE), 'build'))
    ap.add_argument('--seconds', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--only', default='')
    ap.add_argument('--tests', default='')
    ap.add_argument('--php-children', type=int, default=16)
    ap.add_argument('--markdown', action='store_true')
    args = ap.parse_args()
    if not os.access(os.path.join(args.build, 'apps', 'tfb'), os.X_OK):
        raise SystemExit(f'{args.build}/apps/tfb is not built (libpq-dev missing?)')
    bench(args)


if __name__ == '__main__':
    main()
