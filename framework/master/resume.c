/*
 * The master's new image takes over after a live upgrade's execve
 * (upgrade.c): the table its old image wrote (image.c), the descriptors
 * it left open, the scoreboard, and the configuration read again, with
 * the keys that need a restart kept as they run. If the table can't be
 * taken over, the old build is executed again from the descriptor it
 * left for that, and takes its own table back: the upgrade is refused,
 * nothing is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/build.h"
#include "core/clock.h"
#include "core/log.h"
#include "master/master.h"

#define IMAGE_MAX (16u << 20)

static int read_image(int fd, struct fw_buf *out)
{
	for (;;) {
		ssize_t r;

		if (fw_buf_reserve(out, 65536) != 0 || out->len > IMAGE_MAX) {
			errno = EFBIG;
			return -1;
		}
		r = read(fd, out->data + out->len, out->cap - out->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		out->len += (size_t)r;
	}
}

/* The listen lists as the sockets really are. */
static void listen_lists(const struct fw_master *m, struct fw_config *c)
{
	c->listen.n = 0;
	c->status_listen.n = 0;
	for (int i = 0; i < m->nlisteners; i++) {
		struct fw_listen_list *l = m->listeners[i].status ? &c->status_listen : &c->listen;

		l->l[l->n++] = (struct fw_listen_spec){.addr = m->listeners[i].addr,
						       .proto = m->listeners[i].proto,
						       .proto_given = true};
	}
}

/*
 * m->cfg has the file's values with the image's kept keys over them: the
 * file's, but for the keys that need a restart, as they run (a reload's
 * rule).
 */
static void keep_running(struct fw_master *m, const struct fw_config *file)
{
	static struct fw_config running;
	const char *key;

	running = m->cfg;
	listen_lists(m, &running);
	if ((key = fw_config_restart_needed(&running, file)) != NULL)
		fw_log(FW_LOG_WARN,
		       "upgrade: '%s' changed in the configuration; that needs a restart, keeping "
		       "the running value",
		       key);
	m->cfg = *file;
	fw_config_keep_restart_keys(&m->cfg, &running);
}

/*
 * Back to the build that wrote the table: it takes its own table back,
 * and NOTIFY_SOCKET with it. The descriptor of that build is closed at the
 * exec (an ELF program needs no path to itself), so the old build does
 * not carry it on into its workers.
 */
static void roll_back(const struct fw_master *m, int image, int rollback)
{
	char value[64];
	char **envp;

	if (rollback < 0)
		return;
	snprintf(value, sizeof(value), "%d -1 back", image);
	if (lseek(image, 0, SEEK_SET) != 0) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: lseek(the master's table); no way back");
		return;
	}
	if ((envp = fw_exec_master_env(value)) == NULL) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: the environment of the way back");
		return;
	}
	if (fcntl(rollback, F_SETFD, FD_CLOEXEC) != 0)
		fw_log_errno(FW_LOG_WARN, "upgrade: fcntl(the running build, FD_CLOEXEC)");
	fw_log(FW_LOG_ERROR, "upgrade: going back to the running build");
	fflush(NULL);
	fexecve(rollback, m->entry->argv, envp);
	fw_log_errno(FW_LOG_ERROR, "upgrade: fexecve(the running build)");
	fw_exec_env_free(envp);
}

static int take_over(struct fw_master *m, int image)
{
	struct fw_buf text = FW_BUF_INIT;
	char err[256];
	int rc = -1;

	if (read_image(image, &text) != 0) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: reading the master's table");
		goto out;
	}
	if (fw_image_read(m, text.data, text.len, err, sizeof(err)) != 0) {
		fw_log(FW_LOG_ERROR, "upgrade: %s", err);
		goto out;
	}
	if ((m->sb = fw_scoreboard_adopt(m->sb_fd)) == NULL) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: the scoreboard %s", m->state_path);
		goto out;
	}
	rc = 0;
out:
	fw_buf_release(&text);
	return rc;
}

int fw_upgrade_resume(struct fw_master *m, const char *image_env)
{
	static struct fw_config file;
	int image = -1, rollback = -1;
	char back[8] = "";
	size_t nfds;
	int *fds;

	if (sscanf(image_env, "%d %d %7s", &image, &rollback, back) < 2 || image < 0) {
		fw_log(FW_LOG_ERROR, "%s=%s: not a master image", FW_IMAGE_ENV, image_env);
		return -1;
	}
	unsetenv(FW_IMAGE_ENV); /* the workers to come are no master's next image */
	file = m->cfg;
	if (take_over(m, image) != 0) {
		if (back[0] == '\0')
			roll_back(m, image, rollback);
		return -1; /* the workers see their channel close, and stop */
	}
	close(image);
	if (rollback >= 0)
		close(rollback);
	keep_running(m, &file);
	/* Closed at exec again: the next upgrade chooses what crosses it. */
	if ((fds = fw_exec_inherited(m, -1, &nfds)) != NULL)
		fw_exec_cloexec(fds, nfds);
	else /* a canary's exec closes all but its own (fw_exec_keep_only): nothing leaks */
		fw_log(FW_LOG_WARN, "upgrade: the inherited descriptors stay open at exec");
	free(fds);
	m->resumed = back[0] != '\0' ? FW_RESUMED_BACK : FW_RESUMED;
	fw_policy_settings(&m->pol, m->cfg.workers, m->cfg.recycle_concurrency, m->cfg.timeout,
			   m->cfg.graceful_timeout, m->cfg.max_conns);
	fw_cgroup_budget(m);
	fw_slot_store(m->sb->workers_wanted, (uint32_t)m->cfg.workers);
	fw_limits_publish(m);
	fw_scoreboard_upgrade_load(m->sb, &m->upgrade);
	if (m->resumed == FW_RESUMED)
		fw_upgrade_publish(m);
	return 0;
}
