#include "master/privs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "core/log.h"

int fw_privs_drop(const struct fw_config *cfg, const char *state_path)
{
	struct passwd *pw;
	struct group *gr;
	gid_t gid;

	if (cfg->user[0] == '\0')
		return 0;
	if (geteuid() != 0) {
		fw_log(FW_LOG_WARN, "user %s: the master is not root, it stays uid %ld", cfg->user,
		       (long)geteuid());
		return 0;
	}
	if ((pw = getpwnam(cfg->user)) == NULL) {
		fw_log(FW_LOG_ERROR, "user: no user '%s'", cfg->user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		fw_log(FW_LOG_WARN, "user %s is root: nothing to drop, the workers run as root",
		       cfg->user);
		return 0;
	}
	gid = pw->pw_gid;
	if (cfg->group[0] != '\0') {
		if ((gr = getgrnam(cfg->group)) == NULL) {
			fw_log(FW_LOG_ERROR, "group: no group '%s'", cfg->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	/* The master removes the scoreboard at exit, as that user. */
	/* Not through a symbolic link someone put in its place (as root, that would chown any file). */
	if (fchownat(AT_FDCWD, state_path, pw->pw_uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		fw_log_errno(FW_LOG_WARN, "chown(%s)", state_path);
	/* The user's supplementary groups as well, as nginx's `user` and PHP-FPM do. */
	if (initgroups(pw->pw_name, gid) != 0 || setgid(gid) != 0 || setuid(pw->pw_uid) != 0) {
		fw_log_errno(FW_LOG_ERROR, "dropping privileges to %s", cfg->user);
		return -1;
	}
	if (setuid(0) == 0) {
		fw_log(FW_LOG_ERROR, "dropping privileges to %s: root could be regained", cfg->user);
		return -1;
	}
	/*
	 * The master and its workers stay undumpable (fw_main, and setuid
	 * too): they hold what root opened and read before the drop, and
	 * processes of `user` must not read it (nginx's workers, when user is
	 * www-data). A stuck handler is answered by its own worker
	 * (worker/stuck.c), so nothing needs ptrace rights on a worker.
	 */
	fw_log(FW_LOG_INFO, "running as user %s, group %ld", pw->pw_name, (long)gid);
	return 0;
}
