/*
 * What crosses an execve() of the master (a live upgrade) or of a canary:
 * the descriptors the next image takes over, none else, and the
 * environment that tells it so.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "master/master.h"
#include "master/notify.h"

extern char **environ;

/*
 * Every descriptor but keep[] is closed by the exec: the application may
 * have opened any number without O_CLOEXEC before fw_main(), and each
 * upgrade would leak them into the next image. Async-signal-safe (it runs
 * in a forked child too).
 */
void fw_exec_keep_only(const int *keep, size_t n)
{
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	for (size_t i = 0; i < n; i++)
		if (keep[i] >= 0)
			fcntl(keep[i], F_SETFD, 0);
}

void fw_exec_cloexec(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0 && fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0)
			fw_log_errno(FW_LOG_WARN, "fcntl(%d, FD_CLOEXEC)", fds[i]);
}

/* The environment with these variables added (or replaced): malloc'd, NULL with errno (logged). */
char **fw_exec_env(char *const *add, size_t nadd)
{
	size_t n = 0, k = 0;
	char **envp;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if ((envp = calloc(n + nadd + 1, sizeof(*envp))) == NULL) {
		fw_log_errno(FW_LOG_ERROR, "calloc (an environment of %zu variables)", n + nadd);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;

		for (size_t j = 0; j < nadd; j++) {
			size_t len = strcspn(add[j], "=") + 1;

			replaced = replaced || strncmp(environ[i], add[j], len) == 0;
		}
		if (!replaced)
			envp[k++] = environ[i];
	}
	for (size_t j = 0; j < nadd; j++)
		envp[k++] = add[j];
	return envp;
}

/*
 * The environment of the master's next image: FW_MASTER_IMAGE=<value>,
 * and NOTIFY_SOCKET again (fw_notify_init took it out of this one), on
 * the way forward and on the way back alike: without it the image that
 * serves on would never tell systemd READY=1 after RELOADING=1.
 * NULL with errno when out of memory (logged at the call that failed).
 */
char **fw_exec_master_env(const char *image_value)
{
	char *add[2] = {NULL, NULL};
	size_t n = 0;
	char **envp;
	int err;

	if (asprintf(&add[n], "%s=%s", FW_IMAGE_ENV, image_value) < 0) {
		fw_log_errno(FW_LOG_ERROR, "asprintf (%s)", FW_IMAGE_ENV);
		return NULL;
	}
	n++;
	if (fw_notify_socket()[0] != '\0') {
		if (asprintf(&add[n], "NOTIFY_SOCKET=%s", fw_notify_socket()) < 0) {
			fw_log_errno(FW_LOG_ERROR, "asprintf (NOTIFY_SOCKET)");
			goto fail;
		}
		n++;
	}
	if ((envp = fw_exec_env(add, n)) != NULL)
		return envp;
fail:
	err = errno; /* free() may change it; the caller reports it */
	for (size_t i = 0; i < n; i++)
		free(add[i]);
	errno = err;
	return NULL;
}

/* envp from env_with(), and the added strings, which follow the inherited ones. */
void fw_exec_env_free(char **envp)
{
	if (envp == NULL)
		return;
	for (size_t i = 0; envp[i] != NULL; i++) {
		bool inherited = false;

		for (size_t j = 0; environ != NULL && environ[j] != NULL && !inherited; j++)
			inherited = envp[i] == environ[j];
		if (!inherited)
			free(envp[i]);
	}
	free(envp);
}

/* Every descriptor the next image takes over; n: how many. malloc'd, NULL with errno (logged). */
int *fw_exec_inherited(const struct fw_master *m, int extra, size_t *n)
{
	int *fds = malloc((FW_MAX_LISTENERS + 4 + 3 * FW_MAX_SLOTS + FW_HANDOFF_QUEUE) *
			  sizeof(int)); /* and one more for the caller */

	*n = 0;
	if (fds == NULL) {
		fw_log_errno(FW_LOG_ERROR, "malloc (the descriptors an exec keeps)");
		return NULL;
	}
	fds[(*n)++] = extra;
	fds[(*n)++] = m->sb_fd;
	for (int i = 0; i < m->nlisteners; i++)
		fds[(*n)++] = m->listeners[i].fd;
	for (size_t i = 0; i < m->pol.nslots; i++) {
		fds[(*n)++] = m->procs[i].chan;
		fds[(*n)++] = m->procs[i].chan_worker;
		fds[(*n)++] = m->procs[i].peer;
	}
	for (size_t i = 0; i < m->nhandoffs; i++)
		fds[(*n)++] = m->handoffs[i].fd;
	return fds;
}
