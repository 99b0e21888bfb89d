/*
 * LD_PRELOAD shim for e2e-security: after a successful bind() of a unix
 * socket, wait until the file FW_TEST_BIND_UNTIL exists (at most
 * FW_TEST_BIND_DELAY_MS; without FW_TEST_BIND_UNTIL, that long). It makes
 * deterministic the race an attacker would win with inotify: the socket
 * file swapped for a symbolic link between the master's bind() and its
 * chown(). The attacker creates the file once it has swapped, so the
 * master goes on after the swap however slow the machine is.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	const char *ms = getenv("FW_TEST_BIND_DELAY_MS"), *until = getenv("FW_TEST_BIND_UNTIL");
	int r;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bind");
	if (real == NULL)
		abort();
	r = real(fd, sa, len);
	if (r == 0 && ms != NULL && sa->sa_family == AF_UNIX) {
		struct timespec step = {0, 1000000L};

		for (long left = atol(ms); left > 0 && !(until != NULL && access(until, F_OK) == 0);
		     left--)
			nanosleep(&step, NULL);
	}
	return r;
}
