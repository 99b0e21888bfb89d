"""
Shared helpers of the fw end-to-end tests (Python 3, standard library only).

A test file does:

    import harness

    def main(t):
        app = t.start_app('hello')
        nginx = t.start_nginx()
        st, hdrs, body = harness.http(nginx.port, 'GET', '/hello')
        t.check('GET /hello is 200', st == 200, f'status {st}')

    harness.run(main)

run() gives main a Run: a private temp dir, every process started through
it stopped BY PID in `finally` (SIGTERM, bounded wait, SIGKILL; workers of
a master too), one printed line per check, the logs of the apps and nginx
printed when something failed, and the exit status (1 if any check failed).

Environment: FW_BUILD_DIR (the meson build dir: apps in FW_BUILD_DIR/apps)
and FW_SOURCE_DIR (conf/fw.ini, conf/nginx.conf). Both default to the
layout of the source tree for a manual run (python3 tests/e2e/test_x.py).
FW_E2E_KEEP=1 keeps the temp dir (logs, rewritten nginx.conf) afterwards.
"""

import atexit
import contextlib
import http.client as httpclient
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('FW_SOURCE_DIR') or os.path.normpath(os.path.join(HERE, '..', '..'))
BUILD_DIR = os.environ.get('FW_BUILD_DIR') or os.path.join(SOURCE_DIR, 'build')
FW_INI = os.path.join(SOURCE_DIR, 'conf', 'fw.ini')
NGINX_CONF = os.path.join(SOURCE_DIR, 'conf', 'nginx.conf')
NGINX = shutil.which('nginx') or '/usr/sbin/nginx'

# Bounds, not expectations: on a loaded machine (CI shares its cores) a
# start or a stop can take many times what it takes on an idle one. A wait
# returns as soon as its event happens; only a failure waits this long.
START_TIMEOUT = 60.0   # an app or nginx must accept connections within this
STOP_TIMEOUT = 30.0    # SIGTERM, then this long, then SIGKILL
IO_TIMEOUT = 30.0      # any single socket operation of a client
WAIT = 60.0            # any other event a test waits for


def app_binary(name):
    return os.path.join(BUILD_DIR, 'apps', name)


# ---------------------------------------------------------------- processes

def proc_state(pid):
    """The state letter from /proc/PID/stat ('R', 'S', 'Z', ...), None if gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: the state follows the last ')'.
    return data[data.rindex(')') + 2]


def proc_start_time(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(data[data.rindex(')') + 2:].split()[19])


def pid_alive(pid):
    """True while pid exists and is not a zombie (an orphan reaped by nobody)."""
    st = proc_state(pid)
    return st is not None and st not in ('Z', 'X')


def children(pid):
    """Pids of the live children of pid (a master's workers)."""
    path = f'/proc/{pid}/task/{pid}/children'
    pids = []
    try:
        with open(path) as f:
            pids = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        if not os.path.exists(f'/proc/{pid}'):
            return []
        # Kernel without CONFIG_PROC_CHILDREN: scan every process's parent.
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                with open(f'/proc/{d}/stat') as f:
                    data = f.read()
            except OSError:
                continue
            if int(data[data.rindex(')') + 2:].split()[1]) == pid:
                pids.append(int(d))
    return sorted(p for p in pids if pid_alive(p))


def wait_until(pred, timeout, interval=0.05):
    """Poll pred() until it returns a true value or timeout seconds pass.
    Returns the last value of pred()."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_pids_gone(pids, timeout):
    return wait_until(lambda: not any(pid_alive(p) for p in pids), timeout)


# ------------------------------------------------------------- scoreboard
#
# Some events have no other witness than the scoreboard: that the master
# ran its once-a-second tick (timeouts, the cgroup check), that a worker
# measured its memory. The layout is framework/ipc/scoreboard.h's, checked
# by its magic and version: a test fails with a clear message when it
# changes, instead of reading wrong figures.

SB_MAGIC = 0x66777362    # FW_SCOREBOARD_MAGIC
SB_VERSION = 6           # FW_SCOREBOARD_VERSION
SB_PAGE = 4096           # the header, then one page per slot (FW_SLOT_ALIGN)
SB_MASTER_HEARTBEAT = 32  # offsetof(struct fw_scoreboard, master_heartbeat_ms)
SB_RECYCLED = 56         # offsetof(struct fw_scoreboard, recycled): FW_RETIRE_NREASONS u64
SB_REASONS = ('none', 'max_requests', 'memory', 'timeout', 'crash', 'reload', 'upgrade')
SB_SLOT_STATE = 0        # offsetof(struct fw_slot, state)
SB_SLOT_PID = 4          # offsetof(struct fw_slot, pid)
SB_SLOT_RETIRING = 16    # offsetof(struct fw_slot, retiring)
SB_SLOT_HANDLER = 48     # offsetof(struct fw_slot, handler_ms): a handler runs since
SB_SLOT_MEASURED = 120   # offsetof(struct fw_slot, measured_ms)
SB_STATES = ('free', 'booting', 'ready', 'draining', 'stopping')


class Scoreboard:
    """The scoreboard of a running master, found among its shared mappings."""

    def __init__(self, master_pid):
        self.path = None
        with open(f'/proc/{master_pid}/maps') as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6 or not parts[1].endswith('s') or not parts[5].startswith('/'):
                    continue
                path = parts[5].strip()
                try:
                    with open(path, 'rb') as g:
                        head = g.read(12)
                except OSError:
                    continue
                if len(head) == 12 and struct.unpack('=IIi', head)[0] == SB_MAGIC:
                    magic, version, pid = struct.unpack('=IIi', head)
                    if version != SB_VERSION:
                        raise HarnessError(f'{path}: scoreboard version {version}, the harness reads '
                                           f'{SB_VERSION}: update tests/e2e/harness.py')
                    if pid == master_pid:
                        self.path = path
                        break
        if self.path is None:
            raise HarnessError(f'master {master_pid} maps no scoreboard')

    def _u64(self, offset):
        with open(self.path, 'rb') as f:
            f.seek(offset)
            return struct.unpack('=Q', f.read(8))[0]

    def master_heartbeat_ms(self):
        """CLOCK_MONOTONIC ms at which the master's last tick began."""
        return self._u64(SB_MASTER_HEARTBEAT)

    def slot_offset(self, worker_pid):
        size = os.path.getsize(self.path)
        with open(self.path, 'rb') as f:
            for off in range(SB_PAGE, size - SB_PAGE + 1, SB_PAGE):
                f.seek(off + SB_SLOT_PID)
                if struct.unpack('=i', f.read(4))[0] == worker_pid:
                    return off
        raise HarnessError(f'no slot of worker {worker_pid} in {self.path}')

    def measured_ms(self, worker_pid):
        """When the worker's last memory reading (the status page's figures) began."""
        return self._u64(self.slot_offset(worker_pid) + SB_SLOT_MEASURED)

    def recycled(self):
        """The status page's `recycled` counts, read without asking a worker:
        a worker that answers the status page reads every slot's page (a
        page fault each), which a test counting a worker's faults avoids."""
        with open(self.path, 'rb') as f:
            f.seek(SB_RECYCLED)
            counts = struct.unpack(f'={len(SB_REASONS)}Q', f.read(8 * len(SB_REASONS)))
        return dict(zip(SB_REASONS[1:], counts[1:]))

    def workers(self):
        """[{'pid', 'state', 'retiring', 'busy'}] of the slots in use, as the
        status page lists them; busy: a handler is running."""
        with open(self.path, 'rb') as f:
            data = f.read()
        out = []
        for off in range(SB_PAGE, len(data) - SB_PAGE + 1, SB_PAGE):
            state, pid = struct.unpack_from('=Ii', data, off + SB_SLOT_STATE)
            if state:
                retiring = struct.unpack_from('=I', data, off + SB_SLOT_RETIRING)[0]
                handler = struct.unpack_from('=Q', data, off + SB_SLOT_HANDLER)[0]
                out.append({'pid': pid, 'state': SB_STATES[state] if state < len(SB_STATES) else state,
                            'retiring': SB_REASONS[retiring] if 0 < retiring < len(SB_REASONS) else '',
                            'busy': handler != 0})
        return out


def wait_master_tick(master_pid, after=None, timeout=WAIT):
    """Wait until the master has run a whole tick that began after `after`
    (time.monotonic(), default now): a deterministic witness that whatever
    its once-a-second work would do about a state set up before `after` is
    done, where a sleep would only make it likely. True if it came in time.
    (fw's clock is CLOCK_MONOTONIC, as Python's time.monotonic() on Linux.)"""
    sb = Scoreboard(master_pid)
    after_ms = (time.monotonic() if after is None else after) * 1000
    # The tick that began after `after` has ended once the next one began.
    first = wait_until(lambda: (lambda hb: hb if hb > after_ms else None)(sb.master_heartbeat_ms()),
                       timeout)
    return bool(first) and bool(wait_until(lambda: sb.master_heartbeat_ms() > first, timeout))


def wait_worker_measured(master_pid, worker_pid, after=None, timeout=WAIT):
    """Wait until the memory figures worker_pid publishes (rss, private,
    heap) come from a reading that began after `after` (time.monotonic(),
    default now): two readings, since the first may still be writing its
    heap figures when it is seen. True if that came in time."""
    sb = Scoreboard(master_pid)
    after_ms = (time.monotonic() if after is None else after) * 1000
    first = wait_until(lambda: (lambda m: m if m > after_ms else None)(sb.measured_ms(worker_pid)),
                       timeout)
    return bool(first) and bool(wait_until(lambda: sb.measured_ms(worker_pid) > first, timeout))


class Proc:
    """A process started by the harness, with its log file."""

    def __init__(self, run, name, argv, log_path, env=None, cwd=None):
        self.run = run
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, 'ab')
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                      stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                      start_new_session=True)
        self.pid = self.popen.pid
        self.known_children = {}  # pid -> start time, for the cleanup
        run.procs.append(self)

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError as e:
            return f'(cannot read {self.log_path}: {e})'

    def remember_children(self):
        for p in children(self.pid):
            self.known_children.setdefault(p, proc_start_time(p))
        return sorted(self.known_children)

    def workers(self):
        """The current worker pids (children of this master)."""
        ws = children(self.pid)
        for p in ws:
            self.known_children.setdefault(p, proc_start_time(p))
        return ws

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Exit status, or None if still running after timeout."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stop by pid: sig, bounded wait, then SIGKILL; also any worker left."""
        if self.alive():
            self.remember_children()
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                sys.stdout.write(f'# {self.name} (pid {self.pid}) ignored signal {int(sig)} '
                                 f'for {timeout} s: SIGKILL\n')
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait(5)
        self.kill_leftover_children()
        self.log.close()
        return self.returncode()

    def kill_leftover_children(self):
        # Workers outlive a SIGKILLed master for a moment; do not leave any.
        left = [p for p, st in self.known_children.items()
                if pid_alive(p) and proc_start_time(p) == st]
        if left and not wait_pids_gone(left, 10.0):
            for p in left:
                if pid_alive(p) and proc_start_time(p) == self.known_children[p]:
                    sys.stdout.write(f'# worker {p} of {self.name} still alive: SIGKILL\n')
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
            wait_pids_gone(left, 3.0)


class App(Proc):
    """An fw app master."""

    def __init__(self, run, name, sock, log_path, env, binary=None):
        self.app = name
        self.sock = sock
        self.env = env
        argv = [binary or app_binary(name), '-c', FW_INI]
        super().__init__(run, name, argv, log_path, env=env)

    def wait_ready(self, workers=None, timeout=START_TIMEOUT):
        """Wait until the socket accepts connections and the master says
        'ready:'. Raises with the log when it does not happen in time."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise HarnessError(f'{self.name} exited with status {self.returncode()} '
                                   f'while starting; its log:\n{self.log_text()}')
            if unix_accepts(self.sock):
                n = len(self.workers())
                # 'ready:' is an info line; with a quieter log_level the
                # scoreboard tells when the workers are ready (a forked
                # worker may still be booting: a test that measures it at
                # once, its descriptors say, would measure a boot).
                if ('ready:' in self.log_text() and (workers is None or n >= workers)) or \
                        (workers is not None and n >= workers and
                         self.env.get('FW_SERVER_LOG_LEVEL') in ('warn', 'error') and
                         self.ready_in_scoreboard() >= workers):
                    return self
            if time.monotonic() >= deadline:
                raise HarnessError(f'{self.name} did not accept on {self.sock} within {timeout} s; '
                                   f'its log:\n{self.log_text()}')
            time.sleep(0.05)


    def ready_in_scoreboard(self):
        try:
            return sum(w['state'] == 'ready' for w in Scoreboard(self.pid).workers())
        except (HarnessError, OSError):
            return 0  # not mapped yet


class Nginx(Proc):
    def __init__(self, run, prefix, conf, port, log_path):
        self.port = port
        self.prefix = prefix
        argv = [NGINX, '-p', prefix + '/', '-c', conf]
        super().__init__(run, 'nginx', argv, log_path)

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, 'logs', 'error.log'), 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_text(self):
        return super().log_text() + '\n--- logs/error.log ---\n' + self.error_log()


class HarnessError(Exception):
    pass


def unix_accepts(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def tcp_accepts(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1.0):
            return True
    except OSError:
        return False


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# --------------------------------------------------------------- the run

class Run:
    def __init__(self, name):
        self.name = name
        self.procs = []
        self.passed = 0
        self.failed = []
        self.tmp = tempfile.mkdtemp(prefix='fw-e2e-')
        # nginx's workers run as nobody when nginx is started as root.
        os.chmod(self.tmp, 0o755)
        self.cleaned = False
        self._nlogs = 0

    # -- checks
    def check(self, what, ok, detail=''):
        if ok:
            self.passed += 1
            print(f'ok   - {what}', flush=True)
        else:
            line = f'FAIL - {what}' + (f': {detail}' if detail else '')
            self.failed.append(line)
            print(line, flush=True)
        return bool(ok)

    def equal(self, what, got, want):
        return self.check(what, got == want, f'got {short(got)}, want {short(want)}')

    def check_logs(self):
        """No error in the log of any app or nginx started so far (nginx's
        error.log is at level warn: its warnings, like a body buffered to a
        temp file, are fine)."""
        for p in self.procs:
            text = p.error_log() if isinstance(p, Nginx) else p.log_text()
            bad = [line for line in text.splitlines()
                   if any(m in line for m in ('[error]', '[crit]', '[alert]', '[emerg]'))]
            self.check(f'no error lines in the log of {p.name} (pid {p.pid})', not bad,
                       '\n'.join(bad[:10]))

    @contextlib.contextmanager
    def section(self, what):
        """Run a group of checks; an exception fails the group and the run
        continues with the next one."""
        print(f'# {what}', flush=True)
        try:
            yield
        except Exception as e:  # noqa: BLE001 - any error fails the section
            line = f'FAIL - {what}: exception {type(e).__name__}: {e}'
            self.failed.append(line)
            print(line, flush=True)
            traceback.print_exc(file=sys.stdout)

    # -- processes
    def path(self, name):
        return os.path.join(self.tmp, name)

    def log_path(self, name):
        self._nlogs += 1
        return self.path(f'{self._nlogs:02d}-{name}.log')

    def app_env(self, sock, env=None):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith('FW_SERVER_'):
                del e[k]  # only what this test says
        e['FW_SERVER_LISTEN'] = sock
        # Workers are not dumpable by default: a test run as a user other
        # than root could not read their /proc files (smaps_rollup, fd/).
        if os.geteuid() != 0:
            e['FW_SERVER_DUMPABLE'] = 'on'
        for k, v in (env or {}).items():
            e[k] = str(v)
        return e

    def start_app(self, name, sock=None, env=None, wait=True, workers=None, binary=None):
        """Start build/apps/NAME (or binary) -c conf/fw.ini listening on sock
        (default TMP/NAME.sock, where the rewritten nginx.conf looks), with
        extra environment (FW_SERVER_* overrides) in env. Waits until it serves."""
        sock = sock or self.path(f'{name}.sock')
        app = App(self, name, sock, self.log_path(name), self.app_env(sock, env), binary)
        if wait:
            n = workers if workers is not None else (env or {}).get('FW_SERVER_WORKERS')
            app.wait_ready(workers=int(n) if str(n).isdigit() else None)  # not for auto
        return app

    def nginx_conf(self, port):
        with open(NGINX_CONF) as f:
            conf = f.read()
        for old in ('127.0.0.1:8080', '/tmp/fw-run/'):
            if old not in conf:
                raise HarnessError(f'{NGINX_CONF} no longer contains {old!r}; update the harness')
        conf = conf.replace('127.0.0.1:8080', f'127.0.0.1:{port}')
        conf = conf.replace('/tmp/fw-run/', self.tmp + '/')
        path = self.path('nginx.conf')
        with open(path, 'w') as f:
            f.write(conf)
        return path

    def start_nginx(self):
        """nginx with conf/nginx.conf, only its port and socket dir changed."""
        os.makedirs(self.path('logs'), exist_ok=True)
        os.makedirs(self.path('tmp'), exist_ok=True)
        last = None
        for attempt in range(3):  # the free port can be taken in between
            port = free_port()
            conf = self.nginx_conf(port)
            ngx = Nginx(self, self.tmp, conf, port, self.log_path('nginx'))
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and ngx.alive() and not tcp_accepts(port):
                time.sleep(0.05)
            if ngx.alive() and tcp_accepts(port):
                return ngx
            last = ngx.log_text()
            ngx.stop()
            if 'Address already in use' not in last:
                break
        raise HarnessError(f'nginx did not start; its log:\n{last}')

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                print(f'# stopping {p.name} (pid {p.pid}): {e}', flush=True)
        for p in self.procs:
            if p.alive():
                print(f'# {p.name} (pid {p.pid}) survived the cleanup', flush=True)

    def dump_logs(self):
        for p in self.procs:
            text = p.log_text()
            lines = text.splitlines()
            if len(lines) > 300:
                lines = ['...'] + lines[-300:]
            print(f'----- log of {p.name} (pid {p.pid}, {" ".join(p.argv)}) -----')
            print('\n'.join(lines))
        print('----- end of logs -----', flush=True)


# ------------------------------------------------------- slow senders

def trickle(path, data, give_up_s):
    """Send data to the unix socket at path one byte a second (a slow
    sender), reading what comes back meanwhile, until the server closes or
    give_up_s passes: (seconds until it closed or None, bytes sent, bytes
    received)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    start = time.monotonic()
    closed_at, sent, got = None, 0, b''
    try:
        for i in range(len(data)):
            if time.monotonic() - start > give_up_s:
                break
            try:
                s.send(data[i:i + 1])
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic() - start
                break
            s.settimeout(1.0)
            try:
                chunk = s.recv(4096)
                if not chunk:
                    closed_at = time.monotonic() - start
                    break
                got += chunk
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed_at = time.monotonic() - start
                break
    finally:
        s.close()
    return closed_at, sent, got


# ---------------------------------------------------------- sd_notify

def notify_listener(path):
    """A datagram socket at path to pass as NOTIFY_SOCKET: what systemd
    would receive, with the sender's pid (SO_PASSCRED)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return sock


def recv_notify(sock, timeout):
    """[(pid, text)] of the datagrams that arrive within timeout on sock,
    a datagram socket bound as NOTIFY_SOCKET with SO_PASSCRED."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            break
        pid = None
        for level, kind, blob in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = int.from_bytes(blob[:4], 'little')
        out.append((pid, data.decode()))
    return out


def wait_notify(sock, got, needle, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(needle in text for _, text in got):
            return True
        got += recv_notify(sock, 0.2)
    return any(needle in text for _, text in got)


NPM_TIMEOUT = 240  # a cold npm cache on a slow mirror


def npm_install(t, packages, marker):
    """node_modules in the run's temp dir with packages (npm specs, pinned
    by the caller) installed, or None after a failed check. marker: a file
    under node_modules that proves the install worked."""
    npm = shutil.which('npm')
    node = shutil.which('node')
    t.check('node and npm are installed', npm and node, (npm, node))
    if not (npm and node):
        return None
    prefix = t.path('npm')
    os.makedirs(prefix, exist_ok=True)
    env = dict(os.environ, npm_config_update_notifier='false', npm_config_loglevel='error')
    try:
        p = subprocess.run([npm, 'install', '--no-audit', '--no-fund', '--no-package-lock',
                            '--prefix', prefix] + packages,
                           capture_output=True, text=True, timeout=NPM_TIMEOUT, env=env, cwd=prefix)
        ok, detail = p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    except subprocess.TimeoutExpired:
        ok, detail = False, f'npm install took over {NPM_TIMEOUT} s'
    modules = os.path.join(prefix, 'node_modules')
    ok = ok and os.path.isfile(os.path.join(modules, marker))
    if not ok:
        detail = npm_failure(detail, env) + '\n' + detail
    if not t.check(f'npm install {" ".join(packages)} (needs the npm registry: CI has it)', ok, detail):
        return None
    return modules


# npm's error codes for a registry this machine cannot use, and what to say.
NPM_TLS = ('SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
           'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID')
NPM_NET = ('ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENETUNREACH',
           'EHOSTUNREACH', 'ERR_SOCKET_TIMEOUT')


def npm_failure(output, env):
    """One line first: why npm install failed, when it is the registry
    (unreachable, or its certificate not trusted here) rather than fw."""
    m = re.search(r'npm (?:error|ERR!) code (\S+)', output)
    code = m.group(1) if m else ''
    try:
        registry = subprocess.run([shutil.which('npm'), 'config', 'get', 'registry'], capture_output=True,
                                  text=True, timeout=30, env=env).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        registry = ''
    registry = registry or 'the npm registry'
    if code in NPM_TLS:
        return (f'{registry} is not trusted from this machine ({code}): a proxy with a CA of its own? '
                'Put its certificate in /usr/local/share/ca-certificates/ and run update-ca-certificates '
                '(Debian\'s node reads those; another node needs NODE_EXTRA_CA_CERTS or npm\'s cafile)')
    if code in NPM_NET:
        return f'{registry} cannot be reached from this machine ({code}): no network, DNS or proxy to it'
    if 'took over' in output:
        return f'{registry} did not answer in time'
    return f'npm install failed ({code or "no npm error code"}), with {registry} as the registry'


def short(v, n=200):
    r = repr(v)
    return r if len(r) <= n else r[:n] + f'... ({len(v) if hasattr(v, "__len__") else "?"} long)'


def _on_sigterm(sig, frame):
    # meson's timeout sends SIGTERM: unwind so that `finally` stops everything.
    raise SystemExit(f'killed by signal {sig}')


def run(main):
    """Run main(Run) and exit with 0 if every check passed, 1 otherwise."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)
    r = Run(name)
    atexit.register(r.cleanup)
    print(f'# {name}: build {BUILD_DIR}, source {SOURCE_DIR}, tmp {r.tmp}', flush=True)
    ok = False
    try:
        for a in ('hello', 'echo'):
            if not os.access(app_binary(a), os.X_OK):
                raise HarnessError(f'{app_binary(a)} is not built (set FW_BUILD_DIR)')
        main(r)
        ok = True
    except BaseException as e:  # noqa: BLE001 - report, clean up, fail
        r.failed.append(f'FAIL - aborted: {type(e).__name__}: {e}')
        print(r.failed[-1], flush=True)
        traceback.print_exc(file=sys.stdout)
    finally:
        r.cleanup()
        if r.failed:
            r.dump_logs()
        if os.environ.get('FW_E2E_KEEP'):
            print(f'# FW_E2E_KEEP: kept {r.tmp}', flush=True)
        else:
            shutil.rmtree(r.tmp, ignore_errors=True)
    if r.failed:
        # Again after the logs, which can be long: a CI report that shows
        # only the end of the output still names what failed.
        for line in r.failed:
            line = line.replace('\n', ' | ')
            print(f'# {line[:600]}' + (' ...' if len(line) > 600 else ''))
        print(f'# {name}: {len(r.failed)} failed, {r.passed} passed', flush=True)
        sys.exit(1)
    if not ok:
        sys.exit(1)
    print(f'# {name}: all {r.passed} checks passed', flush=True)
    sys.exit(0)


# ------------------------------------------------------------ HTTP client

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.header_list = headers          # [(name, value)] as received
        self.body = body

    def header(self, name, default=None):
        for k, v in self.header_list:
            if k.lower() == name.lower():
                return v
        return default

    def headers(self, name):
        return [v for k, v in self.header_list if k.lower() == name.lower()]

    def __iter__(self):  # st, hdrs, body = http(...)
        return iter((self.status, {k.lower(): v for k, v in self.header_list}, self.body))

    def __repr__(self):
        return f'<{self.status} {self.reason} {self.header_list} {short(self.body)}>'


def http_on(conn, method, path, body=None, headers=None):
    """One request on an open http.client.HTTPConnection (keep-alive)."""
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return Response(r.status, r.reason, r.getheaders(), data)


def http(port, method, path, body=None, headers=None, timeout=IO_TIMEOUT):
    """One request on a new connection to 127.0.0.1:port."""
    conn = httpclient.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        return http_on(conn, method, path, body, headers)
    finally:
        conn.close()


# -------------------------------------------------------- FastCGI client

FCGI_VERSION_1 = 1
FCGI_BEGIN_REQUEST = 1
FCGI_ABORT_REQUEST = 2
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_DATA = 8
FCGI_GET_VALUES = 9
FCGI_GET_VALUES_RESULT = 10
FCGI_UNKNOWN_TYPE = 11

FCGI_RESPONDER = 1
FCGI_AUTHORIZER = 2
FCGI_FILTER = 3
FCGI_KEEP_CONN = 1

FCGI_REQUEST_COMPLETE = 0
FCGI_CANT_MPX_CONN = 1
FCGI_OVERLOADED = 2
FCGI_UNKNOWN_ROLE = 3


def fcgi_record(rtype, req_id, content=b'', padding=0, version=FCGI_VERSION_1):
    if len(content) > 0xffff:
        raise ValueError('record content over 65535 bytes')
    return (struct.pack('>BBHHBB', version, rtype, req_id, len(content), padding, 0)
            + content + b'\0' * padding)


def fcgi_begin(req_id, role=FCGI_RESPONDER, flags=0):
    return fcgi_record(FCGI_BEGIN_REQUEST, req_id, struct.pack('>HB5x', role, flags))


def _nv_len(n):
    return struct.pack('>B', n) if n < 128 else struct.pack('>I', n | 0x80000000)


def fcgi_nv(pairs):
    """Name-value pairs (dict or list of tuples; str or bytes) encoded."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    out = b''
    for k, v in items:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += _nv_len(len(k)) + _nv_len(len(v)) + k + v
    return out


def fcgi_parse_nv(data):
    out = {}
    i = 0

    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        n = struct.unpack('>I', data[i:i + 4])[0] & 0x7fffffff
        i += 4
        return n

    while i < len(data):
        kl = length()
        vl = length()
        out[data[i:i + kl].decode()] = data[i + kl:i + kl + vl].decode()
        i += kl + vl
    return out


def fcgi_stream(rtype, req_id, data, chunk=65535):
    """A stream (PARAMS, STDIN) cut into records of `chunk` bytes (an int,
    or a list of sizes used in turn), then its empty end record."""
    out = b''
    i = k = 0
    while i < len(data):
        n = chunk if isinstance(chunk, int) else chunk[k % len(chunk)]
        k += 1
        out += fcgi_record(rtype, req_id, data[i:i + n], padding=(k * 3) % 8)
        i += n
    return out + fcgi_record(rtype, req_id)


class FcgiResponse:
    def __init__(self):
        self.stdout = b''
        self.stderr = b''
        self.app_status = None
        self.protocol_status = None
        self.records = []     # (type, id, content) in arrival order

    def cgi(self):
        """(status int, [(name, value)], body) from the CGI response in STDOUT."""
        return parse_cgi(self.stdout)


def parse_cgi(data):
    head, sep, body = data.partition(b'\r\n\r\n')
    if not sep:
        head, sep, body = data.partition(b'\n\n')
    headers = []
    for line in head.decode('latin-1').splitlines():
        if ':' in line:
            k, v = line.split(':', 1)
            headers.append((k.strip(), v.strip()))
    status = 200
    for k, v in headers:
        if k.lower() == 'status':
            status = int(v.split()[0])
    return status, headers, body


def cgi_header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


class FcgiConn:
    """A raw FastCGI connection to a unix socket (or (host, port); an
    IPv6 host like '::1' for IPv6)."""

    def __init__(self, addr, timeout=IO_TIMEOUT):
        if isinstance(addr, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET6 if ':' in addr[0] else socket.AF_INET,
                                      socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.buf = b''

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_fragmented(self, data, sizes=(1, 3, 5, 7, 11, 13), pause=0.002):
        """Send in writes of odd sizes with pauses, so that the server reads
        records cut at arbitrary byte positions."""
        i = k = 0
        while i < len(data):
            n = sizes[k % len(sizes)]
            self.sock.sendall(data[i:i + n])
            i += n
            k += 1
            if pause and k % 4 == 0:
                time.sleep(pause)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f'connection closed with {len(self.buf)} of {n} bytes')
            self.buf += chunk

    def read_record(self):
        """(version, type, id, content) of the next record."""
        self._fill(8)
        version, rtype, req_id, clen, plen, _ = struct.unpack('>BBHHBB', self.buf[:8])
        self._fill(8 + clen + plen)
        content = self.buf[8:8 + clen]
        self.buf = self.buf[8 + clen + plen:]
        return version, rtype, req_id, content

    def read_response(self, req_id, max_records=100000):
        """Records until END_REQUEST for req_id."""
        r = FcgiResponse()
        for _ in range(max_records):
            version, rtype, rid, content = self.read_record()
            r.records.append((rtype, rid, content))
            if version != FCGI_VERSION_1:
                raise ValueError(f'record of version {version}')
            if rid != req_id:
                continue
            if rtype == FCGI_STDOUT:
                r.stdout += content
            elif rtype == FCGI_STDERR:
                r.stderr += content
            elif rtype == FCGI_END_REQUEST:
                r.app_status, r.protocol_status = struct.unpack('>IB3x', content)
                return r
        raise ValueError(f'no END_REQUEST within {max_records} records')

    def request(self, params, stdin=b'', req_id=1, keep_conn=False, chunk=65535):
        self.send(fcgi_begin(req_id, flags=FCGI_KEEP_CONN if keep_conn else 0)
                  + fcgi_stream(FCGI_PARAMS, req_id, fcgi_nv(params))
                  + fcgi_stream(FCGI_STDIN, req_id, stdin, chunk))
        return self.read_response(req_id)

    def closed_by_peer(self, timeout=IO_TIMEOUT):
        """True when the server closes the connection (EOF or reset) within
        timeout: a bound for a close that must come, never a window to
        prove that none does (a loaded machine closes late)."""
        self.sock.settimeout(timeout)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
            return False
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(IO_TIMEOUT)


def fcgi_params(method, uri, content_type=None, body=b'', extra=None):
    """CGI params as nginx would send them for METHOD URI."""
    path, _, query = uri.partition('?')
    path = urllib.parse.unquote(path)
    p = {
        'QUERY_STRING': query,
        'REQUEST_METHOD': method,
        'CONTENT_TYPE': content_type or '',
        'CONTENT_LENGTH': str(len(body)) if body else '',
        'SCRIPT_NAME': path,
        'REQUEST_URI': uri,
        'DOCUMENT_URI': path,
        'SERVER_PROTOCOL': 'HTTP/1.1',
        'GATEWAY_INTERFACE': 'CGI/1.1',
        'REMOTE_ADDR': '127.0.0.1',
        'SERVER_NAME': 'localhost',
    }
    p.update(extra or {})
    return p


def fcgi_get(sock, uri, method='GET', body=b'', content_type=None, extra=None):
    """One request on a new connection: (status, headers, body, FcgiResponse)."""
    with FcgiConn(sock) as c:
        r = c.request(fcgi_params(method, uri, content_type, body, extra), body)
    st, hdrs, b = r.cgi()
    return st, hdrs, b, r


# ----------------------------------------------------------- SCGI client

def scgi_request(pairs, body=b'', content_length=None):
    """An SCGI request: the netstring LEN:headers, then the body.
    CONTENT_LENGTH (len(body) unless given) comes first, as SCGI requires;
    pairs (dict or list of tuples, str or bytes) follow in order."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    cl = str(len(body) if content_length is None else content_length)
    head = b'CONTENT_LENGTH\0' + cl.encode() + b'\0'
    for k, v in items:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        head += k + b'\0' + v + b'\0'
    return str(len(head)).encode() + b':' + head + b',' + body


def scgi_params(method, uri, content_type=None, extra=None):
    """CGI variables as nginx's scgi_params sends them (without
    CONTENT_LENGTH, which scgi_request puts first)."""
    p = fcgi_params(method, uri, content_type)
    p.pop('CONTENT_LENGTH', None)
    p['SCGI'] = '1'
    p.update(extra or {})
    return p


def scgi_exchange(addr, data, timeout=IO_TIMEOUT):
    """Send data on a new connection (unix path or (host, port)) and read
    until the server closes. Returns (bytes received, closed, seconds):
    closed is False when the server still held the connection open after
    timeout seconds. A reset counts as closed."""
    fam = (socket.AF_UNIX if isinstance(addr, str)
           else socket.AF_INET6 if ':' in addr[0] else socket.AF_INET)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    start = time.monotonic()
    out = b''
    try:
        s.connect(addr)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return out, True, time.monotonic() - start
        deadline = start + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return out, True, time.monotonic() - start
            except socket.timeout:
                return out, False, time.monotonic() - start
            if not chunk:
                return out, True, time.monotonic() - start
            out += chunk
    finally:
        s.close()


def scgi_get(addr, uri, method='GET', body=b'', content_type=None, extra=None):
    """One SCGI request: (status, headers, body, raw response, closed)."""
    raw, closed, _ = scgi_exchange(addr, scgi_request(
        scgi_params(method, uri, content_type, extra), body))
    if not raw.startswith(b'Status:'):
        return None, [], raw, raw, closed  # no CGI response at all
    st, hdrs, b = parse_cgi(raw)
    return st, hdrs, b, raw, closed
