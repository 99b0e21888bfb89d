#!/usr/bin/env python3
"""A private PostgreSQL cluster for the demo, the tests and the benchmarks.

Debian's postgresql-15 binaries (/usr/lib/postgresql/15/bin), a data
directory of its own (initdb), a unix socket only (listen_addresses is
empty) in a directory of its own, the TechEmpower tables of
apps/tfb/schema.sql loaded into database `tfb`, owned by role `tfb`.
Authentication is `trust`: only who can reach the socket directory can
connect. The data is throwaway: fsync is off.

PostgreSQL refuses to run as root. Run as root, the server (and initdb)
run as the user `postgres` that Debian's postgresql-common creates (or
`nobody` when there is none), through setpriv(1), which execs: the
server's pid is the pid started, so it can be stopped by pid. The data
and socket directories are given to that user.

  pgcluster.py prepare DIR initdb and load the tables if DIR has no cluster
                           yet (starting and stopping a server to load them)
  pgcluster.py serve DIR   prepare, then exec the server in the foreground
                           (socket in DIR/sock; stop it with SIGINT: a fast
                           shutdown)
  pgcluster.py conninfo DIR
                           the libpq connection string of that cluster

As a module (tests/e2e/pgtest.py, bench/tfb.py): create(), server_argv(),
load(), psql(), conninfo().
"""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(os.path.dirname(HERE), 'apps', 'tfb', 'schema.sql')
DB = 'tfb'


def bindir():
    """The newest /usr/lib/postgresql/N/bin with a server in it."""
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/postgres'),
                   key=lambda p: int(p.split('/')[4]) if p.split('/')[4].isdigit() else 0)
    if not found:
        raise SystemExit('no PostgreSQL server found (Debian: apt-get install postgresql-15)')
    return os.path.dirname(found[-1])


def server_user():
    """None when not root; else the user to run the server as (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ('postgres', 'nobody'):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise SystemExit('running as root, and no user postgres or nobody to run PostgreSQL as')


def as_server_user(argv):
    """argv, run as the server's user when we are root (setpriv execs: same pid)."""
    u = server_user()
    if u is None:
        return argv
    return ['setpriv', f'--reuid={u.pw_uid}', f'--regid={u.pw_gid}', '--init-groups', '--'] + argv


def give(path, mode):
    """Make path a directory of the server's user with mode."""
    os.makedirs(path, exist_ok=True)
    u = server_user()
    if u is not None:
        os.chown(path, u.pw_uid, u.pw_gid)
    os.chmod(path, mode)


def paths(top):
    return os.path.join(top, 'data'), os.path.join(top, 'sock')


def create(top, log=None):
    """initdb into TOP/data (socket directory TOP/sock). False when it exists already."""
    data, sock = paths(top)
    os.makedirs(top, exist_ok=True)
    os.chmod(top, 0o755)  # the server's user must reach data and sock
    give(sock, 0o755)
    if os.path.exists(os.path.join(data, 'PG_VERSION')):
        return False
    give(data, 0o700)
    # --no-sync: throwaway data; C.UTF-8 sorts by code point, like the tests.
    subprocess.run(as_server_user([os.path.join(bindir(), 'initdb'), '-D', data, '-U', 'postgres',
                                   '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']),
                   check=True, stdout=log or subprocess.DEVNULL, stderr=log or subprocess.STDOUT)
    return True


def server_argv(top, max_connections=100, extra=()):
    """The server in the foreground: unix socket only, logging to stderr."""
    data, sock = paths(top)
    settings = {
        'listen_addresses': '',
        'unix_socket_directories': sock,
        'max_connections': str(max_connections),
        # Throwaway data: no disk flushes, so that the database is not the
        # disk's speed (the same for every program measured against it).
        'fsync': 'off',
        'synchronous_commit': 'off',
        'full_page_writes': 'off',
        'logging_collector': 'off',
        'log_line_prefix': '%m [%p] %q%a ',
    }
    argv = [os.path.join(bindir(), 'postgres'), '-D', data]
    for k, v in settings.items():
        argv += ['-c', f'{k}={v}']
    for kv in extra:
        argv += ['-c', kv]
    return as_server_user(argv)


def psql(top, sql, user='postgres', db='postgres', check=True):
    """Run SQL with psql over the socket; its output (unaligned, no headers)."""
    _, sock = paths(top)
    r = subprocess.run(['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', sock, '-U', user,
                        '-d', db, '-c', sql], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError(f'psql: {sql[:80]}: {r.stderr.strip()}')
    return r.stdout


def ready(top):
    _, sock = paths(top)
    return subprocess.run(['pg_isready', '-q', '-h', sock], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def wait_ready(top, proc=None, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if ready(top):
            return True
        time.sleep(0.05)
    return False


def load(top):
    """Role and database tfb, with the tables of apps/tfb/schema.sql."""
    _, sock = paths(top)
    psql(top, f'CREATE ROLE {DB} LOGIN')
    psql(top, f'CREATE DATABASE {DB} OWNER {DB}')
    r = subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', sock, '-U', DB, '-d', DB,
                        '-f', SCHEMA], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f'loading {SCHEMA}: {r.stderr.strip()}')


def stop(proc, timeout=30):
    """Fast shutdown (SIGINT) by pid; immediate (SIGQUIT), then SIGKILL if it hangs."""
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def prepare(top, log=None):
    """A cluster in TOP with the tables loaded: initdb, start, load, stop (first time only)."""
    if not create(top, log):
        return
    proc = subprocess.Popen(server_argv(top), stdout=log or subprocess.DEVNULL,
                            stderr=log or subprocess.STDOUT)
    try:
        if not wait_ready(top, proc):
            raise RuntimeError(f'PostgreSQL in {top} did not start')
        load(top)
    finally:
        stop(proc)


def conninfo(top):
    _, sock = paths(top)
    return f'host={sock} dbname={DB} user={DB}'


def main(argv):
    if len(argv) != 3 or argv[1] not in ('prepare', 'serve', 'conninfo'):
        print(__doc__, file=sys.stderr)
        return 2
    top = os.path.abspath(argv[2])
    if argv[1] == 'conninfo':
        print(conninfo(top))
        return 0
    if shutil.which('setpriv') is None and os.geteuid() == 0:
        print('setpriv (util-linux) is needed to run PostgreSQL as root', file=sys.stderr)
        return 1
    prepare(top, sys.stderr)
    sys.stderr.flush()
    if argv[1] == 'prepare':
        return 0
    os.execvp(server_argv(top)[0], server_argv(top))


if __name__ == '__main__':
    sys.exit(main(sys.argv))
