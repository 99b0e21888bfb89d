/*
 * The floor of a connection per request: what answering hello costs a
 * backend that does nothing but the system calls every such backend must
 * make. It sleeps in a blocking accept4() (one wake-up per connection, no
 * event loop), reads until the request is whole, writes a canned answer in
 * one write() and closes without a shutdown: 4 system calls. No parsing
 * beyond finding the end of the request, no routing, no headers built,
 * no keep-alive, no timeouts, no limits: not a server anyone could run,
 * only the yardstick bench/peers.py puts beside fw, uWSGI and libfcgi (the
 * targets floor-fcgi and floor-scgi).
 *
 * Run under spawn-fcgi, which hands it the listening socket as fd 0:
 *     floor fcgi | floor scgi
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"

enum { FCGI_HEADER = 8, FCGI_STDIN = 5 };

/* FastCGI: whole once the empty STDIN record has come (nginx sends no
 * body with GET). Walks the records so a STDIN of length 0 is not
 * mistaken inside a params record's bytes. */
static int fcgi_whole(const unsigned char *b, size_t n, unsigned *id)
{
	size_t at = 0;

	while (at + FCGI_HEADER <= n) {
		size_t len = (size_t)b[at + 4] << 8 | b[at + 5];

		*id = (unsigned)b[at + 2] << 8 | b[at + 3];
		if (b[at + 1] == FCGI_STDIN && len == 0)
			return 1;
		at += FCGI_HEADER + len + b[at + 6];
	}
	return 0;
}

/* SCGI: whole once the netstring of headers has come (no body with GET). */
static int scgi_whole(const char *b, size_t n)
{
	char *colon;
	unsigned long len = strtoul(b, &colon, 10);

	return colon < b + n && *colon == ':' && n >= (size_t)(colon - b) + 1 + len + 1;
}

static size_t fcgi_answer(unsigned char *out, unsigned id)
{
	static const char head[] = HEAD;
	size_t len = sizeof(head) - 1, n = 0;
	unsigned char rec[3][FCGI_HEADER] = {
		{1, 6, 0, 0, (unsigned char)(len >> 8), (unsigned char)len, 0, 0}, /* STDOUT */
		{1, 6, 0, 0, 0, 0, 0, 0},                                          /* empty STDOUT */
		{1, 3, 0, 0, 0, 8, 0, 0},                                          /* END_REQUEST */
	};

	for (int i = 0; i < 3; i++) {
		rec[i][2] = (unsigned char)(id >> 8);
		rec[i][3] = (unsigned char)id;
	}
	memcpy(out + n, rec[0], FCGI_HEADER), n += FCGI_HEADER;
	memcpy(out + n, head, len), n += len;
	memcpy(out + n, rec[1], FCGI_HEADER), n += FCGI_HEADER;
	memcpy(out + n, rec[2], FCGI_HEADER), n += FCGI_HEADER;
	memset(out + n, 0, 8), n += 8; /* app status 0, FCGI_REQUEST_COMPLETE */
	return n;
}

int main(int argc, char **argv)
{
	int fcgi = argc > 1 && strcmp(argv[1], "fcgi") == 0;
	unsigned char in[16384], out[256];

	if (argc != 2 || (!fcgi && strcmp(argv[1], "scgi") != 0)) {
		fputs("usage: floor fcgi|scgi (the listening socket on fd 0)\n", stderr);
		return 2;
	}
	for (;;) {
		size_t n = 0, outlen;
		unsigned id = 1;
		int fd = accept4(0, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("floor: accept4");
			return 1;
		}
		for (;;) {
			ssize_t r = read(fd, in + n, sizeof(in) - 1 - n);

			if (r <= 0) {
				if (r < 0)
					perror("floor: read");
				n = 0;
				break;
			}
			n += (size_t)r;
			in[n] = '\0';
			if (fcgi ? fcgi_whole(in, n, &id) : scgi_whole((const char *)in, n))
				break;
			if (n == sizeof(in) - 1) {
				fputs("floor: request too large\n", stderr);
				n = 0;
				break;
			}
		}
		if (n > 0) {
			outlen = fcgi ? fcgi_answer(out, id) : sizeof(HEAD) - 1;
			if (!fcgi)
				memcpy(out, HEAD, outlen);
			if (write(fd, out, outlen) != (ssize_t)outlen)
				perror("floor: write");
		}
		if (close(fd) != 0)
			perror("floor: close");
	}
}
