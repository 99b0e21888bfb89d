"""
PostgreSQL for the end-to-end tests: a private cluster per test run in the
run's temp dir (scripts/pgcluster.py: initdb, a unix socket only, the
TechEmpower tables), its server a harness process like any other, so that
it is stopped by pid (SIGINT, PostgreSQL's fast shutdown) when the test
ends. Run as root, the server runs as the user postgres (setpriv).

    pg = pgtest.start_postgres(t)
    app = t.start_app('tfb', env={'FW_PG_CONNINFO': pg.conninfo, ...})
    pg.psql('SELECT count(*) FROM world')
    pg = pgtest.restart(t, pg)      # stop, then a new server on the same data
"""
import os
import re
import signal
import subprocess
import sys
import time

import harness

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, 'scripts'))
import pgcluster  # noqa: E402

# Lines of the server's log that say something went wrong on a connection.
BAD_LINES = ('ERROR:', 'FATAL:', 'PANIC:', 'unexpected EOF', 'could not receive data',
             'could not send data', 'incomplete startup packet', 'connection to client lost')


class Postgres(harness.Proc):
    def __init__(self, run, top, max_connections=100):
        self.top = top
        self.conninfo = pgcluster.conninfo(top)
        super().__init__(run, 'postgres', pgcluster.server_argv(top, max_connections),
                         run.log_path('postgres'))

    def stop(self, sig=signal.SIGINT, timeout=harness.STOP_TIMEOUT):
        return super().stop(sig, timeout)

    def wait_ready(self, timeout=30):
        if not pgcluster.wait_ready(self.top, self.popen, timeout):
            raise harness.HarnessError(f'PostgreSQL did not start; its log:\n{self.log_text()}')
        return self

    def psql(self, sql, db=pgcluster.DB, user=pgcluster.DB):
        return pgcluster.psql(self.top, sql, user=user, db=db)

    def fw_backends(self, name='fw'):
        """Connections the server has now with this application_name (fw's default)."""
        return int(self.psql(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}'"))

    def running(self, pattern):
        """Queries of fw running now whose text contains pattern."""
        return int(self.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fw' "
                             f"AND state = 'active' AND query LIKE '%{pattern}%'"))

    def client_sockets(self):
        """The inodes of the client ends of every connection to this server's
        unix socket, from ss (the server's end names the client's as its peer)."""
        _, sock = pgcluster.paths(self.top)
        out = subprocess.run(['ss', '-xHn'], capture_output=True, text=True, check=True, timeout=30).stdout
        peers = set()
        for line in out.splitlines():
            f = line.split()
            # u_str ESTAB recv-q send-q LOCAL-PATH LOCAL-INODE PEER-PATH PEER-INODE
            if len(f) >= 8 and f[4].startswith(sock + '/.s.PGSQL.') and f[7].isdigit() and f[7] != '0':
                peers.add(int(f[7]))
        return peers

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset):
        with open(self.log_path, 'rb') as f:
            f.seek(offset)
            return f.read().decode('utf-8', 'replace')


def socket_inodes(pid):
    """The inodes of the sockets process pid has open."""
    inodes = set()
    try:
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                m = re.fullmatch(r'socket:\[(\d+)\]', os.readlink(f'/proc/{pid}/fd/{fd}'))
            except OSError:
                continue
            if m:
                inodes.add(int(m.group(1)))
    except OSError:
        pass
    return inodes


def bad_lines(text, allowed=()):
    """The lines of a server log that report a failure, but those containing one of allowed."""
    return [line for line in text.splitlines()
            if any(b in line for b in BAD_LINES) and not any(a in line for a in allowed)]


def start_postgres(t, max_connections=100):
    """A new cluster in TMP/pg with the tables loaded, its server started and ready."""
    top = t.path('pg')
    with open(t.log_path('initdb'), 'ab') as log:
        pgcluster.prepare(top, log)
    return Postgres(t, top, max_connections).wait_ready()


def restart(t, pg, down_s=0.0):
    """Stop the server (fast shutdown), wait down_s, start a new one on the same data."""
    pg.stop()
    if down_s:
        time.sleep(down_s)
    return Postgres(t, pg.top).wait_ready()
