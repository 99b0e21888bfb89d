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


# ---- multipart/form-data ----
# A Content-Type line, then the body; the first byte's high bits pick the
# limits (fuzz_multipart.c): 0 = 1 part, 16-byte headers; LIMITS = 1000
# parts, 8 KiB headers.

LIMITS = 3 | 7 << 2


def mp_prefix(k_and_sizes, flags=LIMITS):
    return bytes([k_and_sizes[0] | flags << 3]) + bytes(k_and_sizes[1:])


def mp_part(boundary, name, value, filename=None, ctype=None, extra=b""):
    cd = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        cd += b'; filename="' + filename + b'"'
    head = cd + b"\r\n" + (b"Content-Type: " + ctype + b"\r\n" if ctype else b"") + extra
    return b"--" + boundary + b"\r\n" + head + b"\r\n" + value + b"\r\n"


def multipart_seeds():
    b = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
    ct = b"multipart/form-data; boundary=" + b + b"\n"
    browser = (mp_part(b, b"title", b"Hello") + mp_part(b, b"file", b"line 1\r\nline 2\r\n",
               b"a.txt", b"text/plain") + b"--" + b + b"--\r\n")
    for prefix, tag in (([1, 255], "whole"), ([0], "bytes"), ([3, 1, 8, 100], "mixed"),
                        ([2, 0, 7], "zeros")):
        write("multipart", "browser-" + tag, mp_prefix(prefix) + ct + browser)
    q = b'multipart/form-data; charset=utf-8; boundary="a b:c\\"d"\n'
    write("multipart", "quoted-boundary", mp_prefix([1, 5]) + q
          + b"preamble\r\n--a b:c\"d \t\r\n"
          + b'content-disposition: FORM-DATA; filename="C:\\dir\\x\\"y"; NAME=f\r\n\r\n'
          + b"\r\n--a b:c\"d--epilogue\r\n--a b:c\"d\r\n")
    x = b"XyZ"
    ctx = b"multipart/form-data; boundary=XyZ\n"
    near = b"\r\r\n\r\n-\r\n--\r\n--X\r\n--Xy--XyZ\r\n"
    write("multipart", "near-delimiters", mp_prefix([3, 2, 3, 4]) + ctx
          + mp_part(x, b"d", near) + b"--XyZ--")
    write("multipart", "empty", mp_prefix([1, 255]) + ctx + b"--XyZ--")
    write("multipart", "truncated", mp_prefix([1, 3]) + ctx + mp_part(x, b"a", b"abc")[:-5])
    write("multipart", "no-disposition", mp_prefix([1, 255]) + ctx
          + b"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--")
    write("multipart", "duplicate-headers", mp_prefix([1, 255]) + ctx
          + mp_part(x, b"a", b"v", ctype=b"a/b", extra=b"Content-Type: c/d\r\n") + b"--XyZ--")
    write("multipart", "folded", mp_prefix([1, 255]) + ctx
          + mp_part(x, b"a", b"v", extra=b"X: y\r\n z\r\n") + b"--XyZ--")
    write("multipart", "bare-lf", mp_prefix([1, 255]) + ctx
          + b"--XyZ\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\nv\r\n--XyZ--")
    write("multipart", "many-parts", mp_prefix([1, 255], flags=2 | 3 << 2) + ctx
          + b"".join(mp_part(x, b"p%d" % i, b"v") for i in range(12)) + b"--XyZ--")
    write("multipart", "huge-header", mp_prefix([1, 200], flags=3 | 1 << 2) + ctx
          + mp_part(x, b"a", b"v", extra=b"X-Long: " + b"h" * 100 + b"\r\n") + b"--XyZ--")
    write("multipart", "bad-content-type", mp_prefix([1, 255]) + b"multipart/mixed; boundary=x\n--x--")


# ---- Cookie header ----

def cookie_seeds():
    seeds = {
        "browser": b"sid=abc123; theme=dark; _ga=GA1.2.3.4",
        "quoted": b'a="quoted value"; b=""; c="; d="x',
        "blanks": b"  a = 1 ;\tb=2  ;; ; c=",
        "nameless": b"lone; =v; x=y=z",
        "repeat": b"sid=first; sid=second; SID=third",
        "odd-bytes": b"a=\x01\x7f; b=\xc3\xa9; c=\\; d=,; __Host-x=1; __Secure-y=2",
        "nul": b"a=1\x00b=2; c=3",
        "long": b"k=" + b"v" * 4094 + b"; big=" + b"w" * 4095,
    }
    for name, data in seeds.items():
        write("cookie", name, data)


# ---- form bodies (fuzz_form.c: the first byte picks the type and the limit) ----

def form_seeds():
    URL, MP = 0, 1
    small, big = 0 << 1, 3 << 1
    x = b"XyZ"
    mp = (mp_part(x, b"title", b"Hello") + mp_part(x, b"f", b"\x00\x01\r\n", b"a.bin", b"a/b")
          + mp_part(x, b"f", b"", b"") + mp_part(x, b"nul", b"ab\x00cd") + b"--XyZ--")
    seeds = {
        "urlencoded": bytes([URL | big]) + b"title=Hello+w%C3%B6rld&tag=a&tag=b&&empty=&x=1%002",
        "urlencoded-limit": bytes([URL | small]) + b"a=1&b=2&c=3",
        "urlencoded-odd": bytes([URL | big]) + b"%zz=%4&=&&+=+%2B&a\x00b=c",
        "multipart": bytes([MP | big]) + mp,
        "multipart-limit": bytes([MP | small]) + mp,
        "multipart-bad": bytes([MP | big]) + b"--XyZ\r\n\r\nx\r\n--XyZ--",
    }
    for name, data in seeds.items():
        write("form", name, data)


# ---- a live upgrade's hand-over (fuzz_upgrade.c: even first byte, a boot variable; odd, an image) ----

IMAGE = b"""fw-master-image 1
master sb_fd=4 sb_committed=3 nlisteners=1 nhandoffs=1
state_path /dev/shm/fw-0/x.sb
listener i=0 fd=3 proto=0 status=0 dev=0 ino=0
listener_addr 0 /run/app.sock
keep socket_mode=432 backlog=511
keep_str socket_owner 
keep_str socket_group 
keep_str user 
keep_str group 
keep_str state_path 
policy mode=0 nslots=2 boot_failures=0 spawn_after_ms=0 stop_deadline_ms=0 killed=0 announced=0 \
reloading=0 cgroup_victim=-1 cgroup_victim_gen=0 cgroup_warned_ms=0 exit_status=0 upgrade=2 canary=1 canary_gen=0
slot i=0 state=5 gen=1 spawned_ms=1000 retire=0 retire_ms=0 retire_figure=0 replaces=-1 replaces_gen=0 \
boot_round=0 timed_out=0 stuck_since=0 stuck_asked_ms=0 boot_killed=0 exec=0 old_build=0
proc i=0 pid=100 chan=6 chan_worker=7 peer=-1
slot i=1 state=2 gen=1 spawned_ms=2000 retire=0 retire_ms=0 retire_figure=0 replaces=-1 replaces_gen=0 \
boot_round=0 timed_out=0 stuck_since=0 stuck_asked_ms=0 boot_killed=0 exec=1 old_build=0
proc i=1 pid=101 chan=8 chan_worker=9 peer=10
handoff fd=11 kind=1
end
"""


def upgrade_seeds():
    seeds = {
        "boot-env": b"\0" + b"1 chan=5 peer=-1 slot=3 sb=9 master=1234 image=1 listen=3:0:0:0,4:1:1:1",
        "boot-env-peer": b"\0" + b"1 chan=5 peer=7 slot=0 sb=9 master=1 image=1 listen=3:0:1:0",
        "image": b"\1" + IMAGE.replace(b"\\\n", b""),
        "image-cut": b"\1" + IMAGE.replace(b"\\\n", b"")[:300],
        # Refused: an index past the slots, and a signed field given 2^64 - 1 (not -1).
        "image-victim": b"\1" + IMAGE.replace(b"\\\n", b"").replace(
            b"cgroup_victim=-1", b"cgroup_victim=2"),
        "image-canary-wrap": b"\1" + IMAGE.replace(b"\\\n", b"").replace(
            b"canary=1", b"canary=18446744073709551615"),
        "image-peer-wrap": b"\1" + IMAGE.replace(b"\\\n", b"").replace(
            b"peer=10", b"peer=18446744073709551614"),
    }
    for name, data in seeds.items():
        write("upgrade", name, data)


if __name__ == "__main__":
    fcgi_seeds()
    scgi_seeds()
    router_seeds()
    query_seeds()
    multipart_seeds()
    cookie_seeds()
    form_seeds()
    upgrade_seeds()
