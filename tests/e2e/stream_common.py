"""
Helpers of the streaming end-to-end tests (test_stream.py, test_offload.py)
and of bench/stream.py; not a test itself. Python 3 standard library only.

- raw HTTP/1.1 through nginx: a request on a socket whose receive buffer
  the caller may shrink (a slow reader), its head, and a body read in
  pieces (Content-Length or chunked, decoded as it comes);
- the byte pattern of apps/stream's /stream/bytes (offset i is i % 251);
- a worker's private memory (Private_Clean + Private_Dirty of
  /proc/PID/smaps_rollup), and a thread that records its peak;
- the requests in flight, from the status page.
"""

import hashlib
import socket
import struct
import threading
import time

import harness
import test_recycle_common as rc

PATTERN = bytes(i % 251 for i in range(251)) * (1 << 10)  # 251 KiB, any piece up to 250 KiB


def pattern_at(offset, n):
    """The n bytes of the pattern from offset (n up to 200 KiB)."""
    s = offset % 251
    return PATTERN[s:s + n]


def private_kb(pid):
    """Private_Clean + Private_Dirty of pid in KiB, or None when it is gone."""
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            text = f.read()
    except OSError:
        return None
    kb = 0
    for line in text.splitlines():
        if line.startswith(('Private_Clean:', 'Private_Dirty:')):
            kb += int(line.split()[1])
    return kb


class Peak(threading.Thread):
    """Samples private_kb(pid) every `every` seconds until stop(); .peak and .first."""

    def __init__(self, pid, every=0.02):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.first = private_kb(pid) or 0
        self.peak = self.first
        self.samples = 0
        self._halt = threading.Event()
        self.start()

    def run(self):
        while not self._halt.is_set():
            kb = private_kb(self.pid)
            if kb is not None:
                self.peak = max(self.peak, kb)
                self.samples += 1
            self._halt.wait(self.every)

    def stop(self):
        self._halt.set()
        self.join(5)
        return self.peak


class HttpStream:
    """One HTTP/1.1 request on a fresh connection to 127.0.0.1:port, read
    by the caller at its own pace. rcvbuf: SO_RCVBUF before connecting (a
    small one makes a slow reader hold back nginx at once)."""

    def __init__(self, port, method, path, headers=None, body=None, rcvbuf=None, timeout=30.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(('127.0.0.1', port))
        head = f'{method} {path} HTTP/1.1\r\nHost: localhost\r\n'
        for k, v in (headers or {}).items():
            head += f'{k}: {v}\r\n'
        if body is not None:
            head += f'Content-Length: {len(body)}\r\n'
        self.sock.sendall(head.encode() + b'\r\n' + (body or b''))
        self.buf = b''
        self.status = None
        self.headers = {}
        self.length = None      # Content-Length, or None (chunked)
        self.chunked = False
        self.chunk_left = 0     # bytes left of the current chunk
        self.done = False       # the body ended as it should
        self.eof = False        # the connection closed
        self.received = 0

    def close(self):
        self.sock.close()

    def _recv(self, n=65536):
        if self.eof:
            return b''
        try:
            data = self.sock.recv(n)
        except (ConnectionResetError, BrokenPipeError):
            data = b''
        if not data:
            self.eof = True
        return data

    def read_head(self):
        """Reads up to the blank line; returns the status (None at EOF first)."""
        if not self._fill(b'\r\n\r\n'):
            return None
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(':')
            self.headers[k.strip().lower()] = v.strip()
        if 'content-length' in self.headers:
            self.length = int(self.headers['content-length'])
            self.done = self.length == 0
        self.chunked = self.headers.get('transfer-encoding', '').lower() == 'chunked'
        return self.status

    def read_some(self, n=65536):
        """Up to n bytes of the body (b'' at its end, or at EOF)."""
        if self.done:
            return b''
        if self.chunked:
            return self._read_chunked(n)
        if not self.buf:
            self.buf = self._recv(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        if self.length is not None:
            out = out[:self.length - self.received]
        self.received += len(out)
        if self.length is not None and self.received >= self.length:
            self.done = True
        return out

    def _fill(self, sep=b'\r\n'):
        """Reads until sep is buffered; False at EOF first."""
        while sep not in self.buf:
            data = self._recv()
            if not data:
                return False
            self.buf += data
        return True

    def _read_chunked(self, n):
        while self.chunk_left == 0:
            if not self._fill():
                return b''
            line, self.buf = self.buf.split(b'\r\n', 1)
            if not line:
                continue  # the CRLF after a chunk
            size = int(line.split(b';')[0], 16)
            if size == 0:
                self._fill()  # the last CRLF
                self.done = True
                return b''
            self.chunk_left = size
        if not self.buf:
            self.buf = self._recv(min(n, 65536))
            if not self.buf:
                return b''
        take = min(n, self.chunk_left, len(self.buf))
        out, self.buf = self.buf[:take], self.buf[take:]
        self.chunk_left -= take
        self.received += take
        return out

    def read_until(self, needle, limit=1 << 20):
        """Body bytes until needle is in them (or the body ends): all of them."""
        got = b''
        while needle not in got and len(got) < limit:
            piece = self.read_some()
            if not piece:
                break
            got += piece
        return got

    def read_all(self, pace_bytes_per_s=None, check_pattern=False, piece=65536):
        """Reads the rest of the body: (bytes read, pattern intact), at most
        pace_bytes_per_s when given. Keeps nothing but the count."""
        start, total, ok = time.monotonic(), 0, True
        while True:
            data = self.read_some(piece)
            if not data:
                return total, ok
            if check_pattern and data != pattern_at(self.received - len(data), len(data)):
                ok = False
            total += len(data)
            if pace_bytes_per_s:
                ahead = total / pace_bytes_per_s - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)


def in_flight(app):
    """Requests in flight in app's workers, from its status page (None when
    unreadable). The status request is one of them: it is not counted."""
    s = rc.status(app.sock)
    return sum(w['in_flight'] for w in s['workers']) - 1 if s else None


def fcgi_fetch(sock_path, uri, timeout=60.0):
    """GET uri over FastCGI on a new connection, read in one pass (the
    harness's client copies its buffer per record: slow for tens of MiB).
    (status, headers, body) of the CGI answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall(harness.fcgi_begin(1) +
              harness.fcgi_stream(harness.FCGI_PARAMS, 1, harness.fcgi_nv(harness.fcgi_params('GET', uri))) +
              harness.fcgi_stream(harness.FCGI_STDIN, 1, b''))
    chunks = []
    while True:  # without FCGI_KEEP_CONN the worker closes after END_REQUEST
        d = s.recv(1 << 20)
        if not d:
            break
        chunks.append(d)
    s.close()
    raw = memoryview(b''.join(chunks))
    out, pos = [], 0
    while pos + 8 <= len(raw):
        _, rtype, _, clen, plen, _ = struct.unpack('>BBHHBB', raw[pos:pos + 8])
        if rtype == harness.FCGI_STDOUT:
            out.append(raw[pos + 8:pos + 8 + clen])
        pos += 8 + clen + plen
    return harness.parse_cgi(b''.join(out))


def upload(port, path, size, chunked=False, pace=None):
    """POST size bytes of the pattern; (status, body) of the answer."""
    headers = {'Transfer-Encoding': 'chunked'} if chunked else {'Content-Length': str(size)}
    s = socket.create_connection(('127.0.0.1', port), timeout=60)
    head = f'POST {path} HTTP/1.1\r\nHost: localhost\r\n'
    head += ''.join(f'{k}: {v}\r\n' for k, v in headers.items())
    answer = []

    def reader():
        data = b''
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
                if b'\r\n\r\n' in data:
                    h, _, b = data.partition(b'\r\n\r\n')
                    cl = [ln for ln in h.split(b'\r\n') if ln.lower().startswith(b'content-length:')]
                    if cl and len(b) >= int(cl[0].split(b':')[1]):
                        break
        except OSError:
            pass
        answer.append(data)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        s.sendall(head.encode() + b'\r\n')
        off = 0
        while off < size and th.is_alive():
            n = min(200 * 1024, size - off)
            piece = pattern_at(off, n)
            s.sendall((b'%x\r\n' % n + piece + b'\r\n') if chunked else piece)
            off += n
            if pace:
                time.sleep(n / pace)
        if chunked and th.is_alive():
            s.sendall(b'0\r\n\r\n')
    except OSError:
        pass  # answered early: the rest is not wanted
    th.join(60)
    s.close()
    data = answer[0] if answer else b''
    h, _, b = data.partition(b'\r\n\r\n')
    st = int(h.split()[1]) if h.startswith(b'HTTP/') else None
    return st, b


def pattern_sha(size):
    h = hashlib.sha256()
    for off in range(0, size, 200 * 1024):
        h.update(pattern_at(off, min(200 * 1024, size - off)))
    return h.hexdigest()


def sanitizer_reports(t):
    """No AddressSanitizer, LeakSanitizer or UBSan report in the log of any
    process the run started (a leak shows only when a worker exits)."""
    for p in t.procs:
        bad = [ln for ln in p.log_text().splitlines()
               if 'Sanitizer:' in ln or 'runtime error:' in ln]
        t.check(f'no sanitizer report in the log of {p.name} (pid {p.pid})', not bad, bad[:5])
