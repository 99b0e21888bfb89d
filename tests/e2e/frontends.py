"""
The front ends besides nginx (Apache, lighttpd, Caddy, H2O), started from
their configuration in conf/ the way harness.start_nginx() starts nginx
from conf/nginx.conf: only the ports (127.0.0.1:8080 for FastCGI,
127.0.0.1:8081 for SCGI) and the directory /tmp/fw-run/ are changed, so
the tests exercise the files users copy. Not a test itself; bench/
uses it too. Python 3 standard library only, on top of harness.py.

    fe = frontends.start(t, 'apache')       # a harness.Proc
    fe.url('scgi', '/hello')                # (port, path) of a protocol's site
    fe.bad_lines()                          # error lines of its log

Each front end runs in the foreground as a child of the test, bound to
127.0.0.1 on free ports; no system service is involved.
"""

import json
import os
import pwd
import re
import shutil
import time

import harness

FASTCGI_LISTEN = '127.0.0.1:8080'
SCGI_LISTEN = '127.0.0.1:8081'
RUN_DIR = '/tmp/fw-run/'
H2O_LISTEN = 'host: 127.0.0.1\n  port: 8080\n'
LIGHTTPD_PORT = 'server.port = 8080\n'


def _apache_argv(conf):
    return [shutil.which('apache2') or '/usr/sbin/apache2', '-f', conf, '-DFOREGROUND']


def _lighttpd_argv(conf):
    return [shutil.which('lighttpd') or '/usr/sbin/lighttpd', '-D', '-f', conf]


def _caddy_argv(conf):
    return [shutil.which('caddy') or '/usr/bin/caddy', 'run', '--adapter', 'caddyfile',
            '--config', conf]


def _h2o_argv(conf):
    return [shutil.which('h2o') or '/usr/bin/h2o', '-c', conf]


# Apache: "[Mon ...] [proxy_fcgi:error] [pid ...] ...".
def _apache_bad(line):
    return re.search(r'\[[\w.]*:(error|crit|alert|emerg)\]', line) is not None


# lighttpd's error log has no levels: every line but its start and stop tells of a problem.
def _lighttpd_bad(line):
    return line.strip() != '' and not re.search(r'server (started|stopped|cleaning up)|'
                                                 r'graceful shutdown', line)


def _caddy_bad(line):
    try:
        return json.loads(line).get('level') in ('error', 'fatal', 'panic')
    except ValueError:
        return 'panic' in line


# H2O: "[lib/core/proxy.c] ..." and "fastcgi: ..." lines tell of a failed upstream;
# the informational lines at start and stop do not.
def _h2o_bad(line):
    return line.strip() != '' and not re.search(
        r'^\[INFO\]|is ready to serve|received SIGTERM|killing|server-starter|'
        r'^fatal:.*\bpid-file\b', line)


KINDS = {
    # name: conf file, argv, error log (under the run dir), protocols, bad-line filter
    'apache': ('apache.conf', _apache_argv, 'apache-error.log', ('fastcgi', 'scgi'), _apache_bad),
    'lighttpd': ('lighttpd.conf', _lighttpd_argv, 'lighttpd-error.log', ('fastcgi', 'scgi'),
                 _lighttpd_bad),
    'caddy': ('Caddyfile', _caddy_argv, None, ('fastcgi',), _caddy_bad),
    'h2o': ('h2o.conf', _h2o_argv, 'h2o-error.log', ('fastcgi',), _h2o_bad),
}


def installed(kind):
    """Is the front end's binary there? (scripts/lib.sh installs them.)"""
    return os.access(KINDS[kind][1]('x')[0], os.X_OK)


class FrontEnd(harness.Proc):
    def __init__(self, run, kind, conf, ports, log_path, env):
        self.kind = kind
        self.ports = ports  # protocol -> port
        self.port = ports['fastcgi']
        _, argv, errlog, _, self.is_bad = KINDS[kind]
        self.errlog = os.path.join(run.tmp, errlog) if errlog else None
        super().__init__(run, kind, argv(conf), log_path, env=env, cwd=run.tmp)

    def url(self, proto, path):
        """(port, path) where the site over proto answers path."""
        return self.ports[proto], path

    def error_log(self):
        if self.errlog is None:
            return ''
        try:
            with open(self.errlog, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_text(self):
        return super().log_text() + f'\n--- {self.errlog} ---\n' + self.error_log()

    def bad_lines(self, text=None):
        """Lines of its logs (or of text) that tell of an error."""
        if text is None:
            text = super().log_text() + '\n' + self.error_log()
        return [line for line in text.splitlines() if self.is_bad(line)]


class NginxSite:
    """conf/nginx.conf seen like the others: SCGI is the same port under /scgi/."""

    def __init__(self, ngx):
        self.proc = ngx
        self.kind = 'nginx'
        self.port = ngx.port

    def url(self, proto, path):
        return self.port, ('/scgi' + path if proto == 'scgi' else path)

    def error_log(self):
        return self.proc.error_log()

    def bad_lines(self, text=None):
        text = self.proc.error_log() if text is None else text
        return [line for line in text.splitlines()
                if ('upstream' in line and 'buffered' not in line)
                or any(m in line for m in ('[error]', '[crit]', '[alert]', '[emerg]'))]

    def stop(self):
        return self.proc.stop()


def render(t, kind, ports):
    """conf/<file> with the ports and the run directory changed, written to
    the run's temp dir; its path."""
    name = KINDS[kind][0]
    src = os.path.join(harness.SOURCE_DIR, 'conf', name)
    with open(src) as f:
        conf = f.read()
    # H2O spells the address as host and port, the others as one string.
    listens = {'fastcgi': H2O_LISTEN if kind == 'h2o' else FASTCGI_LISTEN, 'scgi': SCGI_LISTEN}
    # lighttpd also listens on server.bind:server.port, its default socket,
    # which the FastCGI site's $SERVER["socket"] condition names again.
    extra = {'fastcgi': LIGHTTPD_PORT} if kind == 'lighttpd' else {}
    for old in [RUN_DIR] + [listens[p] for p in ports] + list(extra.values()):
        if old not in conf:
            raise harness.HarnessError(f'{src} no longer contains {old!r}; update tests/e2e/frontends.py')
    for proto, port in ports.items():
        conf = conf.replace(listens[proto], listens[proto].replace('8080', str(port))
                            .replace('8081', str(port)))
        if proto in extra:
            conf = conf.replace(extra[proto], extra[proto].replace('8080', str(port)))
    conf = conf.replace(RUN_DIR, t.tmp + '/')
    path = t.path(f'{kind}-{name}')
    with open(path, 'w') as f:
        f.write(conf)
    return path


def _env(t, kind):
    env = dict(os.environ)
    if kind == 'caddy':
        # Caddy keeps its state (autosaved config, certificates) under these.
        for var in ('HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME'):
            env[var] = t.path('caddy-home')
        os.makedirs(t.path('caddy-home'), exist_ok=True)
    return env


def _log_file_for_user(path, user='www-data'):
    """Started as root, lighttpd opens its error log only after it became
    `user` (server.username): create the file for it."""
    open(path, 'a').close()
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam(user)
            os.chown(path, pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass


def start(t, kind):
    """The front end `kind` with its conf/ file, on free ports, serving the
    sockets under the run's temp dir. Waits until every site accepts."""
    if not installed(kind):
        raise harness.HarnessError(f'{kind} is not installed (scripts/lib.sh installs it)')
    last = None
    for _ in range(3):  # a free port can be taken in between
        ports = {p: harness.free_port() for p in KINDS[kind][3]}
        conf = render(t, kind, ports)
        if kind == 'lighttpd':
            _log_file_for_user(t.path(KINDS[kind][2]))
        fe = FrontEnd(t, kind, conf, ports, t.log_path(kind), _env(t, kind))
        deadline = time.monotonic() + harness.START_TIMEOUT
        while time.monotonic() < deadline and fe.alive() and \
                not all(harness.tcp_accepts(p) for p in ports.values()):
            time.sleep(0.05)
        if fe.alive() and all(harness.tcp_accepts(p) for p in ports.values()):
            return fe
        last = fe.log_text()
        fe.stop()
        if 'in use' not in last:
            break
    raise harness.HarnessError(f'{kind} did not start; its log:\n{last}')
