#include "master/sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

/* Is a server answering on this unix socket path right now? */
static bool unix_in_use(const struct fw_addr *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	used = connect(fd, (const struct sockaddr *)&a->sa, a->salen) == 0;
	close(fd);
	return used;
}

static int unix_prepare(const struct fw_addr *a)
{
	struct stat st;

	if (lstat(a->path, &st) != 0)
		return errno == ENOENT ? 0 : (fw_log_errno(FW_LOG_ERROR, "stat(%s)", a->path), -1);
	if (!S_ISSOCK(st.st_mode)) {
		fw_log(FW_LOG_ERROR, "listen %s: the file exists and is not a socket", a->path);
		return -1;
	}
	if (unix_in_use(a)) {
		fw_log(FW_LOG_ERROR, "listen %s: another server is listening on it", a->path);
		return -1;
	}
	if (unlink(a->path) != 0) {
		fw_log_errno(FW_LOG_ERROR, "unlink(%s) of a stale socket", a->path);
		return -1;
	}
	return 0;
}

static int unix_bind(struct fw_socket *l, const struct fw_socket_perms *perms)
{
	mode_t old;
	int r;

	if (unix_prepare(&l->addr) != 0)
		return -1;
	/* The umask makes the file born with the mode: no chmod, no window where it is wider. */
	old = umask((mode_t)(~perms->mode & 0777));
	r = bind(l->fd, (const struct sockaddr *)&l->addr.sa, l->addr.salen);
	umask(old);
	if (r != 0) {
		fw_log_errno(FW_LOG_ERROR, "bind(%s)", l->addr.path);
		return -1;
	}
	return 0;
}

/* Does a connection through the file pfd names arrive on our listening socket? */
static bool ours(const struct fw_socket *l, int pfd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), a = -1;
	bool yes;

	if (c < 0)
		return false;
	/* /proc/self/fd/N leads to the very file pfd holds, whatever its path is now. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
	yes = connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	      (a = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0;
	if (a >= 0)
		close(a);
	close(c);
	return yes;
}

/*
 * After bind and listen, the file is found again by its path, and whoever
 * may write its directory may have put something else there meanwhile: a
 * symbolic link to /etc/shadow, say, for a root master to give to
 * socket_owner. So it is opened without following links (O_PATH), proven
 * to be the socket this listener is bound to (a connection through that
 * very descriptor arrives here), and only then changed, through the
 * descriptor, never by path (the proof needs /proc; it is only needed
 * when there is an owner to change). Its identity is kept for
 * fw_socket_close().
 */
static int unix_claim(struct fw_socket *l, const struct fw_socket_perms *perms)
{
	const char *path = l->addr.path;
	int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC), r = -1;
	bool chown = perms->uid != (uid_t)-1 || perms->gid != (gid_t)-1;
	struct stat st;

	if (pfd < 0) {
		fw_log_errno(FW_LOG_ERROR, "listen %s: open(O_PATH) of the socket just bound", path);
		return -1;
	}
	if (fstat(pfd, &st) != 0) {
		fw_log_errno(FW_LOG_ERROR, "listen %s: fstat", path);
	} else if (!S_ISSOCK(st.st_mode) || (chown && !ours(l, pfd))) {
		fw_log(FW_LOG_ERROR,
		       "listen %s: the file was replaced after bind (now %s, uid %ld); "
		       "someone else can write its directory: refusing to go on",
		       path,
		       S_ISLNK(st.st_mode)    ? "a symbolic link"
		       : S_ISSOCK(st.st_mode) ? "another socket"
					      : "not a socket",
		       (long)st.st_uid);
	} else if (chown && fchownat(pfd, "", perms->uid, perms->gid, AT_EMPTY_PATH) != 0) {
		fw_log_errno(FW_LOG_ERROR, "chown(%s) to socket_owner/socket_group", path);
	} else {
		l->dev = st.st_dev;
		l->ino = st.st_ino;
		r = 0;
	}
	close(pfd);
	return r;
}

static int inet_bind(struct fw_socket *l)
{
	int one = 1;

	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
		fw_log_errno(FW_LOG_ERROR, "setsockopt(SO_REUSEADDR)");
		return -1;
	}
	/* Accepted sockets inherit it: responses leave in one segment, no Nagle wait. */
	if (setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		fw_log_errno(FW_LOG_WARN, "setsockopt(TCP_NODELAY)");
	if (bind(l->fd, (const struct sockaddr *)&l->addr.sa, l->addr.salen) != 0) {
		fw_log_errno(FW_LOG_ERROR, "bind(%s)", l->addr.text);
		return -1;
	}
	return 0;
}

int fw_socket_open(struct fw_socket *l, const struct fw_listen_spec *spec, int backlog,
		   const struct fw_socket_perms *perms)
{
	const struct fw_addr *a = &spec->addr;

	memset(l, 0, sizeof(*l));
	l->addr = *a;
	l->proto = spec->proto;
	l->fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		fw_log_errno(FW_LOG_ERROR, "socket(%s)", a->text);
		return -1;
	}
	if ((a->family == AF_UNIX ? unix_bind(l, perms) : inet_bind(l)) != 0)
		goto fail;
	if (listen(l->fd, backlog) != 0) {
		fw_log_errno(FW_LOG_ERROR, "listen(%s)", a->text);
		goto fail;
	}
	if (a->family == AF_UNIX && unix_claim(l, perms) != 0)
		goto fail;
	return 0;
fail:
	fw_socket_close(l);
	return -1;
}

void fw_socket_close(struct fw_socket *l)
{
	struct stat st;

	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->addr.family == AF_UNIX && l->ino != 0 && stat(l->addr.path, &st) == 0 &&
	    st.st_dev == l->dev && st.st_ino == l->ino && unlink(l->addr.path) != 0) {
		/* After a drop to `user`, a directory root made (systemd's
		 * RuntimeDirectory) keeps the file: expected, and harmless, since
		 * the next start replaces a socket no server answers on. */
		fw_log_errno(errno == EACCES && geteuid() != 0 ? FW_LOG_INFO : FW_LOG_WARN, "unlink(%s)",
			     l->addr.path);
	}
	l->ino = 0;
}
