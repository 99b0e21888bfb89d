#!/usr/bin/env python3
"""Hostile FastCGI, spoken raw to the echo app's unix socket (one worker,
so that "the worker survived" means the same pid answers afterwards).
Framing errors: one log line, that connection closed, nothing else
disturbed. Limits: 431/413/400 answers on a connection that stays usable.
test_cgi_fcgi.py holds the well-behaved corners; this file the rest."""
import json
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import (FCGI_ABORT_REQUEST, FCGI_BEGIN_REQUEST, FCGI_GET_VALUES,  # noqa: E402
                     FCGI_GET_VALUES_RESULT, FCGI_KEEP_CONN, FCGI_PARAMS, FCGI_STDIN,
                     FCGI_UNKNOWN_TYPE, FcgiConn, cgi_header, fcgi_begin, fcgi_nv, fcgi_params,
                     fcgi_record, fcgi_stream)

REQUEST_TIMEOUT = 2
LATE_S = 20  # how late a loaded machine may close after request_timeout (a bound)
PROTO_ERR = 'FastCGI protocol error'


def warn_lines(text):
    return [line for line in text.splitlines()
            if any(m in line for m in ('[warn]', '[error]', '[crit]', '[alert]'))]


def private_kb(pid):
    """Private_Clean + Private_Dirty of pid, in KiB (what /status reports)."""
    total = 0
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith(('Private_Clean:', 'Private_Dirty:')):
                    total += int(line.split()[1])
    except OSError:
        return None  # no smaps_rollup (kernel < 4.14): /status is checked instead
    return total


def request_bytes(params, body=b'', req_id=1, keep=False, chunk=65535):
    return (fcgi_begin(req_id, flags=FCGI_KEEP_CONN if keep else 0)
            + fcgi_stream(FCGI_PARAMS, req_id, fcgi_nv(params))
            + fcgi_stream(FCGI_STDIN, req_id, body, chunk))


class Checker:
    """Checks shared by the cases: the worker (one, pid wpid) still serves."""

    def __init__(self, t, app):
        self.t = t
        self.app = app
        self.sock = app.sock
        self.wpid = app.workers()[0]

    def mark(self):
        return len(self.app.log_text())

    def served(self, what):
        st, hdrs, body, r = harness.fcgi_get(self.sock, '/echo/status/201')
        self.t.check(f'{what}: the same worker answers a new connection',
                     st == 201 and self.app.workers() == [self.wpid],
                     (st, self.app.workers(), self.wpid))

    def one_log_line(self, what, mark, want=PROTO_ERR, detail=None):
        harness.wait_until(lambda: want in self.app.log_text()[mark:], harness.WAIT)
        new = warn_lines(self.app.log_text()[mark:])
        ok = len(new) == 1 and want in new[0] and (detail is None or detail in new[0])
        self.t.check(f'{what}: one log line ("{detail or want}")', ok, '\n'.join(new) or '(none)')

    def closes(self, what, data, detail=None, want=PROTO_ERR, prefix=None):
        """data on a new connection closes it, with one log line, no output
        (beyond the answer to `prefix`, a request sent first)."""
        mark = self.mark()
        with FcgiConn(self.sock) as c:
            if prefix is not None:
                c.send(prefix)
                c.read_response(1)
            c.send(data)
            closed = c.closed_by_peer()
            extra = c.buf
        self.t.check(f'{what}: connection closed, nothing sent', closed and extra == b'',
                     (closed, extra[:100]))
        self.one_log_line(what, mark, want, detail)
        self.served(what)

    def still_open(self, what, c, req_id=7):
        """The connection c still serves a keep-conn request."""
        r = c.request(fcgi_params('GET', '/echo/status/202'), req_id=req_id, keep_conn=True)
        self.t.check(f'{what}: the connection then serves a request', r.cgi()[0] == 202
                     and all(rid == req_id for _, rid, _ in r.records), r.records)


def main(t):
    app = t.start_app('echo', env={'FW_SERVER_WORKERS': 1,
                                   'FW_SERVER_REQUEST_TIMEOUT': REQUEST_TIMEOUT,
                                   'FW_SERVER_STATUS_PATH': '/status'})
    k = Checker(t, app)
    sock = app.sock

    # ------------------------------------------------------------ framing
    with t.section('a request split at every byte'):
        body = b'split body \x00\xff' * 3
        p = fcgi_params('POST', '/echo', 'text/x-split', body, extra={'HTTP_X_' + 'L' * 130: 'v' * 140})
        data = request_bytes(p, body)
        with FcgiConn(sock) as c:
            c.send(data)
            want = c.read_response(1)
        t.check('unsplit: 200 with the body echoed', want.cgi()[0] == 200 and want.cgi()[2] == body,
                want.stdout[:200])
        bad = []
        for i in range(1, len(data)):
            with FcgiConn(sock) as c:
                c.send(data[:i])
                time.sleep(0.002)  # likely two reads; the same records back either way
                c.send(data[i:])
                r = c.read_response(1)
            if r.records != want.records:
                bad.append(i)
        t.check(f'split at each of the {len(data) - 1} positions: the same records back', not bad,
                f'differs at {bad[:10]}')
        with FcgiConn(sock) as c:
            c.send_fragmented(data, sizes=(1,), pause=0.001)
            r = c.read_response(1)
        t.check('sent one byte per write: the same records back', r.records == want.records)
        k.served('splits')

    with t.section('versions other than 1'):
        for v in (0, 2, 255):
            k.closes(f'version {v}', struct.pack('>BBHHBB', v, 1, 1, 8, 0, 0)
                     + b'\0\1\0\0\0\0\0\0', 'unsupported FastCGI version')
        ok = request_bytes(fcgi_params('GET', '/echo/status/200'), keep=True)
        k.closes('version 0 after a good request on a keep-conn connection',
                 struct.pack('>BBHHBB', 0, 4, 1, 0, 0, 0), 'unsupported FastCGI version', prefix=ok)

    with t.section('every record type with request id 0 (management)'):
        with FcgiConn(sock) as c:
            for rtype in list(range(0, 13)) + [255]:
                content = b'' if rtype == FCGI_GET_VALUES else b'\0' * 8
                c.send(fcgi_record(rtype, 0, content, padding=3))
                version, got, rid, data = c.read_record()
                if rtype == FCGI_GET_VALUES:
                    t.check('type 9 (GET_VALUES) -> an empty GET_VALUES_RESULT on id 0',
                            (got, rid, data) == (FCGI_GET_VALUES_RESULT, 0, b''), (got, rid, data))
                else:
                    t.check(f'type {rtype} on id 0 -> UNKNOWN_TYPE naming {rtype}',
                            (got, rid, data) == (FCGI_UNKNOWN_TYPE, 0, bytes([rtype]) + b'\0' * 7),
                            (got, rid, data))
            k.still_open('after 14 management records', c)

    with t.section('every record type with request id 1, no request in progress'):
        ignored = {FCGI_ABORT_REQUEST: b'', FCGI_PARAMS: fcgi_nv({'A': 'b'}), FCGI_STDIN: b'xyz',
                   harness.FCGI_DATA: b'data'}
        for rtype in list(range(0, 13)) + [255]:
            if rtype == FCGI_BEGIN_REQUEST:
                with FcgiConn(sock) as c:
                    r = c.request(fcgi_params('GET', '/echo/status/203'), keep_conn=True)
                    t.equal('type 1 (BEGIN_REQUEST) on id 1 starts a request', r.cgi()[0], 203)
                continue
            rec = fcgi_record(rtype, 1, ignored.get(rtype, b'\0' * 8))
            if rtype in ignored:
                mark = k.mark()
                with FcgiConn(sock) as c:
                    c.send(rec)
                    k.still_open(f'type {rtype} on an idle id 1 is ignored', c)
                t.check(f'type {rtype}: nothing logged', not warn_lines(app.log_text()[mark:]))
            else:
                k.closes(f'type {rtype} on id 1 (not sent to applications)', rec,
                         'record type not sent to applications')

    with t.section('records of 65535 bytes with 255 bytes of padding'):
        # Params of exactly 65535 bytes, under max_params_kb (64 KiB), each
        # value under max_param_kb (16 KiB), in one record.
        pairs = [(f'HTTP_X_FILL{i}', 'f' * 15000) for i in range(4)]
        base = fcgi_params('GET', '/echo/env')
        nv = fcgi_nv(list(base.items()) + pairs)
        # The last pair: 1-byte name length, 4-byte value length, name, value.
        pairs.append(('HTTP_X_LAST', 'z' * (65535 - len(nv) - 1 - 4 - len('HTTP_X_LAST'))))
        nv = fcgi_nv(list(base.items()) + pairs)
        t.equal('the params are 65535 bytes', len(nv), 65535)
        with FcgiConn(sock) as c:
            c.send(fcgi_record(FCGI_BEGIN_REQUEST, 1, struct.pack('>HB5x', 1, FCGI_KEEP_CONN), padding=255)
                   + fcgi_record(FCGI_PARAMS, 1, nv, padding=255) + fcgi_record(FCGI_PARAMS, 1, padding=255)
                   + fcgi_record(FCGI_STDIN, 1, padding=255))
            r = c.read_response(1)
            env = json.loads(r.cgi()[2]) if r.cgi()[0] == 200 else {}
            t.check('one 65535-byte PARAMS record + 255 padding -> 200, every pair intact',
                    r.cgi()[0] == 200 and all(env.get(n) == v for n, v in pairs), r.stdout[:200])
            body = os.urandom(65535)
            c.send(fcgi_begin(2, flags=FCGI_KEEP_CONN)
                   + fcgi_stream(FCGI_PARAMS, 2, fcgi_nv(fcgi_params('POST', '/echo', 'a/b', body)))
                   + fcgi_record(FCGI_STDIN, 2, body, padding=255) + fcgi_record(FCGI_STDIN, 2, padding=255))
            r = c.read_response(2)
            t.check('a 65535-byte STDIN record + 255 padding echoed', r.cgi()[2] == body)
            # Two full PARAMS records: 128 KiB, over max_params_kb.
            c.send(fcgi_begin(3, flags=FCGI_KEEP_CONN) + fcgi_record(FCGI_PARAMS, 3, nv, padding=255)
                   + fcgi_record(FCGI_PARAMS, 3, nv, padding=255) + fcgi_record(FCGI_PARAMS, 3)
                   + fcgi_record(FCGI_STDIN, 3))
            r = c.read_response(3)
            t.equal('two such records (128 KiB of params) -> 431', r.cgi()[0], 431)
            k.still_open('after the 431', c)

    with t.section('name-value lengths up to 0x7FFFFFFF, more than sent'):
        before = private_kb(k.wpid)
        cases = [
            ('value length 0x7FFFFFFF', b'\x04\xff\xff\xff\xffNAMEvalue'),
            ('name length 0x7FFFFFFF', b'\xff\xff\xff\xff\x05NAMEvalue'),
            ('both 0x7FFFFFFF', b'\xff\xff\xff\xff\xff\xff\xff\xff' + b'x' * 100),
            ('value length 0x7FFFFFFF after a good pair', fcgi_nv({'A': 'b'}) + b'\x01\xff\xff\xff\xffB'),
            ('value length 1000 with 10 bytes', b'\x01\x80\x00\x03\xe8B' + b'v' * 10),
        ]
        for what, content in cases:
            k.closes(what, fcgi_begin(1) + fcgi_record(FCGI_PARAMS, 1, content)
                     + fcgi_record(FCGI_PARAMS, 1), 'runs past the end')
        after = private_kb(k.wpid)
        if before is not None and after is not None:
            t.check(f'no huge allocation: private memory {before} -> {after} KiB (< +16 MiB)',
                    after - before < 16 * 1024, (before, after))
        st, hdrs, body, r = harness.fcgi_get(sock, '/status')
        sp = json.loads(body) if st == 200 else {}
        pk = [w.get('private_kb') for w in sp.get('workers', [])]
        t.check(f'/status: the worker\'s private_kb is small ({pk})',
                len(pk) == 1 and pk[0] is not None and pk[0] < 64 * 1024, sp)
        # In GET_VALUES (id 0): the answer leaves the malformed pairs out.
        with FcgiConn(sock) as c:
            c.send(fcgi_record(FCGI_GET_VALUES, 0, b'\x0f\xff\xff\xff\xffFCGI_MPXS_CONNS'))
            version, rtype, rid, data = c.read_record()
            t.check('GET_VALUES with a bogus length -> an empty GET_VALUES_RESULT',
                    (rtype, rid, data) == (FCGI_GET_VALUES_RESULT, 0, b''), (rtype, rid, data))
            k.still_open('after it', c)

    with t.section('pairs straddling records'):
        params = fcgi_params('GET', '/echo/env', extra={'HTTP_X_' + 'K' * 200: 'w' * 300})
        with FcgiConn(sock) as c:
            c.send(fcgi_begin(1) + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(params), chunk=1)
                   + fcgi_record(FCGI_STDIN, 1))
            r = c.read_response(1)
        env = json.loads(r.cgi()[2]) if r.cgi()[0] == 200 else {}
        t.check('params in 1-byte records (4-byte lengths cut in four) arrive intact',
                env == params, r.stdout[:300])

    with t.section('pairs running past the end of PARAMS'):
        nv = fcgi_nv(fcgi_params('GET', '/echo/env'))
        for what, tail in [('a truncated 4-byte length', b'\x80\x00'),
                           ('a name length and nothing else', b'\x05'),
                           ('a value cut short', b'\x01\x05Xabc')]:
            k.closes(what, fcgi_begin(1) + fcgi_stream(FCGI_PARAMS, 1, nv + tail),
                     'runs past the end')

    with t.section('duplicate and empty names'):
        p = list(fcgi_params('POST', '/echo', 'a/first', b'dup').items()) + [('CONTENT_TYPE', 'b/last')]
        with FcgiConn(sock) as c:
            r = c.request(p, b'dup')
        st, hdrs, body = r.cgi()
        t.check('CONTENT_TYPE twice: the last wins', st == 200 and body == b'dup'
                and cgi_header(hdrs, 'Content-Type') == 'b/last', r.stdout)
        p = list(fcgi_params('GET', '/nope').items()) + [('DOCUMENT_URI', '/echo/status/204')]
        with FcgiConn(sock) as c:
            r = c.request(p)
        t.equal('DOCUMENT_URI twice: routed on the last', r.cgi()[0], 204)
        p = list(fcgi_params('GET', '/echo/env').items()) + [('HTTP_X_D', '1'), ('HTTP_X_D', '2'),
                                                            ('', 'empty name'), ('', '')]
        with FcgiConn(sock) as c:
            r = c.request(p)
        pairs = json.loads(r.cgi()[2], object_pairs_hook=list) if r.cgi()[0] == 200 else []
        t.check('/echo/env lists both duplicates in order',
                [v for n, v in pairs if n == 'HTTP_X_D'] == ['1', '2'], pairs)
        t.check('and the empty names', [v for n, v in pairs if n == ''] == ['empty name', ''], pairs)

    with t.section('NUL, CR, LF in values'):
        p = fcgi_params('GET', '/echo/env', extra={'HTTP_X_CRLF': 'a\r\nb\rc\nd',
                                                    'HTTP_X_CTL': '\x01\x1f\x7f',
                                                    'HTTP_X_QUOTE': '"\\', 'HTTP_X_NUL': 'a\0b'})
        with FcgiConn(sock) as c:
            r = c.request(p)
        st, hdrs, body = r.cgi()
        try:
            env = json.loads(body)
        except ValueError as e:
            env = {'error': str(e)}
        t.check('/echo/env is valid JSON', st == 200 and 'error' not in env, body[:300])
        t.equal('CR/LF escaped and intact', env.get('HTTP_X_CRLF'), 'a\r\nb\rc\nd')
        t.equal('control characters escaped and intact', env.get('HTTP_X_CTL'), '\x01\x1f\x7f')
        t.equal('quote and backslash escaped', env.get('HTTP_X_QUOTE'), '"\\')
        t.check('a NUL ends the value as the app sees it (C string)',
                env.get('HTTP_X_NUL') in ('a', 'a\0b'), repr(env.get('HTTP_X_NUL')))
        print(f'# note: a value "a\\0b" reads back as {env.get("HTTP_X_NUL")!r}', flush=True)
        for what, ctype in [('CR LF', 'text/plain\r\nX-Injected: 1'), ('LF', 'text/plain\nX-Injected: 1'),
                            ('CR', 'text/plain\rX-Injected: 1'),
                            ('NUL', 'text/plain\0\r\nX-Injected: 1')]:
            with FcgiConn(sock) as c:
                r = c.request(fcgi_params('POST', '/echo', ctype, b'body'), b'body')
            head = r.stdout.partition(b'\r\n\r\n')[0]
            t.check(f'{what} in CONTENT_TYPE echoed by the app: no header injected',
                    b'X-Injected' not in head and all(b'\r' not in ln and b'\n' not in ln
                                                      for ln in head.split(b'\r\n')),
                    r.stdout[:300])
            t.check(f'{what}: the response is still well-formed (200, body intact)',
                    r.cgi()[0] == 200 and r.cgi()[2] == b'body', r.stdout[:300])

    # ------------------------------------------------ request state machine
    with t.section('BEGIN_REQUEST twice'):
        k.closes('BEGIN_REQUEST twice with the same id', fcgi_begin(1) + fcgi_begin(1),
                 'already in progress')
        k.closes('BEGIN_REQUEST again after its PARAMS',
                 fcgi_begin(1) + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv({'A': 'b'})) + fcgi_begin(1),
                 'already in progress')
        with FcgiConn(sock) as c:
            for i in range(3):
                r = c.request(fcgi_params('GET', f'/echo/status/{210 + i}'), req_id=1, keep_conn=True)
                t.equal(f'id 1 reused for request {i + 1} once the last is done', r.cgi()[0], 210 + i)

    with t.section('STDIN before the end of PARAMS'):
        k.closes('STDIN after a partial PARAMS',
                 fcgi_begin(1) + fcgi_record(FCGI_PARAMS, 1, fcgi_nv({'A': 'b'}))
                 + fcgi_record(FCGI_STDIN, 1, b'x'),
                 'STDIN before the end of PARAMS')
        k.closes('STDIN right after BEGIN_REQUEST', fcgi_begin(1) + fcgi_record(FCGI_STDIN, 1),
                 'STDIN before the end of PARAMS')
        k.closes('PARAMS after the end of PARAMS',
                 fcgi_begin(1) + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv({'A': 'b'}))
                 + fcgi_record(FCGI_PARAMS, 1, fcgi_nv({'C': 'd'})), 'PARAMS after the end')

    with t.section('CONTENT_LENGTH and the body'):
        def answer(cl, body, sent=None):
            p = fcgi_params('POST', '/echo', 'a/b')
            p['CONTENT_LENGTH'] = cl
            with FcgiConn(sock) as c:
                r = c.request(p, body if sent is None else sent, keep_conn=True)
                k.still_open(f'CONTENT_LENGTH {cl!r}', c, req_id=9)
            return r.cgi()

        # No length ('' or negative: Caddy sends -1 for a chunked upload):
        # the body is read to its empty STDIN record.
        for cl, body, want in [('3', b'abcdef', 400), ('', b'', 200), ('', b'abc', 200),
                               ('-1', b'', 200), ('-1', b'a', 200), ('-1', b'x' * 200000, 200),
                               ('-0', b'', 400), ('-', b'', 400), ('+5', b'12345', 400),
                               (' 5', b'12345', 400), ('5 ', b'12345', 400), ('0x5', b'12345', 400),
                               ('5.0', b'12345', 400), ('99999999999999999999999', b'', 400),
                               ('4611686018427387905', b'', 400), ('0', b'', 200), ('5', b'12345', 200)]:
            st, hdrs, got = answer(cl, body)
            t.equal(f'CONTENT_LENGTH {cl!r} with {len(body)} bytes -> {want}', st, want)
            if want == 200:
                t.equal(f'CONTENT_LENGTH {cl!r}: body echoed', got, body)
        # Over max_body_kb: answered 413 at the end of PARAMS, before any body.
        for cl in ('4611686018427387904', str(2048 * 1024 + 1), '3000000'):
            p = fcgi_params('POST', '/echo', 'a/b')
            p['CONTENT_LENGTH'] = cl
            with FcgiConn(sock) as c:
                c.send(fcgi_begin(1, flags=FCGI_KEEP_CONN) + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(p)))
                r = c.read_response(1)
                t.equal(f'CONTENT_LENGTH {cl} -> 413 before any body is sent', r.cgi()[0], 413)
                c.send(fcgi_record(FCGI_STDIN, 1, b'x' * 1000) + fcgi_record(FCGI_STDIN, 1))
                k.still_open(f'CONTENT_LENGTH {cl}: the rest of the body read and dropped', c)

    with t.section('CONTENT_LENGTH -1: max_body_kb applies to what arrives'):
        big = b'b' * (2048 * 1024 + 1)
        for cl in ('-1', ''):
            p = fcgi_params('POST', '/echo', 'a/b')
            p['CONTENT_LENGTH'] = cl
            with FcgiConn(sock) as c:
                r = c.request(p, big[:-1], keep_conn=True)
                t.check(f'CONTENT_LENGTH {cl!r}: exactly max_body_kb echoed',
                        r.cgi()[0] == 200 and r.cgi()[2] == big[:-1], r.stdout[:100])
                c.send(fcgi_begin(1, flags=FCGI_KEEP_CONN) + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(p))
                       + fcgi_record(FCGI_STDIN, 1, big[:65535]))
                # 413 as soon as the body passes the limit, before it ends.
                sent = 65535
                while sent < len(big):
                    c.send(fcgi_record(FCGI_STDIN, 1, big[sent:sent + 65535]))
                    sent += 65535
                r = c.read_response(1)
                t.equal(f'CONTENT_LENGTH {cl!r}: max_body_kb + 1 byte -> 413 before the end of STDIN',
                        r.cgi()[0], 413)
                c.send(fcgi_record(FCGI_STDIN, 1))
                k.still_open(f'CONTENT_LENGTH {cl!r} after the 413', c)

    with t.section('a request id reused after an early answer (Apache, enablereuse=on)'):
        # The reproduction: END_REQUEST frees the id (spec 3.3);
        # the rest of the answered request's STDIN is skipped, and a
        # BEGIN_REQUEST with the same id is a new request.
        small = t.start_app('echo', sock=t.path('small.sock'),
                            env={'FW_SERVER_WORKERS': 1, 'FW_SERVER_MAX_BODY_KB': 1})
        mark = len(small.log_text())
        for label, stdin_after in [('1000 bytes of STDIN sent', b'x' * 1000),
                                   ('no STDIN sent', b''), ('the whole body sent', b'x' * 4096)]:
            with FcgiConn(small.sock) as c:
                p = fcgi_params('POST', '/echo', 'a/b')
                p['CONTENT_LENGTH'] = '4096'
                c.send(fcgi_begin(1, flags=FCGI_KEEP_CONN) + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(p))
                       + (fcgi_record(FCGI_STDIN, 1, stdin_after) if stdin_after else b''))
                r = c.read_response(1)
                t.equal(f'{label}: CONTENT_LENGTH 4096 over max_body_kb 1 -> 413', r.cgi()[0], 413)
                for i in range(2):
                    r = c.request(fcgi_params('GET', '/echo/status/203'), req_id=1, keep_conn=True)
                    t.check(f'{label}: then BEGIN_REQUEST with id 1 again on the same connection '
                            f'is served ({i + 1})', r.cgi()[0] == 203 and r.protocol_status == 0,
                            r.records)
                r = c.request(fcgi_params('POST', '/echo', 'a/b', b'tail'), b'tail', req_id=1,
                              keep_conn=True)
                t.check(f'{label}: a POST with id 1 after it gets its own body',
                        r.cgi()[0] == 200 and r.cgi()[2] == b'tail', r.stdout[:200])
        bad = warn_lines(small.log_text()[mark:])
        t.check('no protocol error logged', not bad, '\n'.join(bad[:5]))
        t.equal('the one worker served it all', len(small.workers()), 1)

    with t.section('requests ended early without FCGI_KEEP_CONN: the server closes'):
        # FastCGI 1.0, 5.1: "If FCGI_KEEP_CONN is zero, the application
        # closes the connection after responding to this request."
        body = b'x' * 100
        with FcgiConn(sock) as c:
            c.send(fcgi_begin(1)
                   + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(fcgi_params('POST', '/echo', 'a/b', body)))
                   + fcgi_record(FCGI_STDIN, 1, body[:50]))
            time.sleep(0.1)  # likely a read of its own for the abort; the same answer either way
            c.send(fcgi_record(FCGI_ABORT_REQUEST, 1))
            r = c.read_response(1)
            t.check('ABORT_REQUEST mid-body -> END_REQUEST at once, no output',
                    r.records == [(harness.FCGI_END_REQUEST, 1, b'\0' * 8)], r.records)
            t.check('then the server closes the connection (KEEP_CONN was 0)', c.closed_by_peer())
        with FcgiConn(sock) as c:
            c.send(fcgi_begin(1, role=harness.FCGI_AUTHORIZER))
            r = c.read_response(1)
            t.equal('role AUTHORIZER -> END_REQUEST FCGI_UNKNOWN_ROLE', r.protocol_status,
                    harness.FCGI_UNKNOWN_ROLE)
            t.check('then the server closes the connection (KEEP_CONN was 0)', c.closed_by_peer())
        k.served('after them')

    # ------------------------------------------------------------ peers
    with t.section('peer closes at every point of a request'):
        body = b'0123456789' * 5
        data = request_bytes(fcgi_params('POST', '/echo', 'a/b', body), body, chunk=20)
        mark = k.mark()
        for cut in range(0, len(data) + 1):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            if cut:
                s.sendall(data[:cut])
            s.close()
        k.served(f'{len(data) + 1} connections closed at each byte')
        new = [ln for ln in warn_lines(app.log_text()[mark:]) if '[warn]' not in ln]
        t.check('no error lines for them', not new, '\n'.join(new[:5]))

    with t.section('peer closes mid-response (2 MiB)'):
        big = os.urandom(2048 * 1024)
        mark = k.mark()
        for i in range(3):
            with FcgiConn(sock) as c:
                c.send(request_bytes(fcgi_params('POST', '/echo', 'a/b', big), big, keep=True))
                got = b''
                while len(got) < 1024:
                    chunk = c.sock.recv(1024 - len(got))
                    if not chunk:
                        break
                    got += chunk
            t.equal(f'client {i + 1} read 1 KiB of the answer, then closed', len(got), 1024)
            # closed here, with most of the response unsent
        k.served('after 3 clients left mid-response')
        new = [ln for ln in warn_lines(app.log_text()[mark:]) if '[warn]' not in ln]
        t.check('no error lines for them', not new, '\n'.join(new[:5]))

    with t.section('slow senders and idle connections'):
        data = request_bytes(fcgi_params('GET', '/echo/status/200'))
        mark = k.mark()
        # A sender whose every byte restarted the clock would never be
        # closed: the upper bound only has to be short of the bytes it has.
        closed_at, sent, _ = harness.trickle(sock, data, REQUEST_TIMEOUT + LATE_S + 5)
        t.check(f'1 byte per second: closed by request_timeout ({REQUEST_TIMEOUT} s) after {sent} bytes',
                closed_at is not None and REQUEST_TIMEOUT - 0.5 <= closed_at <= REQUEST_TIMEOUT + LATE_S,
                (closed_at, sent))
        k.one_log_line('1 byte per second', mark, 'request_timeout')
        k.served('after the slow sender')
        with FcgiConn(sock) as idle:
            r = idle.request(fcgi_params('GET', '/echo/status/200'), keep_conn=True)
            t.equal('a keep-conn connection answered', r.cgi()[0], 200)
            mark = k.mark()
            with FcgiConn(sock) as c:
                c.send(data[:3])
                start = time.monotonic()
                closed = c.closed_by_peer(REQUEST_TIMEOUT + LATE_S)
                t.check('3 bytes of a record header, then silence: closed by request_timeout',
                        closed and time.monotonic() - start >= REQUEST_TIMEOUT - 0.5,
                        time.monotonic() - start)
            k.one_log_line('a stalled header', mark, 'request_timeout')
            # The witness that request_timeout spares a kept connection idle
            # between requests: it has been idle since before the stalled
            # one began, so the timeout that closed that one would have
            # closed it too.
            k.still_open('the idle keep-conn connection, idle longer than request_timeout', idle)

    # ------------------------------------------------------------ limits
    with t.section('max_params, max_param_kb, max_headers'):
        base = fcgi_params('GET', '/echo/status/200')

        def status_of(extra):
            p = dict(base)
            p.update(extra)
            with FcgiConn(sock) as c:
                r = c.request(p, keep_conn=True)
                k.still_open('after it', c, req_id=5)
            return r.cgi()[0], len(p)

        fill = 512 - len(base)
        st, n = status_of({f'X_P{i}': '' for i in range(fill)})
        t.check(f'{n} params (max_params 512) -> 200', st == 200 and n == 512, (st, n))
        st, n = status_of({f'X_P{i}': '' for i in range(fill + 1)})
        t.check(f'{n} params -> 431', st == 431 and n == 513, (st, n))
        st, n = status_of({'HTTP_X_V': 'v' * 16384})
        t.equal('a value of exactly 16 KiB (max_param_kb) -> 200', st, 200)
        st, n = status_of({'HTTP_X_V': 'v' * 16385})
        t.equal('a value of 16 KiB + 1 -> 431', st, 431)
        st, n = status_of({'X_' + 'N' * 16383: 'v'})
        t.equal('a name of 16 KiB + 1 -> 431', st, 431)
        st, n = status_of({f'HTTP_X_H{i}': 'h' for i in range(100)})
        t.equal('100 HTTP_ params (max_headers) -> 200', st, 200)
        st, n = status_of({f'HTTP_X_H{i}': 'h' for i in range(101)})
        t.equal('101 HTTP_ params -> 431', st, 431)
        st, n = status_of({f'X_H{i}': 'h' for i in range(101)})
        t.equal('101 params without HTTP_ -> 200', st, 200)

    with t.section('after all that'):
        t.equal('still the one worker', app.workers(), [k.wpid])
        log = app.log_text()
        t.check('no worker died', 'killed by signal' not in log and 'starting a new one' not in log,
                log[-2000:])

    # ---------------------------------------------- other configurations
    with t.section('max_params_kb raised to 256: 128 KiB of params served'):
        big = t.start_app('echo', sock=t.path('echo-big.sock'),
                          env={'FW_SERVER_WORKERS': 1, 'FW_SERVER_MAX_PARAMS_KB': 256})
        pairs = [(f'HTTP_X_FILL{i}', chr(97 + i) * 16000) for i in range(8)]
        with FcgiConn(big.sock) as c:
            nv = fcgi_nv(list(fcgi_params('GET', '/echo/env').items()) + pairs)
            c.send(fcgi_begin(1) + fcgi_stream(FCGI_PARAMS, 1, nv) + fcgi_record(FCGI_STDIN, 1))
            r = c.read_response(1)
        env = json.loads(r.cgi()[2]) if r.cgi()[0] == 200 else {}
        t.check(f'{len(nv)} bytes of params -> 200, every pair intact',
                r.cgi()[0] == 200 and all(env.get(n) == v for n, v in pairs), r.stdout[:200])
        big.stop()

    with t.section('max_conns 2 with one worker: the third connection waits'):
        mc = t.start_app('echo', sock=t.path('echo-mc.sock'),
                         env={'FW_SERVER_WORKERS': 1, 'FW_SERVER_MAX_CONNS': 2})
        mc_worker = mc.workers()[0]

        def fds():
            return len(os.listdir(f'/proc/{mc_worker}/fd'))
        before = fds()
        with FcgiConn(mc.sock) as g:
            g.send(fcgi_record(FCGI_GET_VALUES, 0, fcgi_nv({'FCGI_MAX_CONNS': ''})))
            t.equal('GET_VALUES says FCGI_MAX_CONNS 2',
                    harness.fcgi_parse_nv(g.read_record()[3]).get('FCGI_MAX_CONNS'), '2')
        # The worker has seen that close (its descriptor is gone) before the next two connect.
        t.check('the worker closed that connection', harness.wait_until(lambda: fds() <= before, harness.WAIT))
        a, b = FcgiConn(mc.sock), FcgiConn(mc.sock)
        try:
            for i, c in enumerate((a, b)):
                r = c.request(fcgi_params('GET', '/echo/status/200'), keep_conn=True)
                t.equal(f'connection {i + 1} served', r.cgi()[0], 200)
            third = FcgiConn(mc.sock)  # the kernel queues it; nobody accepts
            third.send(request_bytes(fcgi_params('GET', '/echo/status/201')))
            # The witness: b is served twice after the third's request was
            # there. A worker that accepted would have taken the third in
            # the same loop round as b's first request, and answered it
            # before b's second.
            for i in (2, 3):
                b.request(fcgi_params('GET', '/echo/status/200'), req_id=i, keep_conn=True)
            third.sock.setblocking(False)
            try:
                early = third.sock.recv(100)
            except BlockingIOError:
                early = None
            third.sock.setblocking(True)
            third.sock.settimeout(harness.IO_TIMEOUT)
            t.check('the third connection gets no answer while two are open', early is None, early)
            t.check('the log says max_conns was reached',
                    harness.wait_until(lambda: 'max_conns (2) reached' in mc.log_text(), harness.WAIT),
                    mc.log_text()[-1000:])
            a.close()
            r = third.read_response(1)
            t.equal('once one closes, the waiting connection is served', r.cgi()[0], 201)
            third.close()
            r = b.request(fcgi_params('GET', '/echo/status/202'), req_id=2, keep_conn=True)
            t.equal('the other connection still works', r.cgi()[0], 202)
        finally:
            a.close()
            b.close()
        mc.stop()

    with t.section('logs'):
        # echo copies CONTENT_TYPE into fw_set_header, which refuses (and
        # logs at error) the values with CR or LF sent above: those lines
        # are expected, nothing else at error or above.
        for p in t.procs:
            bad = [ln for ln in p.log_text().splitlines()
                   if any(m in ln for m in ('[error]', '[crit]', '[alert]', '[emerg]'))
                   and 'fw_set_header' not in ln]
            t.check(f'no unexpected error lines in the log of {p.name} (pid {p.pid})', not bad,
                    '\n'.join(bad[:10]))


if __name__ == '__main__':
    harness.run(main)
