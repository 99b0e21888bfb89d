/*
 * A live upgrade (SIGUSR2): the executor's side of the phases that
 * ipc/recycle.h draws and policy.c decides.
 *
 * Why the master re-executes itself in place rather than starting a new
 * master beside it (nginx's and Gunicorn's USR2): the process systemd
 * started, and a container's PID 1, stay the main process, so
 * NotifyAccess=main and Kubernetes keep working and nothing is orphaned;
 * the workers stay its children, with their channels, and every recycle
 * guarantee (replacement first, handoff, no lost accept queue) holds for
 * the upgrade too. And why a canary first: once the master has
 * re-executed, the old build's code is gone from it, so the new build
 * must show it starts (its file executes, its hooks pass, it says READY)
 * before the master follows; until then a broken build changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/build.h"
#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"
#include "master/notify.h"

static void record(struct fw_master *m)
{
	fw_scoreboard_upgrade_store(m->sb, &m->upgrade);
}

void fw_upgrade_publish(struct fw_master *m)
{
	snprintf(m->upgrade.master_build, sizeof(m->upgrade.master_build), "%s", fw_build_id());
	snprintf(m->upgrade.master_version, sizeof(m->upgrade.master_version), "%s", fw_build_version());
	record(m);
}

void fw_upgrade_signal(struct fw_master *m, uint64_t now)
{
	struct fw_event ev = {.type = FW_EV_UPGRADE, .now = now, .slot = -1};

	if (m->entry->exe == NULL) {
		fw_log(FW_LOG_ERROR, "SIGUSR2: refused, this program's path is unknown (/proc/self/exe "
				     "could not be read at start)");
		return;
	}
	if (m->pol.mode == FW_RUNNING && m->pol.upgrade == FW_UPGRADE_NONE)
		fw_log(FW_LOG_INFO, "SIGUSR2: upgrading to the build at %s (running %s%s%s)",
		       m->entry->exe, m->upgrade.master_build, m->upgrade.master_version[0] ? " " : "",
		       m->upgrade.master_version);
	fw_master_event(m, &ev);
}

/* ---- the canary ---- */

static void boot_socket(const struct fw_socket *l, struct fw_boot_socket *out)
{
	out->fd = l->fd;
	out->proto = l->proto;
	out->inet = l->addr.family != AF_UNIX;
	out->status = l->status;
}

char **fw_upgrade_worker_env(const struct fw_master *m, int slot, int chan, int peer_in)
{
	struct fw_boot_env e = {.chan_fd = chan,
				.peer_in = peer_in,
				.slot_index = slot,
				.sb_fd = m->sb_fd,
				.master_pid = m->pid,
				.image_version = FW_IMAGE_VERSION,
				.nlisten = m->nlisteners};
	char value[1024], *var;
	char **envp;

	for (int i = 0; i < m->nlisteners; i++)
		boot_socket(&m->listeners[i], &e.listen[i]);
	if (fw_boot_env_format(&e, value, sizeof(value)) != 0) {
		fw_log(FW_LOG_ERROR, "upgrade: the canary's %s does not fit", FW_BOOT_ENV);
		return NULL;
	}
	if ((var = malloc(strlen(FW_BOOT_ENV) + strlen(value) + 2)) == NULL) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: malloc");
		return NULL;
	}
	sprintf(var, "%s=%s", FW_BOOT_ENV, value);
	if ((envp = fw_exec_env(&var, 1)) == NULL) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: the canary's environment");
		free(var);
	}
	return envp;
}

_Noreturn void fw_upgrade_exec_worker(struct fw_master *m, int chan, int peer_in, char **envp)
{
	int keep[FW_MAX_LISTENERS + 3];
	size_t n = 0;
	struct fw_msg failed = {.type = FW_MSG_EXEC_FAILED};

	keep[n++] = chan;
	keep[n++] = peer_in;
	keep[n++] = m->sb_fd;
	for (int i = 0; i < m->nlisteners; i++)
		keep[n++] = m->listeners[i].fd;
	fw_exec_keep_only(keep, n);
	execve(m->entry->exe, m->entry->argv, envp);
	failed.value = (uint64_t)errno;
	fw_chan_send(chan, &failed, -1); /* its last word: why */
	_exit(FW_EXIT_EXEC);
}

/* ---- the master's own exec ---- */

/* The table into a memory file, for the next image. The file, or -1 after logging. */
static int image_file(const struct fw_master *m)
{
	struct fw_buf text = FW_BUF_INIT;
	int fd = -1;
	size_t off = 0;

	if (fw_image_write(m, &text) != 0) {
		errno = ENOMEM;
		fw_log_errno(FW_LOG_ERROR, "upgrade: writing the master's table");
		goto out;
	}
	/* Not MFD_CLOEXEC: the next image reads it. */
	if ((fd = memfd_create("fw-master-image", MFD_ALLOW_SEALING)) < 0) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: memfd_create");
		goto out;
	}
	while (off < text.len) {
		ssize_t w = write(fd, text.data + off, text.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fw_log_errno(FW_LOG_ERROR, "upgrade: writing the master's table");
			close(fd);
			fd = -1;
			goto out;
		}
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
		fw_log_errno(FW_LOG_DEBUG, "upgrade: sealing the master's table");
out:
	fw_buf_release(&text);
	return fd;
}

/* FW_MASTER_IMAGE=<table> <old build, to go back to>, and NOTIFY_SOCKET again. */
static char **master_env(int image, int rollback)
{
	char value[64];

	snprintf(value, sizeof(value), "%d %d", image, rollback);
	return fw_exec_master_env(value);
}

static void exec_failed(struct fw_master *m, int err)
{
	struct fw_event ev = {.type = FW_EV_EXEC_FAILED, .now = fw_now_ms(), .slot = -1};

	m->exec_errno = err;
	fw_master_event(m, &ev);
}

void fw_upgrade_exec(struct fw_master *m)
{
	int image = -1, rollback = -1, err;
	char **envp = NULL;
	int *fds = NULL;
	size_t nfds = 0;

	m->exec_due = false;
	if (m->pol.mode != FW_RUNNING || m->pol.upgrade != FW_UPGRADE_EXEC)
		return;
	/* The running build, to go back to if the new one's master can't take the table over. */
	if ((rollback = open("/proc/self/exe", O_PATH | O_CLOEXEC)) < 0)
		fw_log_errno(FW_LOG_WARN, "upgrade: open(/proc/self/exe); no way back if the new "
					  "master fails");
	/* Each logs the call that failed; exec_failed() calls the upgrade off, this build serves on. */
	if ((image = image_file(m)) < 0 || (envp = master_env(image, rollback)) == NULL ||
	    (fds = fw_exec_inherited(m, image, &nfds)) == NULL) {
		err = errno != 0 ? errno : ENOMEM;
		goto fail;
	}
	fds[nfds++] = rollback;
	fw_log(FW_LOG_INFO, "upgrade: the new build serves; the master re-executes %s", m->entry->exe);
	fw_exec_keep_only(fds, nfds);
	fflush(NULL);
	execve(m->entry->exe, m->entry->argv, envp);
	err = errno;
	fw_log_errno(FW_LOG_ERROR, "upgrade: execve(%s)", m->entry->exe);
	fw_exec_cloexec(fds, nfds);
fail:
	free(fds);
	fw_exec_env_free(envp);
	if (image >= 0)
		close(image);
	if (rollback >= 0)
		close(rollback);
	exec_failed(m, err);
}

/* ---- the phases, carried out ---- */

static void finish(struct fw_master *m, enum fw_upgrade_result result, const char *detail)
{
	struct fw_upgrade_info *u = &m->upgrade;

	u->phase = FW_UPGRADE_NONE;
	u->result = result;
	u->ended_ms = fw_now_ms();
	u->counts[result]++;
	snprintf(u->detail, sizeof(u->detail), "%s", detail);
	record(m);
	/* systemd heard RELOADING=1 at the start: READY=1 ends it, whatever came of it. */
	if (result != FW_UPGRADE_ABANDONED)
		fw_notify_ready(detail);
}

static void started(struct fw_master *m, const struct fw_action *a, uint64_t now)
{
	struct fw_upgrade_info *u = &m->upgrade;

	u->phase = FW_UPGRADE_CANARY;
	u->started_ms = now;
	snprintf(u->from_build, sizeof(u->from_build), "%s", u->master_build);
	u->detail[0] = '\0';
	m->canary_errno = 0;
	m->exec_errno = 0;
	record(m);
	fw_notify_reloading();
	fw_log(FW_LOG_INFO, "upgrade: worker %ld of the new build starts in the place of worker %ld",
	       (long)m->procs[a->slot].pid, (long)m->procs[a->peer].pid);
}

static void refused(struct fw_master *m, const struct fw_action *a)
{
	char detail[256];

	switch ((enum fw_upgrade_refusal)a->how) {
	case FW_REFUSED_BUSY:
		fw_log(FW_LOG_WARN, "SIGUSR2: refused, an upgrade is under way (%s)",
		       fw_upgrade_phase_name(m->pol.upgrade));
		return;
	case FW_REFUSED_STOPPING:
		fw_log(FW_LOG_WARN, "SIGUSR2: refused, the server is stopping");
		return;
	case FW_REFUSED_NO_WORKER:
		fw_log(FW_LOG_WARN, "SIGUSR2: refused, no worker serves yet to compare the new build "
				    "with; try again once the server is ready");
		return;
	case FW_REFUSED_SPAWN_FAILED:
		snprintf(detail, sizeof(detail),
			 "upgrade refused: the new build's worker could not be started (see above); "
			 "the running build serves on");
		break;
	case FW_REFUSED_EXEC_FAILED:
		if (m->resumed == FW_RESUMED_BACK) {
			snprintf(detail, sizeof(detail),
				 "upgrade refused: the new build's master at %s could not take over "
				 "(its line above says why); the running build is back and serves on",
				 m->entry->exe);
			break;
		}
		snprintf(detail, sizeof(detail),
			 "upgrade refused: the master could not re-execute %s (%s); the running "
			 "build serves on",
			 m->entry->exe, strerror(m->exec_errno));
		break;
	default:
		return;
	}
	fw_log(FW_LOG_ERROR, "%s", detail);
	finish(m, FW_UPGRADE_REFUSED, detail);
}

/* Why the canary went, for people: its exec, its exit status, its signal. */
static void canary_gone(struct fw_master *m)
{
	const struct fw_exited *e = &m->exited;
	char how[160], detail[256];

	if (m->canary_errno != 0)
		snprintf(how, sizeof(how), "cannot be executed (%s)", strerror(m->canary_errno));
	else if (WIFEXITED(e->status) && WEXITSTATUS(e->status) == FW_EXIT_BOOT)
		snprintf(how, sizeof(how), "failed its start-up hook (exit status %d)", FW_EXIT_BOOT);
	else if (WIFEXITED(e->status) && WEXITSTATUS(e->status) == FW_EXIT_INCOMPATIBLE)
		snprintf(how, sizeof(how),
			 "cannot take over from this master's build (exit status %d; its line above "
			 "says why)",
			 FW_EXIT_INCOMPATIBLE);
	else if (WIFEXITED(e->status))
		snprintf(how, sizeof(how), "exited with status %d before the master took over",
			 WEXITSTATUS(e->status));
	else if (WIFSIGNALED(e->status))
		snprintf(how, sizeof(how), "was killed by signal %d (%s) before the master took over",
			 WTERMSIG(e->status), strsignal(WTERMSIG(e->status)));
	else
		snprintf(how, sizeof(how), "ended with wait status %#x", (unsigned)e->status);
	snprintf(detail, sizeof(detail),
		 "upgrade refused: the new build at %s %s; the running build serves on", m->entry->exe,
		 how);
	fw_log(FW_LOG_ERROR, "%s", detail);
	finish(m, FW_UPGRADE_REFUSED, detail);
}

static void done(struct fw_master *m, uint64_t now)
{
	char detail[256];

	snprintf(detail, sizeof(detail),
		 "upgrade done: %d worker(s) of %s%s%s serving, %llu ms after "
		 "SIGUSR2",
		 m->pol.workers_wanted, m->upgrade.master_build, m->upgrade.master_version[0] ? " " : "",
		 m->upgrade.master_version,
		 (unsigned long long)fw_elapsed_ms(now, m->upgrade.started_ms));
	fw_log(FW_LOG_INFO, "%s", detail);
	finish(m, FW_UPGRADE_DONE, detail);
}

void fw_upgrade_act(struct fw_master *m, const struct fw_action *a, uint64_t now)
{
	switch (a->type) {
	case FW_ACT_UPGRADE_START:
		started(m, a, now);
		break;
	case FW_ACT_UPGRADE_REFUSED:
		refused(m, a);
		break;
	case FW_ACT_EXEC:
		m->upgrade.phase = FW_UPGRADE_EXEC;
		record(m);
		m->exec_due = true; /* at the loop's top: not from inside an event */
		break;
	case FW_ACT_UPGRADE_ROLLING:
		m->upgrade.phase = FW_UPGRADE_ROLLING;
		record(m);
		fw_log(FW_LOG_INFO,
		       "upgrade: the master runs %s%s%s (was %s); replacing %llu worker(s) of the old "
		       "build, %d at a time",
		       m->upgrade.master_build, m->upgrade.master_version[0] ? " " : "",
		       m->upgrade.master_version, m->upgrade.from_build, (unsigned long long)a->value,
		       m->pol.concurrency);
		break;
	case FW_ACT_UPGRADE_DONE:
		done(m, now);
		break;
	case FW_ACT_UPGRADE_ABANDONED:
		fw_log(FW_LOG_WARN, "upgrade abandoned: the server stops");
		finish(m, FW_UPGRADE_ABANDONED, "upgrade abandoned: the server stopped");
		break;
	case FW_ACT_GONE:
		canary_gone(m);
		break;
	default:
		break;
	}
}
