#!/usr/bin/env python3
"""Independent FastCGI clients against the demo apps' sockets: the npm
package fastcgi-client (Node.js; installed into the run's temp dir) and
Debian's FCGI::Client (libfcgi-client-perl, in scripts/lib.sh). Each
client script prints JSON; the checks are made here."""
import base64
import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402

SCRIPT_TIMEOUT = 90

NODE_SCRIPT = r"""
'use strict';
// argv: node_modules dir, hello address, echo address (a unix socket path,
// or host:port). Prints one JSON object.
const [modules, helloSock, echoSock] = process.argv.slice(2);
const net = require('net');
const out = {connections: 0, getValues: null, requests: {}, errors: [], socketErrors: {}};
const t0 = Date.now();

// Watch every socket the library opens: count them, and note the records
// the server sends (the library hides GET_VALUES_RESULT's raw content and
// END_REQUEST's arrival time).
const origConnect = net.createConnection;
const socketsEnded = [];
net.createConnection = function (...args) {
  const s = origConnect.apply(net, args);
  out.connections++;
  let buf = Buffer.alloc(0);
  s.fcgiEnds = [];
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 8) {
      const type = buf[1], id = buf.readUInt16BE(2), clen = buf.readUInt16BE(4), plen = buf[6];
      if (buf.length < 8 + clen + plen) break;
      const content = buf.subarray(8, 8 + clen);
      if (type === 10) out.getValues = parseNv(content);
      if (type === 3) {
        s.fcgiEnds.push({id, at: Date.now(), protocolStatus: content[4]});
        socketsEnded.push(s);
      }
      buf = buf.subarray(8 + clen + plen);
    }
  });
  s.on('close', () => { s.closedAt = Date.now(); });
  s.on('error', (e) => { out.socketErrors[e.code] = (out.socketErrors[e.code] || 0) + 1; });
  return s;
};

function parseNv(b) {
  const r = {};
  let i = 0;
  const len = () => {
    if (b[i] < 128) return b[i++];
    const n = b.readUInt32BE(i) & 0x7fffffff; i += 4; return n;
  };
  while (i < b.length) {
    const kl = len(), vl = len();
    r[b.toString('latin1', i, i + kl)] = b.toString('latin1', i + kl, i + kl + vl);
    i += kl + vl;
  }
  return r;
}

function finish(code) {
  out.elapsedMs = Date.now() - t0;
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(code));
}

// Every step is bounded; the whole script too.
setTimeout(() => { out.errors.push('script timeout'); finish(2); }, 60000).unref();

const fcgi = require(modules + '/fastcgi-client');

function params(method, uri, body, type) {
  const [path, query] = uri.split('?');
  return {
    REQUEST_METHOD: method, DOCUMENT_URI: decodeURIComponent(path), REQUEST_URI: uri,
    SCRIPT_NAME: path, QUERY_STRING: query || '', SERVER_PROTOCOL: 'HTTP/1.1',
    GATEWAY_INTERFACE: 'CGI/1.1', REMOTE_ADDR: '127.0.0.1', SERVER_NAME: 'localhost',
    CONTENT_TYPE: type || '', CONTENT_LENGTH: body ? String(body.length) : '',
  };
}

function client(addr) {
  return new Promise((resolve, reject) => {
    const i = addr.lastIndexOf(':');
    const c = fcgi(addr.startsWith('/') ? {sockFile: addr}
                                        : {host: addr.slice(0, i), port: Number(addr.slice(i + 1))});
    const timer = setTimeout(() => reject(new Error('client not ready in 10 s')), 10000);
    c.on('ready', () => { clearTimeout(timer); resolve(c); });
    c.on('error', (e) => { out.errors.push('client error: ' + e.message); });
  });
}

function request(c, method, uri, body, type, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${method} ${uri}: no answer in ${timeoutMs} ms`)),
                             timeoutMs);
    c.request(params(method, uri, body, type), (err, req) => {
      if (err) { clearTimeout(timer); reject(err); return; }
      const chunks = [];
      req.stdout.on('data', (d) => chunks.push(d));
      req.stdout.on('end', () => {
        clearTimeout(timer);
        const st = req.getExitStatus();
        resolve({stdout: Buffer.concat(chunks).toString('base64'),
                 exit: st instanceof Error ? 'error: ' + st.message : st});
      });
      if (body) req.stdin.write(body);
      req.stdin.end();
    });
  });
}

async function main() {
  const hello = await client(helloSock);
  out.library = {mpxsConns: hello._mpxsConns, maxConns: hello._maxConns, maxReqs: hello._maxReqs};
  out.requests.hello = await request(hello, 'GET', '/hello');
  out.requests.name = await request(hello, 'GET', '/hello/n%C3%B6de');
  out.requests.greet = await request(hello, 'GET', '/greet?name=a+b%21');
  out.requests.missing = await request(hello, 'GET', '/nope');

  const before = out.connections;
  const many = [];
  for (let i = 0; i < 20; i++) many.push(request(hello, 'GET', '/hello/c' + i));
  out.requests.concurrent = await Promise.all(many);
  out.concurrentConnections = out.connections - before;

  const echo = await client(echoSock);
  const body = Buffer.alloc(20000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff;
  out.postBody = body.toString('base64');
  out.requests.post = await request(echo, 'POST', '/echo', body, 'application/x-node');
  out.requests.postEmpty = await request(echo, 'POST', '/echo', null, 'text/plain');

  // An aborted request: BEGIN, PARAMS, half the body, then ABORT_REQUEST.
  out.abort = await new Promise((resolve) => {
    const half = Buffer.alloc(500, 0x61);
    const r = {};
    // END_REQUEST and the close seen on the wire, whether or not the
    // library passes them on.
    const sample = () => {
      const s = socketsEnded.find((x) => r.abortAt && x.fcgiEnds.some((e) => e.at >= r.abortAt));
      if (s && r.endRequestMs === undefined) {
        const e = s.fcgiEnds.find((x) => x.at >= r.abortAt);
        r.endRequestMs = e.at - r.abortAt;
        r.endProtocolStatus = e.protocolStatus;
      }
      if (s && s.closedAt && r.closedMs === undefined) r.closedMs = s.closedAt - r.abortAt;
    };
    const poll = setInterval(sample, 10);
    const done = () => { sample(); clearInterval(poll); clearTimeout(timer); resolve(r); };
    const timer = setTimeout(() => { r.timedOut = true; done(); }, 5000);
    echo.request(params('POST', '/echo', Buffer.alloc(1000), 'a/b'), (err, req) => {
      if (err) { r.error = err.message; done(); return; }
      req.stdout.on('data', (d) => { r.stdoutBytes = (r.stdoutBytes || 0) + d.length; });
      req.stdout.on('end', () => {
        r.endedMs = Date.now() - r.abortAt;
        const st = req.getExitStatus();
        r.exit = st instanceof Error ? 'error: ' + st.message : st;
        done();
      });
      req.stdin.write(half, () => {
        setTimeout(() => { r.abortAt = Date.now(); req.abort(); }, 100);
      });
    });
  });
  out.requests.afterAbort = await request(echo, 'POST', '/echo', Buffer.from('still here'), 'c/d');
  finish(0);
}

main().catch((e) => { out.errors.push('exception: ' + (e && e.stack || e)); finish(1); });
"""

PERL_SCRIPT = r"""
use strict;
use warnings;
use FCGI::Client;
use IO::Socket::UNIX;
use JSON::PP;
use MIME::Base64;

# argv: hello socket, echo socket. Prints one JSON object.
alarm(60);  # the whole script
$SIG{ALRM} = sub { print encode_json({error => 'alarm: script timeout'}), "\n"; exit 2 };
my ($hello, $echo) = @ARGV;

sub req {
    my ($sock_path, $env, $body) = @_;
    my $sock = IO::Socket::UNIX->new(Peer => $sock_path) or die "connect $sock_path: $!";
    my $c = FCGI::Client::Connection->new(sock => $sock, timeout => 10);
    my ($stdout, $stderr, $appstatus) = $c->request($env, $body);
    return {stdout => encode_base64($stdout // '', ''), stderr => $stderr // '',
            appstatus => $appstatus};
}

my $body = join('', map { chr(($_ * 13 + 5) % 256) } 0 .. 199_999);
my %out;
eval {
    $out{get} = req($hello, {REQUEST_METHOD => 'GET', DOCUMENT_URI => '/hello/perl',
                             REQUEST_URI => '/hello/perl', QUERY_STRING => ''}, '');
    $out{query} = req($hello, {REQUEST_METHOD => 'GET', REQUEST_URI => '/greet?name=p%20l',
                               QUERY_STRING => 'name=p%20l'}, '');
    $out{post} = req($echo, {REQUEST_METHOD => 'POST', DOCUMENT_URI => '/echo',
                             CONTENT_TYPE => 'application/x-perl',
                             CONTENT_LENGTH => length($body)}, $body);
    $out{post_body} = encode_base64($body, '');
    1;
} or do { $out{error} = "$@" };
print encode_json(\%out), "\n";
"""


def run_json(t, what, argv, cwd):
    try:
        p = subprocess.run(argv, capture_output=True, timeout=SCRIPT_TIMEOUT, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        t.check(f'{what} finished within {SCRIPT_TIMEOUT} s', False, (e.stdout or b'')[-2000:])
        return None
    last = (p.stdout.decode('utf-8', 'replace').strip().splitlines() or [''])[-1]
    try:
        res = json.loads(last)
    except ValueError:
        res = None
    t.check(f'{what} exited 0 and printed JSON', p.returncode == 0 and res is not None,
            f'rc {p.returncode}\nstdout: {p.stdout[-2000:]!r}\nstderr: {p.stderr[-2000:]!r}')
    return res


def cgi_of(res):
    """(status, headers, body) from a script's base64 stdout."""
    raw = base64.b64decode(res['stdout']) if isinstance(res, dict) and 'stdout' in res else b''
    if not raw.startswith(b'Status:'):
        return None, [], raw  # no CGI response
    return harness.parse_cgi(raw)


def npm_install(t):
    """node_modules with fastcgi-client in the run's temp dir, or None."""
    modules = harness.npm_install(t, ['fastcgi-client'], os.path.join('fastcgi-client', 'lib', 'main.js'))
    if modules is None:
        return None
    with open(os.path.join(modules, 'fastcgi-client', 'package.json')) as f:
        print(f'# fastcgi-client {json.load(f).get("version")}', flush=True)
    with open(t.path('client.js'), 'w') as f:
        f.write(NODE_SCRIPT)
    return modules


def npm_part(t, modules, how, hello_addr, echo_addr):
    """The node script against hello_addr and echo_addr; every check is
    labelled with `how` (over unix sockets, over TCP)."""
    res = run_json(t, f'the node script {how}', [shutil.which('node'), '--no-deprecation',
                                                  t.path('client.js'), modules, hello_addr,
                                                  echo_addr], t.tmp)
    if res is None:
        return
    t.equal(f'{how}: no errors in the node script', res.get('errors'), [])
    # fastcgi-client writes an empty buffer after each record it sends; a
    # server that closes with a bare close() right after END_REQUEST makes
    # that write fail (EPIPE on a unix socket) and Node then drops the
    # socket with the answer unread. php-fpm shuts down its side and
    # drains before closing (a lingering close), so the write succeeds.
    t.equal(f'{how}: no socket errors in the client (EPIPE: the server closed under a write)',
            res.get('socketErrors'), {})
    gv = res.get('getValues') or {}
    t.equal(f'{how}: GET_VALUES_RESULT: FCGI_MPXS_CONNS', gv.get('FCGI_MPXS_CONNS'), '0')
    t.equal(f'{how}: GET_VALUES_RESULT: FCGI_MAX_CONNS (max_conns)', gv.get('FCGI_MAX_CONNS'), '1024')
    t.equal(f'{how}: GET_VALUES_RESULT: FCGI_MAX_REQS', gv.get('FCGI_MAX_REQS'), '1024')
    lib = res.get('library') or {}
    t.check(f'{how}: the library took it: no multiplexing, max 1024 connections',
            lib.get('mpxsConns') is False and lib.get('maxConns') == 1024, lib)
    reqs = res.get('requests') or {}
    for key, want in [('hello', b'hello\n'), ('name', 'hello, nöde\n'.encode()),
                      ('greet', b'hello, a b!\n')]:
        st, hdrs, body = cgi_of(reqs.get(key))
        t.check(f'{how}: node: {key} -> 200 {want!r}', st == 200 and body == want
                and reqs[key].get('exit') == 0, reqs.get(key))
    st, hdrs, body = cgi_of(reqs.get('missing'))
    t.equal(f'{how}: node: GET /nope -> 404', st, 404)
    conc = reqs.get('concurrent') or []
    good = [cgi_of(r)[2] == f'hello, c{i}\n'.encode() for i, r in enumerate(conc)]
    t.check(f'{how}: node: 20 concurrent requests all answered correctly', len(good) == 20 and all(good),
            good)
    t.equal(f'{how}: node: one connection per request (no multiplexing)',
            res.get('concurrentConnections'), 20)
    st, hdrs, body = cgi_of(reqs.get('post'))
    t.check(f'{how}: node: POST /echo of 20000 bytes echoed',
            st == 200 and body == base64.b64decode(res.get('postBody', '')), (st, len(body)))
    t.equal(f'{how}: node: its Content-Type', harness.cgi_header(hdrs, 'Content-Type'), 'application/x-node')
    st, hdrs, body = cgi_of(reqs.get('postEmpty'))
    t.check(f'{how}: node: an empty POST echoed empty', st == 200 and body == b'', reqs.get('postEmpty'))
    ab = res.get('abort') or {}
    print(f'# node abort {how}: {ab}', flush=True)
    t.check(f'{how}: node: abort() -> END_REQUEST (REQUEST_COMPLETE) within 2 s',
            ab.get('endRequestMs') is not None and ab['endRequestMs'] < 2000
            and ab.get('endProtocolStatus') == 0, ab)
    t.check(f'{how}: node: no output for the aborted request', not ab.get('stdoutBytes'), ab)
    # The library opened the connection without FCGI_KEEP_CONN; it ends a
    # request when the server closes (FastCGI 1.0, 5.1).
    t.check(f'{how}: node: the aborted request ends (server closes its connection) within 2 s',
            not ab.get('timedOut') and ab.get('endedMs') is not None and ab['endedMs'] < 2000, ab)
    st, hdrs, body = cgi_of(reqs.get('afterAbort'))
    t.check(f'{how}: node: a request after the abort is served', st == 200 and body == b'still here',
            reqs.get('afterAbort'))


def perl_part(t, hello, echo):
    ok = subprocess.run(['perl', '-MFCGI::Client', '-e', '1'], capture_output=True,
                        timeout=30).returncode == 0
    if not t.check('perl FCGI::Client is installed (libfcgi-client-perl, scripts/lib.sh)', ok):
        return
    script = t.path('client.pl')
    with open(script, 'w') as f:
        f.write(PERL_SCRIPT)
    res = run_json(t, 'the perl script', ['perl', script, hello.sock, echo.sock], t.tmp)
    if res is None:
        return
    t.check('no error in the perl script', 'error' not in res, res.get('error'))
    st, hdrs, body = cgi_of(res.get('get'))
    t.check('perl: GET /hello/perl -> 200 "hello, perl"', st == 200 and body == b'hello, perl\n',
            res.get('get'))
    t.equal('perl: appStatus 0', (res.get('get') or {}).get('appstatus'), 0)
    st, hdrs, body = cgi_of(res.get('query'))
    t.check('perl: REQUEST_URI /greet?name=p%20l -> "hello, p l"',
            st == 200 and body == b'hello, p l\n', res.get('query'))
    st, hdrs, body = cgi_of(res.get('post'))
    t.check('perl: POST /echo of 200000 bytes echoed',
            st == 200 and body == base64.b64decode(res.get('post_body', '')), (st, len(body)))
    t.equal('perl: its Content-Type', harness.cgi_header(hdrs, 'Content-Type'), 'application/x-perl')
    t.equal('perl: nothing on stderr', (res.get('post') or {}).get('stderr'), '')


def main(t):
    # Each app on its unix socket and on a TCP port of 127.0.0.1.
    ports = {}
    apps = {}
    for name in ('hello', 'echo'):
        ports[name] = harness.free_port()
        apps[name] = t.start_app(name, env={
            'FW_SERVER_LISTEN': f'{t.path(name + ".sock")}, 127.0.0.1:{ports[name]}'})
    hello, echo = apps['hello'], apps['echo']
    modules = None
    with t.section('npm fastcgi-client: install'):
        modules = npm_install(t)
    if modules:
        with t.section('npm fastcgi-client over unix sockets'):
            npm_part(t, modules, 'unix', hello.sock, echo.sock)
        with t.section('npm fastcgi-client over TCP'):
            npm_part(t, modules, 'tcp', f'127.0.0.1:{ports["hello"]}', f'127.0.0.1:{ports["echo"]}')
    with t.section('perl FCGI::Client'):
        perl_part(t, hello, echo)
    with t.section('logs'):
        t.check('both apps alive with their workers',
                hello.alive() and echo.alive() and len(hello.workers()) == 2
                and len(echo.workers()) == 2)
        t.check_logs()


if __name__ == '__main__':
    harness.run(main)
