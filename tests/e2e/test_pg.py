#!/usr/bin/env python3
"""The PostgreSQL module (framework/pg) against a real server of this
test's own (pgtest.py), through tests/apps/pgapp (failure paths) and
apps/tfb (load, recycling), over FastCGI:

- batches: SQL text and errors, queries independent of each other (each
  its own Sync), batches chained from callbacks, a pipeline longer than
  the socket buffers;
- query_timeout_ms: 504, the query cancelled on the server, the
  connection reused;
- a client that goes away mid-query: the query cancelled on the server,
  the callback never run;
- max_waiting: the batch over it gets 503 at once;
- the database down: 503 at once with a log line, backoff, and answers
  again once it is back; restarted under load: only 200 or 503, no
  worker lost, answers again afterwards;
- connections: at most workers x pool_size (+ pool_size while a worker
  is replaced); recycling every 40 requests under load loses nothing and
  leaves no error in the server's log (no "unexpected EOF"); a worker
  that stops with a query in flight cancels it and closes cleanly;
- a connection string libpq cannot parse fails the workers' start, said
  in the log.
"""
import os
import re
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import pgtest  # noqa: E402

PGAPP = os.path.join(harness.BUILD_DIR, 'tests', 'apps', 'pgapp')


def get(app, uri, timeout=harness.IO_TIMEOUT):
    """(status, body) of one FastCGI request straight to the app's socket."""
    with harness.FcgiConn(app.sock, timeout) as c:
        r = c.request(harness.fcgi_params('GET', uri))
    st, _, body = r.cgi()
    return st, body


def start_pgapp(t, pg, name='pgapp', **env):
    e = {'FW_SERVER_WORKERS': 1, 'FW_PG_CONNINFO': pg.conninfo, 'FW_PG_POOL_SIZE': 2}
    e.update(env)
    return t.start_app('pgapp', sock=t.path(f'{name}.sock'), env=e, binary=PGAPP)


def stats(app):
    st, body = get(app, '/stats')
    m = re.match(rb'dones (\d+) ended (\d+)', body)
    return (int(m.group(1)), int(m.group(2))) if st == 200 and m else (None, None)


def check_batches(t, app):
    t.equal('SQL text: SELECT 1', get(app, '/one'), (200, b'1\n'))
    t.equal('a syntax error is a 500', get(app, '/error')[0], 500)
    st, body = get(app, '/mixed')
    t.equal('three queries, the second fails: the others still ran (each its own Sync)',
            (st, body), (200, b'status 500\n0 PGRES_TUPLES_OK first\n1 PGRES_FATAL_ERROR -\n'
                              b'2 PGRES_TUPLES_OK third\n'))
    t.equal('five batches chained from their callbacks', get(app, '/chain?n=5'), (200, b'15\n'))
    t.equal('one batch of 3000 queries, 3 MB of results (a pipeline past the socket buffers)',
            get(app, '/big?n=3000'), (200, b'3000 3000000\n'))


def check_timeout(t, pg, app):
    t0 = time.monotonic()
    st, _ = get(app, '/sleep?s=30')
    took = time.monotonic() - t0
    t.equal('a query past query_timeout_ms (1 s) is answered 504', st, 504)
    t.check('... after the timeout, not the query', 0.9 <= took < 20, f'{took:.2f} s')
    t.check('... and cancelled on the server', harness.wait_until(lambda: pg.running('pg_sleep') == 0, 15),
            f'{pg.running("pg_sleep")} still running')
    t.check('the server logged the cancel',
            harness.wait_until(lambda: 'canceling statement due to user request' in pg.log_text(), 10))
    t.equal('the connections are used again: SELECT 1', get(app, '/one'), (200, b'1\n'))
    t.check('at most pool_size (2) connections', pg.fw_backends() <= 2, f'{pg.fw_backends()}')
    t.check('the app logged the timeout', 'timed out after 1000 ms (running); cancelling it' in app.log_text())


def check_client_gone(t, pg, app):
    dones, ended = stats(app)
    c = harness.FcgiConn(app.sock)
    c.send(harness.fcgi_begin(1) + harness.fcgi_stream(harness.FCGI_PARAMS, 1, harness.fcgi_nv(
        harness.fcgi_params('GET', '/sleep?s=30'))) + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
    running = harness.wait_until(lambda: pg.running('pg_sleep') == 1, 15)
    t.check('the query runs on the server', running)
    c.close()  # the client goes away: nginx closes the connection so
    t.check('the client went away: the query is cancelled on the server',
            harness.wait_until(lambda: pg.running('pg_sleep') == 0, 15), f'{pg.running("pg_sleep")}')
    d2, e2 = harness.wait_until(lambda: (lambda s: s if s[1] == ended + 1 else None)(stats(app)), 10) or \
        stats(app)
    t.equal('the request ended, and its callback never ran', (d2, e2), (dones, ended + 1))
    t.equal('and the connection serves again', get(app, '/one'), (200, b'1\n'))


def check_max_waiting(t, pg, app):
    """pool_size 1, max_waiting 1: one runs, one waits, the third gets 503 at once."""
    out, lock = [], threading.Lock()

    def one(uri):
        r = get(app, uri)
        with lock:
            out.append(r[0])
    first = threading.Thread(target=one, args=('/sleep?s=1',))
    first.start()
    harness.wait_until(lambda: pg.running('pg_sleep') == 1, 15)
    others = [threading.Thread(target=one, args=('/sleep?s=0.5',)) for _ in range(2)]
    for th in others:
        th.start()
    for th in [first] + others:
        th.join(30)
    t.equal('pool_size 1, max_waiting 1, three queries: one runs, one waits, one gets 503',
            sorted(out), [200, 200, 503])
    t.check('the app logged the 503', 'max_waiting' in app.log_text())


def check_down(t, pg, app):
    pg.stop()
    t0 = time.monotonic()
    st = [get(app, '/one')[0] for _ in range(5)]
    took = time.monotonic() - t0
    t.equal('the database down: 503 for every query', st, [503] * 5)
    t.check('... at once (5 queries in under 5 s)', took < 5, f'{took:.2f} s')
    t.check('... with a log line naming why',
            'pg: cannot connect to the database (attempt' in app.log_text(), app.log_text()[-600:])
    pg = pgtest.Postgres(t, pg.top).wait_ready()
    back = harness.wait_until(lambda: get(app, '/one') == (200, b'1\n'), 20, 0.1)
    t.check('back up: answers again (reconnect_max_ms 300)', back)
    t.check('... and the log says so', 'pg: connected to the database again after' in app.log_text())
    return pg


def check_restart_under_load(t, pg, app):
    workers = app.workers()
    results, stop, lock = [], threading.Event(), threading.Lock()

    def client():
        end = time.monotonic() + 90
        for _ in range(5000):  # bounded in count and time; a few hundred in practice
            if stop.is_set() or time.monotonic() > end:
                return
            start = time.monotonic()
            try:
                st = get(app, '/chain?n=3', timeout=20)[0]
            except Exception as e:  # noqa: BLE001 - a hang or a reset is a failure
                st = repr(e)
            with lock:
                results.append((start, time.monotonic(), st))
            if st == 503:
                time.sleep(0.02)  # as a client would, before it tries again
    threads = [threading.Thread(target=client) for _ in range(6)]
    for th in threads:
        th.start()
    time.sleep(1.0)
    pg = pgtest.restart(t, pg, down_s=0.5)
    ready = time.monotonic()
    # Load goes on until 100 requests begun 2 s after the server was ready were answered (or 30 s).
    harness.wait_until(lambda: sum(1 for t0, _, s in results if t0 > ready + 2) >= 100, 30)
    stop.set()
    for th in threads:
        th.join(30)
    statuses = [s for _, _, s in results]
    t.check(f'restart under load, {len(statuses)} requests: every answer 200 or 503 (no hang, no 504)',
            statuses and all(s in (200, 503) for s in statuses),
            f'{sorted(set(map(str, statuses)))}')
    t.check('some were served before and after the restart', statuses.count(200) >= 100, f'{statuses.count(200)}')
    # A failed attempt happens while the server is down, and its pause
    # (reconnect_max_ms, 300 ms) ends soon after: 2 s is plenty.
    late = [s for t0, _, s in results if t0 > ready + 2]
    t.check('requests begun 2 s after the server was back: all 200', late and all(s == 200 for s in late),
            f'{len(late)}: {[s for s in late if s != 200][:10]}')
    t.equal('no worker was lost', app.workers(), workers)
    bad = [line for line in app.log_text().splitlines()
           if ('[error]' in line and ': pg: ' not in line) or '[crit]' in line or '[alert]' in line]
    t.check('the app logged nothing worse than pg: connection errors', not bad, '\n'.join(bad[:5]))
    return pg


def load(app, pg, name, paths, clients, each, until=None):
    """clients threads, each sending up to `each` requests over paths in
    turn (stopping early once until() is true), while the connections
    named `name` are counted. ([statuses], peak)."""
    results, lock, peak, done = [], threading.Lock(), [0], threading.Event()
    end = time.monotonic() + 90

    def client(k):
        for i in range(each):
            if time.monotonic() > end or (until is not None and i % 10 == 0 and until()):
                return
            try:
                st = get(app, paths[(k + i) % len(paths)], timeout=20)[0]
            except Exception as e:  # noqa: BLE001 - a hang or a reset is a failure
                st = repr(e)
            with lock:
                results.append(st)

    def sampler():
        while not done.is_set():
            peak[0] = max(peak[0], pg.fw_backends(name))
            time.sleep(0.05)
    s = threading.Thread(target=sampler)
    s.start()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    done.set()
    s.join(10)
    return results, peak[0]


def check_connections_and_recycling(t, pg):
    """apps/tfb, 2 workers, pool_size 2, recycled every 40 requests, under load."""
    offset = pg.log_size()
    # Its own application_name, so that only its connections are counted.
    app = t.start_app('tfb', sock=t.path('tfb-recycle.sock'), env={
        'FW_SERVER_WORKERS': 2, 'FW_PG_CONNINFO': pg.conninfo + ' application_name=recycle',
        'FW_PG_POOL_SIZE': 2, 'FW_SERVER_MAX_REQUESTS': 40})

    def recycled():
        return app.log_text().count('recycled (max_requests')
    # A retiring worker serves on until its replacement is ready, however
    # long that takes: load goes on until 6 workers were replaced.
    results, peak = load(app, pg, 'recycle', ['/db', '/queries?queries=5', '/updates?queries=5', '/fortunes'],
                         6, 500, until=lambda: recycled() >= 6)
    t.check(f'recycling every 40 requests under load: all {len(results)} answers 200',
            results and all(r == 200 for r in results), f'{[r for r in results if r != 200][:5]}')
    t.check('6 workers were replaced meanwhile', recycled() >= 6, f'{recycled()} recycled')
    t.check('connections never above (workers + recycle_concurrency) x pool_size = 6', peak <= 6,
            f'peak {peak}')
    app.stop()
    time.sleep(0.5)
    bad = pgtest.bad_lines(pg.log_since(offset))
    t.check('no error in the server\'s log: every retired worker closed its connections cleanly',
            not bad, '\n'.join(bad[:5]))


def check_pool_bound(t, pg):
    """No recycling: the server never sees more than workers x pool_size."""
    app = t.start_app('tfb', sock=t.path('tfb-bound.sock'), env={
        'FW_SERVER_WORKERS': 2, 'FW_PG_CONNINFO': pg.conninfo + ' application_name=bound',
        'FW_PG_POOL_SIZE': 2})
    results, peak = load(app, pg, 'bound', ['/queries?queries=20'], 8, 40)
    t.check('8 clients on 2 workers with pool_size 2: all 200', all(r == 200 for r in results),
            f'{[r for r in results if r != 200][:5]}')
    t.check('... and never more than 4 connections', 0 < peak <= 4, f'peak {peak}')
    app.stop()


def check_stop_in_flight(t, pg):
    """A worker that stops with a query in flight cancels it and closes cleanly."""
    offset = pg.log_size()
    app = start_pgapp(t, pg, 'pgapp-stop', FW_SERVER_GRACEFUL_TIMEOUT=1)
    c = harness.FcgiConn(app.sock)
    c.send(harness.fcgi_begin(1, flags=harness.FCGI_KEEP_CONN) + harness.fcgi_stream(
        harness.FCGI_PARAMS, 1, harness.fcgi_nv(harness.fcgi_params('GET', '/sleep?s=30')))
        + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
    t.check('the query runs', harness.wait_until(lambda: pg.running('pg_sleep') == 1, 15))
    t.equal('SIGTERM with a query in flight: the master exits 0', app.stop(), 0)
    c.close()
    t.check('the query was cancelled', harness.wait_until(lambda: pg.running('pg_sleep') == 0, 15),
            f'{pg.running("pg_sleep")} still running')
    bad = pgtest.bad_lines(pg.log_since(offset), allowed=('canceling statement due to user request',
                                                            'STATEMENT:'))
    t.check('... and the connection closed cleanly (no unexpected EOF)', not bad, '\n'.join(bad[:5]))


def check_bad_conninfo(t, pg):
    app = t.start_app('pgapp', sock=t.path('pgapp-bad.sock'), wait=False, binary=PGAPP,
                      env={'FW_SERVER_WORKERS': 1, 'FW_PG_CONNINFO': 'not a connection string'})
    t.check('a conninfo libpq cannot parse: the worker start fails, saying why',
            harness.wait_until(lambda: 'pg: [pg] conninfo: missing "=" after "not"' in app.log_text(), 20),
            app.log_text()[-500:])
    t.equal('the master gives up (exit status 1)', app.wait(60), 1)


def main(t):
    pg = pgtest.start_postgres(t)
    app = start_pgapp(t, pg, FW_PG_QUERY_TIMEOUT_MS=1000, FW_PG_RECONNECT_MAX_MS=300)
    with t.section('batches'):
        check_batches(t, app)
    with t.section('query_timeout_ms'):
        check_timeout(t, pg, app)
    with t.section('the client goes away mid-query'):
        check_client_gone(t, pg, app)
    with t.section('max_waiting'):
        small = start_pgapp(t, pg, 'pgapp-small', FW_PG_POOL_SIZE=1, FW_PG_MAX_WAITING=1)
        check_max_waiting(t, pg, small)
        small.stop()
    with t.section('the database down, then back'):
        pg = check_down(t, pg, app)
    with t.section('the database restarted under load'):
        pg = check_restart_under_load(t, pg, app)
    with t.section('connections per worker'):
        check_pool_bound(t, pg)
    with t.section('recycling under load'):
        check_connections_and_recycling(t, pg)
    with t.section('a worker stops with a query in flight'):
        check_stop_in_flight(t, pg)
    with t.section('a bad connection string'):
        check_bad_conninfo(t, pg)


if __name__ == '__main__':
    harness.run(main)
