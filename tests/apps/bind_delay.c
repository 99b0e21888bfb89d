/*
 * LD_PRELOAD shim for e2e-security: after a successful bind() of a unix
 * socket, sleep FW_TEST_BIND_DELAY_MS. It makes deterministic the race an
 * attacker would win with inotify: the socket file swapped for a symbolic
 * link between the master's bind() and its chown().
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	const char *ms = getenv("FW_TEST_BIND_DELAY_MS");
	int r;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bind");
	if (real == NULL)
		abort();
	r = real(fd, sa, len);
	if (r == 0 && ms != NULL && sa->sa_family == AF_UNIX) {
		long n = atol(ms);
		struct timespec ts = {n / 1000, (n % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
	return r;
}
