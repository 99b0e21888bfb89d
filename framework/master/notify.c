#include "master/notify.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

/*
 * The protocol is one datagram of "KEY=value" lines to the unix socket named
 * by $NOTIFY_SOCKET, a path or, with a leading '@', an abstract name;
 * sd_notify(3) documents it as stable and meant to be spoken without
 * libsystemd. Linking libsystemd for it cost more than it saves: it brings
 * six more libraries (libgcrypt, liblzma, libzstd, liblz4, libgpg-error,
 * libcap), 32 of the master's 114 memory mappings, and every fork of a
 * worker copies those mappings and every worker's exit tears them down
 * again: about 50 us of CPU per fork and exit on our 2-vCPU VM (the
 * bench/forkfloor.c loop, linked with and without libsystemd).
 */
static int notify_address(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	if ((name[0] != '/' && name[0] != '@') || n < 2 || n >= sizeof(sa->sun_path))
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@')
		sa->sun_path[0] = '\0';
	/* An abstract name is exactly n bytes long; a path gets its NUL. */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
	return 0;
}

/* $NOTIFY_SOCKET, taken out of the environment by fw_notify_init(). */
static char socket_name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
static bool socket_too_long;

static void notify(const char *what, const char *msg)
{
	const char *name = socket_name;
	struct sockaddr_un sa;
	socklen_t len;
	ssize_t r;
	int fd;

	if (name[0] == '\0' && !socket_too_long)
		return;
	if (socket_too_long || notify_address(name, &sa, &len) != 0) {
		fw_log(FW_LOG_WARN,
		       "NOTIFY_SOCKET=%s: not a unix socket path or @abstract name; %s not sent", name,
		       what);
		return;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		fw_log_errno(FW_LOG_WARN, "notify %s: socket", what);
		return;
	}
	/*
	 * Never blocking: a receiver that reads nothing (a stuck or fake
	 * service manager) would otherwise stop the master at its next
	 * notification, with every worker waiting on it.
	 */
	do
		r = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
			   len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		fw_log_errno(FW_LOG_WARN, "notify %s: sendto %s%s", what, name,
			     errno == EAGAIN ? " (its queue is full: not sent)" : "");
	close(fd);
}

void fw_notify_ready(const char *status)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify("READY", msg);
}

void fw_notify_reloading(void)
{
	char msg[128];

	/* The reload protocol: RELOADING with the time, READY when done. */
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		 (unsigned long long)fw_now_us());
	notify("RELOADING", msg);
}

void fw_notify_stopping(void)
{
	notify("STOPPING", "STOPPING=1\nSTATUS=stopping");
}

void fw_notify_init(void)
{
	const char *name = getenv("NOTIFY_SOCKET");

	if (name == NULL)
		return;
	if (strlen(name) >= sizeof(socket_name))
		socket_too_long = true; /* said at the first notification */
	snprintf(socket_name, sizeof(socket_name), "%s", name);
	/* Notifications are the master's (NotifyAccess=main); a child that
	 * unset it itself would copy a page of the environment at every fork. */
	unsetenv("NOTIFY_SOCKET");
}

const char *fw_notify_socket(void)
{
	return socket_name;
}
