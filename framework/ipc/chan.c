#include "ipc/chan.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

union control {
	struct cmsghdr hdr;
	char buf[CMSG_SPACE(sizeof(int) * FW_CHAN_MAX_FDS)];
};

int fw_chan_pair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
}

int fw_chan_sendv(int fd, const struct fw_msg *m, const int *fds, int n)
{
	union control control;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t r;

	if (n < 0 || n > FW_CHAN_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (n > 0) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
	}
	do
		r = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if ((size_t)r != sizeof(*m)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int fw_chan_send(int fd, const struct fw_msg *m, int pass_fd)
{
	return fw_chan_sendv(fd, m, &pass_fd, pass_fd >= 0 ? 1 : 0);
}

static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int fw_chan_recvv(int fd, struct fw_msg *m, int *fds, int *n)
{
	union control control;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t r;

	*n = 0;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	do
		r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r == 0 ? 0 : -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			if (k > FW_CHAN_MAX_FDS - *n)
				k = FW_CHAN_MAX_FDS - *n;
			memcpy(fds + *n, CMSG_DATA(c), sizeof(int) * (size_t)k);
			*n += k;
		}
	}
	if ((size_t)r != sizeof(*m) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
		close_all(fds, *n);
		*n = 0;
		errno = EBADMSG;
		return -1;
	}
	return 1;
}

int fw_chan_recv(int fd, struct fw_msg *m, int *pass_fd)
{
	int fds[FW_CHAN_MAX_FDS], n, r = fw_chan_recvv(fd, m, fds, &n);

	if (r != 1)
		return r;
	if (pass_fd != NULL)
		*pass_fd = n > 0 ? fds[0] : -1;
	close_all(fds + (pass_fd != NULL && n > 0), n - (pass_fd != NULL && n > 0));
	return 1;
}
