#!/usr/bin/env python3
"""apps/tfb against the TechEmpower Framework Benchmarks rules ("Project
Information Framework Tests Overview"), through nginx (conf/nginx.conf,
which passes /tfb/db to apps/tfb as /db, and so on),
on a PostgreSQL cluster of this test's own (pgtest.py):

- /json and /plaintext: the exact bodies and content types;
- /db: one World object, id 1..10000, its randomNumber what the table holds;
- /queries: the clamping of `queries` (missing, not a number, < 1 -> 1;
  > 500 -> 500), every row what the table holds, and each row read by its
  own query (each its own transaction: the server counts the commits);
- /fortunes: every row plus the one added at request time, sorted by
  message, the <script> row escaped, the Japanese one intact;
- /updates: the clamping, the rows really updated (the table holds the
  numbers answered), and most of 500 rows changed;
- every answer has Server, Date and Content-Length; a burst of concurrent
  requests of every kind all succeed, with no error in the server's log
  (no deadlock between concurrent updates).
"""
import html
import html.parser
import json
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import pgtest  # noqa: E402
from harness import http  # noqa: E402


def worlds(pg, ids):
    """{id: randomNumber} of the table for these ids."""
    if not ids:
        return {}
    out = pg.psql(f"SELECT id, randomnumber FROM world WHERE id IN ({','.join(str(i) for i in set(ids))})")
    return {int(a): int(b) for a, b in (line.split('|') for line in out.split())}


def check_headers(t, what, r, ctype):
    t.check(f'{what}: Server and Date headers (nginx)', r.header('Server') and r.header('Date'),
            f'{r.header_list}')
    t.equal(f'{what}: Content-Length is the body length', r.header('Content-Length'), str(len(r.body)))
    t.equal(f'{what}: Content-Type', r.header('Content-Type'), ctype)


def get(ngx, path):
    """GET /tfb/PATH: conf/nginx.conf passes /tfb/... to apps/tfb as /..."""
    return http(ngx.port, 'GET', '/tfb' + path)


def get_json(t, ngx, path):
    r = get(ngx, path)
    t.equal(f'GET {path} is 200', r.status, 200)
    try:
        return r, json.loads(r.body)
    except ValueError:
        t.check(f'GET {path} is JSON', False, repr(r.body[:200]))
        return r, None


def is_world(o):
    return (isinstance(o, dict) and sorted(o) == ['id', 'randomNumber'] and isinstance(o['id'], int)
            and isinstance(o['randomNumber'], int) and 1 <= o['id'] <= 10000)


def check_plain(t, ngx):
    r, body = get_json(t, ngx, '/json')
    t.equal('/json body', r.body, b'{"message":"Hello, World!"}')
    check_headers(t, '/json', r, 'application/json')
    r = get(ngx, '/plaintext')
    t.equal('/plaintext body', (r.status, r.body), (200, b'Hello, World!'))
    check_headers(t, '/plaintext', r, 'text/plain')


def check_db(t, ngx, pg):
    got = []
    for _ in range(20):
        r, o = get_json(t, ngx, '/db')
        if not t.check('/db is one World object {"id", "randomNumber"}', is_world(o), repr(r.body)):
            return
        got.append(o)
    check_headers(t, '/db', r, 'application/json')
    table = worlds(pg, [o['id'] for o in got])
    t.check('/db: every randomNumber is what the table holds',
            all(table[o['id']] == o['randomNumber'] for o in got), f'{got} vs {table}')
    t.check('/db: the ids are random (20 requests, at least 15 distinct)', len({o['id'] for o in got}) >= 15,
            f'{[o["id"] for o in got]}')


def check_queries(t, ngx, pg):
    cases = {'': 1, '?queries=': 1, '?queries=foo': 1, '?queries=0': 1, '?queries=-5': 1,
             '?queries=1': 1, '?queries=5x': 1, '?queries=20': 20, '?queries=500': 500,
             '?queries=501': 500, '?queries=99999999999999999999': 500}
    for q, n in cases.items():
        r, arr = get_json(t, ngx, '/queries' + q)
        if not t.check(f'/queries{q}: an array of {n} World objects',
                       isinstance(arr, list) and len(arr) == n and all(is_world(o) for o in arr),
                       f'{len(arr) if isinstance(arr, list) else arr!r}'):
            continue
        if n == 20:
            check_headers(t, '/queries', r, 'application/json')
            table = worlds(pg, [o['id'] for o in arr])
            t.check('/queries?queries=20: every row is what the table holds',
                    all(table[o['id']] == o['randomNumber'] for o in arr))

    # Each row by its own query, each its own transaction (a Sync after
    # every query): 20 queries commit 20 times. The server's counters are
    # flushed within a second or so of a backend going idle.
    def commits():
        return int(pg.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = 'tfb'"))
    time.sleep(1.5)
    before = commits()
    get_json(t, ngx, '/queries?queries=20')
    after = harness.wait_until(lambda: commits() - before >= 20 and commits(), 20, 0.5)
    t.check('/queries?queries=20: 20 transactions (each query separated by a Sync)',
            after and after - before >= 20, f'{(after or commits()) - before} commits')


class Rows(html.parser.HTMLParser):
    """The (id, message) cells of the fortunes table, text unescaped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.cell, self.cur = [], None, []

    def handle_starttag(self, tag, attrs):
        if tag == 'td':
            self.cell = ''
        elif tag == 'tr':
            self.cur = []

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag == 'td':
            self.cur.append(self.cell)
            self.cell = None
        elif tag == 'tr' and len(self.cur) == 2:
            self.rows.append((int(self.cur[0]), self.cur[1]))


def check_fortunes(t, ngx, pg):
    r = get(ngx, '/fortunes')
    t.equal('/fortunes is 200', r.status, 200)
    check_headers(t, '/fortunes', r, 'text/html; charset=utf-8')
    body = r.body.decode('utf-8')
    table = [(int(a), b) for a, b in (line.split('|', 1) for line in
                                        pg.psql('SELECT id, message FROM fortune').splitlines())]
    want = sorted(table + [(0, 'Additional fortune added at request time.')],
                  key=lambda row: row[1].encode())
    p = Rows()
    p.feed(body)
    t.equal('/fortunes: every row and the added one, sorted by message', p.rows, want)
    t.check('/fortunes: the <script> message is escaped, never markup',
            '<script>' not in body and '&lt;script&gt;alert(&quot;This should not be displayed' in body,
            body[:400])
    t.check('/fortunes: the Japanese message is intact UTF-8', 'フレームワークのベンチマーク' in body)
    rows = ''.join(f'<tr><td>{i}</td><td>{html.escape(m, quote=True).replace("&#x27;", "&#39;")}</td></tr>'
                   for i, m in want)
    t.equal('/fortunes: the page of the rules, byte for byte',
            body, '<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>'
                  f'<tr><th>id</th><th>message</th></tr>{rows}</table></body></html>')


def check_updates(t, ngx, pg):
    for q, n in {'': 1, '?queries=foo': 1, '?queries=0': 1, '?queries=5': 5, '?queries=20': 20,
                 '?queries=501': 500}.items():
        before = dict(line.split('|') for line in pg.psql('SELECT id, randomnumber FROM world').split())
        r, arr = get_json(t, ngx, '/updates' + q)
        if not t.check(f'/updates{q}: an array of {n} World objects',
                       isinstance(arr, list) and len(arr) == n and all(is_world(o) for o in arr),
                       f'{len(arr) if isinstance(arr, list) else arr!r}'):
            continue
        table = worlds(pg, [o['id'] for o in arr])
        t.check(f'/updates{q}: the table holds the numbers answered (rows really updated)',
                all(table[o['id']] == o['randomNumber'] for o in arr),
                f'{[(o, table[o["id"]]) for o in arr if table[o["id"]] != o["randomNumber"]][:5]}')
        if n == 500:
            ids = {o['id'] for o in arr}
            changed = sum(1 for i in ids if int(before[str(i)]) != table[i])
            # A new random number equals the old one with odds of 1 in 10,000.
            t.check(f'/updates{q}: at least 95% of the {len(ids)} rows have changed', changed >= 0.95 * len(ids),
                    f'{changed} changed')
            check_headers(t, '/updates', r, 'application/json')


def check_burst(t, ngx, pg):
    paths = ['/db', '/queries?queries=5', '/fortunes', '/updates?queries=5', '/updates?queries=20', '/json']
    bad, count, lock = [], [0], threading.Lock()
    offset = pg.log_size()

    def client(k):
        deadline = time.monotonic() + 60
        for i in range(30):
            if time.monotonic() > deadline:
                return
            path = paths[(k + i) % len(paths)]
            try:
                r = get(ngx, path)
                ok = r.status == 200 and (path == '/fortunes' or json.loads(r.body) is not None)
            except Exception as e:  # noqa: BLE001 - any failure counts
                ok, r = False, e
            with lock:
                count[0] += 1
                if not ok:
                    bad.append((path, r))
    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(90)
    t.check(f'16 concurrent clients, {count[0]} requests of every kind: all 200', count[0] > 0 and not bad,
            f'{len(bad)} failed: {bad[:3]}')
    t.check('no error in the server\'s log (no deadlock between concurrent updates)',
            not pgtest.bad_lines(pg.log_since(offset)), '\n'.join(pgtest.bad_lines(pg.log_since(offset))[:5]))


def main(t):
    pg = pgtest.start_postgres(t)
    t.start_app('tfb', env={'FW_SERVER_WORKERS': 2, 'FW_PG_CONNINFO': pg.conninfo, 'FW_PG_POOL_SIZE': 3})
    ngx = t.start_nginx()
    with t.section('/json and /plaintext'):
        check_plain(t, ngx)
    with t.section('/db'):
        check_db(t, ngx, pg)
    with t.section('/queries'):
        check_queries(t, ngx, pg)
    with t.section('/fortunes'):
        check_fortunes(t, ngx, pg)
    with t.section('/updates'):
        check_updates(t, ngx, pg)
    with t.section('concurrent requests'):
        check_burst(t, ngx, pg)
    with t.section('the status page stays private'):
        t.equal('/tfb/status (the rewrite would reach status_path) is 404', get(ngx, '/status').status, 404)
    with t.section('logs'):
        t.check_logs()


if __name__ == '__main__':
    harness.run(main)
