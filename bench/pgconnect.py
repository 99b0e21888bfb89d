#!/usr/bin/env python3
"""What a new PostgreSQL connection costs in CPU on this machine.

A private cluster (scripts/pgcluster.py, unix socket, trust), then
pgbench running `SELECT 1` from one client for --transactions
transactions, twice: once on one connection, once with -C (a new
connection per transaction, as a recycled worker's pool makes them).
CPU is counted from /proc: the server's (the postmaster with the backends
it has reaped: utime+stime+cutime+cstime) and pgbench's (its rusage).
The difference per transaction is what a connection costs, server and
client, in microseconds of CPU.

  nice python3 bench/pgconnect.py [--transactions N] [--rounds R]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'scripts'))
import pgcluster  # noqa: E402

TICK = os.sysconf('SC_CLK_TCK')


def tree_cpu(pid):
    """utime+stime+cutime+cstime of pid, in seconds (its reaped children included)."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def live_children_cpu(ppid):
    total = 0.0
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def server_cpu(pid):
    return tree_cpu(pid) + live_children_cpu(pid)


def run(top, script, n, connect):
    _, sock = pgcluster.paths(top)
    argv = ['pgbench', '-n', '-f', script, '-c', '1', '-t', str(n), '-h', sock, '-U', pgcluster.DB,
            pgcluster.DB]
    if connect:
        argv.insert(2, '-C')
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return client, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--transactions', type=int, default=2000)
    ap.add_argument('--rounds', type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix='fw-pgconnect-') as top:
        os.chmod(top, 0o755)
        pgcluster.prepare(top)
        proc = subprocess.Popen(pgcluster.server_argv(top), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            if not pgcluster.wait_ready(top, proc):
                raise RuntimeError('PostgreSQL did not start')
            script = os.path.join(top, 'select1.sql')
            with open(script, 'w') as f:
                f.write('SELECT 1;\n')
            per = {False: [], True: []}
            for _ in range(a.rounds):
                for connect in (False, True):
                    s0 = server_cpu(proc.pid)
                    client, wall = run(top, script, a.transactions, connect)
                    time.sleep(0.2)  # the last backend exits and is reaped
                    server = server_cpu(proc.pid) - s0
                    per[connect].append(((server + client) / a.transactions * 1e6,
                                         server / a.transactions * 1e6,
                                         client / a.transactions * 1e6, wall / a.transactions * 1e6))
            for connect in (False, True):
                rows = sorted(per[connect])
                tot, srv, cli, wall = rows[len(rows) // 2]
                print(f'{"-C (a connection each)" if connect else "one connection":24} '
                      f'{tot:8.1f} us CPU/transaction (server {srv:.1f}, client {cli:.1f}), '
                      f'{wall:.1f} us wall')
            cost = sorted(x[0] for x in per[True])[len(per[True]) // 2] - \
                sorted(x[0] for x in per[False])[len(per[False]) // 2]
            print(f'a new connection costs {cost:.0f} us of CPU (server + client), '
                  f'median of {a.rounds} rounds of {a.transactions} transactions')
        finally:
            pgcluster.stop(proc)


if __name__ == '__main__':
    main()
