#!/usr/bin/env python3
"""Write the hand-made seed inputs into tests/fuzz/<target>/corpus/.

The seeds are committed; this script documents how they were made and
rewrites them (named seed-*, so fuzzer-found files are left alone):
    python3 tests/fuzz/seeds.py
fcgi and scgi inputs start with the split prefix described in fuzz.h.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Split prefixes: (k | flags << 3) then k piece sizes.
WHOLE = bytes([1, 255])          # pieces of 255 bytes
BYTES = bytes([0])               # one byte at a time
MIXED = bytes([3, 1, 8, 100])    # 1, 8, 100, 1, 8, ...
ZEROS = bytes([2, 0, 7])         # empty calls in between


def write(target, name, data):
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- FastCGI ----

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, DATA, GET_VALUES = 1, 2, 3, 4, 5, 6, 7, 8, 9


def record(rtype, rid, content=b"", padding=None, version=1):
    if padding is None:  # nginx pads to a multiple of 8
        padding = (8 - len(content) % 8) % 8
    return (struct.pack(">BBHHBB", version, rtype, rid, len(content), padding, 0) + content
            + b"\0" * padding)


def nv_len(n, long=False):
    return struct.pack(">I", n | 0x80000000) if long or n > 127 else bytes([n])


def nv(name, value, long=False):
    name, value = name.encode(), value.encode()
    return nv_len(len(name), long) + nv_len(len(value), long) + name + value


def begin(rid, role=1, flags=1):
    return record(BEGIN, rid, struct.pack(">HB5x", role, flags))


NGINX_PARAMS = [
    ("QUERY_STRING", "a=1&b=%20x+y"),
    ("REQUEST_METHOD", "POST"),
    ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
    ("CONTENT_LENGTH", "11"),
    ("SCRIPT_NAME", "/hello"),
    ("REQUEST_URI", "/hello?a=1&b=%20x+y"),
    ("DOCUMENT_URI", "/hello"),
    ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
    ("SERVER_PROTOCOL", "HTTP/1.1"),
    ("REQUEST_SCHEME", "http"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "nginx/1.22.1"),
    ("REMOTE_ADDR", "127.0.0.1"),
    ("REMOTE_PORT", "51234"),
    ("SERVER_ADDR", "127.0.0.1"),
    ("SERVER_PORT", "8080"),
    ("SERVER_NAME", "localhost"),
    ("REDIRECT_STATUS", "200"),
    ("HTTP_HOST", "localhost:8080"),
    ("HTTP_USER_AGENT", "curl/7.88.1"),
    ("HTTP_ACCEPT", "*/*"),
]


def params_block(pairs, long=False):
    return b"".join(nv(n, v, long) for n, v in pairs)


def fcgi_seeds():
    block = params_block(NGINX_PARAMS)
    half = len(block) // 2
    nginx = (begin(1) + record(PARAMS, 1, block[:half]) + record(PARAMS, 1, block[half:])
             + record(PARAMS, 1) + record(STDIN, 1, b"hello=world") + record(STDIN, 1))
    for prefix, tag in ((WHOLE, "whole"), (BYTES, "bytes"), (MIXED, "mixed"), (ZEROS, "zeros")):
        write("fcgi", "nginx-post-" + tag, prefix + nginx)
    # Two requests on one kept-alive connection, the second a GET.
    get_pairs = [("REQUEST_METHOD", "GET"), ("DOCUMENT_URI", "/"), ("CONTENT_LENGTH", "")]
    get = params_block(get_pairs)
    write("fcgi", "keepalive", MIXED + nginx + begin(1) + record(PARAMS, 1, get)
          + record(PARAMS, 1) + record(STDIN, 1))
    # Multiplexed ids, interleaved.
    write("fcgi", "multiplex", WHOLE + begin(1) + begin(2) + record(PARAMS, 2, get)
          + record(PARAMS, 1, get) + record(PARAMS, 1) + record(PARAMS, 2) + record(STDIN, 2)
          + record(STDIN, 1))
    # 4-byte lengths: a long cookie, and short ones written long.
    cookie = [("HTTP_COOKIE", "s=" + "x" * 200), ("X", "")]
    write("fcgi", "long-lengths", MIXED + begin(3, flags=0)
          + record(PARAMS, 3, params_block(cookie) + params_block(get_pairs, long=True))
          + record(PARAMS, 3) + record(STDIN, 3))
    # GET_VALUES (management, id 0) and an unknown management type.
    gv = params_block([("FCGI_MAX_CONNS", ""), ("FCGI_MAX_REQS", ""), ("FCGI_MPXS_CONNS", "")])
    write("fcgi", "get-values", WHOLE + record(GET_VALUES, 0, gv) + record(GET_VALUES, 0))
    write("fcgi", "unknown-type", BYTES + record(42, 0, b"abc") + begin(1))
    # ABORT in the middle of the params, then a new request with the same id.
    write("fcgi", "abort", MIXED + begin(1) + record(PARAMS, 1, block[:40]) + record(ABORT, 1)
          + begin(1, role=2) + record(PARAMS, 1) + record(DATA, 1, b"d") + record(DATA, 1))
    # Odd padding, empty records with padding, large padding.
    write("fcgi", "padding", ZEROS + record(BEGIN, 1, struct.pack(">HB5x", 1, 1), padding=255)
          + record(PARAMS, 1, get, padding=3) + record(PARAMS, 1, padding=7)
          + record(STDIN, 1, b"x" * 300, padding=0) + record(STDIN, 1, padding=1))
    # Framing errors: bad version, BEGIN body of the wrong size, a type apps never get.
    write("fcgi", "bad-version", WHOLE + begin(1) + record(PARAMS, 1, get, version=2))
    write("fcgi", "bad-begin", WHOLE + record(BEGIN, 1, b"\0\1\1"))
    write("fcgi", "bad-type", WHOLE + begin(1) + record(STDOUT, 1, b"x"))
    # Name-value streams that run past their end, inside a record and raw.
    write("fcgi", "nv-overrun", WHOLE + begin(1) + record(PARAMS, 1, b"\x05\x80\0\0") + record(PARAMS, 1))
    write("fcgi", "nv-raw", bytes([0]) + params_block(NGINX_PARAMS[:4]) + b"\x81\0\0\0\xff")
    write("fcgi", "truncated", MIXED + nginx[:-13])


# ---- SCGI ----

def scgi_request(headers, body=b""):
    block = b"".join(n.encode() + b"\0" + v.encode() + b"\0" for n, v in headers)
    return str(len(block)).encode() + b":" + block + b"," + body


def scgi_seeds():
    body = b"hello=world"
    hs = [("CONTENT_LENGTH", str(len(body))), ("SCGI", "1")] + [
        (n, v) for n, v in NGINX_PARAMS if n != "CONTENT_LENGTH"]
    nginx = scgi_request(hs, body)
    for prefix, tag in ((WHOLE, "whole"), (BYTES, "bytes"), (MIXED, "mixed"), (ZEROS, "zeros")):
        write("scgi", "nginx-post-" + tag, prefix + nginx)
    get = [("CONTENT_LENGTH", "0"), ("SCGI", "1"), ("REQUEST_METHOD", "GET"),
           ("DOCUMENT_URI", "/"), ("HTTP_HOST", "x")]
    write("scgi", "get-trailing", MIXED + scgi_request(get) + b"junk after the request")
    write("scgi", "small-limit", bytes([3 | 10 << 3, 1, 2, 3]) + scgi_request(get))
    write("scgi", "empty-block", WHOLE + b"0:,")
    write("scgi", "leading-zero", WHOLE + b"012:CONTENT_LENGTH\0")
    write("scgi", "no-comma", WHOLE + scgi_request(get)[:-1] + b";")
    write("scgi", "cl-not-first", WHOLE + scgi_request([("SCGI", "1"), ("CONTENT_LENGTH", "0")]))
    write("scgi", "cl-bad", WHOLE + scgi_request([("CONTENT_LENGTH", "01")]))
    write("scgi", "cl-huge", WHOLE + scgi_request([("CONTENT_LENGTH", "4611686018427387904")]) + b"abc")
    write("scgi", "odd-strings", WHOLE + b"18:CONTENT_LENGTH\x000\x00A\x00,")
    write("scgi", "empty-name", WHOLE + b"19:CONTENT_LENGTH\x000\x00\x00\x00,")
    write("scgi", "short-body", MIXED + scgi_request([("CONTENT_LENGTH", "100")], b"only this"))
    write("scgi", "cl-repeated", MIXED + scgi_request(
        [("CONTENT_LENGTH", "40"), ("SCGI", "1"), ("CONTENT_LENGTH", "0")], b"x" * 40))


# ---- router ----

def router_seeds():
    write("router", "app", b"""GET /
GET /hello
GET /users/:id
PUT /users/:id
DELETE /users/:id
POST /users
GET /users/:id/posts/:post
GET /static/*
* /any/thing
GET /files/:name/*
HEAD /head-only

GET /
HEAD /hello
GET /users/42
PATCH /users/42
POST /users/42
GET /users/42/posts/7
GET /users//posts/7
GET /static/css/site.css
GET /static
GET /static/
OPTIONS /any/thing
GET /files/a
GET /files/a/b/c
GET /hello/
GET hello
GET /nope
GET /head-only
""")
    write("router", "conflicts", b"""GET /a/:x
GET /a/:y
GET /a/:x
POST /a/:x/b
GET /a/*/b
GET /:x/:x
GET /a b
get /lower
G@T /bad
GET nope
GET /a//b
GET /:
GET /a?b
GET /a#b
GET /*

GET /a/1
POST /a/1/b
DELETE /a/1
GET /anything/at/all
""")
    write("router", "backtrack", b"""GET /a/b/c
POST /:p/b/d
PUT /a/:q/d
DELETE /a/*

POST /a/b/d
PUT /a/b/d
GET /a/b/d
DELETE /a/b/c
HEAD /a/b/c
""")
    write("router", "no-blank", b"/\n/x/:y\n/x/*\n/:a/:b/:c\n/x\n/x/1/2/3\n")
    def params(n):
        return b"GET /" + b"/".join(b":p%d" % i for i in range(n)) + b"\n"
    write("router", "many-params", params(17) + params(16) + b"GET /p/*\n\nGET /"
          + b"/".join(b"v%d" % i for i in range(16)) + b"\nGET /p/" + b"/".join(b"v%d" % i for i in range(16)) + b"\n")
    write("router", "methods", b"GET /m\nPOST /m\nPUT /m\nPATCH /m\nM-SEARCH /m\n\nDELETE /m\nHEAD /m\n")
    # Dot segments: refused in patterns, 400 in paths (%2e for a dot too).
    write("router", "dot-segments", b"""GET /users/:id
GET /static/*
GET /admin
GET /a/..
GET /./b
GET /c/%2e%2E
GET /d/...

GET /users/..
GET /users/.
GET /users/.%2e
GET /users/%2E.
GET /users/%2e
GET /users/../admin
GET /static/a/./b
GET /users/...
GET /users/..x
GET /static/a..b/.c
GET ..
GET /users/%2e%2e%2e
GET /users/%252e
""")


# ---- query, percent-decoding, JSON ----

def query_seeds():
    seeds = {
        "simple": b"a=1&b=2&a=3",
        "plus-percent": b"q=hello+world%21&x=%2F%2f&y=%zz&z=%4&w=%",
        "empty-parts": b"&&a&=b&c=&=&&d==e",
        "utf8": "name=\u00e9t\u00e9&city=%E2%82%AC&emoji=\U0001F600".encode(),
        "nul": b"a=%00b&%00=c&d=e",
        "invalid-utf8": b"x=\xff\xfe&y=\xc3\x28&z=\xed\xa0\x80&w=\xf4\x90\x80\x80&v=\xe0\x80\xaf",
        "controls": b"a=\x01\x1f\x7f&b=\"quoted\"&c=back\\slash&d=\t\n",
        "long-value": b"k=" + b"%41" * 100 + b"&k2=" + b"+" * 50,
    }
    for name, data in seeds.items():
        write("query", name, data)


if __name__ == "__main__":
    fcgi_seeds()
    scgi_seeds()
    router_seeds()
    query_seeds()
