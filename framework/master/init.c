/*
 * The master's start: the sockets (as root), the scoreboard, the drop of
 * privileges, and what it checks once before any worker is forked; and
 * what it closes when it stops.
 */
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "master/notify.h"
#include "master/privs.h"
#include "master/signals.h"

/* One thread? (An application may have started threads before fw_main().) */
static bool single_threaded(void)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");
	long threads = -1;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Threads: %ld", &threads) == 1)
			break;
	fclose(f);
	return threads == 1;
}

/*
 * Descriptors: every worker holds up to max_conns connections, and the
 * master may hold connections in transit. A descriptor passed with
 * SCM_RIGHTS to a process at its limit is dropped by the kernel, and that
 * connection with it, so the soft limit goes up to the hard one (what
 * nginx's worker_rlimit_nofile does), and a shortfall is said at start.
 */
static void raise_nofile(const struct fw_config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fw_log_errno(FW_LOG_WARN, "getrlimit(RLIMIT_NOFILE)");
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			fw_log_errno(FW_LOG_WARN, "setrlimit(RLIMIT_NOFILE, %llu)",
				     (unsigned long long)rl.rlim_max);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)cfg->max_conns + 64)
		fw_log(FW_LOG_WARN,
		       "open files are limited to %llu, below max_conns (%d) + 64; "
		       "raise LimitNOFILE or ulimit -n",
		       (unsigned long long)rl.rlim_cur, cfg->max_conns);
}

static void listeners_close(struct fw_master *m)
{
	for (int i = 0; i < m->nlisteners; i++)
		fw_socket_close(&m->listeners[i]);
	m->nlisteners = 0;
}

/* Owner and group of unix sockets: names from the configuration, applied only as root. */
static int socket_perms(const struct fw_config *cfg, struct fw_socket_perms *perms)
{
	struct passwd *pw;
	struct group *gr;

	perms->mode = cfg->socket_mode;
	perms->uid = (uid_t)-1;
	perms->gid = (gid_t)-1;
	if (cfg->socket_owner[0] == '\0' && cfg->socket_group[0] == '\0')
		return 0;
	if (geteuid() != 0) {
		fw_log(FW_LOG_WARN,
		       "socket_owner and socket_group need the master to start as root; ignored");
		return 0;
	}
	if (cfg->socket_owner[0] != '\0') {
		if ((pw = getpwnam(cfg->socket_owner)) == NULL) {
			fw_log(FW_LOG_ERROR, "socket_owner: no user '%s'", cfg->socket_owner);
			return -1;
		}
		perms->uid = pw->pw_uid;
	}
	if (cfg->socket_group[0] != '\0') {
		if ((gr = getgrnam(cfg->socket_group)) == NULL) {
			fw_log(FW_LOG_ERROR, "socket_group: no group '%s'", cfg->socket_group);
			return -1;
		}
		perms->gid = gr->gr_gid;
	}
	return 0;
}

static int listeners_open(struct fw_master *m)
{
	struct fw_socket_perms perms;

	if (socket_perms(&m->cfg, &perms) != 0)
		return -1;
	/* The app's listeners, then the status page's own (status_listen). */
	for (int i = 0; i < m->cfg.listen.n + m->cfg.status_listen.n; i++) {
		bool status = i >= m->cfg.listen.n;
		const struct fw_listen_spec *spec = status ? &m->cfg.status_listen.l[i - m->cfg.listen.n]
							   : &m->cfg.listen.l[i];

		m->listeners[i].fd = -1;
		if (fw_socket_open(&m->listeners[i], spec, m->cfg.backlog, &perms) != 0) {
			listeners_close(m);
			return -1;
		}
		m->listeners[i].status = status;
		m->nlisteners = i + 1;
	}
	return 0;
}

/*
 * Each worker opens the access log itself, as the user the master dropped
 * to. Try it once here, as that user: a file it cannot write is one clear
 * message at start, not every worker failing its boot until the master
 * gives up.
 */
int fw_access_log_writable(const struct fw_config *cfg)
{
	int fd;

	if (cfg->access_log[0] != '/')
		return 0; /* off, stderr or stdout */
	if ((fd = fw_log_file_open(cfg->access_log, true)) < 0) {
		fw_log_errno(FW_LOG_ERROR,
			     "access_log %s: cannot open it for writing as uid %ld (the "
			     "workers' user); fix its owner or choose another path",
			     cfg->access_log, (long)geteuid());
		return -1;
	}
	close(fd);
	return 0;
}

/* What master_init() opened, closed (each part only if it was). */
void fw_master_finish(struct fw_master *m)
{
	listeners_close(m);
	if (m->sb != NULL)
		fw_scoreboard_destroy(m->sb, m->state_path);
	m->sb = NULL;
	if (m->sb_fd >= 0)
		close(m->sb_fd);
	m->sb_fd = -1;
}

int fw_master_init(struct fw_master *m, const struct fw_config *cfg, const struct fw_worker_entry *entry)
{
	memset(m, 0, sizeof(*m));
	fw_notify_init();
	m->cfg = *cfg;
	m->entry = entry;
	m->pid = getpid();
	m->single_threaded = single_threaded();
	m->prefork_due = true;
	raise_nofile(cfg);
	fw_policy_init(&m->pol, cfg->workers, cfg->recycle_concurrency, cfg->timeout,
		       cfg->graceful_timeout, cfg->max_conns);
	for (size_t i = 0; i < FW_MAX_SLOTS; i++) {
		m->procs[i].chan = -1;
		m->procs[i].chan_worker = -1;
		m->procs[i].peer = -1;
	}
	m->sb_fd = -1;
	if (fw_signals_init() != 0)
		return -1;
	/* The new image of a live upgrade: everything is open already. */
	if (getenv(FW_IMAGE_ENV) != NULL)
		return fw_upgrade_resume(m, getenv(FW_IMAGE_ENV));
	if (listeners_open(m) != 0)
		return -1;
	fw_cgroup_budget(m);
	fw_config_state_path(&m->cfg, m->state_path, sizeof(m->state_path));
	if (fw_state_prepare(&m->cfg, m->state_path) != 0)
		goto fail;
	m->sb_committed = (size_t)(m->pol.workers_wanted + m->cfg.recycle_concurrency);
	if ((m->sb = fw_scoreboard_create(m->state_path, FW_MAX_SLOTS, m->sb_committed, &m->sb_fd)) ==
	    NULL) {
		fw_log_errno(FW_LOG_ERROR, "creating the scoreboard %s", m->state_path);
		goto fail;
	}
	m->sb->master_pid = (int32_t)m->pid;
	m->sb->nlisteners = (uint32_t)m->nlisteners;
	m->sb->master_heartbeat_ms = fw_now_ms();
	/* Sockets, scoreboard and error log are open: root is no longer needed. */
	if (fw_privs_drop(&m->cfg, m->state_path) != 0 || fw_access_log_writable(&m->cfg) != 0)
		goto fail;
	m->sb->started_ms = fw_now_ms();
	m->sb->workers_wanted = (uint32_t)m->pol.workers_wanted;
	fw_limits_publish(m);
	fw_upgrade_publish(m);
	return 0;
fail:
	fw_master_finish(m);
	return -1;
}

void fw_listeners_text(const struct fw_master *m, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < m->nlisteners && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s%s on %s", i ? ", " : "",
				      m->listeners[i].status ? "status page over " : "",
				      fw_proto_name(m->listeners[i].proto), m->listeners[i].addr.text);
}
