#!/usr/bin/env python3
"""apps/notes, the demo of the request side, driven through nginx as a
user would: the HTML page, logging in (a signed session cookie), a note
from the HTML form, an upload (multipart) and its download, the JSON API
(with its JSON error pages), a forged or expired cookie refused, logging
out, and the worker-exit line."""
from http import cookies
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import http  # noqa: E402


def session_of(r):
    for v in r.headers('Set-Cookie'):
        c = cookies.SimpleCookie()
        c.load(v)
        if 'notes_session' in c:
            return c['notes_session'].value, v
    return None, None


def main(t):
    data = t.path('notes-data')
    app = t.start_app('notes', env={'FW_APP_DATA_DIR': data, 'FW_SERVER_WORKERS': 2})
    ngx = t.start_nginx()
    port = ngx.port

    r = http(port, 'GET', '/notes')
    t.check('GET /notes: the HTML page', r.status == 200 and b'<h1>Notes</h1>' in r.body and
            r.header('Content-Type') == 'text/html; charset=utf-8', r)
    r = http(port, 'POST', '/notes', body=b'title=x', headers={'Content-Type': 'application/x-www-form-urlencoded'})
    t.equal('writing without a session: the before hook redirects to the login page',
            (r.status, r.header('Location')), (303, '/notes/login'))
    r = http(port, 'POST', '/notes/api/notes', body=b'{"title":"x"}', headers={'Content-Type': 'application/json'})
    t.check('the API without a session: 401 in JSON', r.status == 401 and json.loads(r.body)['status'] == 401, r)

    r = http(port, 'POST', '/notes/login', body=b'user=ann', headers={'Content-Type': 'application/x-www-form-urlencoded'})
    sid, line = session_of(r)
    t.check('login: 303 and a session cookie', r.status == 303 and sid is not None, r)
    t.check('the cookie: Path=/notes, HttpOnly, SameSite=Lax, Max-Age', line is not None and
            all(a in line for a in ('Path=/notes', 'HttpOnly', 'SameSite=Lax', 'Max-Age=604800')), line)
    ck = {'Cookie': f'notes_session={sid}'}
    r = http(port, 'POST', '/notes/login', body=b'user=bad%20name', headers={'Content-Type': 'application/x-www-form-urlencoded'})
    t.check('login with an invalid name: 422 with an HTML error page', r.status == 422 and b'<h1>422</h1>' in r.body, r)

    title = '<script>alert(1)</script> & "quotes"'
    body = 'title=' + title.replace('&', '%26').replace(' ', '+') + '&body=first+note'
    r = http(port, 'POST', '/notes', body=body.encode(),
             headers=dict(ck, **{'Content-Type': 'application/x-www-form-urlencoded'}))
    t.equal('a note from the HTML form: 303 back to the page', (r.status, r.header('Location')), (303, '/notes'))
    r = http(port, 'GET', '/notes', headers=ck)
    t.check('the page shows it escaped', b'&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;' in r.body
            and b'<script>alert' not in r.body, r.body[:600])
    t.check('the page names the user', b'Logged in as ann' in r.body, r.body[:600])

    r = http(port, 'POST', '/notes/api/notes', body=json.dumps({'title': 'from JSON', 'body': 'b'}).encode(),
             headers=dict(ck, **{'Content-Type': 'application/json'}))
    t.check('POST /notes/api/notes: 201 with the id', r.status == 201 and json.loads(r.body)['title'] == 'from JSON', r)
    nid = json.loads(r.body)['id']
    r = http(port, 'GET', f'/notes/api/notes/{nid}', headers=ck)
    t.check('GET the note back as JSON', r.status == 200 and json.loads(r.body)['user'] == 'ann', r)
    r = http(port, 'GET', '/notes/api/notes')
    t.check('the list has both notes, newest first', r.status == 200 and
            [n['title'] for n in json.loads(r.body)] == ['from JSON', title], r.body[:400])
    for what, b, ctype, st in (('malformed JSON', b'{"title": }', 'application/json', 400),
                               ('a title that is not a string', b'{"title": 5}', 'application/json', 422),
                               ('the wrong Content-Type', b'{"title": "x"}', 'text/plain', 415)):
        r = http(port, 'POST', '/notes/api/notes', body=b, headers=dict(ck, **{'Content-Type': ctype}))
        doc = json.loads(r.body) if r.header('Content-Type') == 'application/json' else {}
        t.check(f'{what}: {st} with a JSON error page', r.status == st and doc.get('status') == st and
                doc.get('error'), r)
    r = http(port, 'GET', '/notes/api/notes/12345', headers=ck)
    t.check('an unknown note: 404 in JSON', r.status == 404 and 'no note' in json.loads(r.body)['error'], r)

    blob = os.urandom(300000)
    bnd = 'notesBoundary'
    mp = (f'--{bnd}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\n'
          f'Content-Type: application/octet-stream\r\n\r\n').encode() + blob + f'\r\n--{bnd}--\r\n'.encode()
    r = http(port, 'POST', f'/notes/{nid}/attachment', body=mp,
             headers=dict(ck, **{'Content-Type': f'multipart/form-data; boundary={bnd}'}))
    t.equal('an upload: 303', r.status, 303)
    r = http(port, 'GET', f'/notes/files/{nid}')
    t.check('the download is byte for byte the upload, as an attachment', r.status == 200 and r.body == blob and
            r.header('Content-Disposition') == 'attachment' and r.header('X-Content-Type-Options') == 'nosniff',
            (r.status, len(r.body)))
    r = http(port, 'POST', f'/notes/{nid}/attachment', body=mp[:1000],
             headers=dict(ck, **{'Content-Type': f'multipart/form-data; boundary={bnd}'}))
    t.check('a truncated upload: 400 with the reason', r.status == 400 and b'cut short' in r.body, r)

    forged = sid[:-1] + ('0' if sid[-1] != '0' else '1')
    other_user = 'bob' + sid[sid.index('.'):]
    for what, value in (('a forged MAC', forged), ('another user with ann\'s MAC', other_user),
                        ('an expired session', 'ann.1.' + '0' * 64), ('garbage', 'x')):
        r = http(port, 'DELETE', f'/notes/api/notes/{nid}', headers={'Cookie': f'notes_session={value}'})
        t.equal(f'{what}: refused (401)', r.status, 401)
    r = http(port, 'DELETE', f'/notes/api/notes/{nid}', headers=ck)
    t.equal('DELETE with the session: 204', r.status, 204)
    r = http(port, 'POST', '/notes/logout', headers=ck)
    _, line = session_of(r)
    t.check('logout deletes the cookie (Max-Age=0)', r.status == 303 and line is not None and 'Max-Age=0' in line, line)

    workers = app.workers()
    t.equal('notes stops with status 0', app.stop(), 0)
    log = app.log_text()
    t.check('each worker logged its exit line (fw_on_worker_exit)',
            sum(1 for p in workers if f'{p}: notes: worker exiting;' in log) == len(workers), log[-2000:])
    t.check_logs()


harness.run(main)
