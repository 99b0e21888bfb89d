"""The application bench/upgrade.py upgrades live under the Python peers,
the equivalent of tests/apps/upgradeapp: GET answers the version, POST
echoes its body. bench/upgrade.py writes it with @VERSION@ replaced by
"a" or "b". `application` is WSGI (uWSGI), `app` is ASGI (Gunicorn with
Uvicorn's worker)."""

VERSION = b'@VERSION@\n'


def application(environ, start_response):
    if environ['REQUEST_METHOD'] == 'POST':
        body = environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
    else:
        body = VERSION
    # Content-Length: uWSGI's HTTP/1.1 socket keeps the connection only with it.
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        # Uvicorn logs "Application startup complete." once this answers:
        # bench/upgrade.py waits for that line from each new worker.
        while True:
            msg = await receive()
            if msg['type'] == 'lifespan.startup':
                await send({'type': 'lifespan.startup.complete'})
            elif msg['type'] == 'lifespan.shutdown':
                await send({'type': 'lifespan.shutdown.complete'})
                return
    body = VERSION
    if scope['method'] == 'POST':
        body, more = b'', True
        while more:
            msg = await receive()
            body += msg.get('body', b'')
            more = msg.get('more_body', False)
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-type', b'text/plain'),
                            (b'content-length', str(len(body)).encode())]})
    await send({'type': 'http.response.body', 'body': body})
