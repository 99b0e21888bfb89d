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
  is replaced); a draining worker closes its idle connections at once
  and its busy ones as their queries end; recycling every 40 requests
  under load loses nothing and leaves no error in the server's log (no
  "unexpected EOF"); a worker that stops with a query in flight cancels
  it and closes cleanly;
- a connection string libpq cannot parse fails the workers' start, said
  in the log.
"""
import os
import re
import shutil
import signal
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import pgtest  # noqa: E402
import test_recycle_common as rc  # noqa: E402 - the status page
import test_syscalls  # noqa: E402 - its strace helper

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


def check_batches(t, pg, app):
    t.equal('SQL text: SELECT 1', get(app, '/one'), (200, b'1\n'))
    t.equal('a syntax error is a 500', get(app, '/error')[0], 500)
    st, body = get(app, '/mixed')
    t.equal('three queries, the second fails: the others still ran (each its own Sync)',
            (st, body), (200, b'status 500\n0 PGRES_TUPLES_OK first\n1 PGRES_FATAL_ERROR -\n'
                              b'2 PGRES_TUPLES_OK third\n'))
    t.equal('five batches chained from their callbacks', get(app, '/chain?n=5'), (200, b'15\n'))
    t.equal('one batch of 3000 queries, 3 MB of results (a pipeline past the socket buffers)',
            get(app, '/big?n=3000'), (200, b'3000 3000000\n'))
    check_prepared(t, pg, app)
    check_pipeline(t, pg, app)


def check_prepared(t, pg, app):
    t.equal('a prepared statement with parameters: add(2, 3)', get(app, '/add?a=2&b=3'), (200, b'5\n'))
    evil = "1'; DROP TABLE world; --"
    t.equal('a parameter is a value, never SQL', get(app, '/echo?s=' + urllib.parse.quote(evil)),
            (200, evil.encode() + b'\n'))
    t.check('... and the table is still there', int(pg.psql('SELECT count(*) FROM world')) == 10000)
    t.equal('a statement the server refused to prepare: its queries get 500', get(app, '/broken')[0], 500)
    t.check('... and the refusal is in the log, at the connection that prepared it',
            'pg: cannot prepare statement \'broken\'' in app.log_text(), app.log_text()[-600:])
    t.equal('... the statement prepared after it works', get(app, '/add?a=40&b=2'), (200, b'42\n'))
    t.equal('a value that is not an int: 500 from the server, not a crash', get(app, '/add?a=x&b=1')[0], 500)


def check_pipeline(t, pg, app):
    """Pipeline mode: the three queries of /pipeline (the first sleeps) are
    all sent before any result is read. Without it, the second could only
    be sent after the first's result came back."""
    if shutil.which('strace') is None:
        t.check('strace is installed (scripts/lib.sh)', False)
        return
    out = t.path('pipeline.strace')
    # Every call written to out (full), in order.
    calls, _ = test_syscalls.traced(t, app.workers()[0], out, lambda: t.equal(
        'a batch of three, the first sleeping 0.2 s', get(app, '/pipeline'), (200, b'2 3\n')), full=True)
    if calls is None:
        print('# SKIP: strace may not attach to the worker here', flush=True)
        return
    with open(out) as f:
        calls = [m.group(1) for m in (re.search(r'\b(sendto|recvfrom)\(', line) for line in f) if m]
    # Each query with its Sync is one send (libpq 15 flushes at every Sync).
    sends = [i for i, c in enumerate(calls) if c == 'sendto']
    recvs = [i for i, c in enumerate(calls) if c == 'recvfrom']
    t.check('three sends to the server, then the results read (one round trip)',
            len(sends) >= 3 and recvs and max(sends) < min(recvs), ' '.join(calls))


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
    c = send_raw(app, '/sleep?s=30')
    running = harness.wait_until(lambda: pg.running('pg_sleep') == 1, 15)
    t.check('the query runs on the server', running)
    c.close()  # the client goes away: nginx closes the connection so
    t.check('the client went away: the query is cancelled on the server',
            harness.wait_until(lambda: pg.running('pg_sleep') == 0, 15), f'{pg.running("pg_sleep")}')
    d2, e2 = harness.wait_until(lambda: (lambda s: s if s[1] == ended + 1 else None)(stats(app)), 10) or \
        stats(app)
    t.equal('the request ended, and its callback never ran', (d2, e2), (dones, ended + 1))
    t.equal('and the connection serves again', get(app, '/one'), (200, b'1\n'))


def send_raw(app, uri):
    """A request sent, its answer not read: the connection, to read it or close it."""
    c = harness.FcgiConn(app.sock, timeout=60)
    c.send(harness.fcgi_begin(1) + harness.fcgi_stream(harness.FCGI_PARAMS, 1, harness.fcgi_nv(
        harness.fcgi_params('GET', uri))) + harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
    return c


def check_max_waiting(t, pg, app):
    """pool_size 1, max_waiting 1: one query runs, one waits, the next gets 503 at once."""
    first = send_raw(app, '/sleep?s=60')
    t.check('the first query runs, on the pool\'s only connection',
            harness.wait_until(lambda: pg.running('pg_sleep') == 1, harness.WAIT))
    second = send_raw(app, '/sleep?s=0')
    # The status page (no query) says when the second's handler has run: it waits for the connection.
    t.check('the second waits for it (two requests in flight)',
            rc.wait_status(app.sock, lambda s: rc.in_flight(s) >= 2, harness.WAIT))
    t.equal('a third query over max_waiting: 503 at once', get(app, '/one')[0], 503)
    t.check('the app logged the 503', 'max_waiting' in app.log_text())
    first.close()  # its client gone, the first query is cancelled, and the connection free
    try:
        st = second.read_response(1).cgi()[0]
    finally:
        second.close()
    t.equal('the waiting query runs once the connection is free', st, 200)


def check_down(t, pg, app):
    pg.stop()
    st = [get(app, '/one')[0] for _ in range(5)]
    t.equal('the database down: 503 for every query', st, [503] * 5)
    t.check('... with a log line naming why',
            'pg: cannot connect to the database (attempt' in app.log_text(), app.log_text()[-600:])

    def pauses():
        return [int(m) for m in re.findall(r'pg: cannot connect to the database \(attempt \d+\):.*?'
                                           r'next attempt in (\d+) ms', app.log_text())]
    # Queries go on until three attempts failed: each answered 503, never stuck.
    st = []
    harness.wait_until(lambda: st.append(get(app, '/one')[0]) or len(pauses()) >= 3, 60)
    t.equal('... all 503 while it is down', set(st), {503})
    p = pauses()
    # reconnect_max_ms 300: 100 ms (75..125 with the jitter), 200 (150..250), then 300 at most.
    t.check('reconnects back off: 100 ms, 200 ms, then reconnect_max_ms (300)',
            len(p) >= 3 and 75 <= p[0] <= 125 and 150 <= p[1] <= 250 and all(225 <= x <= 300 for x in p[2:]),
            f'{p}')
    pg = pgtest.Postgres(t, pg.top).wait_ready()
    back = harness.wait_until(lambda: get(app, '/one') == (200, b'1\n'), 30, 0.1)
    t.check('back up: answers again (reconnect_max_ms 300)', back)
    t.check('... and the log says so', 'pg: connected to the database again after' in app.log_text())
    return pg


def check_restart_under_load(t, pg, app):
    workers = app.workers()
    results, stop, lock = [], threading.Event(), threading.Lock()

    def client():
        end = time.monotonic() + 150
        for _ in range(20000):  # bounded in count and time; a few hundred in practice
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

    def recovered():
        """When the first request begun after the server was back was answered 200."""
        with lock:
            ends = [t1 for t0, t1, s in results if t0 > ready and s == 200]
        return min(ends) if ends else None

    def late():
        first = recovered()
        with lock:
            return [s for t0, _, s in results if first is not None and t0 > first]
    # Load goes on until 100 requests begun after that were answered (or 90 s).
    harness.wait_until(lambda: len(late()) >= 100, 90)
    stop.set()
    for th in threads:
        th.join(30)
    statuses = [s for _, _, s in results]
    t.check(f'restart under load, {len(statuses)} requests: every answer 200 or 503 (no hang, no 504)',
            statuses and all(s in (200, 503) for s in statuses),
            f'{sorted(set(map(str, statuses)))}')
    t.check('some were served before and after the restart', statuses.count(200) >= 100, f'{statuses.count(200)}')
    # Once a new connection answered, the old ones are known closed: every
    # request begun after that gets a connection.
    after = late()
    t.check('requests begun after the first answer from the restarted server: all 200',
            after and all(s == 200 for s in after), f'{len(after)}: {[s for s in after if s != 200][:10]}')
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
    # Each backend logs what went wrong before it exits: once none is left, the log is complete.
    t.check('the stopped app\'s connections are gone', harness.wait_until(lambda: pg.fw_backends('recycle') == 0, 30))
    bad = pgtest.bad_lines(pg.log_since(offset))
    t.check('no error in the server\'s log: every retired worker closed its connections cleanly',
            not bad, '\n'.join(bad[:5]))


def check_drain_releases(t, pg):
    """A worker replaced (a reload) with a query in flight: its idle
    connection closes as soon as its replacement serves, so that the two
    together hold pool_size + that one query's connection, not 2 x pool_size;
    the last one closes once its query is over."""
    offset = pg.log_size()
    app = start_pgapp(t, pg, 'pgapp-drain', FW_PG_CONNINFO=pg.conninfo + ' application_name=drain',
                      FW_PG_QUERY_TIMEOUT_MS=0, FW_SERVER_TIMEOUT=0, FW_SERVER_GRACEFUL_TIMEOUT=900)

    def held(pid):
        return len(pgtest.socket_inodes(pid) & pg.client_sockets())

    def sleeping():
        return int(pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'drain' "
                           "AND state = 'active' AND query LIKE '%pg_sleep%'"))
    old = app.workers()[0]
    warm = [send_raw(app, '/sleep?s=0.5') for _ in range(2)]
    try:
        sts = [c.read_response(1).cgi()[0] for c in warm]
    finally:
        for c in warm:
            c.close()
    t.equal('two queries at once: both answered', sts, [200, 200])
    t.check('the worker holds pool_size (2) connections, idle now',
            harness.wait_until(lambda: held(old) == 2 and pg.fw_backends('drain') == 2, harness.WAIT),
            f'{held(old)} held, {pg.fw_backends("drain")} on the server')
    long = send_raw(app, '/sleep?s=900')
    try:
        t.check('a long query runs on one of them',
                harness.wait_until(lambda: sleeping() == 1, harness.WAIT))
        app.send_signal(signal.SIGHUP)  # every worker is replaced, this one with its query in flight
        t.check('the reload replaced the worker (the old one drains)',
                harness.wait_until(lambda: any(p != old for p in app.workers()), harness.WAIT), f'{app.workers()}')
        # Before its replacement serves, the old worker takes requests and keeps its connections.
        t.check('draining, the old worker closes its idle connection at once, keeps the busy one',
                harness.wait_until(lambda: held(old) == 1, harness.WAIT), f'{held(old)} held')
        t.equal('... whose query still runs', sleeping(), 1)
        new = [p for p in app.workers() if p != old]
        results, peak = load(app, pg, 'drain', ['/sleep?s=0.02', '/one'], 6, 30)
        t.check(f'load on the replacement meanwhile: all {len(results)} answers 200',
                results and all(r == 200 for r in results), f'{[r for r in results if r != 200][:5]}')
        t.check('connections never above pool_size (2) + the old worker\'s busy one', 0 < peak <= 3,
                f'peak {peak}')
        t.equal('the old worker opened none meanwhile', held(old), 1)
        t.check('the replacement holds at most pool_size', all(held(p) <= 2 for p in new),
                f'{[held(p) for p in new]}')
    finally:
        long.close()  # its client gone: the query is cancelled, and the old worker's last request ends
    t.check('its query over, the old worker closes its last connection and exits',
            harness.wait_until(lambda: old not in app.workers(), harness.WAIT), f'{app.workers()}')
    t.check('... cancelled on the server', harness.wait_until(lambda: sleeping() == 0, harness.WAIT))
    app.stop()
    t.check('the stopped app\'s connections are gone',
            harness.wait_until(lambda: pg.fw_backends('drain') == 0, harness.WAIT))
    bad = pgtest.bad_lines(pg.log_since(offset), allowed=('canceling statement due to user request',
                                                            'STATEMENT:', 'no_such_table'))
    t.check('every connection closed cleanly (no unexpected EOF)', not bad, '\n'.join(bad[:5]))


def check_pool_bound(t, pg):
    """No recycling: the server never sees more than workers x pool_size."""
    app = t.start_app('tfb', sock=t.path('tfb-bound.sock'), env={
        'FW_SERVER_WORKERS': 2, 'FW_PG_CONNINFO': pg.conninfo + ' application_name=bound',
        'FW_PG_POOL_SIZE': 2})
    t.equal('started, no query yet: no connection (opened when a query needs one, in a worker)',
            pg.fw_backends('bound'), 0)
    results, peak = load(app, pg, 'bound', ['/queries?queries=20'], 8, 40)
    t.check('8 clients on 2 workers with pool_size 2: all 200', all(r == 200 for r in results),
            f'{[r for r in results if r != 200][:5]}')
    t.check('... and never more than 4 connections', 0 < peak <= 4, f'peak {peak}')
    clients = pg.client_sockets()
    held = {pid: len(pgtest.socket_inodes(pid) & clients) for pid in [app.pid] + app.workers()}
    t.equal('the master holds no connection to the server', held[app.pid], 0)
    t.check('its workers hold its connections', sum(held.values()) == pg.fw_backends('bound') > 0,
            f'{held}, {pg.fw_backends("bound")} backends')
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
    # pgapp's statement "broken" is refused at every connection, on purpose.
    bad = pgtest.bad_lines(pg.log_since(offset), allowed=('canceling statement due to user request',
                                                            'STATEMENT:', 'no_such_table'))
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
        check_batches(t, pg, app)
    with t.section('query_timeout_ms'):
        check_timeout(t, pg, app)
    with t.section('the client goes away mid-query'):
        check_client_gone(t, pg, app)
    with t.section('max_waiting'):
        small = start_pgapp(t, pg, 'pgapp-small', FW_PG_POOL_SIZE=1, FW_PG_MAX_WAITING=1, FW_PG_QUERY_TIMEOUT_MS=0)
        check_max_waiting(t, pg, small)
        small.stop()
        # max_waiting = 0: no wait for a busy connection, but a cold pool
        # still opens its connections (it refused every query for good).
        none = start_pgapp(t, pg, 'pgapp-none', FW_PG_MAX_WAITING=0)
        t.equal('max_waiting = 0: a query on a cold pool opens a connection', get(none, '/one'), (200, b'1\n'))
        t.equal('max_waiting = 0: and the next query uses it', get(none, '/one'), (200, b'1\n'))
        none.stop()
    with t.section('the database down, then back'):
        pg = check_down(t, pg, app)
    with t.section('the database restarted under load'):
        pg = check_restart_under_load(t, pg, app)
    with t.section('connections per worker'):
        check_pool_bound(t, pg)
    with t.section('recycling under load'):
        check_connections_and_recycling(t, pg)
    with t.section('a draining worker lets its connections go'):
        check_drain_releases(t, pg)
    with t.section('a worker stops with a query in flight'):
        check_stop_in_flight(t, pg)
    with t.section('a bad connection string'):
        check_bad_conninfo(t, pg)


if __name__ == '__main__':
    harness.run(main)
