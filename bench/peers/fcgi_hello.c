/*
 * hello for libfcgi (libfcgi-dev), run under spawn-fcgi: the same answer
 * as apps/hello. The reentrant FCGX API, without the stdio wrappers, is
 * libfcgi at its cheapest. bench/peers.py builds it with
 *     cc -O2 fcgi_hello.c -lfcgi
 */
#include <fcgiapp.h>
#include <stdio.h>

int main(void)
{
	FCGX_Request req;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
		fputs("fcgi_hello: FCGX_Init failed\n", stderr);
		return 1;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		if (FCGX_PutS("Content-Type: text/plain\r\n\r\nhello\n", req.out) < 0)
			fputs("fcgi_hello: write failed\n", stderr);
		FCGX_Finish_r(&req);
	}
	return 0;
}
