/*
 * A worker started by exec: a live upgrade's canary, the new build's first
 * worker (master/upgrade.c). It finds in FW_BOOT_ENV what a forked worker
 * finds in memory, checks that this build can take over from the running
 * master (the master's table format, the scoreboard's layout), and then
 * is a worker like any other. Refusing here, before READY, is what keeps
 * an incompatible build from ever replacing the master.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/log.h"
#include "main/exec_worker.h"
#include "master/master.h"

/* Closed at exec, as a forked worker has them: a handler's own exec must not inherit them. */
static void cloexec(int fd)
{
	if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		fw_log_errno(FW_LOG_WARN, "fcntl(%d, FD_CLOEXEC)", fd);
}

static int incompatible(const char *what, long theirs, long ours)
{
	fw_log(FW_LOG_ERROR,
	       "upgrade: this build cannot take over from the running master: %s %ld there, %ld "
	       "here; stop and start the server instead",
	       what, theirs, ours);
	return FW_EXIT_INCOMPATIBLE;
}

int fw_exec_worker_main(const struct fw_config *cfg, const struct fw_worker_entry *entry,
			const char *env)
{
	static struct fw_worker_boot boot;
	struct fw_scoreboard *sb;
	struct fw_boot_env e;
	char err[160];
	uint32_t version;

	if (fw_boot_env_parse(env, &e, err, sizeof(err)) != 0) {
		fw_log(FW_LOG_ERROR, "upgrade: this build cannot take over: %s", err);
		return FW_EXIT_INCOMPATIBLE;
	}
	unsetenv(FW_BOOT_ENV); /* not for what the application may start */
	if (e.image_version != FW_IMAGE_VERSION)
		return incompatible("master table format", e.image_version, FW_IMAGE_VERSION);
	if (pread(e.sb_fd, &version, sizeof(version), offsetof(struct fw_scoreboard, version)) !=
	    (ssize_t)sizeof(version)) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: reading the scoreboard's version");
		return 1;
	}
	if (version != FW_SCOREBOARD_VERSION)
		return incompatible("scoreboard version", (long)version, FW_SCOREBOARD_VERSION);
	if ((sb = fw_scoreboard_adopt(e.sb_fd)) == NULL) {
		fw_log_errno(FW_LOG_ERROR, "upgrade: mapping the scoreboard");
		return 1;
	}
	close(e.sb_fd); /* the mapping stays, as in a forked worker */
	if (getppid() != e.master_pid) {
		fw_log(FW_LOG_ERROR, "master %ld exited before the worker started", (long)e.master_pid);
		return 1;
	}
	boot = (struct fw_worker_boot){.cfg = cfg,
				       .nlisten = e.nlisten,
				       .chan_fd = e.chan_fd,
				       .peer_in = e.peer_in,
				       .slot_index = e.slot_index,
				       .slot = &sb->slots[e.slot_index],
				       .sb = sb,
				       .master_pid = e.master_pid};
	for (int i = 0; i < e.nlisten; i++) {
		boot.listen[i] = e.listen[i];
		cloexec(e.listen[i].fd);
	}
	cloexec(e.chan_fd);
	cloexec(e.peer_in);
	/* exec made this process dumpable again; a forked worker inherits the master's choice. */
	if (prctl(PR_SET_DUMPABLE, cfg->dumpable ? 1 : 0) != 0)
		fw_log_errno(FW_LOG_WARN, "prctl(PR_SET_DUMPABLE)");
	/* What the master does once for forked workers, this one does for itself. */
	if (entry->preboot != NULL)
		entry->preboot(false);
	return entry->main(&boot);
}
