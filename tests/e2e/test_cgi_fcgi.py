#!/usr/bin/env python3
"""FastCGI spoken directly to an app's socket: cgi-fcgi (libfcgi) as a
client other than nginx, and a raw client for the protocol's corners."""
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import (FCGI_KEEP_CONN, FCGI_PARAMS, FCGI_STDIN, FcgiConn, cgi_header, fcgi_begin,
                     fcgi_nv, fcgi_params, fcgi_record, fcgi_stream)


def cgi_fcgi(sock, env, stdin=b''):
    """Run cgi-fcgi -bind -connect SOCK with exactly these CGI variables."""
    e = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
    e.update(env)
    p = subprocess.run(['cgi-fcgi', '-bind', '-connect', sock], input=stdin, env=e,
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def main(t):
    hello = t.start_app('hello')
    echo = t.start_app('echo')

    # ------------------------------------------------------------ cgi-fcgi
    with t.section('cgi-fcgi GET /hello (DOCUMENT_URI)'):
        t.check('cgi-fcgi is installed', shutil.which('cgi-fcgi') is not None)
        rc, out, err = cgi_fcgi(hello.sock, {'REQUEST_METHOD': 'GET', 'DOCUMENT_URI': '/hello',
                                             'SCRIPT_NAME': '/hello', 'REQUEST_URI': '/hello',
                                             'QUERY_STRING': ''})
        t.equal('cgi-fcgi exit status', rc, 0)
        t.check('starts with "Status: 200 OK"', out.startswith(b'Status: 200 OK\r\n'), repr(out))
        st, hdrs, body = harness.parse_cgi(out)
        t.equal('Content-Type', cgi_header(hdrs, 'Content-Type'), 'text/plain')
        t.equal('Content-Length', cgi_header(hdrs, 'Content-Length'), '6')
        t.equal('body', body, b'hello\n')
        t.equal('nothing on stderr', err, b'')

    with t.section('cgi-fcgi path from SCRIPT_NAME + PATH_INFO'):
        rc, out, err = cgi_fcgi(hello.sock, {'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '/hello',
                                             'PATH_INFO': '/bob', 'QUERY_STRING': ''})
        st, hdrs, body = harness.parse_cgi(out)
        t.check('SCRIPT_NAME=/hello PATH_INFO=/bob -> 200 "hello, bob"',
                st == 200 and body == b'hello, bob\n', repr(out))
        rc, out, err = cgi_fcgi(hello.sock, {'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '',
                                             'PATH_INFO': '/hello'})
        st, hdrs, body = harness.parse_cgi(out)
        t.check('PATH_INFO=/hello alone -> 200 "hello"', st == 200 and body == b'hello\n', repr(out))

    with t.section('cgi-fcgi path from REQUEST_URI only'):
        rc, out, err = cgi_fcgi(hello.sock, {'REQUEST_METHOD': 'GET',
                                             'REQUEST_URI': '/hello/w%C3%B6rld?x=1',
                                             'QUERY_STRING': 'x=1'})
        st, hdrs, body = harness.parse_cgi(out)
        t.check('REQUEST_URI=/hello/w%C3%B6rld?x=1 -> 200 "hello, wörld" (decoded, query cut)',
                st == 200 and body == 'hello, wörld\n'.encode(), repr(out))
        rc, out, err = cgi_fcgi(hello.sock, {'REQUEST_METHOD': 'GET',
                                             'REQUEST_URI': '/greet?name=a+b%21',
                                             'QUERY_STRING': 'name=a+b%21'})
        st, hdrs, body = harness.parse_cgi(out)
        t.check('REQUEST_URI=/greet?name=a+b%21 -> "hello, a b!"',
                st == 200 and body == b'hello, a b!\n', repr(out))

    with t.section('cgi-fcgi 404 and POST'):
        rc, out, err = cgi_fcgi(hello.sock, {'REQUEST_METHOD': 'GET', 'DOCUMENT_URI': '/nope'})
        st, hdrs, body = harness.parse_cgi(out)
        t.check('GET /nope -> Status: 404 Not Found with default body',
                out.startswith(b'Status: 404 Not Found\r\n') and body == b'404 Not Found\n', repr(out))
        data = os.urandom(100000)
        rc, out, err = cgi_fcgi(echo.sock, {'REQUEST_METHOD': 'POST', 'DOCUMENT_URI': '/echo',
                                            'CONTENT_TYPE': 'application/x-cgi',
                                            'CONTENT_LENGTH': str(len(data))}, stdin=data)
        st, hdrs, body = harness.parse_cgi(out)
        t.check('POST /echo of 100000 bytes through cgi-fcgi echoed',
                st == 200 and body == data, f'status {st}, {len(body)} bytes')
        t.equal('its Content-Type', cgi_header(hdrs, 'Content-Type'), 'application/x-cgi')

    # ------------------------------------------------------- raw FastCGI
    with t.section('params split across many records at odd positions'):
        long_value = 'v' * 300 + 'é' * 50  # 4-byte length encoding
        params = fcgi_params('GET', '/echo/env?q=1', extra={'HTTP_X_LONG': long_value,
                                                             'HTTP_X_' + 'N' * 200: 'long name'})
        nv = fcgi_nv(params)
        with FcgiConn(echo.sock) as c:
            msg = (fcgi_begin(1) + fcgi_stream(FCGI_PARAMS, 1, nv, chunk=[1, 3, 7, 2, 13, 5, 131])
                   + fcgi_stream(FCGI_STDIN, 1, b''))
            c.send_fragmented(msg)
            r = c.read_response(1)
        st, hdrs, body = r.cgi()
        t.equal('status', st, 200)
        env = json.loads(body) if st == 200 else {}
        t.check('every param arrived intact', all(env.get(k) == v for k, v in params.items()),
                {k: (env.get(k), v) for k, v in params.items() if env.get(k) != v})
        t.equal('no extra params', sorted(env), sorted(params))
        t.equal('END_REQUEST REQUEST_COMPLETE', r.protocol_status, harness.FCGI_REQUEST_COMPLETE)
        t.equal('appStatus 0', r.app_status, 0)

    with t.section('STDIN in many records'):
        data = os.urandom(200000)
        with FcgiConn(echo.sock) as c:
            p = fcgi_params('POST', '/echo', 'application/x-many', data)
            msg = (fcgi_begin(1) + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(p))
                   + fcgi_stream(FCGI_STDIN, 1, data, chunk=[1, 65535, 17, 4096, 3, 30000]))
            c.send(msg)
            r = c.read_response(1)
        st, hdrs, body = r.cgi()
        t.check('200 and the body echoed byte for byte', st == 200 and body == data,
                f'status {st}, {len(body)} of {len(data)} bytes')
        t.equal('Content-Type', cgi_header(hdrs, 'Content-Type'), 'application/x-many')
        t.check('STDOUT records are at most 65535 bytes',
                all(len(rc[2]) <= 65535 for rc in r.records))
        # Fragmented delivery of a small body too.
        with FcgiConn(echo.sock) as c:
            small = b'0123456789' * 30
            p = fcgi_params('POST', '/echo', 'text/plain', small)
            c.send_fragmented(fcgi_begin(1) + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(p))
                              + fcgi_stream(FCGI_STDIN, 1, small, chunk=[1, 2, 3, 5, 8, 13]))
            r = c.read_response(1)
        st, hdrs, body = r.cgi()
        t.check('small body in tiny records and writes echoed', st == 200 and body == small,
                repr(r.stdout[:200]))

    with t.section('POST without a CONTENT_TYPE param'):
        p = fcgi_params('POST', '/echo', None, b'abc')
        del p['CONTENT_TYPE']
        with FcgiConn(echo.sock) as c:
            r = c.request(p, b'abc')
        st, hdrs, body = r.cgi()
        t.check('echoed as application/octet-stream',
                st == 200 and body == b'abc'
                and cgi_header(hdrs, 'Content-Type') == 'application/octet-stream', repr(r.stdout))

    with t.section('CONTENT_LENGTH that does not match the body'):
        p = fcgi_params('POST', '/echo', 'text/plain', b'abc')
        p['CONTENT_LENGTH'] = '10'
        with FcgiConn(echo.sock) as c:
            r = c.request(p, b'abc')
        st, hdrs, body = r.cgi()
        t.equal('answered 400', st, 400)

    with t.section('FCGI_KEEP_CONN: 3 sequential requests on one connection'):
        with FcgiConn(hello.sock) as c:
            answers = []
            for i, (uri, want) in enumerate([('/hello', b'hello\n'), ('/hello/two', b'hello, two\n'),
                                             ('/greet?name=three', b'hello, three\n')]):
                r = c.request(fcgi_params('GET', uri), req_id=i + 1, keep_conn=True)
                st, hdrs, body = r.cgi()
                answers.append((st, body) == (200, want))
                t.check(f'request {i + 1} ({uri}) answered', st == 200 and body == want,
                        repr(r.stdout))
                t.equal(f'request {i + 1} END_REQUEST complete', r.protocol_status, 0)
            # Open, not merely not closed yet: a fourth request is answered on it.
            r = c.request(fcgi_params('GET', '/hello/four'), req_id=4, keep_conn=True)
            t.check('the connection stays open after the third: a fourth is answered',
                    r.cgi()[2] == b'hello, four\n', repr(r.stdout))

    with t.section('pipelined requests on one connection'):
        with FcgiConn(hello.sock) as c:
            msg = b''
            for i in range(1, 4):
                msg += (fcgi_begin(i, flags=FCGI_KEEP_CONN)
                        + fcgi_stream(FCGI_PARAMS, i, fcgi_nv(fcgi_params('GET', f'/hello/p{i}')))
                        + fcgi_stream(FCGI_STDIN, i, b''))
            c.send(msg)
            for i in range(1, 4):
                r = c.read_response(i)
                t.check(f'pipelined request {i} answered in order',
                        r.cgi()[2] == f'hello, p{i}\n'.encode()
                        and all(rid == i for _, rid, _ in r.records), repr(r.records))

    with t.section('a large response to a client that reads late, then a pipelined one'):
        big = os.urandom(2048 * 1024)  # max_body_kb exactly
        with FcgiConn(echo.sock) as c:
            msg = (fcgi_begin(1, flags=FCGI_KEEP_CONN)
                   + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(fcgi_params('POST', '/echo', 'a/b', big)))
                   + fcgi_stream(FCGI_STDIN, 1, big)
                   + fcgi_begin(2, flags=FCGI_KEEP_CONN)
                   + fcgi_stream(FCGI_PARAMS, 2, fcgi_nv(fcgi_params('POST', '/echo', 'c/d', b'small')))
                   + fcgi_stream(FCGI_STDIN, 2, b'small'))
            sender = threading.Thread(target=c.send, args=(msg,), daemon=True)
            sender.start()
            # Coverage, not correctness: the worker likely meets a full socket
            # buffer meanwhile; the checks below hold either way.
            time.sleep(1.0)
            r1 = c.read_response(1)
            r2 = c.read_response(2)
            sender.join(harness.IO_TIMEOUT)
            t.check('the 2 MiB echo arrives intact', r1.cgi()[2] == big, f'{len(r1.cgi()[2])} bytes')
            t.check('then the pipelined request\'s answer', r2.cgi()[2] == b'small'
                    and cgi_header(r2.cgi()[1], 'Content-Type') == 'c/d', repr(r2.stdout))

    with t.section('FCGI_ABORT_REQUEST while the body is arriving'):
        with FcgiConn(echo.sock) as c:
            body = b'x' * 1000
            c.send(fcgi_begin(1, flags=FCGI_KEEP_CONN)
                   + fcgi_stream(FCGI_PARAMS, 1, fcgi_nv(fcgi_params('POST', '/echo', 'a/b', body)))
                   + fcgi_record(FCGI_STDIN, 1, body[:500]))
            time.sleep(0.1)  # likely a read of its own for the abort; either way the same answer
            c.send(fcgi_record(harness.FCGI_ABORT_REQUEST, 1))
            r = c.read_response(1)
            t.check('END_REQUEST REQUEST_COMPLETE without output',
                    r.protocol_status == harness.FCGI_REQUEST_COMPLETE and r.stdout == b'', repr(r.records))
            r = c.request(fcgi_params('GET', '/echo/status/201'), req_id=2, keep_conn=True)
            t.equal('the connection then serves request 2', r.cgi()[0], 201)

    with t.section('params over 128 KiB'):
        with FcgiConn(hello.sock) as c:
            r = c.request(fcgi_params('GET', '/hello', extra={'HTTP_X_BIG': 'a' * 200000}),
                          keep_conn=True)
            st, hdrs, body = r.cgi()
            t.check('answered 431 with the default body',
                    st == 431 and body == b'431 Request Header Fields Too Large\n', repr(r.stdout))
            r = c.request(fcgi_params('GET', '/hello'), req_id=2, keep_conn=True)
            t.check('the connection then serves the next request', r.cgi()[2] == b'hello\n',
                    repr(r.stdout))

    with t.section('no params at all'):
        with FcgiConn(hello.sock) as c:
            r = c.request({})
            t.check('GET / assumed: 404', r.cgi()[0] == 404, repr(r.stdout))

    with t.section('FCGI_KEEP_CONN off: the server closes after the response'):
        with FcgiConn(hello.sock) as c:
            r = c.request(fcgi_params('GET', '/hello'), keep_conn=False)
            st, hdrs, body = r.cgi()
            t.check('answered', st == 200 and body == b'hello\n', repr(r.stdout))
            t.check('then the server closes the connection', c.closed_by_peer())

    with t.section('FCGI_GET_VALUES'):
        with FcgiConn(hello.sock) as c:
            c.send(fcgi_record(harness.FCGI_GET_VALUES, 0,
                               fcgi_nv([('FCGI_MAX_CONNS', ''), ('FCGI_MAX_REQS', ''),
                                        ('FCGI_MPXS_CONNS', ''), ('FCGI_NO_SUCH_VAR', '')])))
            version, rtype, rid, content = c.read_record()
            t.equal('answered with GET_VALUES_RESULT', rtype, harness.FCGI_GET_VALUES_RESULT)
            t.equal('on request id 0', rid, 0)
            vals = harness.fcgi_parse_nv(content)
            t.equal('FCGI_MPXS_CONNS', vals.get('FCGI_MPXS_CONNS'), '0')
            t.equal('FCGI_MAX_CONNS (max_conns in conf/fw.ini)', vals.get('FCGI_MAX_CONNS'), '1024')
            t.check('an unknown variable is left out', 'FCGI_NO_SUCH_VAR' not in vals, vals)
            r = c.request(fcgi_params('GET', '/hello'), keep_conn=True)
            t.check('a request on the same connection afterwards works',
                    r.cgi()[2] == b'hello\n', repr(r.stdout))

    with t.section('unknown management record type'):
        with FcgiConn(hello.sock) as c:
            c.send(fcgi_record(42, 0, b'xyz'))
            version, rtype, rid, content = c.read_record()
            t.check('answered FCGI_UNKNOWN_TYPE naming type 42',
                    rtype == harness.FCGI_UNKNOWN_TYPE and content[:1] == b'\x2a', (rtype, content))

    with t.section('a role other than RESPONDER'):
        for role in (harness.FCGI_AUTHORIZER, harness.FCGI_FILTER):
            with FcgiConn(hello.sock) as c:
                c.send(fcgi_begin(5, role=role, flags=FCGI_KEEP_CONN))
                r = c.read_response(5)
                t.equal(f'role {role}: END_REQUEST protocolStatus FCGI_UNKNOWN_ROLE',
                        r.protocol_status, harness.FCGI_UNKNOWN_ROLE)
                t.equal(f'role {role}: no STDOUT', r.stdout, b'')
                r = c.request(fcgi_params('GET', '/hello'), req_id=6, keep_conn=True)
                t.check(f'role {role}: the connection then serves a responder request',
                        r.cgi()[2] == b'hello\n', repr(r.stdout))

    with t.section('a second request id while the first is in progress'):
        with FcgiConn(hello.sock) as c:
            nv = fcgi_nv(fcgi_params('GET', '/hello/first'))
            c.send(fcgi_begin(1, flags=FCGI_KEEP_CONN) + fcgi_record(FCGI_PARAMS, 1, nv[:10]))
            c.send(fcgi_begin(2, flags=FCGI_KEEP_CONN))
            r2 = c.read_response(2)
            t.equal('request 2 refused with FCGI_CANT_MPX_CONN', r2.protocol_status,
                    harness.FCGI_CANT_MPX_CONN)
            t.equal('no STDOUT for request 2', r2.stdout, b'')
            c.send(fcgi_record(FCGI_PARAMS, 1, nv[10:]) + fcgi_record(FCGI_PARAMS, 1)
                   + fcgi_record(FCGI_STDIN, 1))
            r1 = c.read_response(1)
            st, hdrs, body = r1.cgi()
            t.check('request 1 then completes normally', st == 200 and body == b'hello, first\n',
                    repr(r1.stdout))
            t.check('no record of request 2 among request 1\'s',
                    all(rid == 1 for _, rid, _ in r1.records), r1.records)

    with t.section('a garbage record closes only its connection'):
        other = FcgiConn(hello.sock)
        try:
            r = other.request(fcgi_params('GET', '/hello'), keep_conn=True)
            t.check('the other connection works before', r.cgi()[2] == b'hello\n', repr(r.stdout))
            with FcgiConn(hello.sock) as bad:
                bad.send(struct.pack('>BBHHBB', 2, 1, 1, 8, 0, 0) + b'\0\1\1\0\0\0\0\0')
                t.check('the server closes the connection that sent version 2',
                        bad.closed_by_peer())
            with FcgiConn(hello.sock) as bad:
                bad.send(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
                t.check('the server closes a connection that speaks HTTP', bad.closed_by_peer())
            for i in range(3):
                r = other.request(fcgi_params('GET', f'/hello/again{i}'), req_id=3 + i,
                                  keep_conn=True)
                t.check(f'the other connection still works (request {i + 1})',
                        r.cgi()[2] == f'hello, again{i}\n'.encode(), repr(r.stdout))
        finally:
            other.close()
        st, hdrs, body, r = harness.fcgi_get(hello.sock, '/hello')
        t.check('a new connection works too', st == 200 and body == b'hello\n', repr(r.stdout))
        t.equal('both workers still alive', len(hello.workers()), 2)

    with t.section('cgi-fcgi against a TCP listener'):
        port = harness.free_port()
        tcp = t.start_app('hello', sock=f'127.0.0.1:{port}', wait=False)
        ok = harness.wait_until(lambda: harness.tcp_accepts(port) or not tcp.alive(),
                                harness.START_TIMEOUT) and tcp.alive()
        t.check(f'hello listens on 127.0.0.1:{port}', ok, tcp.log_text())
        if ok:
            rc, out, err = cgi_fcgi(f'127.0.0.1:{port}', {'REQUEST_METHOD': 'GET',
                                                           'DOCUMENT_URI': '/hello'})
            t.check('cgi-fcgi over TCP gets 200 "hello"',
                    out.startswith(b'Status: 200 OK') and out.endswith(b'\r\n\r\nhello\n'), repr(out))
            with FcgiConn(('127.0.0.1', port)) as c:
                r = c.request(fcgi_params('GET', '/hello/tcp'), keep_conn=True)
                t.check('raw client over TCP', r.cgi()[2] == b'hello, tcp\n', repr(r.stdout))
        tcp.stop()

    with t.section('logs'):
        for app in (hello, echo):
            log = app.log_text()
            t.check(f'{app.name}: no [error] lines', '[error]' not in log, log[-2000:])
            t.check(f'{app.name}: no worker died', 'killed by signal' not in log
                    and 'starting a new one' not in log, log[-2000:])
        t.check('hello logged the protocol errors as warnings',
                'FastCGI protocol error' in hello.log_text(), hello.log_text()[-2000:])


if __name__ == '__main__':
    harness.run(main)
