#!/usr/bin/env python3
"""fw next to uWSGI, libfcgi and PHP-FPM behind the same nginx, in interleaved rounds.

One private nginx (conf/nginx.conf plus a location per target, one worker,
127.0.0.1 and a free port) and every backend with 2 processes, all started
once; then, round after round, wrk -t1 -c32 against each target in turn.
The targets come in modes, each a way nginx talks to its backends:

  ka    upstream keepalive 32 and fastcgi_keep_conn on: one kept
        connection per client (fw-fcgi-ka, libfcgi-ka, php-ka)
  ka2   upstream keepalive 2 and fastcgi_keep_conn on, 32 clients: a
        small cache, so most requests still open and close a connection
        (fw-fcgi-ka2, libfcgi-ka2, php-ka2)
  nka   nginx's default, a FastCGI connection per request (fw-fcgi,
        libfcgi, php), and uWSGI's own protocol (uwsgi: uwsgi_pass, its
        symcall plugin calling bench/peers/uwsgi_hello.c) and its FastCGI
        socket (uwsgi-fcgi), which keep no connection either
  scgi  SCGI, a connection per request (fw-scgi, uwsgi-scgi)

floor-fcgi (nka) and floor-scgi (scgi) are bench/peers/floor.c under
spawn-fcgi: blocking accept4, read, one write, close and nothing else, the
least CPU a backend can spend on a connection per request; what fw spends
above it is what fw's own code could still save.

and nginx-static, nginx's own `return 200`: the ceiling. libfcgi is
bench/peers/fcgi_hello.c under spawn-fcgi, PHP-FPM runs pm static with 2
children and bench/peers/hello.php; each of their modes has its own
instance (libfcgi and PHP-FPM serve a kept connection per process).
--tcp puts every backend on a 127.0.0.1 port instead of a unix socket.
--versus BUILD adds the fw targets of a second build (named with @b), run
in the same rounds: a change measured beside its parent.

Per round and as medians: req/s, p99, errors (non-2xx + socket errors,
timeouts included), backend CPU per request (utime+stime of every process
of the backend over the run, from /proc, divided by requests), nginx's CPU
per request, and the ratio to nginx-static. Then a table per mode: fw
against uWSGI's best (the uWSGI target with the most req/s in the run,
whatever its protocol: what a uWSGI user would pick), libfcgi and PHP-FPM.
Then, with keep-alive, 32 connections in parallel for a few seconds: how
many of them got answers (a backend that holds one connection per process
starves the others).

  bench/peers.py [--build build] [--seconds 10] [--rounds 3] [--only ka,nka,uwsgi,...]
                 [--tcp] [--versus BUILD] [--markdown]
  bench/peers.py --count [--build build] [--requests 200000] [--tcp]

--only takes target names and mode names.

--count measures fw alone (one worker, so that one process serves every
request): system calls per request (perf's raw_syscalls tracepoint, which
barely slows the worker, and strace -c -f for the breakdown), over a fixed
number of requests with and without keep-alive, with the small cache, and
SCGI; heap allocations per request (FW_COUNT_ALLOCS=1, as
tests/e2e/test_reuse.py does; tcmalloc builds only); the private memory of
an idle worker and of 1000 idle keep-alive connections; and, with 2
workers and no keep-alive, the accept4() calls that found nothing (the
thundering herd). --only takes fcgi-ka, fcgi-ka2, fcgi, scgi, idle, herd
there.

The Debian packages of the peers are installed if missing (as root, or
with sudo): uwsgi-core, spawn-fcgi, libfcgi-dev, php-fpm.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request

import benchlib as b

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, 'peers')
PACKAGES = ['uwsgi-core', 'spawn-fcgi', 'libfcgi-dev', 'php-fpm', 'strace']
WORKERS = 2
SMALL_CACHE = 2  # mode ka2: nginx's upstream keepalive

MODES = {
    'ka': 'keep-alive: upstream keepalive 32, fastcgi_keep_conn on',
    'ka2': f'a small keep-alive cache: upstream keepalive {SMALL_CACHE}, 32 clients',
    'nka': 'no keep-alive (nginx\'s default)',
    'scgi': 'SCGI',
}


class Addrs:
    """Where each backend listens: a unix socket in nginx's directory, or a
    127.0.0.1 port (--tcp). Names are the backends' sockets."""

    def __init__(self, tcp):
        self.tcp, self.ports = tcp, {}

    def nginx(self, name):
        """The address as nginx's config says it (@TMP@: nginx's directory)."""
        if self.tcp:
            if name not in self.ports:
                self.ports[name] = b.free_port()
            return f'127.0.0.1:{self.ports[name]}'
        return f'unix:@TMP@/{name}.sock'

    def backend(self, ngx, name):
        """The same address as the backend takes it."""
        a = self.nginx(name)
        return ngx.path(f'{name}.sock') if a.startswith('unix:') else a


class Target:
    def __init__(self, name, mode, backend, sock, proto, cache=None, rewrite=None):
        """proto: fastcgi, scgi, uwsgi or static; cache: the upstream's
        keepalive (with fastcgi_keep_conn on), None for none; rewrite: the
        path the backend sees."""
        self.name, self.mode, self.backend, self.sock = name, mode, backend, sock
        self.proto, self.cache, self.rewrite = proto, cache, rewrite
        self.path = '/' + name.replace('@', '-')


def fw_targets(suffix):
    """apps/hello's targets; suffix @b: the --versus build's."""
    be = 'fw' + suffix.replace('@', '')
    return [Target('fw-fcgi-ka' + suffix, 'ka', be, be, 'fastcgi', 32, '/hello'),
            Target('fw-fcgi-ka2' + suffix, 'ka2', be, be, 'fastcgi', SMALL_CACHE, '/hello'),
            Target('fw-fcgi' + suffix, 'nka', be, be, 'fastcgi', rewrite='/hello'),
            Target('fw-scgi' + suffix, 'scgi', be, be + '-scgi', 'scgi', rewrite='/hello')]


PEER_TARGETS = [
    Target('uwsgi', 'nka', 'uwsgi', 'uwsgi', 'uwsgi'),
    Target('uwsgi-fcgi', 'nka', 'uwsgi', 'uwsgi-fcgi', 'fastcgi'),
    Target('uwsgi-scgi', 'scgi', 'uwsgi', 'uwsgi-scgi', 'scgi'),
    Target('libfcgi-ka', 'ka', 'libfcgi-ka', 'libfcgi-ka', 'fastcgi', 32),
    Target('libfcgi-ka2', 'ka2', 'libfcgi-ka2', 'libfcgi-ka2', 'fastcgi', SMALL_CACHE),
    Target('libfcgi', 'nka', 'libfcgi', 'libfcgi', 'fastcgi'),
    Target('php-ka', 'ka', 'php-ka', 'php-ka', 'fastcgi', 32),
    Target('php-ka2', 'ka2', 'php-ka2', 'php-ka2', 'fastcgi', SMALL_CACHE),
    Target('php', 'nka', 'php', 'php', 'fastcgi'),
    Target('floor-fcgi', 'nka', 'floor-fcgi', 'floor-fcgi', 'fastcgi'),
    Target('floor-scgi', 'scgi', 'floor-scgi', 'floor-scgi', 'scgi'),
]


def all_targets(versus):
    ts = [Target('nginx-static', None, None, None, 'static')] + fw_targets('')
    if versus:
        ts += fw_targets('@b')
    return ts + PEER_TARGETS


def nginx_conf(targets, addrs):
    """(http block extra, server block extra): an upstream and a location per target."""
    http, server = [], []
    for t in targets:
        if t.proto == 'static':
            continue  # conf/nginx.conf has location = /nginx-static
        up = t.path[1:].replace('-', '_')
        http.append(f'    upstream {up} {{\n        server {addrs.nginx(t.sock)};\n' +
                    (f'        keepalive {t.cache};\n' if t.cache else '') + '    }\n')
        loc = [f'        location = {t.path} {{']
        if t.rewrite:
            loc.append(f'            rewrite ^ {t.rewrite} break;')
        if t.proto == 'uwsgi':
            loc += ['            include /etc/nginx/uwsgi_params;', '            uwsgi_modifier1 18;',
                    f'            uwsgi_pass {up};']
        else:
            loc += [f'            include /etc/nginx/{t.proto}_params;',
                    f'            {t.proto}_pass {up};']
            if t.backend.startswith('php'):
                loc.append('            fastcgi_param SCRIPT_FILENAME @TMP@/hello.php;')
            if t.cache:
                loc.append('            fastcgi_keep_conn on;')
        server.append('\n'.join(loc) + '\n        }\n')
    return ''.join(http), ''.join(server)


def wait_addr(addr, what, log):
    if not b.wait_for(lambda: b.listening(addr), 10):
        raise SystemExit(f'{what} did not start; see {log}')


class Backend:
    """A peer's processes: pids() lists every live one, for CPU accounting."""

    def __init__(self, name, proc=None, pidfile=None):
        self.name, self.proc, self.pidfile = name, proc, pidfile

    def pids(self):
        if self.proc is not None:
            return [self.proc.pid] + b.children(self.proc.pid)
        with open(self.pidfile) as f:
            return f.read().split()

    def ticks(self):
        if self.proc is not None:
            return b.cpu_ticks(self.proc.pid)  # the master, its workers and reaped ones
        return sum(b.pid_ticks(p) for p in self.pids())

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM if self.name != 'uwsgi' else signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            for p in self.pids():
                try:
                    os.kill(int(p), signal.SIGTERM)
                except ProcessLookupError:
                    pass



def start_fw(build, ngx, addrs, be):
    fcgi, scgi = addrs.backend(ngx, be), addrs.backend(ngx, be + '-scgi')
    env = {'FW_SERVER_WORKERS': str(WORKERS), 'FW_SERVER_LISTEN': f'{fcgi}, scgi:{scgi}'}
    app = b.start_app(os.path.join(build, 'apps', 'hello'), fcgi, env, ngx.path(be + '.log'))
    wait_addr(scgi, f'{be} (scgi)', ngx.path(be + '.log'))
    return Backend(be, app)


def build_peers(tmp):
    """The peers' hello programs, built into tmp."""
    with open(os.path.join(tmp, 'uwsgi.h'), 'w') as f:
        subprocess.run(['uwsgi', '--dot-h'], stdout=f, check=True)
    cflags = ['-O2', '-Wall', '-Wextra', '-Werror']
    subprocess.run(['cc'] + cflags + ['-shared', '-fPIC', '-I', tmp,
                    os.path.join(PEERS, 'uwsgi_hello.c'), '-o', os.path.join(tmp, 'uwsgi_hello.so')],
                   check=True)
    subprocess.run(['cc'] + cflags + [os.path.join(PEERS, 'fcgi_hello.c'), '-lfcgi',
                    '-o', os.path.join(tmp, 'fcgi_hello')], check=True)
    subprocess.run(['cc'] + cflags + [os.path.join(PEERS, 'floor.c'), '-o', os.path.join(tmp, 'floor')],
                   check=True)
    shutil.copy(os.path.join(PEERS, 'hello.php'), os.path.join(tmp, 'hello.php'))


def start_uwsgi(ngx, addrs):
    log = ngx.path('uwsgi.log')
    argv = ['uwsgi', '--master', '--processes', str(WORKERS), '--disable-logging',
            '--plugin', 'symcall', '--dlopen', ngx.path('uwsgi_hello.so'), '--symcall', 'uwsgi_hello',
            '--socket', addrs.backend(ngx, 'uwsgi'),
            '--fastcgi-socket', addrs.backend(ngx, 'uwsgi-fcgi'), '--fastcgi-modifier1', '18',
            '--scgi-socket', addrs.backend(ngx, 'uwsgi-scgi'), '--scgi-modifier1', '18',
            '--chmod-socket=666', '--listen', '511', '--logto', log]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for s in ('uwsgi', 'uwsgi-fcgi', 'uwsgi-scgi'):
        wait_addr(addrs.backend(ngx, s), 'uwsgi', log)
    if not b.wait_for(lambda: len(b.children(proc.pid)) >= WORKERS, 10):
        raise SystemExit(f'uwsgi workers did not start; see {log}')
    return Backend('uwsgi', proc)


def start_libfcgi(ngx, addrs, name, program=('fcgi_hello',)):
    pidfile = ngx.path(f'{name}.pid')
    addr = addrs.backend(ngx, name)
    if addr.startswith('/'):
        where = ['-s', addr, '-M', '0666']
    else:
        host, _, port = addr.rpartition(':')
        where = ['-a', host, '-p', port]
    # spawn-fcgi forks WORKERS children on one socket, writes their pids and exits.
    subprocess.run(['spawn-fcgi'] + where + ['-F', str(WORKERS), '-b', '511',
                    '-P', pidfile, '--', ngx.path(program[0])] + list(program[1:]), check=True,
                   stdout=subprocess.DEVNULL)
    wait_addr(addr, name, pidfile)
    be = Backend(name, pidfile=pidfile)
    if not b.wait_for(lambda: len(be.pids()) >= WORKERS, 10):
        raise SystemExit(f'{name}: spawn-fcgi did not write {WORKERS} pids')
    return be


def start_php(ngx, addrs, name):
    fpm = sorted(p for p in os.listdir('/usr/sbin') if re.fullmatch(r'php-fpm[\d.]+', p))[-1]
    conf = ngx.path(f'{name}.conf')
    addr = addrs.backend(ngx, name)
    with open(conf, 'w') as f:
        f.write(f'''[global]
error_log = {ngx.path(name + '.log')}
daemonize = no
[hello]
listen = {addr}
listen.mode = 0666
listen.backlog = 511
pm = static
pm.max_children = {WORKERS}
''')
    proc = subprocess.Popen([fpm, '-F', '-R', '-y', conf], stdout=subprocess.DEVNULL,
                            stderr=open(ngx.path(name + '.out'), 'w'))
    wait_addr(addr, name, ngx.path(name + '.log'))
    if not b.wait_for(lambda: len(b.children(proc.pid)) >= WORKERS, 10):
        raise SystemExit(f'{name} workers did not start')
    return Backend(name, proc)


# ---- all 32 keep-alive connections served? ----

async def _conn_loop(port, path, deadline, counts, i, stalls):
    """One keep-alive client: requests back to back until the deadline. nginx
    closes a client connection after keepalive_requests (1000): it reconnects.
    An answer that takes over a second counts as a stall and ends the client."""
    req = f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.encode()
    writer = None
    try:
        while time.monotonic() < deadline:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection('127.0.0.1', port), 2)
            writer.write(req)
            try:
                head = await asyncio.wait_for(reader.readuntil(b'\r\n\r\n'), 1.0)
                m = re.search(rb'(?i)\r\ncontent-length: *(\d+)', head)
                if m:
                    await asyncio.wait_for(reader.readexactly(int(m.group(1))), 1.0)
                else:  # chunked
                    await asyncio.wait_for(reader.readuntil(b'\r\n0\r\n\r\n'), 1.0)
            except asyncio.TimeoutError:
                stalls[i] += 1
                return  # this connection waits on a backend busy with others
            except (asyncio.IncompleteReadError, OSError):
                writer.close()
                writer = None  # closed by nginx: open another
                continue
            if not head.startswith(b'HTTP/1.1 200'):
                return
            counts[i] += 1
            if re.search(rb'(?i)\r\nconnection: *close', head):
                writer.close()
                writer = None
    except (OSError, asyncio.TimeoutError):
        return
    finally:
        if writer is not None:
            writer.close()


def fairness(port, path, seconds=3, conns=32):
    """Per-connection answer counts of `conns` keep-alive clients over `seconds`."""
    counts, stalls = [0] * conns, [0] * conns
    deadline = time.monotonic() + seconds

    async def run():
        await asyncio.gather(*(_conn_loop(port, path, deadline, counts, i, stalls)
                               for i in range(conns)))
    asyncio.run(run())
    return {'served': sum(1 for c in counts if c > 0), 'min': min(counts),
            'median': statistics.median(counts), 'max': max(counts), 'stalled': sum(stalls)}


# ---- the side-by-side rounds ----

def select(args):
    want = set(filter(None, args.only.split(',')))
    ts = all_targets(args.versus)
    if not want:
        return ts
    return [t for t in ts if t.name in want or t.mode in want or t.name.split('@')[0] in want]


def start_backends(args, ngx, addrs, targets):
    build_peers(ngx.tmp)
    starters = {'fw': lambda: start_fw(args.build, ngx, addrs, 'fw'),
                'fwb': lambda: start_fw(args.versus, ngx, addrs, 'fwb'),
                'uwsgi': lambda: start_uwsgi(ngx, addrs)}
    for name in ('libfcgi', 'libfcgi-ka', 'libfcgi-ka2'):
        starters[name] = lambda name=name: start_libfcgi(ngx, addrs, name)
    for name in ('php', 'php-ka', 'php-ka2'):
        starters[name] = lambda name=name: start_php(ngx, addrs, name)
    for proto in ('fcgi', 'scgi'):
        starters['floor-' + proto] = lambda proto=proto: start_libfcgi(ngx, addrs, 'floor-' + proto,
                                                                         ('floor', proto))
    backends = {}
    for be in sorted({t.backend for t in targets} - {None}):
        backends[be] = starters[be]()
    return backends


def check_answers(ngx, targets):
    """Every target answers hello before anything is measured."""
    for t in targets:
        url = f'http://127.0.0.1:{ngx.port}{t.path}'
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read()
        if r.status != 200 or body not in (b'hello\n', b'static\n'):
            raise SystemExit(f'{t.name}: {url} answered {r.status} {body[:100]!r}')


def one_run(ngx, t, backends, seconds):
    be = backends.get(t.backend)
    c0, n0 = be.ticks() if be else 0, b.cpu_ticks(ngx.proc.pid)
    res = b.wrk(f'http://127.0.0.1:{ngx.port}{t.path}', seconds)
    c1, n1 = be.ticks() if be else 0, b.cpu_ticks(ngx.proc.pid)
    reqs = max(res['requests'], 1)
    res['cpu_us'] = (c1 - c0) * 1e6 / b.TICK / reqs
    res['nginx_us'] = (n1 - n0) * 1e6 / b.TICK / reqs
    return res


def bench(args):
    b.install_packages(PACKAGES)
    targets = select(args)
    addrs = Addrs(args.tcp)
    ngx = b.Nginx(*nginx_conf(targets, addrs))
    backends = {}
    try:
        backends = start_backends(args, ngx, addrs, targets)
        check_answers(ngx, targets)
        results = {t.name: [] for t in targets}
        for r in range(args.rounds):
            # The order rotates: no target always runs first, or right after another.
            for t in targets[r % len(targets):] + targets[:r % len(targets)]:
                res = one_run(ngx, t, backends, args.seconds)
                results[t.name].append(res)
                print(f'round {r + 1} {t.name:14s} {res["rps"]:9.0f} req/s  p99 {res["p99_ms"]:7.2f} ms  '
                      f'errors {res["errors"]:5d}  backend {res["cpu_us"]:5.1f} us/req  '
                      f'nginx {res["nginx_us"]:5.1f} us/req', flush=True)
        fair = {}
        for t in targets:
            if t.cache and not args.no_fairness:
                fair[t.name] = fairness(ngx.port, t.path)
                print(f'keep-alive, 32 connections for 3 s, {t.name}: {fair[t.name]}', flush=True)
        errlog = ngx.upstream_errors()
    finally:
        for be in backends.values():
            be.stop()
        ngx.close()
    report(args, targets, results, fair, errlog)


def report(args, targets, results, fair, errlog):
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in results.items()}
    base = med['nginx-static']['rps'] if 'nginx-static' in med else None
    rows = [('target', 'req/s', 'ratio to static', 'p99 ms', 'errors', 'backend us/req',
             'nginx us/req')]
    for t in targets:
        m = med[t.name]
        rows.append((t.name, f'{m["rps"]:.0f}', f'{m["rps"] / base:.3f}' if base else '-',
                     f'{m["p99_ms"]:.2f}', f'{sum(r["errors"] for r in results[t.name])}',
                     f'{m["cpu_us"]:.1f}' if t.backend else '-', f'{m["nginx_us"]:.1f}'))
    print(f'\nmedians of {args.rounds} rounds of {args.seconds} s, wrk -t1 -c32, '
          f'{WORKERS} backend processes each, over {"TCP (127.0.0.1)" if args.tcp else "unix sockets"}')
    print(b.table(rows, args.markdown))
    print(mode_table(targets, med, args.markdown))
    if fair:
        rows = [('keep-alive', 'conns answered', 'conns stalled', 'min answers', 'median', 'max')]
        for n, f in fair.items():
            rows.append((n, f'{f["served"]} of 32', f'{f["stalled"]} of 32', str(f['min']),
                         f'{f["median"]:.0f}', str(f['max'])))
        print('\n32 keep-alive clients for 3 s: answers per connection; a connection that '
              'waits over 1 s for an answer counts as stalled and stops')
        print(b.table(rows, args.markdown))
    print(f'\nnginx error log, lines about an upstream: {len(errlog)}')
    for line in errlog[:5]:
        print('  ' + line.rstrip())


def mode_table(targets, med, markdown):
    """Per mode: fw against uWSGI's best (its target with the most req/s in
    the run), libfcgi and PHP-FPM in the same mode, and fw@b if measured."""
    uw = [t.name for t in targets if t.backend == 'uwsgi']
    best = max(uw, key=lambda n: med[n]['rps']) if uw else None
    rows = [('mode', 'fw req/s', 'fw us/req', "to uWSGI's best: req/s", 'CPU/req', 'libfcgi req/s, us/req',
             'PHP-FPM req/s, us/req', 'floor req/s, us/req', 'fw CPU / floor', 'fw@b req/s, us/req',
             'fw / fw@b: req/s', 'CPU/req')]
    for mode in MODES:
        fw = next((t for t in targets if t.mode == mode and t.backend == 'fw'), None)
        if fw is None:
            continue
        m = med[fw.name]

        def peer(prefix):
            t = next((t for t in targets if t.mode == mode and t.backend.startswith(prefix)), None)
            return f'{med[t.name]["rps"]:.0f}, {med[t.name]["cpu_us"]:.1f}' if t else '-'
        fb = med.get(fw.name + '@b')
        fl = next((med[t.name] for t in targets if t.mode == mode and t.backend.startswith('floor')), None)
        rows.append((mode, f'{m["rps"]:.0f}', f'{m["cpu_us"]:.1f}',
                     f'{m["rps"] / med[best]["rps"]:.2f}x' if best else '-',
                     f'{m["cpu_us"] / med[best]["cpu_us"]:.2f}x' if best else '-',
                     peer('libfcgi'), peer('php'), peer('floor'),
                     f'{m["cpu_us"] / fl["cpu_us"]:.2f}x' if fl else '-',
                     f'{fb["rps"]:.0f}, {fb["cpu_us"]:.1f}' if fb else '-',
                     f'{m["rps"] / fb["rps"]:.3f}' if fb else '-',
                     f'{m["cpu_us"] / fb["cpu_us"]:.3f}' if fb else '-'))
    head = (f"\nuWSGI's best: {best}, {med[best]['rps']:.0f} req/s at {med[best]['cpu_us']:.1f} us/req"
            if best else "\n(no uWSGI target)")
    return head + '\n' + b.table(rows, markdown)


# ---- --count: system calls and allocations per request, fw only ----

LUA_COUNT = '''
local n, limit = 0, @N@
response = function(status, headers, body)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
'''


# --count's names for fw's targets
COUNT_TARGETS = {'fcgi-ka': 'fw-fcgi-ka', 'fcgi-ka2': 'fw-fcgi-ka2', 'fcgi': 'fw-fcgi', 'scgi': 'fw-scgi'}
STATUS = Target('fw-status', None, 'fw', 'fw', 'fastcgi', 32, rewrite='/status')
HERD = Target('fw-herd', 'nka', 'herd', 'herd', 'fastcgi', rewrite='/hello')


def status(ngx):
    with urllib.request.urlopen(f'http://127.0.0.1:{ngx.port}{STATUS.path}', timeout=10) as r:
        return json.load(r)['workers'][0]


PERF_EVENTS = ['raw_syscalls:sys_enter'] + [f'syscalls:sys_enter_{c}' for c in (
    'read', 'write', 'epoll_wait', 'epoll_ctl', 'accept4', 'shutdown', 'close', 'poll')]


def traced(argv, settle_s, run):
    """Run the tracer argv around run(), its OUT argument replaced by a
    temporary file: (what the tracer wrote there, run's result)."""
    fd, out = tempfile.mkstemp(prefix='fw-trace-')
    os.close(fd)
    p = subprocess.Popen([out if a == 'OUT' else a for a in argv], stderr=subprocess.DEVNULL)
    time.sleep(settle_s)
    try:
        res = run()
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
    with open(out) as f:
        text = f.read()
    os.unlink(out)
    return text, res


def perf_syscalls(pid, run):
    """perf stat of pid's system calls over run(): {event: count}, run's result."""
    text, res = traced(['perf', 'stat', '-x,', '-o', 'OUT', '-e', ','.join(PERF_EVENTS), '-p', str(pid)], 0.3,
                       run)
    counts = {}
    for line in text.splitlines():
        parts = line.split(',')
        if len(parts) > 3 and parts[0].isdigit():
            counts[parts[2].split(':')[-1].replace('sys_enter_', '')] = int(parts[0])
    return counts, res


def strace_counts(pid, run):
    """strace -c -f of pid over run(): {syscall: (calls, errors)}, run's result."""
    text, res = traced(['strace', '-c', '-f', '-o', 'OUT', '-p', str(pid)], 0.5, run)
    calls = {}
    for line in text.splitlines():
        m = re.match(r'\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d*)\s*(\w+)$', line)
        if m and m.group(3) != 'total':
            calls[m.group(3)] = (int(m.group(1)), int(m.group(2) or 0))
    return calls, res


def herd(args, ngx, addrs):
    """Without keep-alive, 2 workers: accept4 calls that found nothing (a
    worker woken for a connection a sibling took), per accepted connection."""
    sock = addrs.backend(ngx, 'herd')
    env = {'FW_SERVER_WORKERS': '2', 'FW_SERVER_LISTEN': sock}
    app = b.start_app(os.path.join(args.build, 'apps', 'hello'), sock, env, ngx.path('herd.log'))
    out = tempfile.mktemp(prefix='fw-perf-')
    try:
        pids = ','.join(b.children(app.pid))
        p = subprocess.Popen(['perf', 'stat', '-x,', '-o', out,
                              '-e', 'syscalls:sys_enter_accept4',
                              '-e', 'syscalls:sys_exit_accept4', '--filter', 'ret < 0',
                              '-e', 'syscalls:sys_enter_epoll_wait', '-p', pids],
                             stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        res = b.wrk(f'http://127.0.0.1:{ngx.port}{HERD.path}', 5)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
    finally:
        b.stop_app(app)
    with open(out) as f:
        n = [int(l.split(',')[0]) for l in f if l.split(',')[0].isdigit()]
    os.unlink(out)
    calls, failed, waits = n
    ok = calls - failed
    return {'requests': res['requests'], 'accepted': ok, 'failed_accepts': failed,
            'failed_per_accept': failed / max(ok, 1), 'epoll_waits_per_accept': waits / max(ok, 1)}


def fcgi_request(path):
    """A FastCGI GET with FCGI_KEEP_CONN, request id 1."""
    def rec(t, body):
        return bytes([1, t, 0, 1, len(body) >> 8, len(body) & 255, 0, 0]) + body

    def nv(n, v):
        return bytes([len(n), len(v)]) + n + v
    params = nv(b'REQUEST_METHOD', b'GET') + nv(b'DOCUMENT_URI', path.encode())
    return (rec(1, bytes([0, 1, 1, 0, 0, 0, 0, 0])) + rec(4, params) + rec(4, b'') + rec(5, b''))


def private_kb(pid):
    """Private_Clean + Private_Dirty of pid."""
    kb = 0
    with open(f'/proc/{pid}/smaps_rollup') as f:
        for line in f:
            if line.startswith(('Private_Clean:', 'Private_Dirty:')):
                kb += int(line.split()[1])
    return kb


def idle_memory(args, tmp, conns=1000):
    """Private memory of an idle worker, then per idle keep-alive connection
    (each served one request first, as nginx's kept connections are)."""
    import socket
    sock = os.path.join(tmp, 'idle.sock')
    app = b.start_app(os.path.join(args.build, 'apps', 'hello'), sock,
                      {'FW_SERVER_WORKERS': '1', 'FW_SERVER_LISTEN': sock},
                      os.path.join(tmp, 'idle.log'))
    held = []
    try:
        worker = int(b.children(app.pid)[0])
        req = fcgi_request('/hello')
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        s.sendall(req)
        s.settimeout(5)
        while b'\x01\x03\x00\x01' not in s.recv(65536):  # END_REQUEST
            pass
        s.close()
        time.sleep(0.3)
        before = private_kb(worker)
        for _ in range(conns):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(sock)
            s.sendall(req)
            data = b''
            while b'\x01\x03\x00\x01' not in data:
                chunk = s.recv(65536)
                if not chunk:
                    raise SystemExit('idle check: connection closed')
                data += chunk
            held.append(s)
        time.sleep(0.3)
        after = private_kb(worker)
    finally:
        for s in held:
            s.close()
        b.stop_app(app)
    return before, (after - before) * 1024 / conns


def count(args):
    b.install_packages(PACKAGES)
    addrs = Addrs(args.tcp)
    targets = [t for t in fw_targets('') if t.name in COUNT_TARGETS.values()]
    ngx = b.Nginx(*nginx_conf(targets + [STATUS], addrs))
    fcgi, scgi = addrs.backend(ngx, 'fw'), addrs.backend(ngx, 'fw-scgi')
    env = {'FW_SERVER_WORKERS': '1', 'FW_COUNT_ALLOCS': '1', 'FW_SERVER_STATUS_PATH': '/status',
           'FW_SERVER_LISTEN': f'{fcgi}, scgi:{scgi}'}
    app = b.start_app(os.path.join(args.build, 'apps', 'hello'), fcgi, env, ngx.path('fw.log'))
    lua = ngx.path('count.lua')
    with open(lua, 'w') as f:
        f.write(LUA_COUNT.replace('@N@', str(args.requests)))
    rows = [('fw, 1 worker', 'requests', 'syscalls/req', 'breakdown per request',
             'syscalls/req under strace', 'breakdown under strace', 'allocs/req')]
    only = set(filter(None, args.only.split(',')))
    try:
        worker = int(b.children(app.pid)[0])
        for name, target in COUNT_TARGETS.items():
            if only and name not in only:
                continue
            url = f'http://127.0.0.1:{ngx.port}/{target}'
            rows.append(count_one(name, url, worker, ngx, lua, args.requests))
            print(' | '.join(rows[-1]), flush=True)
    finally:
        b.stop_app(app)
        ngx.close()
    print(f'\nwrk -t1 -c32 stopped after {args.requests} answers; one worker, over '
          f'{"TCP" if args.tcp else "unix sockets"}')
    if not only or 'idle' in only:
        tmp = tempfile.mkdtemp(prefix='fw-idle-')
        try:
            idle_kb, per_conn = idle_memory(args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f'\nidle worker (after one request): {idle_kb} KiB private; '
              f'1000 idle keep-alive connections add {per_conn:.0f} bytes each to its private memory')
    if not only or 'herd' in only:
        ngx = b.Nginx(*nginx_conf([HERD], addrs))
        try:
            h = herd(args, ngx, addrs)
        finally:
            ngx.close()
        print(f'\naccept herd, 2 workers, FastCGI without keep-alive, wrk -t1 -c32 for 5 s: '
              f'{h["accepted"]} connections accepted, {h["failed_accepts"]} accept4 calls found '
              f'nothing ({h["failed_per_accept"]:.3f} per accepted connection); '
              f'{h["epoll_waits_per_accept"]:.2f} epoll_wait per accepted connection (both workers)')
    print(b.table(rows, True) if args.markdown else '\n'.join('  '.join(r) for r in rows))


def count_one(name, url, worker, ngx, lua, requests):
    """One target's row: system calls (perf, then strace) and allocations per request."""
    warm = b.wrk(url, 2)  # warm-up: pools, buffers, connections at their working size
    # wrk's thread:stop() ends the requests, not the run: size the run to fit.
    secs = int(requests / warm['rps'] * 1.5) + 2
    s0 = status(ngx)
    perf, res = perf_syscalls(worker, lambda: b.wrk(url, secs, lua=lua))
    s1 = status(ngx)
    reqs = s1['requests'] - s0['requests'] - 1  # the status request itself
    allocs = (s1['allocs'] - s0['allocs']) / reqs if isinstance(s0['allocs'], int) else None
    total = perf.pop('sys_enter')
    per = ', '.join(f'{k} {c / reqs:.2f}' for k, c in sorted(perf.items(), key=lambda kv: -kv[1])
                    if c / reqs >= 0.005)
    calls, res2 = strace_counts(worker, lambda: b.wrk(url, secs * 10, lua=lua))
    n2 = res2['requests']
    n_strace = sum(c for c, _ in calls.values())
    per2 = ', '.join(f'{k} {c / n2:.2f}' + (f' ({e / n2:.2f} failed)' if e else '')
                     for k, (c, e) in sorted(calls.items(), key=lambda kv: -kv[1][0])
                     if c / n2 >= 0.005)
    return (name, str(reqs), f'{total / reqs:.2f}', per, f'{n_strace / n2:.2f}', per2,
            f'{allocs:.3f}' if allocs is not None else 'n/a (not tcmalloc)')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default=os.path.join(b.ROOT, 'build'))
    ap.add_argument('--seconds', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--only', default='', help='comma-separated targets and modes')
    ap.add_argument('--tcp', action='store_true', help='backends on 127.0.0.1 ports, not unix sockets')
    ap.add_argument('--versus', metavar='BUILD', help="a second fw build's targets in the same rounds")
    ap.add_argument('--no-fairness', action='store_true', help='skip the 32-connection keep-alive check')
    ap.add_argument('--markdown', action='store_true')
    ap.add_argument('--count', action='store_true', help='syscalls and allocations per request, fw')
    ap.add_argument('--requests', type=int, default=100000, help='with --count')
    args = ap.parse_args()
    if args.count:
        count(args)
    else:
        bench(args)


if __name__ == '__main__':
    main()
