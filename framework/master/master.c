/*
 * The master loop: ppoll() over the workers' channels with the signals
 * unblocked only while waiting, a tick for the periodic work (timeouts,
 * heartbeat), and the process table kept at `workers`.
 */
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/unshared.h"
#include "ipc/chan.h"
#include "master/notify.h"
#include "master/privs.h"
#include "master/signals.h"

#define TICK_MS 1000
#define HANDOFF_RETRY_MS 10
#define QUIT_GRACE_MS 2000
#define WORKERS_MAX 512

/*
 * Connections waiting in each TCP listener's accept queue: for a listening
 * socket, Linux reports the queue's length as tcpi_unacked. Unix sockets
 * have no such figure (-1).
 */
static void accept_queues(struct fw_master *m)
{
	for (int i = 0; i < m->nlisteners && i < FW_MAX_LISTENERS; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		int64_t q = -1;

		if (m->listeners[i].addr.family != AF_UNIX &&
		    getsockopt(m->listeners[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			q = ti.tcpi_unacked;
		fw_slot_store(m->sb->accept_queue[i], q);
	}
}

static void stop(struct fw_master *m, enum fw_master_mode mode, const char *why)
{
	uint64_t now = fw_now_ms();

	if (m->mode == FW_QUITTING || m->mode == mode)
		return;
	fw_slot_store(m->sb->stopping, (uint32_t)1);
	fw_log(FW_LOG_INFO, "%s: %s", why, mode == FW_STOPPING ? "stopping gracefully" : "stopping now");
	fw_notify_stopping();
	m->mode = mode;
	if (mode == FW_STOPPING) {
		/* Workers close themselves at graceful_timeout; this is the backstop. */
		m->stop_deadline_ms = now + (uint64_t)m->cfg.graceful_timeout * 1000 + QUIT_GRACE_MS;
		fw_proc_send_all(m, FW_MSG_STOP);
	} else {
		m->stop_deadline_ms = now + QUIT_GRACE_MS;
		fw_proc_send_all(m, FW_MSG_QUIT);
	}
	fw_handoff_forward(m); /* closes what was waiting for a worker */
}

static void scale(struct fw_master *m, int delta)
{
	int n = m->workers_wanted + delta;

	if (m->mode != FW_RUNNING || n < 1 || n > WORKERS_MAX)
		return;
	m->workers_wanted = n;
	fw_slot_store(m->sb->workers_wanted, (uint32_t)n);
	fw_log(FW_LOG_INFO, "%s: %d worker(s) wanted", delta > 0 ? "SIGTTIN" : "SIGTTOU", n);
	/*
	 * A budget shared out of the cgroup limit is shared anew over the new
	 * number, and every worker takes the new figure at once: new and old
	 * workers then hold the same limit, the one the status page shows.
	 */
	if (m->rss_limit_derived) {
		struct fw_msg limits = {.type = FW_MSG_LIMITS};

		fw_cgroup_budget(m);
		fw_limits_publish(m);
		limits.value = (uint64_t)m->cfg.rss_limit_mb << 20;
		limits.value2 = (uint64_t)m->cfg.rss_soft_limit_mb << 20;
		fw_proc_send_msg_all(m, &limits);
	}
}

static void reload_done(struct fw_master *m);

static void on_signals(struct fw_master *m, unsigned sigs)
{
	/*
	 * Stop before reaping: systemd and a terminal signal the whole group,
	 * so workers may exit before the master has read its own signal, and
	 * they must not be mistaken for crashes and replaced.
	 */
	if (sigs & (FW_SIG_INT | FW_SIG_QUIT))
		stop(m, FW_QUITTING, sigs & FW_SIG_INT ? "SIGINT" : "SIGQUIT");
	else if (sigs & FW_SIG_TERM)
		stop(m, FW_STOPPING, "SIGTERM");
	if (sigs & FW_SIG_CHLD)
		fw_proc_reap(m);
	if ((sigs & FW_SIG_HUP) && m->mode == FW_RUNNING) {
		fw_notify_reloading();
		m->reloading = true;
		if (fw_recycle_reload(m) != 0) {
			/* systemd waits for READY=1 after RELOADING=1, whatever came of it. */
			m->reloading = false;
			fw_notify_ready("reload failed: configuration errors; the running configuration stays");
		} else {
			reload_done(m); /* at once when no worker had to be replaced */
		}
	}
	if (sigs & FW_SIG_TTIN)
		scale(m, +1);
	if (sigs & FW_SIG_TTOU)
		scale(m, -1);
	if (sigs & FW_SIG_USR1) {
		/* logrotate moved the files: the master reopens its own, each worker its own. */
		if (fw_log_reopen() != 0)
			fw_log_errno(FW_LOG_ERROR, "SIGUSR1: reopening the error log; still writing the old file");
		else
			fw_log(FW_LOG_INFO, "SIGUSR1: error log reopened; workers reopen theirs");
		fw_proc_send_all_keep(m, FW_MSG_REOPEN);
	}
}

static void on_message(struct fw_master *m, struct fw_proc *p, const struct fw_msg *msg,
		       const int *fds, int nfds)
{
	int used = 0;

	switch (msg->type) {
	case FW_MSG_READY:
		/* Written only when it changes: the page is shared with the workers (copy on write). */
		if (m->boot_failures != 0)
			m->boot_failures = 0;
		fw_log(FW_LOG_DEBUG, "worker %ld ready", (long)p->pid);
		if (p->state != FW_PROC_BOOTING)
			break; /* stopping: fw_proc_send_all() closed its handoff pair */
		/* Forked before a reload: it serves, and is replaced in turn. */
		p->state = p->retire == FW_RETIRE_RELOAD ? FW_PROC_RETIRING : FW_PROC_READY;
		fw_recycle_ready(m, p);
		break;
	case FW_MSG_RETIRE:
		fw_recycle_retire_wanted(m, p, (enum fw_retire_reason)msg->arg, msg->value,
					 msg->value2 != 0);
		break;
	case FW_MSG_HANDOFF:
		for (; used < nfds; used++)
			fw_handoff_push(m, fds[used], fw_msg_kind(msg, used));
		break;
	case FW_MSG_STUCK:
		used = fw_timeout_reply(m, p, msg, nfds > 0 ? fds[0] : -1) ? 1 : 0;
		break;
	default:
		fw_log(FW_LOG_WARN, "worker %ld sent unknown message %u", (long)p->pid, msg->type);
	}
	for (int i = used; i < nfds; i++)
		close(fds[i]);
}

void fw_master_read_channel(struct fw_master *m, struct fw_proc *p)
{
	struct fw_msg msg;
	int r, fds[FW_CHAN_MAX_FDS], n;

	while ((r = fw_chan_recvv(p->chan, &msg, fds, &n)) == 1)
		on_message(m, p, &msg, fds, n);
	if (r == 0) {
		/* Only if its end was lost (the master keeps it until reaping): SIGCHLD tells the rest. */
		close(p->chan);
		p->chan = -1;
	} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
		fw_log_errno(FW_LOG_WARN, "recvmsg(worker %ld)", (long)p->pid);
	}
}

/* "fastcgi on /run/app.sock, scgi on 127.0.0.1:4000" */
static void listeners_text(const struct fw_master *m, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < m->nlisteners && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s%s on %s", i ? ", " : "",
				      m->listeners[i].status ? "status page over " : "",
				      fw_proto_name(m->listeners[i].proto), m->listeners[i].addr.text);
}

/* A reload is done once no worker of the old configuration is left. */
static void reload_done(struct fw_master *m)
{
	char where[512];

	for (size_t i = 0; i < m->nprocs_max; i++)
		if (m->procs[i].state != FW_PROC_FREE && m->procs[i].retire == FW_RETIRE_RELOAD)
			return;
	m->reloading = false;
	listeners_text(m, where, sizeof(where));
	fw_log(FW_LOG_INFO, "reload done: %d worker(s) serving %s", m->workers_wanted, where);
	fw_notify_ready(where);
}

static void announce(struct fw_master *m)
{
	if (m->reloading && m->mode == FW_RUNNING)
		reload_done(m);
	if (m->announced || fw_proc_count(m, FW_PROC_READY) < (size_t)m->workers_wanted)
		return;
	char where[512];

	m->announced = true;
	listeners_text(m, where, sizeof(where));
	fw_log(FW_LOG_INFO, "ready: %d worker(s) serving %s", m->workers_wanted, where);
	fw_notify_ready(where);
}

static int poll_timeout(const struct fw_master *m, uint64_t now, uint64_t next_tick)
{
	uint64_t wake = next_tick;

	if (m->nhandoffs > 0 && now + HANDOFF_RETRY_MS < wake)
		wake = now + HANDOFF_RETRY_MS;
	if (m->mode == FW_RUNNING && m->spawn_after_ms > now && m->spawn_after_ms < wake)
		wake = m->spawn_after_ms;
	if (m->mode != FW_RUNNING && m->stop_deadline_ms < wake)
		wake = m->stop_deadline_ms;
	return wake > now ? (int)(wake - now) : 0;
}

static void wait_events(struct fw_master *m, int timeout_ms)
{
	/* Rewritten at every wake-up: unshared pages (core/unshared.h), not the workers'. */
	static struct pollfd fallback_fds[FW_MAX_SLOTS], *fds;
	static struct fw_proc *fallback_owner[FW_MAX_SLOTS], **owner;
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
	nfds_t n = 0;
	int r;

	if (fds == NULL) {
		fds = fw_unshared_alloc(sizeof(fallback_fds));
		owner = fw_unshared_alloc(sizeof(fallback_owner));
		if (fds == NULL || owner == NULL) {
			fds = fallback_fds;
			owner = fallback_owner;
		}
	}
	for (size_t i = 0; i < m->nprocs_max; i++) {
		if (m->procs[i].state != FW_PROC_FREE && m->procs[i].chan >= 0) {
			fds[n] = (struct pollfd){.fd = m->procs[i].chan, .events = POLLIN};
			owner[n++] = &m->procs[i];
		}
	}
	r = ppoll(fds, n, &ts, fw_signals_waitmask());
	if (r < 0) {
		if (errno != EINTR)
			fw_log_errno(FW_LOG_ERROR, "ppoll");
		return;
	}
	for (nfds_t i = 0; i < n && r > 0; i++) {
		if (fds[i].revents != 0 && owner[i]->chan == fds[i].fd)
			fw_master_read_channel(m, owner[i]);
	}
}

static void deadline(struct fw_master *m, uint64_t now)
{
	if (m->mode == FW_RUNNING || m->killed || now < m->stop_deadline_ms)
		return;
	fw_log(FW_LOG_WARN, "%zu worker(s) still running at the stop deadline; killing them",
	       fw_proc_live(m));
	fw_proc_signal_all(m, SIGKILL);
	m->killed = true;
}

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
		fw_log(FW_LOG_WARN, "open files are limited to %llu, below max_conns (%d) + 64; "
				    "raise LimitNOFILE or ulimit -n",
		       (unsigned long long)rl.rlim_cur, cfg->max_conns);
}

static void listeners_close(struct fw_master *m)
{
	for (int i = 0; i < m->nlisteners; i++)
		fw_listen_close(&m->listeners[i]);
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
		fw_log(FW_LOG_WARN, "socket_owner and socket_group need the master to start as root; ignored");
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
		const struct fw_listen_spec *spec =
			status ? &m->cfg.status_listen.l[i - m->cfg.listen.n] : &m->cfg.listen.l[i];

		m->listeners[i].fd = -1;
		if (fw_listen_open(&m->listeners[i], spec, m->cfg.backlog, &perms) != 0) {
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
		fw_log_errno(FW_LOG_ERROR, "access_log %s: cannot open it for writing as uid %ld (the "
					   "workers' user); fix its owner or choose another path",
			     cfg->access_log, (long)geteuid());
		return -1;
	}
	close(fd);
	return 0;
}

/* What master_init() opened, closed (each part only if it was). */
static void master_finish(struct fw_master *m)
{
	listeners_close(m);
	if (m->sb != NULL)
		fw_scoreboard_destroy(m->sb, m->state_path);
	m->sb = NULL;
	if (m->sb_fd >= 0)
		close(m->sb_fd);
	m->sb_fd = -1;
}

static int master_init(struct fw_master *m, const struct fw_config *cfg)
{
	memset(m, 0, sizeof(*m));
	fw_notify_init();
	m->cfg = *cfg;
	m->pid = getpid();
	m->single_threaded = single_threaded();
	m->prefork_due = true;
	raise_nofile(cfg);
	m->workers_wanted = cfg->workers;
	for (size_t i = 0; i < FW_MAX_SLOTS; i++) {
		m->procs[i].chan = -1;
		m->procs[i].chan_worker = -1;
		m->procs[i].replaces = -1;
		m->procs[i].peer = -1;
	}
	m->sb_fd = -1;
	if (fw_signals_init() != 0)
		return -1;
	if (listeners_open(m) != 0)
		return -1;
	fw_cgroup_budget(m);
	fw_config_state_path(&m->cfg, m->state_path, sizeof(m->state_path));
	if (fw_state_prepare(&m->cfg, m->state_path) != 0)
		goto fail;
	m->sb_committed = (size_t)(m->workers_wanted + m->cfg.recycle_concurrency);
	if ((m->sb = fw_scoreboard_create(m->state_path, FW_MAX_SLOTS, m->sb_committed, &m->sb_fd)) == NULL) {
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
	m->sb->workers_wanted = (uint32_t)m->workers_wanted;
	fw_limits_publish(m);
	return 0;
fail:
	master_finish(m);
	return -1;
}

int fw_master_run(const struct fw_config *cfg)
{
	static struct fw_master m;
	uint64_t next_tick = 0;

	char where[512];

	if (master_init(&m, cfg) != 0)
		return 1;
	listeners_text(&m, where, sizeof(where));
	fw_log(FW_LOG_INFO, "master %ld starting %d worker(s): %s", (long)m.pid, m.workers_wanted, where);
	for (;;) {
		uint64_t now = fw_now_ms();

		on_signals(&m, fw_signals_take());
		if (m.mode != FW_RUNNING && fw_proc_live(&m) == 0)
			break;
		deadline(&m, now);
		if (now >= next_tick) {
			fw_slot_store(m.sb->master_heartbeat_ms, now);
			fw_timeouts_check(&m, now);
			fw_cgroup_check(&m);
			accept_queues(&m);
			next_tick = now + TICK_MS;
		}
		fw_recycle_step(&m);
		fw_handoff_forward(&m);
		announce(&m);
		wait_events(&m, poll_timeout(&m, fw_now_ms(), next_tick));
	}
	master_finish(&m);
	fw_log(FW_LOG_INFO, "master %ld stopped", (long)m.pid);
	return m.exit_status;
}
