#!/usr/bin/env python3
"""Live upgrade under load (issue 16): fw next to the peers that offer one, in one run.

One private nginx (conf/nginx.conf plus a location per target, 127.0.0.1
and a free port). For each target in turn: its server started with 2
workers serving version "a" of the same tiny application (GET /version
answers the version, POST /hello echoes the body), then

  1. a baseline: wrk -t1 -c32 for --baseline seconds, no upgrade;
  2. the upgrade run: wrk -t1 -c32 (half GET /version, half POST /hello,
     every answer's body checked), and under it --rounds upgrades back and
     forth between "a" and "b", each the server's documented way to load
     new code without downtime, --gap seconds apart; wrk is stopped
     (SIGINT) once the last round has settled.

  fw         tests/apps/upgradeapp_a and _b: the other build renamed over
             the executable's path, SIGUSR2 to the master; the time is
             until the old workers' pids are gone (measured from outside,
             as for the peers; the master's own "upgrade done: ... N ms
             after SIGUSR2" is printed beside it); done when the status
             page counts it done and shows the master and both workers
             on the new file's ELF build-id and version string, the
             master's pid unchanged.
  Gunicorn   with Uvicorn's worker (Debian's gunicorn, python3-uvicorn):
             the new app.py renamed over; USR2 to the master; once each
             worker of the new master has logged "Application startup
             complete.", WINCH and TERM to the old master (Gunicorn's docs:
             WINCH stops the workers of a daemonized master only; TERM is
             its graceful stop, QUIT its quick one).
  uWSGI      master + 2 workers, --lazy-apps (each worker loads the app
             itself); the new app.py renamed over; 'c' to the master FIFO
             (chain reload: one worker at a time, the next once its
             replacement accepts).
  PHP-FPM    pm static, 2 children, opcache.validate_timestamps=0 (a
             production set-up: the code changes when the pool reloads),
             process_control_timeout = 10s (children get 10 s to finish);
             the new app.php renamed over; SIGUSR2 to the master (its
             graceful reload: the master re-executes itself).

Each in two modes: nginx keeps its connections to the backend
(upstream keepalive: fastcgi_keep_conn on for FastCGI, HTTP/1.1 for
Gunicorn and uWSGI's http11-socket) or opens one per request (nginx's
default; uWSGI's own protocol, which nginx never keeps).

Reported per target: upgrades done (the server said so, then wrk got the
new version and no more the old one), failed requests (non-2xx answers,
wrk's socket errors, timeouts of 10 s included, wrong bodies) per 100k,
the same in the baseline, the request rate while an upgrade is under way
against the rate while none is (from the same run, in tenths of a second:
wrk's script stamps every answer), over the whole run and per round
(each upgrade against the second before its signal, which the machine's
drift spares more), wrk's p99 with and without upgrades, and the time
from the signal to the last old worker gone (median and worst round).
For fw a failed request is a bug: the script says so, keeps the evidence
(wrk's output, the logs) in a directory it names, and exits with status 1.

  bench/upgrade.py [--build build] [--rounds 10] [--gap 1.5] [--baseline 5] [--only fw-ka,php]
                   [--markdown]
  bench/upgrade.py --hygiene [--upgrades 100]

--hygiene: fw alone, no load: a hundred upgrades in a row, and the
master's descriptors, VmRSS and zombie children before, after the first,
and after the tenth, fiftieth and last (issue 16's process hygiene); the
time of each upgrade and its CPU (the master and its workers, reaped
ones included).

Needs a build with the tests' apps (-Dtests=true, the default). The
Debian packages of the peers are installed if missing (as root, or with
sudo, service starts forbidden): gunicorn, python3-uvicorn, uwsgi-core,
uwsgi-plugin-python3, php-fpm. (Debian's `uwsgi` adds only a system
service around uwsgi-core; this script runs uwsgi itself.)
"""
import argparse
import ctypes
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

import benchlib as b

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, 'peers')
PACKAGES = ['gunicorn', 'python3-uvicorn', 'uwsgi-core', 'uwsgi-plugin-python3', 'php-fpm']
WORKERS = 2
CONNECTIONS = 32
ROUND_TIMEOUT = 90  # one upgrade, on a loaded machine
POST_BODY = 'client request 0123456789abcdef'

# wrk's script: GET /version and POST /hello alternating, every answer's
# body checked, and every answer stamped in tenths of a second of the
# wall clock (LuaJIT's ffi: wrk has no finer clock in Lua), so that the
# rate during the upgrades can be told from the rate between them.
LUA = r'''
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } fwb_timespec;
int clock_gettime(int clk, fwb_timespec *ts);
]]
local ts = ffi.new("fwb_timespec")
local function tick()
  ffi.C.clock_gettime(0, ts)  -- CLOCK_REALTIME, as Python's time.time()
  return tonumber(ts.tv_sec) * 10 + math.floor(tonumber(ts.tv_nsec) / 100000000)
end

local threads = {}
local prefix = ""
local n = 0
local BODY = "@BODY@"
answers = {}  -- tick -> answers
failed = {}   -- tick -> answers that are not 200 with a right body
odd = 0       -- of those, the ones wrk does not count itself (below 400)
seen_a = {}   -- tick -> answers of version a
seen_b = {}   -- tick -> answers of version b

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or ""
end

function request()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("POST", prefix .. "/hello", {["Content-Type"] = "text/plain"}, BODY)
  end
  return wrk.format("GET", prefix .. "/version")
end

function response(status, headers, body)
  local t = tick()
  answers[t] = (answers[t] or 0) + 1
  local version = status == 200 and (body == "a\n" or body == "b\n")
  if version then
    local seen = body == "a\n" and seen_a or seen_b
    seen[t] = (seen[t] or 0) + 1
  end
  if not (version or (status == 200 and body == BODY)) then
    failed[t] = (failed[t] or 0) + 1
    if status < 400 then
      odd = odd + 1
    end
  end
end

function done(summary, latency, requests)
  for _, th in ipairs(threads) do
    for t, c in pairs(th:get("answers")) do io.write(string.format("answers %d %d\n", t, c)) end
    for t, c in pairs(th:get("failed")) do io.write(string.format("failed %d %d\n", t, c)) end
    for t, c in pairs(th:get("seen_a")) do io.write(string.format("a %d %d\n", t, c)) end
    for t, c in pairs(th:get("seen_b")) do io.write(string.format("b %d %d\n", t, c)) end
    io.write(string.format("odd answers %d\n", th:get("odd")))
  end
end
'''

HTTP_EXTRA = '''
    upstream gunicorn_ka {
        server unix:@TMP@/gunicorn.sock;
        keepalive 32;
    }
    upstream uwsgi_ka {
        server unix:@TMP@/uwsgi-http.sock;
        keepalive 32;
    }
    upstream php_ka {
        server unix:@TMP@/php.sock;
        keepalive 32;
    }
'''
# fw's /status stays the shipped one (upstream hello, hello.sock).
SERVER_EXTRA = '''
        location ^~ /fw-ka/ {
            rewrite ^/fw-ka(/.*)$ $1 break;
            include /etc/nginx/fastcgi_params;
            fastcgi_pass hello;
            fastcgi_keep_conn on;
        }
        location ^~ /fw/ {
            rewrite ^/fw(/.*)$ $1 break;
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:@TMP@/hello.sock;
        }
        location ^~ /gunicorn-ka/ {
            proxy_pass http://gunicorn_ka/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location ^~ /gunicorn/ {
            proxy_pass http://unix:@TMP@/gunicorn.sock:/;
        }
        location ^~ /uwsgi-ka/ {
            proxy_pass http://uwsgi_ka/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location ^~ /uwsgi/ {
            include /etc/nginx/uwsgi_params;
            uwsgi_pass unix:@TMP@/uwsgi.sock;
        }
        location ^~ /php-ka/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME @TMP@/php/app.php;
            fastcgi_pass php_ka;
            fastcgi_keep_conn on;
        }
        location ^~ /php/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME @TMP@/php/app.php;
            fastcgi_pass unix:@TMP@/php.sock;
        }
'''


class UpgradeFailed(Exception):
    pass


def replace_file(path, data=None, src=None, mode=0o644):
    """A new file renamed over path, as install(1) and package managers do."""
    tmp = path + '.new'
    if src is not None:
        shutil.copyfile(src, tmp)
    else:
        with open(tmp, 'w') as f:
            f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def poll(pred, timeout, step=0.01):
    """Like b.wait_for, finer: the time an old worker is gone is measured by it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def gone(pid):
    """pid has exited (a zombie counts as gone; one of ours is reaped)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    return proc_state(pid) in ('Z', 'X', None)


def proc_state(pid):
    """R, S, Z...: the state in /proc/PID/stat; None once the pid is gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return None


def kids(pid):
    try:
        return [int(p) for p in b.children(pid)]
    except OSError:
        return []


def log_text(path, offset=0):
    try:
        with open(path, errors='replace') as f:
            f.seek(offset)
            return f.read()
    except OSError:
        return ''


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def stop_pid(pid, sig, timeout=30):
    """Signal pid and wait for it to go; SIGKILL after timeout."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if not poll(lambda: gone(pid), timeout, 0.05):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        poll(lambda: gone(pid), 5, 0.05)


def elf_build_id(path):
    """build-id:HEX of an executable, as fw's status page names it."""
    out = subprocess.run(['readelf', '-n', path], capture_output=True, text=True, check=True).stdout
    m = re.search(r'Build ID: ([0-9a-f]+)', out)
    if not m:
        raise SystemExit(f'{path} has no ELF build-id (the status page would show its mtime)')
    return 'build-id:' + m.group(1)


def get(ngx, path, timeout=10):
    try:
        with urllib.request.urlopen(f'http://127.0.0.1:{ngx.port}{path}', timeout=timeout) as r:
            return r.status, r.read()
    except OSError as e:
        return None, str(e).encode()


# ---- the servers: start() serves version "a"; upgrade(v) returns the
# epoch seconds of the signal, of the last old worker gone, and of the
# end of the upgrade (the new workers all serving) ----

DONE_LINE = re.compile(r'upgrade done: .* (\d+) ms after SIGUSR2')


class Fw:
    name = 'fw'
    how = 'new executable renamed over, SIGUSR2 to the master'

    def __init__(self, args, ngx, keepalive):
        self.ngx = ngx
        self.builds = {v: os.path.join(args.build, 'tests', 'apps', f'upgradeapp_{v}') for v in 'ab'}
        for path in self.builds.values():
            if not os.access(path, os.X_OK):
                raise SystemExit(f'{path} is not built (meson setup with -Dtests=true, then ninja)')
        os.makedirs(ngx.path('bin'), exist_ok=True)
        self.exe = ngx.path('bin/app')
        self.log = ngx.path('fw.log')
        self.proc = None
        self.prefix = '/fw-ka' if keepalive else '/fw'
        self.ids = {v: elf_build_id(path) for v, path in self.builds.items()}
        self.master_ms = []  # the master's own figure, beside the one measured here

    def start(self):
        replace_file(self.exe, src=self.builds['a'], mode=0o755)
        env = {'FW_SERVER_WORKERS': str(WORKERS), 'FW_SERVER_STATUS_PATH': '/status',
               'FW_SERVER_LOG_LEVEL': 'info', 'FW_SERVER_MAX_REQUESTS': '0'}
        self.proc = b.start_app(self.exe, self.ngx.path('hello.sock'), env, self.log)

    def status(self):
        code, body = get(self.ngx, '/status')
        try:
            return json.loads(body) if code == 200 else None
        except ValueError:
            return None

    def upgrade(self, version):
        s = self.status()
        if s is None:
            raise UpgradeFailed('no status page')
        done, refused = s['upgrade']['done'], s['upgrade']['refused']
        replace_file(self.exe, src=self.builds[version], mode=0o755)
        mark = log_size(self.log)
        pid = self.proc.pid
        old = set(kids(pid))
        t0 = time.time()
        self.proc.send_signal(signal.SIGUSR2)
        # Measured from outside, as for the peers: the old workers' pids
        # gone. A refused upgrade leaves them serving: its log line ends
        # the wait.
        if not poll(lambda: all(gone(p) for p in old) or 'upgrade refused' in log_text(self.log, mark),
                    ROUND_TIMEOUT):
            raise UpgradeFailed(f'old workers left after {ROUND_TIMEOUT} s: {[p for p in old if not gone(p)]}')
        if 'upgrade refused' in log_text(self.log, mark):
            raise UpgradeFailed('refused: ' + ' '.join(l for l in log_text(self.log, mark).splitlines()
                                                       if 'upgrade refused' in l))
        t1 = time.time()
        last = {}

        def ended():
            st = self.status()
            if st is not None:
                last.update(st)
            return st is not None and st['upgrade']['state'] == 'none' and (
                st['upgrade']['done'] > done or st['upgrade']['refused'] > refused)
        if not b.wait_for(ended, ROUND_TIMEOUT):
            raise UpgradeFailed(f'not done after {ROUND_TIMEOUT} s: {last.get("upgrade")}')
        if last['upgrade']['done'] == done:
            raise UpgradeFailed(f'refused: {last["upgrade"]}')
        # The new build serves: the master and every worker run its
        # build-id, with its version string, and the master kept its pid.
        want = [{'build': self.ids[version], 'version': f'1.0-{version}', 'workers': WORKERS}]
        if last['build']['master'] != self.ids[version] or last['build']['workers'] != want:
            raise UpgradeFailed(f'done, but the status page shows {last["build"]}; expected the master '
                                f'and {want}')
        if self.proc.poll() is not None or proc_state(pid) is None:
            raise UpgradeFailed(f'the master {pid} is gone')
        found = []
        if not b.wait_for(lambda: found.extend(DONE_LINE.findall(log_text(self.log, mark))) or found, 5):
            raise UpgradeFailed('no "upgrade done" line in the log')
        self.master_ms.append(int(found[0]))
        return t0, t1, t1

    def stop(self):
        if self.proc is not None:
            b.stop_app(self.proc)


class PyApp:
    """A Python peer: its app.py in a directory of its own, its log."""

    def __init__(self, ngx, key, keepalive):
        self.ngx = ngx
        self.dir = ngx.path(key)
        os.makedirs(self.dir, exist_ok=True)
        self.app_py = os.path.join(self.dir, 'app.py')
        self.log = ngx.path(f'{key}.log')
        self.prefix = f'/{key}-ka' if keepalive else f'/{key}'
        self.proc = None

    def write_app(self, version):
        with open(os.path.join(PEERS, 'upgrade_app.py')) as f:
            replace_file(self.app_py, f.read().replace('@VERSION@', version))


class Gunicorn(PyApp):
    name = 'Gunicorn + Uvicorn'
    how = 'USR2, then WINCH + TERM to the old master'

    def __init__(self, args, ngx, keepalive):
        super().__init__(ngx, 'gunicorn', keepalive)
        self.sock = ngx.path('gunicorn.sock')
        self.master = None
        self.live = set()  # masters not yet seen gone: what stop() stops

    def started(self, master):
        """The workers of master that have logged their application's start-up."""
        text = log_text(self.log)
        return [w for w in kids(master) if f'[{w}] [INFO] Application startup complete' in text]

    def start(self):
        self.write_app('a')
        argv = ['gunicorn', '--workers', str(WORKERS), '--worker-class', 'uvicorn.workers.UvicornWorker',
                '--bind', f'unix:{self.sock}', '--umask', '0', '--chdir', self.dir,
                '--error-logfile', self.log, '--log-level', 'info', '--graceful-timeout', '30',
                'app:app']
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')  # no stale .pyc of the other version
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.master = self.proc.pid
        self.live.add(self.master)
        if not b.wait_for(lambda: len(self.started(self.master)) >= WORKERS, 60):
            raise SystemExit(f'gunicorn did not start; see {self.log}')

    def upgrade(self, version):
        self.write_app(version)
        old = self.master
        old_workers = set(kids(old))
        t0 = time.time()
        os.kill(old, signal.SIGUSR2)
        new = []
        if not poll(lambda: new.extend(set(kids(old)) - old_workers) or new, ROUND_TIMEOUT):
            raise UpgradeFailed('no new master')
        self.master = new[0]
        self.live.add(self.master)
        if not poll(lambda: len(self.started(self.master)) >= WORKERS, ROUND_TIMEOUT, 0.05):
            raise UpgradeFailed(f'the new master\'s workers did not start; see {self.log}')
        os.kill(old, signal.SIGWINCH)
        os.kill(old, signal.SIGTERM)
        if not poll(lambda: all(gone(p) for p in old_workers | {old}), ROUND_TIMEOUT):
            raise UpgradeFailed('the old master did not exit')
        t1 = time.time()
        self.live.discard(old)
        return t0, t1, t1

    def stop(self):
        for m in self.live:
            stop_pid(m, signal.SIGTERM)
        if self.proc is not None:
            self.proc.wait(timeout=10)


class Uwsgi(PyApp):
    name = 'uWSGI'
    how = 'chain reload (master FIFO \'c\'), lazy-apps'

    def __init__(self, args, ngx, keepalive):
        super().__init__(ngx, 'uwsgi', keepalive)
        self.fifo = ngx.path('uwsgi.fifo')
        self.keepalive = keepalive
        self.sock = ngx.path('uwsgi-http.sock' if keepalive else 'uwsgi.sock')

    def start(self):
        self.write_app('a')
        argv = ['uwsgi', '--master', '--processes', str(WORKERS), '--lazy-apps', '--need-app',
                '--plugin', 'python3', '--wsgi-file', self.app_py, '--master-fifo', self.fifo,
                '--http11-socket' if self.keepalive else '--socket', self.sock,
                '--chmod-socket=666', '--listen', '511', '--disable-logging', '--logto', self.log]
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not b.wait_for(lambda: os.path.exists(self.sock) and len(kids(self.proc.pid)) >= WORKERS
                          and log_text(self.log).count('WSGI app 0 (mountpoint=\'\') ready') >= WORKERS,
                          60):
            raise SystemExit(f'uwsgi did not start; see {self.log}')

    def upgrade(self, version):
        self.write_app(version)
        old = set(kids(self.proc.pid))
        mark = log_size(self.log)
        t0 = time.time()
        with open(self.fifo, 'w') as f:
            f.write('c')
        if not poll(lambda: all(gone(p) for p in old), ROUND_TIMEOUT):
            raise UpgradeFailed(f'old workers left: {[p for p in old if not gone(p)]}')
        t1 = time.time()
        if not poll(lambda: 'chain reloading complete' in log_text(self.log, mark), ROUND_TIMEOUT):
            raise UpgradeFailed(f'no "chain reloading complete"; see {self.log}')
        return t0, t1, time.time()

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=10)


class Php:
    name = 'PHP-FPM'
    how = 'SIGUSR2 to the master (graceful reload)'

    def __init__(self, args, ngx, keepalive):
        self.ngx = ngx
        os.makedirs(ngx.path('php'), exist_ok=True)
        self.app = ngx.path('php/app.php')
        self.log = ngx.path('php.log')
        self.sock = ngx.path('php.sock')
        self.prefix = '/php-ka' if keepalive else '/php'
        self.proc = None

    def write_app(self, version):
        with open(os.path.join(PEERS, 'upgrade_app.php')) as f:
            replace_file(self.app, f.read().replace('@VERSION@', version))

    def start(self):
        self.write_app('a')
        fpm = sorted(p for p in os.listdir('/usr/sbin') if re.fullmatch(r'php-fpm[\d.]+', p))[-1]
        conf = self.ngx.path('php.conf')
        with open(conf, 'w') as f:
            f.write(f'''[global]
error_log = {self.log}
daemonize = no
process_control_timeout = 10s
[app]
listen = {self.sock}
listen.mode = 0666
listen.backlog = 511
pm = static
pm.max_children = {WORKERS}
''')
        self.proc = subprocess.Popen([fpm, '-F', '-R', '-y', conf, '-d', 'opcache.validate_timestamps=0'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not b.wait_for(lambda: os.path.exists(self.sock) and len(kids(self.proc.pid)) >= WORKERS, 30):
            raise SystemExit(f'php-fpm did not start; see {self.log}')

    def upgrade(self, version):
        self.write_app(version)
        master = self.proc.pid
        old = set(kids(master))
        t0 = time.time()
        self.proc.send_signal(signal.SIGUSR2)
        if not poll(lambda: all(gone(p) for p in old), ROUND_TIMEOUT):
            raise UpgradeFailed('old children left')
        t1 = time.time()
        if not poll(lambda: len(set(kids(master)) - old) >= WORKERS, ROUND_TIMEOUT):
            raise UpgradeFailed('no new children')
        return t0, t1, time.time()

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, signal.SIGQUIT)
            self.proc.wait(timeout=10)


# id: (server, nginx keeps its connections, nginx -> backend)
TARGETS = {
    'fw-ka': (Fw, True, 'FastCGI, keep-alive'),
    'fw': (Fw, False, 'FastCGI, a connection per request'),
    'gunicorn-ka': (Gunicorn, True, 'HTTP/1.1, keep-alive'),
    'gunicorn': (Gunicorn, False, 'HTTP/1.0, a connection per request'),
    'uwsgi-ka': (Uwsgi, True, 'HTTP/1.1 (http11-socket), keep-alive'),
    'uwsgi': (Uwsgi, False, 'uwsgi protocol, a connection per request'),
    'php-ka': (Php, True, 'FastCGI, keep-alive'),
    'php': (Php, False, 'FastCGI, a connection per request'),
}


# ---- wrk ----

def start_wrk(ngx, lua, prefix, seconds, out):
    argv = ['wrk', '-t1', f'-c{CONNECTIONS}', f'-d{seconds}s', '--timeout', '10s', '--latency',
            '-s', lua, f'http://127.0.0.1:{ngx.port}/', '--', prefix]
    with open(out, 'w') as f:
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def finish_wrk(p, out, timeout):
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise SystemExit(f'wrk did not end; see {out}')
    text = log_text(out)
    res = b.wrk_parse(text)
    res['out'] = text
    odd = re.search(r'odd answers (\d+)', text)
    res['failed'] = res['errors'] + (int(odd.group(1)) if odd else 0)
    res['answers'] = {int(t): int(c) for t, c in re.findall(r'^answers (\d+) (\d+)$', text, re.M)}
    res['failed_at'] = {int(t): int(c) for t, c in re.findall(r'^failed (\d+) (\d+)$', text, re.M)}
    res['seen'] = {v: {int(t): int(c) for t, c in re.findall(rf'^{v} (\d+) (\d+)$', text, re.M)}
                   for v in 'ab'}
    return res


def rates(answers, windows, t_from, t_to):
    """Answers per second while an upgrade is under way and while none is,
    from answers per tenth of a second: a tenth partly inside a window
    counts for its share of it."""
    up_n = up_s = quiet_n = quiet_s = 0.0
    for k in range(int(t_from * 10) + 1, int(t_to * 10)):
        lo, hi = k / 10, (k + 1) / 10
        inside = sum(max(0.0, min(hi, w1) - max(lo, w0)) for w0, w1 in windows)
        n = answers.get(k, 0)
        if inside > 0:
            up_n += n * inside / 0.1
            up_s += inside
        else:
            quiet_n += n
            quiet_s += 0.1
    return (up_n / up_s if up_s else None), (quiet_n / quiet_s if quiet_s else None)


def round_ratio(answers, w0, w1):
    """One upgrade's rate against the second before its signal (no upgrade
    then: the rounds are --gap apart), which the machine's drift spares."""
    up, _ = rates(answers, [(w0, w1)], w0 - 0.1, w1 + 0.1)
    _, before = rates(answers, [(w0, w1)], w0 - 1.0, w0)
    return up / before if up is not None and before else None


def ticks_between(counts, t0, t1):
    """What counts holds for the tenths wholly between t0 and t1 (seconds)."""
    return sum(c for k, c in counts.items() if t0 * 10 + 1 <= k < t1 * 10 - 1)


def failed_outside(failed_at, windows, margin=1.0):
    """Failed answers (those wrk's script sees) stamped away from every upgrade."""
    return sum(c for k, c in failed_at.items()
               if not any(w0 - margin <= k / 10 <= w1 + margin for w0, w1 in windows))


def check_rounds(res, run, t_stop):
    """A round counts as done when the server said so, the new version
    answered wrk before the next round, and the old one no more."""
    rounds = res['rounds']
    for i, r in enumerate(rounds):
        nxt = rounds[i + 1]['t0'] if i + 1 < len(rounds) else t_stop
        new = ticks_between(run['seen'][r['version']], r['end'], nxt)
        old = ticks_between(run['seen']['b' if r['version'] == 'a' else 'a'], r['end'], nxt)
        r['ok'] = new > 0 and old == 0
        if not r['ok']:
            res['problems'].append(f'round {i + 1}: after the upgrade to {r["version"]}, {new} answers '
                                   f'of it and {old} of the old version')


# ---- one target ----

def run_target(args, ngx, lua, tid):
    cls, keepalive, proto = TARGETS[tid]
    srv = cls(args, ngx, keepalive)
    res = {'id': tid, 'server': srv.name, 'how': srv.how, 'proto': proto, 'rounds': [], 'problems': []}
    mark = log_size(ngx.path('logs/error.log'))
    srv_mark = log_size(srv.log)
    srv.start()
    wrk = None
    try:
        code, body = get(ngx, srv.prefix + '/version')
        if (code, body) != (200, b'a\n'):
            raise SystemExit(f'{tid}: {srv.prefix}/version answered {code} {body[:200]!r}')
        if args.baseline:
            out = ngx.path(f'wrk-{tid}-baseline.out')
            p = start_wrk(ngx, lua, srv.prefix, args.baseline, out)
            res['baseline'] = finish_wrk(p, out, args.baseline + 60)
        out = ngx.path(f'wrk-{tid}.out')
        # Bounded: wrk stops itself after this, whatever happens here.
        bound = int(args.warm + args.rounds * (args.gap + ROUND_TIMEOUT) + 30)
        wrk = start_wrk(ngx, lua, srv.prefix, bound, out)
        t_start = time.time()
        time.sleep(args.warm)
        version = 'a'
        for i in range(args.rounds):
            version = 'b' if version == 'a' else 'a'
            try:
                t0, t_gone, t_end = srv.upgrade(version)
            except UpgradeFailed as e:
                res['problems'].append(f'round {i + 1}: {e}')
                break
            res['rounds'].append({'version': version, 't0': t0, 'gone': t_gone, 'end': t_end})
            own = f' (the master says {srv.master_ms[-1]} ms)' if isinstance(srv, Fw) else ''
            print(f'  {tid} round {i + 1}: {version}, the last old worker gone after '
                  f'{(t_gone - t0) * 1000:.0f} ms{own}', file=sys.stderr, flush=True)
            time.sleep(args.gap)
        t_stop = time.time()
        wrk.send_signal(signal.SIGINT)
        run = finish_wrk(wrk, out, 30)
        wrk = None
    finally:
        if wrk is not None:
            wrk.kill()
            wrk.wait()
        srv.stop()
    res.update(run=run, t_start=t_start, t_stop=t_stop)
    check_rounds(res, run, t_stop)
    windows = [(r['t0'], r['end']) for r in res['rounds']]
    res['up_rate'], res['quiet_rate'] = rates(run['answers'], windows, t_start + 1.0, t_stop)
    ratios = [x for x in (round_ratio(run['answers'], w0, w1) for w0, w1 in windows) if x is not None]
    res['round_ratio'] = statistics.median(ratios) if ratios else None
    res['failed_outside'] = failed_outside(run['failed_at'], windows)
    res['nginx_errors'] = [l for l in log_text(ngx.path('logs/error.log'), mark).splitlines()
                           if 'upstream' in l]
    # fw's own complaints during the run (the peers' logs have no common form).
    res['fw_errors'] = ([l for l in log_text(srv.log, srv_mark).splitlines() if '[error]' in l or '[warn]' in l]
                        if isinstance(srv, Fw) else [])
    return res


def keep_evidence(ngx, res):
    """fw failed a request: its logs, nginx's and wrk's output, kept for the report."""
    dest = tempfile.mkdtemp(prefix=f'fw-upgrade-failure-{res["id"]}-')
    for name in ('fw.log', 'logs/error.log', f'wrk-{res["id"]}.out', f'wrk-{res["id"]}-baseline.out',
                 'nginx.conf', 'mix.lua'):
        if os.path.exists(ngx.path(name)):
            shutil.copy(ngx.path(name), os.path.join(dest, name.replace('/', '-')))
    with open(os.path.join(dest, 'rounds.json'), 'w') as f:
        json.dump({k: v for k, v in res.items() if k != 'run'}, f, indent=1, default=str)
    return dest


def per_100k(failed, total):
    return failed * 1e5 / total if total else 0.0


def table(results, args):
    head = ['server', 'nginx → backend', 'upgrade', 'upgrades done', 'failed / requests',
            'failed per 100k', 'per 100k without upgrades', 'req/s during upgrades / between',
            'same, per round (median)', 'p99 ms', 'p99 ms without upgrades',
            'signal → last old worker gone, ms (median, worst)']
    rows = [head]
    for r in results:
        run = r['run']
        ms = [(x['gone'] - x['t0']) * 1000 for x in r['rounds']]
        base = r.get('baseline')
        ratio = (f'{r["up_rate"]:.0f} / {r["quiet_rate"]:.0f} = {r["up_rate"] / r["quiet_rate"]:.2f}'
                 if r['up_rate'] is not None and r['quiet_rate'] else '-')
        rows.append([r['server'], r['proto'], r['how'],
                     f'{sum(x["ok"] for x in r["rounds"])} of {args.rounds}',
                     f'{run["failed"]:,} / {run["requests"]:,}',
                     f'{per_100k(run["failed"], run["requests"]):.1f}',
                     f'{per_100k(base["failed"], base["requests"]):.1f}' if base else '-',
                     ratio, f'{r["round_ratio"]:.2f}' if r['round_ratio'] is not None else '-',
                     f'{run["p99_ms"]:.1f}', f'{base["p99_ms"]:.1f}' if base else '-',
                     f'{statistics.median(ms):.0f}, {max(ms):.0f}' if ms else '-'])
    return b.table(rows, True) if args.markdown else '\n'.join(' | '.join(r) for r in rows)


def bench(args):
    b.install_packages(PACKAGES)
    ids = args.only.split(',') if args.only else list(TARGETS)
    for i in ids:
        if i not in TARGETS:
            raise SystemExit(f'--only: unknown target {i} (known: {", ".join(TARGETS)})')
    load0 = os.getloadavg()
    started = time.monotonic()
    ngx = b.Nginx(HTTP_EXTRA, SERVER_EXTRA)
    lua = ngx.path('mix.lua')
    with open(lua, 'w') as f:
        f.write(LUA.replace('@BODY@', POST_BODY))
    results, evidence = [], []
    try:
        for tid in ids:
            print(f'# {tid}', file=sys.stderr, flush=True)
            r = run_target(args, ngx, lua, tid)
            results.append(r)
            run = r['run']
            print(f'  {tid}: {run["requests"]} requests, {run["failed"]} failed '
                  f'({r["failed_outside"]} of those wrk\'s script saw fail more than 1 s away from '
                  f'an upgrade), versions answered {({v: sum(c.values()) for v, c in run["seen"].items()})}, nginx upstream lines '
                  f'{len(r["nginx_errors"])}', file=sys.stderr, flush=True)
            for line in r['nginx_errors'][:3]:
                print('    ' + line, file=sys.stderr)
            if tid.startswith('fw'):
                print(f'  {tid}: error and warning lines in fw\'s log: {len(r["fw_errors"])}', file=sys.stderr)
            for line in r['fw_errors'][:5]:
                print('    ' + line, file=sys.stderr)
            for p in r['problems']:
                print(f'  {tid}: {p}', file=sys.stderr)
            if tid.startswith('fw') and (run['failed'] or r['problems'] or r['fw_errors'] or
                                          (r.get('baseline') or {}).get('failed')):
                evidence.append((tid, keep_evidence(ngx, r)))
    finally:
        ngx.close()
    load1 = os.getloadavg()
    print(f'\nwrk -t1 -c{CONNECTIONS} --timeout 10s, half GET /version, half POST /hello (bodies '
          f'checked); {args.rounds} upgrades {args.gap} s apart; baseline {args.baseline} s; '
          f'{WORKERS} workers each; {time.monotonic() - started:.0f} s in all; load average '
          f'{load0[0]:.1f} at the start, {load1[0]:.1f} at the end, {os.cpu_count()} CPUs')
    print(table(results, args))
    for tid, where in evidence:
        print(f'\nfw FAILED REQUESTS, A FAILED ROUND OR ERRORS IN ITS LOG in {tid}: a bug. Evidence '
              f'(fw log, nginx error log, wrk output): {where}')
    return 1 if evidence else 0


# ---- --hygiene: a hundred upgrades in a row, fw's master before and after ----

def fd_targets(pid):
    """fd:what for each descriptor; a socket's inode left out (a new worker's
    channel is a new socket in the same place)."""
    out = []
    for fd in sorted(os.listdir(f'/proc/{pid}/fd'), key=int):
        try:
            out.append(f'{fd}:{re.sub(r"^socket:.*", "socket", os.readlink(f"/proc/{pid}/fd/{fd}"))}')
        except OSError:
            pass
    return out


def vm_rss_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        return int(re.search(r'^VmRSS:\s+(\d+)', f.read(), re.M).group(1))


def zombies(pid):
    return [k for k in kids(pid) if proc_state(k) == 'Z']


def hygiene(args):
    ngx = b.Nginx()
    fw = Fw(args, ngx, True)
    rows = [('upgrades', 'master fds', 'master VmRSS KiB', 'zombies', 'workers', 'worker fds')]
    try:
        fw.start()
        pid = fw.proc.pid
        before_fds = fd_targets(pid)
        worst_zombies, times = 0, []

        def snap(n):
            ws = kids(pid)
            rows.append((str(n), str(len(os.listdir(f'/proc/{pid}/fd'))), str(vm_rss_kb(pid)),
                         str(len(zombies(pid))), str(len(ws)),
                         ', '.join(str(len(os.listdir(f'/proc/{w}/fd'))) for w in ws)))
            print('  ' + ' | '.join(rows[-1]), file=sys.stderr, flush=True)
        snap(0)
        cpu0 = b.cpu_ticks(pid)
        for i in range(1, args.upgrades + 1):
            t0, t1, _ = fw.upgrade('b' if i % 2 else 'a')
            times.append((t1 - t0) * 1000)
            # Right after "done", before anything else runs: a worker the
            # master had not reaped would show here.
            worst_zombies = max(worst_zombies, len(zombies(pid)))
            if i in (1, 10, 50, args.upgrades):
                snap(i)
        # The master, the workers it reaped and the live ones: what the
        # upgrades cost in CPU, the status page's answers included.
        cpu_ms = (b.cpu_ticks(pid) - cpu0) * 1000 / b.TICK / args.upgrades
        after_fds = fd_targets(pid)
        same_pid = fw.proc.poll() is None and fw.proc.pid == pid
        errors = [l for l in log_text(fw.log).splitlines() if '[error]' in l or '[warn]' in l]
    finally:
        fw.stop()
        ngx.close()
    print(f'\n{args.upgrades} upgrades in a row without load, fw (upgradeapp_a <-> _b), '
          f'{WORKERS} workers; each {statistics.median(times):.0f} ms (median), '
          f'{max(times):.0f} ms at worst, SIGUSR2 to the last old worker gone (the master\'s own '
          f'figure: {statistics.median(fw.master_ms):.0f} ms median, {max(fw.master_ms)} ms at worst); '
          f'{cpu_ms:.1f} ms of CPU '
          f'each (master and workers, old and new)')
    print(b.table(rows, args.markdown))
    print(f'\nmaster kept its pid: {same_pid}; zombies right after any upgrade: at most {worst_zombies}; '
          f'error and warning lines in the log: {len(errors)}')
    # Numbers may move (a worker's new channel takes the lowest free one); what they are may not.
    what = sorted(x.split(':', 1)[1] for x in before_fds)
    if what != sorted(x.split(':', 1)[1] for x in after_fds):
        print('the master\'s descriptors differ:\n  before ' + ' '.join(before_fds) +
              '\n  after  ' + ' '.join(after_fds))
    else:
        print(f'the master holds the same {len(what)} descriptors as before (the listening socket and '
              f'a channel per worker among the sockets): before {" ".join(before_fds)}; after '
              f'{" ".join(after_fds)}')
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default=os.path.join(b.ROOT, 'build'))
    ap.add_argument('--rounds', type=int, default=10, help='upgrades per target (default 10)')
    ap.add_argument('--gap', type=float, default=1.5, help='seconds between upgrades (default 1.5)')
    ap.add_argument('--warm', type=float, default=2.0, help='seconds of load before the first upgrade')
    ap.add_argument('--baseline', type=int, default=5, help='seconds of load without upgrades first; 0: none')
    ap.add_argument('--only', default='', help=f'comma-separated targets: {",".join(TARGETS)}')
    ap.add_argument('--markdown', action='store_true')
    ap.add_argument('--hygiene', action='store_true', help='fw alone: many upgrades, no load')
    ap.add_argument('--upgrades', type=int, default=100, help='with --hygiene (default 100)')
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    # Gunicorn's new master is a child of the old one: once the old one
    # exits it comes to this process, which reaps it, instead of to init.
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        return hygiene(args) if args.hygiene else bench(args)
    finally:
        # Whatever came to this process as a subreaper and has exited.
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass


if __name__ == '__main__':
    sys.exit(main())
