"""TechEmpower /db, /queries, /fortunes, /updates as a raw ASGI app on
asyncpg, in the style of their Python (uvicorn) implementation: run by
Gunicorn with Uvicorn workers, a pool of asyncpg connections per worker,
prepared statements. bench/tfb.py sets TFB_PG_HOST, TFB_PG_POOL.
"""
import html
import json
import os
import random
from urllib.parse import parse_qs

import asyncpg

READ = 'SELECT id, randomnumber FROM world WHERE id = $1'
WRITE = 'UPDATE world SET randomnumber = $1 WHERE id = $2'
pool = None


async def startup():
    global pool
    size = int(os.environ.get('TFB_PG_POOL', '4'))
    pool = await asyncpg.create_pool(host=os.environ['TFB_PG_HOST'], user='tfb', database='tfb',
                                     min_size=size, max_size=size)


def queries(scope):
    try:
        n = int(parse_qs(scope['query_string'].decode()).get('queries', ['1'])[0])
    except ValueError:
        n = 1
    return min(max(n, 1), 500)


async def db(scope):
    async with pool.acquire() as c:
        row = await c.fetchrow(READ, random.randint(1, 10000))
    return 'application/json', json.dumps({'id': row[0], 'randomNumber': row[1]})


async def multi(scope):
    async with pool.acquire() as c:
        st = await c.prepare(READ)
        rows = [await st.fetchrow(random.randint(1, 10000)) for _ in range(queries(scope))]
    return 'application/json', json.dumps([{'id': r[0], 'randomNumber': r[1]} for r in rows])


async def updates(scope):
    async with pool.acquire() as c:
        st = await c.prepare(READ)
        worlds = []
        for _ in range(queries(scope)):
            r = await st.fetchrow(random.randint(1, 10000))
            worlds.append({'id': r[0], 'randomNumber': random.randint(1, 10000)})
        # Sorted by id: concurrent requests lock rows in one order.
        await c.executemany(WRITE, sorted((w['randomNumber'], w['id']) for w in worlds),)
    return 'application/json', json.dumps(worlds)


async def fortunes(scope):
    async with pool.acquire() as c:
        rows = await c.fetch('SELECT id, message FROM fortune')
    rows = [(r[0], r[1]) for r in rows] + [(0, 'Additional fortune added at request time.')]
    rows.sort(key=lambda r: r[1])
    body = ''.join(f'<tr><td>{i}</td><td>{html.escape(m)}</td></tr>' for i, m in rows)
    return 'text/html; charset=utf-8', ('<!DOCTYPE html><html><head><title>Fortunes</title></head><body>'
                                        f'<table><tr><th>id</th><th>message</th></tr>{body}</table>'
                                        '</body></html>')


ROUTES = {'/db': db, '/queries': multi, '/updates': updates, '/fortunes': fortunes}


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            msg = await receive()
            if msg['type'] == 'lifespan.startup':
                await startup()
                await send({'type': 'lifespan.startup.complete'})
            elif msg['type'] == 'lifespan.shutdown':
                await pool.close()
                await send({'type': 'lifespan.shutdown.complete'})
                return
    handler = ROUTES.get(scope['path'])
    if handler is None:
        status, ctype, body = 404, 'text/plain', 'not found'
    else:
        status = 200
        ctype, body = await handler(scope)
    data = body.encode()
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(b'content-type', ctype.encode()), (b'content-length', str(len(data)).encode())]})
    await send({'type': 'http.response.body', 'body': data})
