"""Shared by the benchmark scripts: a private nginx from conf/nginx.conf,
wrk runs parsed into numbers, CPU time of a process tree from /proc, the
peers' Debian packages."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf('SC_CLK_TCK')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


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


def pid_ticks(pid):
    """utime+stime of one live process (0 if it is gone)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            g = f.read().rsplit(')', 1)[1].split()
        return int(g[11]) + int(g[12])
    except OSError:
        return 0


def children(pid):
    with open(f'/proc/{pid}/task/{pid}/children') as f:
        return f.read().split()


class Nginx:
    """nginx -p TMP -c conf/nginx.conf with only the port and socket directory changed."""

    def __init__(self, http_extra='', server_extra=''):
        """http_extra and server_extra (where @TMP@ is the private directory)
        go into the http and server blocks, ahead of the shipped ones."""
        self.tmp = tempfile.mkdtemp(prefix='fw-bench-')
        os.chmod(self.tmp, 0o755)
        self.port = free_port()
        with open(os.path.join(ROOT, 'conf', 'nginx.conf')) as f:
            conf = f.read().replace('127.0.0.1:8080', f'127.0.0.1:{self.port}')
        conf = conf.replace('/tmp/fw-run/', self.tmp + '/')
        if http_extra:
            conf = conf.replace('\n    server {\n', '\n' + http_extra.replace('@TMP@', self.tmp) +
                                '\n    server {\n', 1)
        if server_extra:
            listen = f'listen 127.0.0.1:{self.port};\n'
            conf = conf.replace(listen, listen + server_extra.replace('@TMP@', self.tmp), 1)
        for d in ('logs', 'tmp'):
            os.makedirs(os.path.join(self.tmp, d), exist_ok=True)
        self.conf = os.path.join(self.tmp, 'nginx.conf')
        with open(self.conf, 'w') as f:
            f.write(conf)
        self.proc = subprocess.Popen(['nginx', '-p', self.tmp + '/', '-c', self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.path('nginx.out'), 'w'))
        if not wait_for(lambda: os.path.exists(self.path('nginx.pid')), 10):
            raise SystemExit('nginx did not start: ' + open(self.path('nginx.out')).read())

    def path(self, name):
        return os.path.join(self.tmp, name)

    def upstream_errors(self):
        with open(self.path('logs/error.log')) as f:
            return [l for l in f if 'upstream' in l]

    def close(self):
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=20)
        shutil.rmtree(self.tmp, ignore_errors=True)


def listening(addr):
    """Does something listen on addr: a unix socket's path, or host:port?"""
    if addr.startswith('/'):
        return os.path.exists(addr)
    host, _, port = addr.rpartition(':')
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def start_app(binary, sock, env_extra, log):
    """An fw app with conf/fw.ini, listening on sock (a path, or
    127.0.0.1:PORT); waits for its workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('FW_SERVER_')}
    env.update({'FW_SERVER_LISTEN': sock, 'FW_SERVER_LOG_LEVEL': 'warn'})
    env.update(env_extra)
    app = subprocess.Popen([binary, '-c', os.path.join(ROOT, 'conf', 'fw.ini')], env=env,
                           stderr=open(log, 'a'))
    want = int(env.get('FW_SERVER_WORKERS', '1'))
    if not wait_for(lambda: listening(sock) and len(children(app.pid)) >= want, 10):
        app.kill()
        raise SystemExit(f'{binary} did not start; see {log}')
    time.sleep(0.3)
    return app


def stop_app(app):
    app.send_signal(signal.SIGTERM)
    app.wait(timeout=40)


def wrk(url, seconds, connections=32, lua=None):
    """Run wrk; returns requests, req/s, p99 ms, errors (non-2xx + socket)."""
    argv = ['wrk', '-t1', f'-c{connections}', f'-d{seconds}s', '--latency']
    if lua:
        argv += ['-s', lua]
    return wrk_parse(subprocess.run(argv + [url], capture_output=True, text=True,
                                    timeout=seconds + 60).stdout)


def wrk_parse(out):
    """A wrk --latency report: requests, req/s, p99 ms, errors (non-2xx + socket)."""
    p99 = re.search(r'99%\s+([\d.]+)(us|ms|s)\b', out)
    errors = sum(int(x) for x in re.findall(r'Non-2xx or 3xx responses: (\d+)', out))
    sock = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    errors += sum(int(x) for x in sock.groups()) if sock else 0
    return {
        'requests': int(re.search(r'(\d+) requests in', out).group(1)),
        'rps': float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)),
        'p99_ms': float(p99.group(1)) * {'us': 0.001, 'ms': 1, 's': 1000}[p99.group(2)],
        'errors': errors,
    }


def install_packages(packages):
    """Install those of the Debian packages that are missing (as root, or with
    sudo), with service starts forbidden as scripts/lib.sh does for the
    project's own: a peer's package must not start a system service."""
    missing = [p for p in packages
               if 'install ok installed' not in subprocess.run(
                   ['dpkg-query', '-W', '-f=${Status}', p], capture_output=True, text=True).stdout]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ['sudo']
    apt = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get']
    print('installing ' + ' '.join(missing), file=sys.stderr, flush=True)
    subprocess.run(sudo + apt + ['update', '-qq'], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(['bash', '-c', '. "$0" && fw_without_services "$@"',
                    os.path.join(ROOT, 'scripts', 'lib.sh')] + sudo + apt +
                   ['install', '-y', '-qq', '--no-install-recommends'] + missing,
                   check=True, stdout=subprocess.DEVNULL)


def table(rows, markdown):
    """rows[0] is the header."""
    if markdown:
        lines = ['| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])]
        lines += ['| ' + ' | '.join(r) + ' |' for r in rows[1:]]
    else:
        width = [max(len(r[i]) for r in rows) + 2 for i in range(len(rows[0]))]
        lines = [f'{r[0]:{width[0]}s}' + ''.join(f'{c:>{w}s}' for c, w in zip(r[1:], width[1:]))
                 for r in rows]
    return '\n'.join(lines)
