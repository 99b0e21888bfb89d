"""
Helpers shared by the worker-recycling end-to-end tests (test_recycle_*.py);
not a test itself. Python 3 standard library only, on top of harness.py.

- the testapp binary (tests/apps/testapp.c: /leak, /block, /slow, /crash,
  a start-up hook that fails on request): FW_TESTAPP, or
  FW_BUILD_DIR/tests/apps/testapp;
- an app started with its own configuration file (-c FILE), for SIGHUP;
- the status page (status_path) read straight from the app's socket;
- wrk with a Lua script of mixed GET and POST /hello that also checks the
  bodies;
- the log filters of these tests.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402

TESTAPP = os.environ.get('FW_TESTAPP') or os.path.join(harness.BUILD_DIR, 'tests', 'apps', 'testapp')
STATUS = '/status'


def testapp():
    """The testapp binary; raises when it is not built."""
    if not os.access(TESTAPP, os.X_OK):
        raise harness.HarnessError(f'{TESTAPP} is not built (set FW_BUILD_DIR or FW_TESTAPP)')
    return TESTAPP


def env(**keys):
    """FW_SERVER_* overrides from keyword arguments: env(workers=2, status_path='/status')."""
    return {f'FW_SERVER_{k.upper()}': str(v) for k, v in keys.items()}


def start(t, name='hello', wait=True, workers=None, extra_env=None, **keys):
    """testapp as NAME (its socket is TMP/NAME.sock, nginx's `hello` upstream
    for 'hello'), with the status page on, FW_SERVER_* from keys and other
    variables from extra_env."""
    keys.setdefault('status_path', STATUS)
    if workers is not None:
        keys['workers'] = workers
    e = env(**keys)
    e.update(extra_env or {})
    return t.start_app(name, env=e, binary=testapp(), wait=wait, workers=workers)


class ConfApp(harness.App):
    """An fw master started with `-c CONFIG` instead of conf/fw.ini."""

    def __init__(self, run, name, sock, log_path, environ, binary, config):
        self.app = name
        self.sock = sock
        self.env = environ
        self.config = config
        harness.Proc.__init__(self, run, name, [binary, '-c', config], log_path, env=environ)


def start_with_config(t, config, name='hello', workers=None, **keys):
    sock = t.path(f'{name}.sock')
    app = ConfApp(t, name, sock, t.log_path(name), t.app_env(sock, env(**keys)), testapp(), config)
    app.wait_ready(workers=workers)
    return app


def write_ini(path, **keys):
    """conf/fw.ini with the given [server] keys replaced or added (to [server])."""
    with open(harness.FW_INI) as f:
        lines = f.read().splitlines()
    done = set()
    for i, line in enumerate(lines):
        m = re.match(r'\s*(\w+)\s*=', line)
        if m and m.group(1) in keys:
            lines[i] = f'{m.group(1)} = {keys[m.group(1)]}'
            done.add(m.group(1))
    # New keys go at the end of [server], before a later section ([app]).
    end = next((i for i, line in enumerate(lines) if line.strip().startswith('[')
                and line.strip() != '[server]'), len(lines))
    lines[end:end] = [f'{k} = {v}' for k, v in keys.items() if k not in done]
    tmp = path + '.new'
    with open(tmp, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(tmp, path)  # the master never reads half a file


# ------------------------------------------------------------ status page

def status(sock, tries=5, timeout=10.0):
    """The status page as a dict, straight from the app's socket; None if
    it could not be read (a request can meet a worker as it is killed, or
    one that accepted it and is now stuck in a handler: hence the timeout)."""
    for _ in range(tries):
        try:
            with harness.FcgiConn(sock, timeout=timeout) as c:
                r = c.request(harness.fcgi_params('GET', STATUS))
            st, _, body = r.cgi()
            if st == 200:
                return json.loads(body)
        except (OSError, ValueError, ConnectionError):
            pass
        time.sleep(0.1)
    return None


def recycled(sock, reason):
    s = status(sock)
    return s['recycled'][reason] if s else None


def wait_status(sock, pred, timeout):
    """Poll the status page until pred(status) is true; the last status (or None)."""
    last = [None]

    def probe():
        s = status(sock, tries=1)
        if s is not None:
            last[0] = s
        return s is not None and pred(s)

    harness.wait_until(probe, timeout, interval=0.1)
    return last[0]


def in_flight(s):
    """Requests in flight in a status page's workers, but the status request itself."""
    return sum(w['in_flight'] for w in s['workers']) - 1


def settled(app, n, timeout=harness.WAIT):
    """Wait until the master has exactly n workers, all ready in the status
    page; the worker pids, or None."""
    def ok():
        ws = app.workers()
        if len(ws) != n:
            return None
        s = status(app.sock, tries=1)
        if s is None:
            return None
        pids = sorted(w['pid'] for w in s['workers'])
        if pids != ws or any(w['state'] != 'ready' for w in s['workers']):
            return None
        return ws
    return harness.wait_until(ok, timeout, interval=0.1)


# ------------------------------------------------------------ wrk

POST_BODY = 'recycle-post-body-0123456789\n'

WRK_LUA = r'''
-- Alternates GET /hello and POST /hello with a small body; counts answers
-- whose body is neither "hello\n" nor the posted body.
local threads = {}
local n = 0
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function request()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("POST", "/hello", {["Content-Type"] = "text/plain"}, "@BODY@")
  end
  return wrk.format("GET", "/hello")
end

function response(status, headers, body)
  if status == 200 and body ~= "hello\n" and body ~= "@BODY@" then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
  end
  io.write(string.format("bad bodies: %d\n", total))
end
'''


def wrk_script(t):
    path = t.path('mixed.lua')
    with open(path, 'w') as f:
        f.write(WRK_LUA.replace('@BODY@', POST_BODY.replace('\n', '\\n')))
    return path


def start_wrk(t, port, duration, conns=32, threads=1, path='/hello'):
    """wrk in the background: a Popen whose stdout/stderr go to a file."""
    wrk = shutil.which('wrk')
    if wrk is None:
        raise harness.HarnessError('wrk is not installed')
    out = open(t.path(f'wrk-{time.monotonic_ns()}.out'), 'w+')
    p = subprocess.Popen([wrk, f'-t{threads}', f'-c{conns}', f'-d{duration}s', '--timeout', '10s',
                          '-s', wrk_script(t), f'http://127.0.0.1:{port}{path}'],
                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    p.out_file = out
    return p


def finish_wrk(p, duration):
    """Wait (bounded) for a wrk started by start_wrk; (exit status, output)."""
    try:
        rc = p.wait(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
        rc = 'timed out'
    p.out_file.seek(0)
    out = p.out_file.read()
    p.out_file.close()
    print('\n'.join('#   ' + line for line in out.splitlines()), flush=True)
    return rc, out


def run_wrk(t, port, duration, conns=32, threads=1):
    return finish_wrk(start_wrk(t, port, duration, conns, threads), duration)


def wrk_requests(out):
    m = re.search(r'(\d+) requests in ([\d.]+)(\w+)', out)
    return int(m.group(1)) if m else None


def wrk_non2xx(out):
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    return int(m.group(1)) if m else 0


def check_wrk(t, what, rc, out):
    n = wrk_requests(out)
    t.equal(f'{what}: wrk exit status', rc, 0)
    t.check(f'{what}: wrk made requests ({n})', n is not None and n > 0, out)
    t.check(f'{what}: no Non-2xx responses', 'Non-2xx' not in out, out)
    t.check(f'{what}: no socket errors', 'Socket errors' not in out, out)
    t.check(f'{what}: every body was right', 'bad bodies: 0' in out, out)
    return n


# ------------------------------------------------------------ logs

def nginx_bad_lines(text):
    """Lines of nginx's error.log that tell of a failed request: any line
    naming the upstream, and [error]/[crit]/[alert]/[emerg]. [warn] lines
    about buffering (a body in a temp file) are fine."""
    bad = []
    for line in text.splitlines():
        if '[warn]' in line and 'buffered' in line:
            continue
        if 'upstream' in line or any(m in line for m in ('[error]', '[crit]', '[alert]', '[emerg]')):
            bad.append(line)
    return bad


def error_lines(text):
    return [line for line in text.splitlines()
            if any(m in line for m in ('[error]', '[crit]', '[alert]', '[emerg]'))]


def lines_with(text, *needles):
    return [line for line in text.splitlines() if all(n in line for n in needles)]


class LogMark:
    """Only what a log gained after this point (one phase of a test)."""

    def __init__(self, read):
        self.read = read
        self.at = len(read())

    def text(self):
        return self.read()[self.at:]


def ppid(pid):
    """The parent of pid, None if it is gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(')') + 2:].split()[1])
