#!/usr/bin/env python3
"""Streamed responses and request bodies through nginx (conf/nginx.conf's
/stream/ locations) with apps/stream, and the heap given back after a big
buffered answer (tests/apps/testapp):

- server-sent events arrive one by one: the first long before the second
  is even produced; X-Accel-Buffering: no is in fw's head (nginx hides it);
- partial writes: a download read through a small receive buffer, slowly,
  arrives whole and in order, and the FastCGI records are intact when read
  straight from the socket in small reads;
- a slow reader: the worker's private memory stays bounded;
- send_timeout: a client that stops reading is cut off, the worker's
  memory goes back, the worker serves on;
- a client that aborts mid-stream: the request is cancelled, nothing is
  left in flight;
- uploads of 64 MiB (with a length, and chunked) hashed as they arrive,
  with bounded memory; max_stream_body_mb answered 413;
- a stream cut off after its head (the handler fails, or ends short of
  its Content-Length): nginx's client sees it broken (no last chunk, or
  fewer bytes than the length, then the close), never a short answer that
  looks whole; nginx logs fw's reason;
- a 40 MiB buffered answer: private memory back near where it was, and
  (control) not with heap_release_kb = 0.

Every wait has a generous bound; nothing is timed."""
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import stream_common as sc  # noqa: E402
import test_recycle_common as rc  # noqa: E402

ASAN = 'address' in os.environ.get('FW_SANITIZE', '')
BOUND_KB = 32 * 1024  # the goal: under 32 MiB private for any size


def bounded(t, what, kb):
    """The issue's bound on a worker's private memory. Under AddressSanitizer
    freed memory waits in its quarantine and shadow memory counts too: the
    figure is shown, not judged."""
    if ASAN:
        print(f'# {what}: {kb} KiB (not judged under AddressSanitizer)')
        return True
    return t.check(f'{what}: {kb} KiB, under 32 MiB', kb is not None and kb < BOUND_KB, kb)


def start_stream(t, **keys):
    keys.setdefault('status_path', rc.STATUS)
    keys.setdefault('workers', 1)
    return t.start_app('stream', env=rc.env(**keys), workers=1)


def in_flight_zero(app):
    return harness.wait_until(lambda: sc.in_flight(app) == 0, 20)


def events_section(t, app, port):
    with t.section('server-sent events arrive as they are produced'):
        r = sc.HttpStream(port, 'GET', '/stream/events?n=5&ms=200')
        t.equal('GET /stream/events?n=5&ms=200 is 200', r.read_head(), 200)
        t.equal('Content-Type text/event-stream', r.headers.get('content-type'), 'text/event-stream')
        t.check('sent chunked (no Content-Length)', r.chunked and 'content-length' not in r.headers,
                r.headers)
        t.check('X-Accel-Buffering is for nginx only (hidden from the client)',
                'x-accel-buffering' not in r.headers, r.headers)
        body = r.read_until(b'data: 4\n\n')
        t.equal('the five events, in order', body,
                b''.join(b'data: %d\n\n' % i for i in range(5)))
        r.read_some()
        t.check('the stream ends properly (the last chunk)', r.done, (r.done, r.eof))
        r.close()

    with t.section('the first event comes long before the second is produced'):
        # The second event is due 30 s after the first: a stream held back
        # until its end could not show the first one before then.
        start = time.monotonic()
        r = sc.HttpStream(port, 'GET', '/stream/events?n=2&ms=30000')
        t.equal('its head comes', r.read_head(), 200)
        first = r.read_until(b'data: 0\n\n')
        took = time.monotonic() - start
        t.equal('the first event arrives alone', first, b'data: 0\n\n')
        t.check(f'... before the second was even due ({took:.2f} s < 30 s)', took < 30, took)
        # Gone mid-stream: the request is cancelled (its timer stopped).
        r.close()
        t.check('the client left mid-stream: nothing is in flight any more', in_flight_zero(app))

    with t.section('the head fw sends (straight from the socket)'):
        st, hdrs, body, _ = harness.fcgi_get(app.sock, '/stream/events?n=2&ms=0')
        t.equal('200', st, 200)
        t.equal('X-Accel-Buffering: no', harness.cgi_header(hdrs, 'X-Accel-Buffering'), 'no')
        t.equal('no Content-Length of fw\'s own', harness.cgi_header(hdrs, 'Content-Length'), None)
        t.equal('both events', body, b'data: 0\n\ndata: 1\n\n')


def partial_writes_section(t, app, port):
    with t.section('partial writes: FastCGI records intact when read in small pieces'):
        n = 4 << 20
        with harness.FcgiConn(app.sock) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.send(harness.fcgi_begin(1) +
                   harness.fcgi_stream(harness.FCGI_PARAMS, 1, harness.fcgi_nv(
                       harness.fcgi_params('GET', '/stream/bytes?mb=4'))) +
                   harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
            out, records, ended = b'', 0, False
            # Read a few bytes at a time: every write of the worker meets a full socket.
            buf = b''
            while not ended:
                data = c.sock.recv(1500)
                if not data:
                    break
                buf += data
                while len(buf) >= 8:
                    _, rtype, _, clen, plen, _ = struct.unpack('>BBHHBB', buf[:8])
                    if len(buf) < 8 + clen + plen:
                        break
                    if rtype == harness.FCGI_STDOUT:
                        out += buf[8:8 + clen]
                    ended |= rtype == harness.FCGI_END_REQUEST
                    records += 1
                    buf = buf[8 + clen + plen:]
        st, hdrs, body = harness.parse_cgi(out)
        t.check('END_REQUEST after the whole body', ended, records)
        t.equal('Content-Length is the handler\'s', harness.cgi_header(hdrs, 'Content-Length'), str(n))
        t.equal(f'{n} bytes', len(body), n)
        t.check('every byte where it belongs (i % 251)',
                all(body[i:i + 65536] == sc.pattern_at(i, min(65536, n - i)) for i in range(0, n, 65536)))

    with t.section('a slow reader through nginx: all of it, in order, with bounded memory'):
        worker = app.workers()[0]
        mb = 48
        peak = sc.Peak(worker)
        r = sc.HttpStream(port, 'GET', f'/stream/bytes?mb={mb}', rcvbuf=8192)
        t.equal('200', r.read_head(), 200)
        t.equal('its Content-Length', r.headers.get('content-length'), str(mb << 20))
        total, ok = r.read_all(pace_bytes_per_s=40 << 20, check_pattern=True, piece=16384)
        r.close()
        peak.stop()
        t.equal(f'{mb} MiB read', total, mb << 20)
        t.check('every byte where it belongs', ok)
        bounded(t, f'worker private memory at its peak ({peak.samples} samples, '
                f'{peak.first} KiB before)', peak.peak)


def send_timeout_section(t, app, port):
    with t.section('send_timeout: a client that stops reading is cut off'):
        worker = app.workers()[0]
        before = app.log_text().count('for send_timeout')
        r = sc.HttpStream(port, 'GET', '/stream/bytes?mb=4096', rcvbuf=4096)
        t.equal('200', r.read_head(), 200)
        got = 0
        while got < (1 << 20):
            got += len(r.read_some(16384))
        # Stop reading: nginx's buffers fill, then fw's output to nginx stays unsent.
        cut = harness.wait_until(lambda: app.log_text().count('for send_timeout') > before, 60)
        t.check('fw logs the cut after send_timeout', cut, app.log_text()[-2000:])
        t.check('nothing in flight any more', in_flight_zero(app))
        # (The client itself stalls: nginx ends its connection on its own terms.)
        r.close()
        bounded(t, 'the unsent answer\'s memory went back: worker private memory',
                sc.private_kb(worker))
        t.equal('the same worker serves on', app.workers(), [worker])
        st, _, body = harness.http(port, 'GET', '/stream/events?n=1&ms=0')
        t.check('and answers', st == 200 and body == b'data: 0\n\n', (st, body))


def abort_section(t, app, port):
    with t.section('a client that aborts a download mid-stream'):
        worker = app.workers()[0]
        r = sc.HttpStream(port, 'GET', '/stream/bytes?mb=4096')
        t.equal('200', r.read_head(), 200)
        got = 0
        while got < (8 << 20):
            got += len(r.read_some())
        r.close()
        t.check('the request is cancelled: nothing in flight', in_flight_zero(app))
        t.equal('the same worker serves on', app.workers(), [worker])
        bounded(t, 'worker private memory', sc.private_kb(worker))


def upload_section(t, app, port):
    worker = app.workers()[0]
    for chunked in (False, True):
        what = 'chunked' if chunked else 'with its length'
        with t.section(f'a 64 MiB upload {what}, hashed as it arrives'):
            size = 64 << 20
            peak = sc.Peak(worker)
            st, body = sc.upload(port, '/stream/sha256', size, chunked=chunked)
            peak.stop()
            t.equal('200', st, 200)
            t.equal('bytes and SHA-256 as computed here', body.strip(),
                    f'{size} {sc.pattern_sha(size)}'.encode())
            bounded(t, f'worker private memory at its peak ({peak.samples} samples)', peak.peak)
    with t.section('max_stream_body_mb (80 here): 413'):
        st, body = sc.upload(port, '/stream/sha256', 81 << 20)
        t.equal('a length over it: 413 before the handler', st, 413)
        st, body = sc.upload(port, '/stream/sha256', 81 << 20, chunked=True)
        t.equal('a chunked body passing it: 413 as it does', st, 413)
        t.check('nothing in flight', in_flight_zero(app))


# What nginx logs when fw cuts a stream off (docs/nginx.md): on purpose here.
CUT_LINES = ('FastCGI sent in stderr: "fw: streamed response cut off after',
             'upstream sent unsupported FastCGI protocol version: 0',
             'GET /flush-fail: a body shorter than its Content-Length after 8 bytes')


def read_body(r):
    body = b''
    while True:
        piece = r.read_some()
        if not piece:
            return body
        body += piece


def cut_section(t, ngx, port):
    """testapp's /flush-fail through nginx's default location (fastcgi_buffering
    on: fw's X-Accel-Buffering: no makes the answer unbuffered)."""
    app = rc.start(t, name='hello', workers=1)
    for how, why in (('error', 'the handler ended with an error status'),
                     ('short', 'a body shorter than its Content-Length')):
        with t.section(f'a stream cut off after its head ({why}): the client sees it broken'):
            # Parked after its flush: the head and the first bytes reach the client first.
            r = sc.HttpStream(port, 'GET', f'/flush-fail?how={how}&park=1')
            t.equal('the head that went out: 200', r.read_head(), 200)
            t.equal('what was flushed arrives', r.read_until(b'partial\n'), b'partial\n')
            if how == 'short':
                t.equal('nginx passes the Content-Length on', r.headers.get('content-length'), '100')
            else:
                t.check('chunked', r.chunked, r.headers)
            st, _, body = harness.http(port, 'GET', '/flush-fail-go')
            t.equal('then the handler fails', (st, body), (200, b'failed it\n'))
            t.equal('nothing more arrives', read_body(r), b'')
            t.check('the connection closes without the end of the body', r.eof and not r.done,
                    (r.eof, r.done, r.received))
            r.close()
            t.check('nginx logs fw\'s reason',
                    harness.wait_until(lambda: f'after 8 bytes: {why}' in ngx.error_log(), 20),
                    ngx.error_log()[-1500:])
            # At once: nginx may read the head and the cut-off together, and then
            # drop both (an empty reply); either way never an answer that looks whole.
            r = sc.HttpStream(port, 'GET', f'/flush-fail?how={how}')
            st = r.read_head()
            body = read_body(r) if st is not None else b''
            r.close()
            t.check('failing at once: an empty reply, or the head and "partial" then the close',
                    r.eof and not r.done and (st is None or (st == 200 and body == b'partial\n')),
                    (st, body, r.eof, r.done))
    with t.section('the worker serves on after cutting streams off'):
        st, _, body = harness.http(port, 'GET', '/hello')
        t.check('GET /hello is 200', st == 200 and body == b'hello\n', (st, body))
    app.stop()


def heap_section(t):
    """A buffered 40 MiB answer, then the worker's private memory (fresh)."""
    if ASAN:
        print('# heap release: skipped under AddressSanitizer (its allocator keeps freed memory '
              'in quarantine, whatever malloc_trim says)')
        return
    figures = {}
    for release in (4096, 0):
        app = rc.start(t, name='big', workers=1, heap_release_kb=release, rss_limit_mb=4096)
        with t.section(f'a 40 MiB buffered answer, heap_release_kb = {release}'):
            worker = app.workers()[0]
            base = sc.private_kb(worker)
            st, _, body = sc.fcgi_fetch(app.sock, '/big?mb=40')
            t.check('GET /big?mb=40 is 200 with 40 MiB', st == 200 and len(body) == 40 << 20, st)
            if release:
                # Given back once the last byte left: wait for it (the client may read first).
                harness.wait_until(lambda: sc.private_kb(worker) - base < 8 * 1024, 10)
            after = sc.private_kb(worker)
            figures[release] = (base, after)
            print(f'#   worker private memory: {base} KiB before, {after} KiB after')
        app.stop()
    base, after = figures[4096]
    t.check(f'with the release, private memory is back within 8 MiB of where it was '
            f'({base} -> {after} KiB)', after - base < 8 * 1024, figures)
    base0, after0 = figures[0]
    t.check(f'control: without it the worker keeps over 40 MiB more ({base0} -> {after0} KiB)',
            after0 - base0 > 40 * 1024, figures)


def main(t):
    app = start_stream(t, send_timeout=2, max_stream_body_mb=80)
    ngx = t.start_nginx()
    port = ngx.port
    events_section(t, app, port)
    partial_writes_section(t, app, port)
    abort_section(t, app, port)
    send_timeout_section(t, app, port)
    upload_section(t, app, port)
    cut_section(t, ngx, port)
    heap_section(t)
    app.stop()  # its workers exit: a leak would be reported now
    t.check_logs(allow=CUT_LINES)
    sc.sanitizer_reports(t)


harness.run(main)
