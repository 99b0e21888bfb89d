#!/usr/bin/env python3
"""Our output stays valid FastCGI whatever a handler does: a head over
64 KiB, a body over 64 KiB, writes after an error; and nginx 1.22 keeps
using the connection afterwards."""
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402
from harness import FcgiConn, fcgi_params, http

FCGI_STDOUT, FCGI_END_REQUEST = 6, 3


def records_valid(t, what, r):
    """STDOUT records of at most 65535 bytes, one empty STDOUT, then END_REQUEST, nothing after."""
    types = [rt for rt, _, _ in r.records]
    t.check(f'{what}: every record at most 65535 bytes', all(len(c) <= 65535 for _, _, c in r.records))
    t.check(f'{what}: STDOUT records, then one empty STDOUT, then END_REQUEST',
            types[-1] == FCGI_END_REQUEST and types[-2] == FCGI_STDOUT and r.records[-2][2] == b''
            and all(x == FCGI_STDOUT for x in types[:-1]), types[-4:])
    t.equal(f'{what}: request complete (protocol status 0)', r.protocol_status, 0)


def main(t):
    app = rc.start(t, workers=1)

    with t.section('a head over 64 KiB (1000 headers)'):
        with FcgiConn(app.sock) as c:
            r = c.request(fcgi_params('GET', '/headers', extra={'QUERY_STRING': 'kb=100'}), keep_conn=True)
            st, hdrs, body = r.cgi()
            records_valid(t, '100 KiB of headers', r)
            t.check('the head spans several records', len(r.stdout) > 64 * 1024 and
                    sum(1 for rt, _, c2 in r.records if rt == FCGI_STDOUT and c2) >= 2)
            t.equal('status', st, 200)
            t.equal('all 853 filler headers arrive', sum(1 for k, _ in hdrs if k.startswith('X-Filler-')), 853)
            t.equal('the body follows the head', body, b'after the head\n')
            t.check('Status comes first', r.stdout.startswith(b'Status: 200 OK\r\n'))
            # The same connection goes on (FCGI_KEEP_CONN): nothing was left behind.
            r2 = c.request(fcgi_params('GET', '/hello'), keep_conn=True)
            t.equal('the next request on the connection', r2.cgi()[2], b'hello\n')

    with t.section('a body over 64 KiB'):
        with FcgiConn(app.sock) as c:
            r = c.request(fcgi_params('GET', '/big', extra={'QUERY_STRING': 'mb=3'}))
            st, hdrs, body = r.cgi()
            records_valid(t, '3 MiB body', r)
            t.equal('3 MiB arrive', len(body), 3 << 20)
            t.equal('Content-Length says so', harness.cgi_header(hdrs, 'Content-Length'), str(3 << 20))

    with t.section('writes after an error'):
        mark = rc.LogMark(app.log_text)
        with FcgiConn(app.sock) as c:
            r = c.request(fcgi_params('GET', '/write-error'))
            st, hdrs, body = r.cgi()
            records_valid(t, '500 after a partial body', r)
            t.equal('the status given to fw_finish wins', st, 500)
            t.equal('the body written before it is kept', body, b'partial output\n')
            t.equal('the late header is not sent', harness.cgi_header(hdrs, 'X-Late'), None)
        line = harness.wait_until(lambda: rc.lines_with(mark.text(), 'said'), harness.WAIT)
        t.check('fw_write and fw_set_header refused after fw_finish (-1 -1)',
                line and line[0].endswith('said -1 -1'), line)

    with t.section('through nginx 1.22'):
        ngx = t.start_nginx()
        r = http(ngx.port, 'GET', '/headers?kb=100')
        t.equal('a head over nginx\'s fastcgi_buffer_size: nginx answers 502 itself', r.status, 502)
        t.check('nginx says the header was too big, not that it was invalid',
                'too big header' in ngx.error_log() and 'invalid header' not in ngx.error_log(),
                ngx.error_log()[-600:])
        r = http(ngx.port, 'GET', '/headers?kb=2')
        t.equal('2 KiB of headers pass', r.status, 200)
        t.equal('... all of them', sum(1 for k, _ in r.header_list if k.startswith('X-Filler-')), 17)
        r = http(ngx.port, 'GET', '/big?mb=3')
        t.check('a 3 MiB body through nginx', r.status == 200 and len(r.body) == 3 << 20, r.status)
        r = http(ngx.port, 'GET', '/write-error')
        t.check('500 with the partial body through nginx',
                r.status == 500 and r.body == b'partial output\n', repr(r))
        for i in range(20):
            if http(ngx.port, 'GET', '/hello').body != b'hello\n':
                t.check(f'keepalive connections still in sync (request {i})', False)
                break
        else:
            t.check('keepalive connections still in sync (20 requests)', True)


harness.run(main)
