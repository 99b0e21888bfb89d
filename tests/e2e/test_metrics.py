#!/usr/bin/env python3
"""The status page's other forms (framework/worker/status*.c), through nginx:
?format=prometheus passes `promtool check metrics` and agrees with the JSON,
?format=html is a well-formed self-contained page with a sparkline per
worker, an unknown format is a 400.

apps/hello runs with 2 workers and max_requests = 50, so that a few hundred
requests recycle workers and the retired totals count; a TCP listener
beside its Unix socket gives an accept queue to show.

Every status fetch is itself a request, answered after its figures were
read: a figure of one fetch is compared with JSON fetched just before and
just after it (before <= figure <= after)."""
import html.parser
import json
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402

LOAD = 400
MAX_REQUESTS = 50
PROM_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
REASONS = ['max_requests', 'memory', 'timeout', 'crash', 'reload', 'upgrade']
STATES = ['booting', 'ready', 'draining', 'stopping']
LE = ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5',
      '1', '2.5', '5', '10', '+Inf']
FAMILIES = {
    'fw_requests_total': 'counter',
    'fw_requests_in_flight': 'gauge',
    'fw_connections': 'gauge',
    'fw_workers': 'gauge',
    'fw_workers_wanted': 'gauge',
    'fw_recycles_total': 'counter',
    'fw_accept_queue_connections': 'gauge',
    'fw_worker_requests_total': 'counter',
    'fw_worker_private_memory_bytes': 'gauge',
    'fw_worker_rss_bytes': 'gauge',
    'fw_worker_heap_bytes': 'gauge',
    'fw_request_duration_seconds': 'histogram',
    'fw_master_uptime_seconds': 'gauge',
    'fw_master_heartbeat_age_seconds': 'gauge',
    'fw_worker_rss_limit_bytes': 'gauge',
    'fw_worker_rss_soft_limit_bytes': 'gauge',
    'fw_worker_max_requests': 'gauge',
    'fw_cgroup_memory_limit_bytes': 'gauge',
    'fw_cgroup_memory_working_set_bytes': 'gauge',
    'fw_build_info': 'gauge',
    'fw_workers_by_build': 'gauge',
    'fw_upgrade_in_progress': 'gauge',
    'fw_upgrades_total': 'counter',
}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_prom(text):
    """(types {family: type}, samples [(name, {label: value}, float)]);
    raises ValueError on a line it cannot read."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith('# TYPE '):
            _, _, name, typ = line.split(' ', 3)
            types[name] = typ
            continue
        if line.startswith('#') or not line:
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f'unreadable sample line {line!r}')
        labels, rest = {}, m.group(2) or ''
        while rest:
            lm = LABEL.match(rest)
            if not lm:
                raise ValueError(f'unreadable labels in {line!r}')
            labels[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


def values(samples, name, **labels):
    return [v for n, ls, v in samples if n == name and all(ls.get(k) == w for k, w in labels.items())]


def value(samples, name, **labels):
    vs = values(samples, name, **labels)
    return vs[0] if len(vs) == 1 else None


def get(nginx, query):
    return harness.http(nginx.port, 'GET', '/status' + query)


def get_json(t, nginx):
    r = get(nginx, '')
    t.equal('JSON status is 200', r.status, 200)
    return json.loads(r.body)


def load(t, nginx):
    """LOAD requests on keep-alive connections, and more until the status
    page counts 2 recycles (bounded): a retiring worker serves on until its
    replacement is ready, so how many recycles LOAD requests make depends
    on how fast the machine boots one."""
    bad = n = 0
    conn = harness.httpclient.HTTPConnection('127.0.0.1', nginx.port, timeout=harness.IO_TIMEOUT)
    deadline = time.monotonic() + harness.WAIT
    try:
        while n < LOAD or (n < 20 * LOAD and time.monotonic() < deadline and not (
                n % 10 == 0 and json.loads(get(nginx, '').body)['recycled']['max_requests'] >= 2)):
            r = harness.http_on(conn, 'GET', '/hello')
            bad += r.status != 200
            n += 1
    finally:
        conn.close()
    t.equal(f'{n} GET /hello through nginx: every one 200', bad, 0)


def check_promtool(t, body):
    promtool = shutil.which('promtool')
    if not t.check('promtool is installed (Debian package prometheus)', promtool is not None):
        return
    p = subprocess.run([promtool, 'check', 'metrics'], input=body, capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode('utf-8', 'replace').strip()
    t.check('promtool check metrics: exit 0, no problem reported', p.returncode == 0 and not out,
            f'exit {p.returncode}: {out}')


def check_families(t, text, types, samples):
    for name, typ in FAMILIES.items():
        t.equal(f'# TYPE {name} {typ}', types.get(name), typ)
        t.check(f'# HELP {name}', re.search(rf'^# HELP {name} \S', text, re.M) is not None)
    t.equal('no family beyond the documented ones', sorted(set(types) - set(FAMILIES)), [])
    names = {n for n, _, _ in samples}
    base = {re.sub(r'_(bucket|sum|count)$', '', n) if n.startswith('fw_request_duration') else n
            for n in names}
    t.equal('every sample belongs to a typed family', sorted(base - set(types)), [])


def check_histogram(t, samples, total):
    buckets = [(ls['le'], v) for n, ls, v in samples if n == 'fw_request_duration_seconds_bucket']
    t.equal('histogram buckets: le values in order', [le for le, _ in buckets], LE)
    counts = [v for _, v in buckets]
    t.check('histogram buckets never decrease', all(a <= b for a, b in zip(counts, counts[1:])),
            str(counts))
    count = value(samples, 'fw_request_duration_seconds_count')
    s = value(samples, 'fw_request_duration_seconds_sum')
    t.check('_bucket{le="+Inf"} == _count', counts and counts[-1] == count, f'{counts} {count}')
    # A worker stores its request count just before it files the duration.
    t.check(f'_count ({count}) is requests total ({total}), give or take a worker',
            count is not None and total - 2 <= count <= total)
    t.check(f'_sum ({s} s) is positive and under 1 s per request', s is not None and 0 < s < count)


def check_prom(t, nginx, app):
    before = get_json(t, nginx)
    # The master's heartbeat and the clock around the request: the age the
    # worker computes lies between what they allow, however slow the machine.
    sb = harness.Scoreboard(app.pid)
    hb0, t0 = sb.master_heartbeat_ms(), time.monotonic()
    r = get(nginx, '?format=prometheus')
    t1, hb1 = time.monotonic(), sb.master_heartbeat_ms()
    after = get_json(t, nginx)
    t.equal('?format=prometheus is 200', r.status, 200)
    t.equal('Prometheus Content-Type', r.header('Content-Type'), PROM_TYPE)
    check_promtool(t, r.body)
    text = r.body.decode()
    types, samples = parse_prom(text)
    check_families(t, text, types, samples)

    total = value(samples, 'fw_requests_total')
    t.check(f'fw_requests_total {total} is between the JSON requests before '
            f'({before["requests"]}) and after ({after["requests"]})',
            total is not None and before['requests'] <= total <= after['requests'])
    t.check(f'fw_requests_total {total} counts the load ({LOAD})', total is not None and total >= LOAD)
    check_histogram(t, samples, total)

    for reason in REASONS:
        v = value(samples, 'fw_recycles_total', reason=reason)
        t.check(f'fw_recycles_total{{reason="{reason}"}} {v} matches the JSON',
                v is not None and before['recycled'][reason] <= v <= after['recycled'][reason])
    t.check('workers were recycled for max_requests',
            (value(samples, 'fw_recycles_total', reason='max_requests') or 0) >= 2)

    t.equal('fw_workers_wanted', value(samples, 'fw_workers_wanted'), 2)
    states = {s: value(samples, 'fw_workers', state=s) for s in STATES}
    t.check('fw_workers: every state, once', None not in states.values(), str(states))
    per = [(ls, v) for n, ls, v in samples if n == 'fw_worker_requests_total']
    t.equal('fw_workers adds up to the per-worker series', sum(v or 0 for v in states.values()), len(per))
    t.check('fw_workers{state="ready"} >= 1', (states['ready'] or 0) >= 1, str(states))
    pids = {int(ls['pid']) for ls, _ in per}
    t.check(f'per-worker pids {sorted(pids)} are the master\'s workers {app.workers()} '
            f'or the JSON\'s', pids <= set(app.workers()) | {w['pid'] for w in before['workers']}
            | {w['pid'] for w in after['workers']})
    for fam in ('fw_worker_private_memory_bytes', 'fw_worker_rss_bytes', 'fw_worker_heap_bytes'):
        labels = [ls for n, ls, _ in samples if n == fam]
        t.equal(f'{fam}: one series per worker, labelled slot and pid',
                sorted((ls.get('slot'), ls.get('pid')) for ls in labels),
                sorted((ls['slot'], ls['pid']) for ls, _ in per))
    t.check('some worker has its rss measured',
            any(v > 0 for v in values(samples, 'fw_worker_rss_bytes')))

    # listen = the Unix socket (listener 0, no figure), then TCP (listener 1).
    t.equal('fw_accept_queue_connections: the TCP listener only',
            [ls for n, ls, _ in samples if n == 'fw_accept_queue_connections'], [{'listener': '1'}])
    up = value(samples, 'fw_master_uptime_seconds')
    t.check(f'fw_master_uptime_seconds {up} is about the JSON uptime_s',
            up is not None and before['uptime_s'] <= up < after['uptime_s'] + 1)
    age = value(samples, 'fw_master_heartbeat_age_seconds')
    lo, hi = max(0.0, t0 - hb1 / 1000 - 0.002), t1 - hb0 / 1000 + 0.002  # ms rounding
    t.check(f'fw_master_heartbeat_age_seconds {age} is the heartbeat\'s age ({lo:.3f} to {hi:.3f} s '
            f'from the scoreboard and the clock around the request)', age is not None and lo <= age <= hi)

    # The build: the executable's own build-id, readelf's reading of it.
    notes = subprocess.run(['readelf', '-n', app.argv[0]], capture_output=True, text=True).stdout
    bid = 'build-id:' + notes.split('Build ID:')[1].split()[0] if 'Build ID:' in notes else None
    info = [ls for n, ls, _ in samples if n == 'fw_build_info']
    t.check(f'fw_build_info names the build ({bid})', len(info) == 1 and info[0]['build'] == bid, info)
    by_build = [(ls['build'], v) for n, ls, v in samples if n == 'fw_workers_by_build']
    t.check('fw_workers_by_build: every worker of that build',
            len(by_build) == 1 and by_build[0][0] == bid and by_build[0][1] == len(per), by_build)
    t.equal('fw_upgrade_in_progress 0', value(samples, 'fw_upgrade_in_progress'), 0)
    t.equal('fw_upgrades_total, by result',
            {ls['result']: v for n, ls, v in samples if n == 'fw_upgrades_total'},
            {'done': 0, 'refused': 0, 'abandoned': 0})


VOID = {'meta', 'br', 'img', 'hr', 'input', 'link', 'col', 'wbr', 'source', 'area', 'base'}


class StrictParser(html.parser.HTMLParser):
    """Collects what the checks need, and every nesting error: each element
    closed, in order (SVG children may close themselves: <polyline/>)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.urls, self.svgs = [], [], [], [], []
        self.rows, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for _, v in attrs if v and re.search(r'(https?:)?//', v)]
        if tag == 'svg':
            self.svgs.append(dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for _, v in attrs if v and re.search(r'(https?:)?//', v)]
        if tag == 'polyline' and self.svgs:
            self.svgs[-1]['points'] = dict(attrs).get('points', '')

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f'</{tag}> of a void element')
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f'</{tag}> closes <{self.stack[-1] if self.stack else None}>')
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(t, nginx, app):
    before = get_json(t, nginx)
    r = get(nginx, '?format=html')
    after = get_json(t, nginx)
    t.equal('?format=html is 200', r.status, 200)
    t.equal('HTML Content-Type', r.header('Content-Type'), 'text/html; charset=utf-8')
    t.check(f'HTML page is small ({len(r.body)} bytes)', len(r.body) < 16384)
    body = r.body.decode()
    p = StrictParser()
    p.feed(body)
    p.close()
    t.check('HTML starts with <!DOCTYPE html>', body.startswith('<!DOCTYPE html>'))
    t.equal('HTML: every element closed in order', p.errors + [f'<{x}> left open' for x in p.stack], [])
    t.equal('HTML: no script, no external stylesheet or image',
            [x for x in p.tags if x in ('script', 'link', 'img', 'iframe', 'object')], [])
    t.equal('HTML: no URL to another host in any attribute', p.urls, [])
    t.check('HTML: no http:// or https:// anywhere', 'http://' not in body and 'https://' not in body)
    t.check('HTML: links to the JSON and Prometheus forms',
            'href="?format=json"' in body and 'href="?format=prometheus"' in body)
    text = ' '.join(p.text)
    t.check('HTML shows the master pid', str(app.pid) in text)
    for what in ('uptime', 'workers wanted', 'requests', *REASONS):
        t.check(f'HTML shows {what}', what in text)
    # A worker can be replaced meanwhile (each fetch counts towards
    # max_requests): the page is compared with itself, then with the JSON.
    rows = re.findall(r'<tr><td>(\d+)</td><td>(\d+)</td>', body.split('<h2>Workers</h2>', 1)[-1])
    t.equal('HTML: one svg per worker row', len(p.svgs), len(rows))
    t.check(f'HTML: {len(rows)} worker rows, as many as the JSON around it says '
            f'({len(before["workers"])}, {len(after["workers"])}) or one more (a recycle)',
            min(len(before['workers']), len(after['workers'])) <= len(rows)
            <= max(len(before['workers']), len(after['workers'])) + 1)
    for w in before['workers']:
        if any(x['pid'] == w['pid'] for x in after['workers']):
            t.check(f'HTML shows worker {w["pid"]}', str(w['pid']) in [pid for _, pid in rows])
    for svg in p.svgs:
        pts = [tuple(map(int, xy.split(','))) for xy in (svg.get('points') or '').split()]
        width = int((svg.get('viewbox') or '0 0 0 0').split()[2])
        t.check(f'sparkline {svg.get("viewbox")}: points inside its box, oldest first '
                f'(none for a worker not sampled yet)',
                all(0 <= x <= width and 0 <= y <= 100 for x, y in pts)
                and [x for x, _ in pts] == sorted(x for x, _ in pts)
                and (pts or 'points' not in svg), str(pts))


def check_bad_format(t, nginx):
    r = get(nginx, '?format=bogus')
    t.equal('?format=bogus is 400', r.status, 400)
    t.check('the 400 names the formats', all(f in r.body for f in (b'json', b'prometheus', b'html')),
            harness.short(r.body))
    for q in ('?format=', '?format=HTML', '?format=%20json'):
        t.equal(f'{q} is 400', get(nginx, q).status, 400)
    r = get(nginx, '?format=html&refresh=5')
    t.check('&refresh=5: 200 with a Refresh: 5 header (the browser reloads the page)',
            r.status == 200 and r.header('Refresh') == '5', (r.status, r.header('Refresh')))
    t.equal('without refresh, no Refresh header', get(nginx, '?format=html').header('Refresh'), None)
    # strtol skips leading blanks: a CR/LF there must be a 400, not a
    # header fw_set_header refuses (a warning per request, no Refresh).
    for q in ('?format=html&refresh=0', '?format=html&refresh=5s', '?format=html&refresh=99999',
              '?format=html&refresh=%0D%0A5', '?format=html&refresh=%205', '?format=html&refresh=+5'):
        t.equal(f'{q} is 400', get(nginx, q).status, 400)
    r = get(nginx, '?format=json')
    t.check('?format=json is the JSON', r.status == 200 and 'requests' in json.loads(r.body))
    t.equal('?format=json Content-Type', r.header('Content-Type'), 'application/json')


def main(t):
    port = harness.free_port()
    sock = t.path('hello.sock')
    app = t.start_app('hello', sock=sock, workers=2, env={
        'FW_SERVER_LISTEN': f'{sock}, 127.0.0.1:{port}',
        'FW_SERVER_WORKERS': 2,
        'FW_SERVER_STATUS_PATH': '/status',
        'FW_SERVER_MAX_REQUESTS': MAX_REQUESTS,
    })
    nginx = t.start_nginx()
    with t.section('load, with recycles'):
        load(t, nginx)
        # Recycles finish, and the master's tick has read the accept queues since.
        s = harness.wait_until(
            lambda: (lambda j: j if len(j['workers']) == 2 and
                     all(w['state'] == 'ready' for w in j['workers']) else None)(
                json.loads(get(nginx, '').body)), harness.WAIT, interval=0.2)
        t.check('two ready workers after the load', s is not None)
        t.check('and a master tick since', harness.wait_master_tick(app.pid))
    with t.section('?format=prometheus'):
        check_prom(t, nginx, app)
    with t.section('?format=html'):
        check_html(t, nginx, app)
    with t.section('unknown and explicit formats'):
        check_bad_format(t, nginx)
    with t.section('no worker lost'):
        s = get_json(t, nginx)
        t.equal('no worker crashed or timed out',
                (s['recycled']['crash'], s['recycled']['timeout']), (0, 0))
        bad = [line for line in app.log_text().splitlines()
               if 'Sanitizer' in line or 'runtime error' in line]
        t.equal('no sanitizer report in the app log', bad, [])
    t.check_logs()


harness.run(main)
