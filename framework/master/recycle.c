/*
 * Recycling without losing a request.
 *
 * A worker asks to retire (max_requests, memory) or the master decides to
 * replace it (reload). For a worker that is still healthy the replacement
 * comes first: the master forks it, waits for its READY, and only then
 * tells the old worker to drain, so serving capacity never drops below
 * `workers`. At most `recycle_concurrency` recycles run at once; a wave of
 * workers reaching their limit together is served one after another.
 * A worker over its memory limit drains at once and is replaced meanwhile.
 *
 * A draining worker gives its idle keepalive connections to its
 * replacement, or back through its channel (handoff.c).
 */
#include <signal.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"

void fw_recycle_retire_wanted(struct fw_master *m, struct fw_proc *p, enum fw_retire_reason why,
			      uint64_t figure, bool draining)
{
	if (m->mode != FW_RUNNING || (p->state != FW_PROC_READY && p->state != FW_PROC_RETIRING))
		return;
	if (why <= FW_RETIRE_NONE || why >= FW_RETIRE_NREASONS)
		why = FW_RETIRE_MAX_REQUESTS;
	fw_log(FW_LOG_DEBUG, "worker %ld asks to retire: %s (%llu)", (long)p->pid,
	       fw_retire_reason_name(why), (unsigned long long)figure);
	if (p->state == FW_PROC_READY)
		p->retire_ms = fw_now_ms();
	/* The first reason stays (a reload, then max_requests while waiting), but memory wins. */
	if (p->retire == FW_RETIRE_NONE || why == FW_RETIRE_MEMORY) {
		p->retire = why;
		p->retire_figure = figure;
	}
	if (!draining) {
		p->state = FW_PROC_RETIRING;
		return;
	}
	/*
	 * It drains by itself (memory). DRAIN acknowledges it: no connection
	 * is passed to it after this message, and it waits for it before it
	 * exits, so nothing is left unread in its channel.
	 */
	p->state = FW_PROC_DRAINING;
	if (fw_proc_send(p, FW_MSG_DRAIN, -1) != 0) {
		fw_log_errno(FW_LOG_WARN, "acknowledging worker %ld's drain; stopping it", (long)p->pid);
		kill(p->pid, SIGTERM);
	}
}

/*
 * A replacement is ready: its old worker drains now. With DRAIN it gets
 * its end of the socket pair the replacement was forked with, so its idle
 * connections go straight across: one SCM_RIGHTS hop instead of two, and
 * no wake-up of the master for them. Without it (or if the replacement is
 * gone by then) they come through the master.
 */
void fw_recycle_ready(struct fw_master *m, struct fw_proc *p)
{
	struct fw_proc *old = p->replaces >= 0 ? &m->procs[p->replaces] : NULL;
	int peer;

	p->replaces = -1;
	if (old == NULL || old->pid != p->replaces_pid || old->state != FW_PROC_RETIRING) {
		/* None, or it died or drains on its own: the replacement just serves (and reads EOF). */
		fw_proc_peer_close(p);
		return;
	}
	peer = p->peer; /* it goes with DRAIN */
	p->peer = -1;
	if (fw_proc_send(old, FW_MSG_DRAIN, peer) != 0) {
		fw_log_errno(FW_LOG_WARN, "telling worker %ld to drain; stopping it", (long)old->pid);
		kill(old->pid, SIGTERM);
	}
	if (peer >= 0)
		close(peer);
	old->state = FW_PROC_DRAINING;
}

/* Workers that serve or will: what `workers` is compared with. */
static size_t capacity(const struct fw_master *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nprocs_max; i++) {
		const struct fw_proc *p = &m->procs[i];

		n += p->state == FW_PROC_READY || p->state == FW_PROC_BOOTING ||
		     (p->state == FW_PROC_RETIRING && !p->replacement_started);
	}
	return n;
}

static size_t in_progress(const struct fw_master *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nprocs_max; i++) {
		const struct fw_proc *p = &m->procs[i];

		n += (p->state == FW_PROC_RETIRING && p->replacement_started) ||
		     (p->state == FW_PROC_DRAINING && p->retire != FW_RETIRE_NONE);
	}
	return n;
}

/* The retiring worker that asked first and has no replacement yet. */
static struct fw_proc *oldest_retiring(struct fw_master *m)
{
	struct fw_proc *best = NULL;

	for (size_t i = 0; i < m->nprocs_max; i++) {
		struct fw_proc *p = &m->procs[i];

		if (p->state == FW_PROC_RETIRING && !p->replacement_started &&
		    (best == NULL || p->retire_ms < best->retire_ms))
			best = p;
	}
	return best;
}

/* More workers than wanted (SIGTTOU, a reload): drain one, no replacement. */
static void scale_down(struct fw_master *m)
{
	struct fw_proc *victim = oldest_retiring(m);

	for (size_t i = 0; victim == NULL && i < m->nprocs_max; i++) {
		if (m->procs[i].state == FW_PROC_READY &&
		    (victim == NULL || m->procs[i].spawned_ms < victim->spawned_ms))
			victim = &m->procs[i];
	}
	if (victim == NULL)
		return;
	if (fw_proc_send(victim, FW_MSG_DRAIN, -1) != 0)
		kill(victim->pid, SIGTERM);
	if (victim->state == FW_PROC_READY)
		victim->retire = FW_RETIRE_NONE;
	victim->state = FW_PROC_DRAINING;
}

void fw_recycle_step(struct fw_master *m)
{
	uint64_t now = fw_now_ms();
	struct fw_proc *p;

	if (m->mode != FW_RUNNING)
		return;
	while (capacity(m) > (size_t)m->workers_wanted && capacity(m) > 0) {
		size_t before = capacity(m);
		scale_down(m);
		if (capacity(m) == before)
			break;
	}
	while (in_progress(m) < (size_t)m->cfg.recycle_concurrency && now >= m->spawn_after_ms &&
	       (p = oldest_retiring(m)) != NULL) {
		if (fw_proc_spawn(m, (int)(p - m->procs)) != 0) {
			m->spawn_after_ms = now + 1000;
			return;
		}
		p->replacement_started = true;
	}
	/* Crashes, memory retirements and SIGTTIN leave room: fill it. */
	while (capacity(m) < (size_t)m->workers_wanted && now >= m->spawn_after_ms) {
		/* After a failed boot, one worker at a time until one works. */
		if (m->boot_failures > 0 && fw_proc_count(m, FW_PROC_BOOTING) > 0)
			break;
		if (fw_proc_spawn(m, -1) != 0) {
			m->spawn_after_ms = now + 1000;
			return;
		}
	}
}

/* SIGHUP: read the file again, then replace every worker, replacement first. */
int fw_recycle_reload(struct fw_master *m)
{
	struct fw_config next;
	struct fw_buf errors = FW_BUF_INIT;
	const char *key;
	size_t n = 0;

	if (fw_config_load(&next, m->cfg.file[0] ? m->cfg.file : NULL, &errors) != 0) {
		fw_log(FW_LOG_ERROR, "SIGHUP: the configuration has errors; keeping the running one:\n%s",
		       errors.data != NULL ? errors.data : "");
		fw_buf_release(&errors);
		return -1;
	}
	fw_buf_release(&errors);
	if ((key = fw_config_restart_needed(&m->cfg, &next)) != NULL) {
		fw_log(FW_LOG_WARN, "SIGHUP: '%s' changed; that needs a restart, keeping the old value", key);
		next.listen = m->cfg.listen;
		next.status_listen = m->cfg.status_listen;
		next.protocol = m->cfg.protocol;
		next.socket_mode = m->cfg.socket_mode;
		memcpy(next.socket_owner, m->cfg.socket_owner, sizeof(next.socket_owner));
		memcpy(next.socket_group, m->cfg.socket_group, sizeof(next.socket_group));
		next.backlog = m->cfg.backlog;
		memcpy(next.user, m->cfg.user, sizeof(next.user));
		memcpy(next.group, m->cfg.group, sizeof(next.group));
		memcpy(next.state_path, m->cfg.state_path, sizeof(next.state_path));
	}
	if (strcmp(m->cfg.error_log, next.error_log) != 0 && fw_log_open(next.error_log) != 0) {
		fw_log_errno(FW_LOG_ERROR, "SIGHUP: opening error_log %s; keeping %s", next.error_log,
			     m->cfg.error_log);
		memcpy(next.error_log, m->cfg.error_log, sizeof(next.error_log));
	}
	/*
	 * A new access_log the workers cannot open would fail every new
	 * worker's boot, and five boot failures stop the whole server: keep
	 * the old one, as for error_log.
	 */
	if (strcmp(m->cfg.access_log, next.access_log) != 0 && fw_access_log_writable(&next) != 0) {
		fw_log(FW_LOG_ERROR, "SIGHUP: keeping access_log %s",
		       m->cfg.access_log[0] != '\0' ? m->cfg.access_log : "off");
		memcpy(next.access_log, m->cfg.access_log, sizeof(next.access_log));
	}
	m->cfg = next;
	m->workers_wanted = next.workers;
	m->rss_limit_derived = false; /* the file's rss_limit_mb, unless derived again */
	fw_cgroup_budget(m);          /* again: the worker count may have changed */
	fw_slot_store(m->sb->workers_wanted, (uint32_t)next.workers);
	fw_limits_publish(m);
	fw_log_set_level(next.log_level);
	m->prefork_due = true; /* loading the file touched the master's heap */
	for (size_t i = 0; i < m->nprocs_max; i++) {
		struct fw_proc *p = &m->procs[i];

		if (p->state == FW_PROC_READY || p->state == FW_PROC_BOOTING ||
		    (p->state == FW_PROC_RETIRING && !p->replacement_started)) {
			/* A booting worker has the old configuration too; it retires once ready. */
			p->state = p->state == FW_PROC_BOOTING ? FW_PROC_BOOTING : FW_PROC_RETIRING;
			p->retire = FW_RETIRE_RELOAD;
			p->retire_ms = fw_now_ms();
			p->retire_figure = fw_slot_load(m->sb->slots[i].requests);
			n++;
		}
	}
	fw_log(FW_LOG_INFO, "SIGHUP: configuration reloaded; replacing %zu worker(s), %d wanted", n,
	       m->workers_wanted);
	return 0;
}
