#!/usr/bin/env python3
"""Every front end and protocol while workers recycle (issue 21).

For each of nginx, Apache and lighttpd over FastCGI and SCGI, and Caddy
and H2O over FastCGI, each started from its file in conf/ (as the tests
do, tests/e2e/frontends.py): testapp with 2 workers and max_requests =
100, then wrk -t1 -cCONNS for SECONDS on GET /hello, then for SECONDS on
GET and POST /hello mixed (the body checked). Reports failed / total
requests (non-2xx answers, socket errors, wrong bodies) and the recycles
the status page counted meanwhile.

    python3 bench/frontends.py --build build-perf [--seconds 15] [--conns 16] [--markdown]
    python3 bench/frontends.py --only apache:scgi,nginx:scgi

Python 3 standard library only; needs nginx, apache2, lighttpd, caddy, h2o
and wrk (scripts/lib.sh installs them).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
E2E = os.path.join(os.path.dirname(HERE), 'tests', 'e2e')

CASES = [('nginx', 'fastcgi'), ('nginx', 'scgi'), ('apache', 'fastcgi'), ('apache', 'scgi'),
         ('lighttpd', 'fastcgi'), ('lighttpd', 'scgi'), ('caddy', 'fastcgi'), ('h2o', 'fastcgi')]


def args_parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--build', default=os.environ.get('FW_BUILD_DIR', 'build'),
                   help='meson build dir with tests/apps/testapp (default: build)')
    p.add_argument('--seconds', type=int, default=15, help='each wrk run (default 15)')
    p.add_argument('--conns', type=int, default=16, help='wrk connections (default 16)')
    p.add_argument('--max-requests', type=int, default=100)
    p.add_argument('--only', help='front:protocol,... (default: all)')
    p.add_argument('--markdown', action='store_true', help='a markdown table')
    return p.parse_args()


def wrk_failed(out):
    """Failed requests in a wrk report: non-2xx, socket errors, wrong bodies."""
    n = 0
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    n += int(m.group(1)) if m else 0
    m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    n += sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r'bad bodies: (\d+)', out)
    n += int(m.group(1)) if m else 0
    return n


def one_load(t, rc, app, port, path, seconds, conns, mixed):
    before = rc.recycled(app.sock, 'max_requests')
    argv = ['wrk', '-t1', f'-c{conns}', f'-d{seconds}s', '--timeout', '10s']
    if mixed:
        argv += ['-s', rc.wrk_script(t)]
    p = subprocess.run(argv + [f'http://127.0.0.1:{port}{path}'], capture_output=True, text=True,
                       timeout=seconds + 60)
    out = p.stdout + p.stderr
    after = rc.recycled(app.sock, 'max_requests')
    total = rc.wrk_requests(out) or 0
    return {'requests': total, 'failed': wrk_failed(out), 'recycles': (after or 0) - (before or 0),
            'rps': total / seconds, 'out': out}


def one_case(t, rc, frontends, app, kind, proto, a):
    site = frontends.NginxSite(t.start_nginx()) if kind == 'nginx' else frontends.start(t, kind)
    mark = rc.LogMark(site.error_log)
    port, path = site.url(proto, '/hello')
    rows = []
    try:
        for mixed in (False, True):
            r = one_load(t, rc, app, port, path, a.seconds, a.conns, mixed)
            rc.settled(app, 2)
            r.update(front=kind, proto=proto, load='GET/POST mixed' if mixed else 'GET /hello')
            rows.append(r)
            if r['failed']:
                sys.stderr.write(f'# {kind} {proto} {r["load"]}: {r["failed"]} failed\n{r["out"]}\n')
    finally:
        site.stop()
    bad = site.bad_lines(mark.text())
    for r in rows:
        r['log'] = len(bad)
    if bad:
        sys.stderr.write(f'# {kind}: {len(bad)} error lines, e.g.\n' + '\n'.join(bad[:5]) + '\n')
    return rows


def table(rows, markdown):
    head = ['front end', 'protocol', 'load', 'failed / total', 'recycles', 'req/s', 'error lines']
    body = [[r['front'], r['proto'], r['load'], f'{r["failed"]} / {r["requests"]:,}',
             str(r['recycles']), f'{r["rps"]:.0f}', str(r['log'])] for r in rows]
    if markdown:
        lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
        lines += ['| ' + ' | '.join(b) + ' |' for b in body]
    else:
        w = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        lines = ['  '.join(x[i].ljust(w[i]) for i in range(len(head))) for x in [head] + body]
    return '\n'.join(lines)


def main():
    a = args_parse()
    os.environ['FW_BUILD_DIR'] = os.path.abspath(a.build)
    sys.path.insert(0, E2E)
    import frontends
    import harness
    import test_recycle_common as rc

    cases = CASES
    if a.only:
        want = {tuple(x.split(':')) for x in a.only.split(',')}
        cases = [c for c in CASES if c in want]
    t = harness.Run('bench-frontends')
    rows = []
    try:
        fcgi, scgi = t.path('hello.sock'), t.path('hello-scgi.sock')
        app = rc.start(t, workers=2, max_requests=a.max_requests, listen=f'{fcgi}, scgi:{scgi}',
                       log_level='warn')
        harness.wait_until(lambda: harness.unix_accepts(scgi), harness.START_TIMEOUT)
        started = time.time()
        for kind, proto in cases:
            sys.stderr.write(f'# {kind} {proto}\n')
            rows += one_case(t, rc, frontends, app, kind, proto, a)
        sys.stderr.write(f'# {time.time() - started:.0f} s\n')
        # fw's own complaints over the whole run (log_level warn): a
        # dropped connection would say so here even if a front end retried.
        fw_bad = [line for line in app.log_text().splitlines() if '[error]' in line or '[warn]' in line]
    finally:
        t.cleanup()
        shutil.rmtree(t.tmp, ignore_errors=True)
    print(table(rows, a.markdown))
    print(f'\nerror and warning lines in fw\'s log over the whole run: {len(fw_bad)}')
    for line in fw_bad[:10]:
        print('    ' + line)
    return 1 if any(r['failed'] for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
