/*
 * The scoreboard's file. By default it lives in /dev/shm, where anyone
 * may create files: a file or FIFO planted at a predictable name there
 * could hang the master in open() or fool its probes. So the default is
 * in a directory of the server's user (fw-UID, made by fw, mode 0750),
 * and a directory that is already there must be a real one, that user's
 * or root's, and writable by no one else. Any file is opened without
 * following links and without blocking, and must be a regular file
 * (ipc/scoreboard.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "master/master.h"

#define HEARTBEAT_STALE_MS 5000

static gid_t server_gid(const struct fw_config *cfg)
{
	struct passwd *pw;
	struct group *gr;

	if (geteuid() != 0 || cfg->user[0] == '\0')
		return (gid_t)-1;
	if (cfg->group[0] != '\0' && (gr = getgrnam(cfg->group)) != NULL)
		return gr->gr_gid;
	return (pw = getpwnam(cfg->user)) != NULL ? pw->pw_gid : (gid_t)-1;
}

static int dir_prepare(const struct fw_config *cfg, const char *path)
{
	char copy[256], *dir;
	uid_t uid = fw_config_server_uid(cfg);
	struct stat st;
	int fd, r = -1;

	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		fw_log_errno(FW_LOG_ERROR, "mkdir(%s) for the scoreboard", dir);
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		fw_log_errno(FW_LOG_ERROR,
			     "%s: not a directory of ours (a symbolic link?); remove it "
			     "or set state_path",
			     dir);
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		fw_log_errno(FW_LOG_ERROR, "fstat(%s)", dir);
	} else if (st.st_uid != uid && st.st_uid != 0 && st.st_uid != geteuid()) {
		fw_log(FW_LOG_ERROR,
		       "%s belongs to uid %ld, not to the server's user (uid %ld) or root: "
		       "someone else made it; remove it (as root) or set state_path",
		       dir, (long)st.st_uid, (long)uid);
	} else if ((st.st_mode & 022) != 0 && (st.st_uid != geteuid() || fchmod(fd, 0750) != 0)) {
		fw_log(FW_LOG_ERROR, "%s is writable by others (mode %04o); remove it or set state_path",
		       dir, (unsigned)(st.st_mode & 07777));
	} else if (geteuid() == 0 && st.st_uid != uid && fchown(fd, uid, server_gid(cfg)) != 0) {
		/* The master removes its file when it stops, as `user` by then. */
		fw_log_errno(FW_LOG_ERROR, "chown(%s) to the server's user", dir);
	} else {
		r = 0;
	}
	close(fd);
	return r;
}

/*
 * Another live master's scoreboard at our state_path (the same explicit
 * state_path with other sockets): replacing it would blind its probes and
 * status page. A file left by a dead master is replaced.
 */
static int in_use(const struct fw_config *cfg, const char *path)
{
	uid_t owner;
	const struct fw_scoreboard *old = fw_scoreboard_open(path, &owner);
	pid_t pid;
	uint64_t hb, now = fw_now_ms();

	if (old == NULL)
		return 0;
	if (!fw_config_state_owner_ok(cfg, owner)) {
		/* Another user's file: not a master of ours. */
		fw_scoreboard_destroy(old, NULL);
		return 0;
	}
	pid = (pid_t)fw_slot_load(old->master_pid);
	hb = fw_slot_load(old->master_heartbeat_ms);
	fw_scoreboard_destroy(old, NULL);
	if (pid <= 0 || pid == getpid() || (kill(pid, 0) != 0 && errno != EPERM) ||
	    (now > hb && now - hb > HEARTBEAT_STALE_MS))
		return 0;
	fw_log(FW_LOG_ERROR, "state_path %s belongs to the running master %ld: give each server its own",
	       path, (long)pid);
	return -1;
}

int fw_state_prepare(const struct fw_config *cfg, const char *path)
{
	if (cfg->state_path[0] == '\0' && dir_prepare(cfg, path) != 0)
		return -1;
	return in_use(cfg, path);
}
