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
 * A draining worker gives its idle keepalive connections back through its
 * channel (SCM_RIGHTS). The master passes each to the least busy serving
 * worker, or holds it until one is ready; the socket never closes, so
 * nginx never sees a reset and never races a close.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"
#include "proto/fcgi.h"

#define STUCK_MS 500       /* a handler running this long: no connection goes to its worker */
#define BOOT_TIMEOUT_MS 60000

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

/* ---- connections in transit ---- */

void fw_handoff_push(struct fw_master *m, int fd)
{
	if (m->mode != FW_RUNNING || m->nhandoffs == FW_HANDOFF_QUEUE) {
		/* Stopping, or a flood no worker takes: the connection ends here. */
		shutdown(fd, SHUT_RDWR);
		close(fd);
		return;
	}
	m->handoffs[m->nhandoffs++] = fd;
}

/* The serving worker with the fewest connections, counting what it was just given. */
static struct fw_proc *least_busy(struct fw_master *m, const size_t *given)
{
	struct fw_proc *best = NULL;
	uint64_t best_load = UINT64_MAX;

	for (size_t i = 0; i < m->nprocs_max; i++) {
		struct fw_proc *p = &m->procs[i];
		uint64_t load;

		const struct fw_slot *s = &m->sb->slots[i];
		uint64_t busy = fw_slot_load(s->handler_ms);

		if ((p->state != FW_PROC_READY && p->state != FW_PROC_RETIRING) || p->timed_out)
			continue;
		/* Not to a worker stuck in a handler, nor past its max_conns. */
		if ((busy != 0 && fw_now_ms() - busy > STUCK_MS) ||
		    fw_slot_load(s->conns) + given[i] >= (uint64_t)m->cfg.max_conns)
			continue;
		/* A retiring worker would only have to pass it on again. */
		load = fw_slot_load(s->conns) + given[i] + (p->state == FW_PROC_RETIRING ? 1000000 : 0);
		if (load < best_load) {
			best = p;
			best_load = load;
		}
	}
	return best;
}

/*
 * Pass the waiting connections on: each to the least busy serving worker
 * (counting what this round gave it), in one message per worker.
 */
void fw_handoff_forward(struct fw_master *m)
{
	static size_t given[FW_MAX_SLOTS];
	static int dest[FW_HANDOFF_QUEUE], left[FW_HANDOFF_QUEUE];
	size_t nleft = 0;

	if (m->nhandoffs == 0)
		return;
	memset(given, 0, m->nprocs_max * sizeof(given[0]));
	for (size_t i = 0; i < m->nhandoffs; i++) {
		struct fw_proc *p = m->mode == FW_RUNNING ? least_busy(m, given) : NULL;

		dest[i] = p != NULL ? (int)(p - m->procs) : -1;
		if (p != NULL)
			given[dest[i]]++;
	}
	for (size_t i = 0; i < m->nhandoffs; i++) {
		int slot = dest[i], batch[FW_CHAN_MAX_FDS], n = 0;
		struct fw_msg msg = {.type = FW_MSG_CONN};

		if (slot == -2)
			continue; /* sent with an earlier one */
		if (slot < 0) {
			if (m->mode == FW_RUNNING)
				left[nleft++] = m->handoffs[i]; /* no worker ready yet */
			else
				close(m->handoffs[i]);
			continue;
		}
		/* This one and the later ones for the same worker, in one message. */
		for (size_t j = i; j < m->nhandoffs && n < FW_CHAN_MAX_FDS; j++) {
			if (dest[j] == slot) {
				batch[n++] = m->handoffs[j];
				dest[j] = -2;
			}
		}
		msg.arg = (uint32_t)n;
		if (fw_chan_sendv(m->procs[slot].chan, &msg, batch, n) == 0) {
			for (int k = 0; k < n; k++)
				close(batch[k]);
		} else {
			for (int k = 0; k < n; k++)
				left[nleft++] = batch[k]; /* its channel is full: next round */
		}
	}
	memcpy(m->handoffs, left, nleft * sizeof(left[0]));
	m->nhandoffs = nleft;
}

/* ---- timeouts ---- */

/* One line of /proc/PID/NAME, or why it could not be read. */
static void proc_text(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(out, len, "(%s)", strerror(errno));
		return;
	}
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0) {
		snprintf(out, len, "(%s)", strerror(errno));
		return;
	}
	out[n] = '\0';
	for (char *c = out; *c != '\0'; c++)
		if (*c == '\n')
			*c = (c[1] == '\0') ? '\0' : '|';
	if (out[0] == '\0')
		snprintf(out, len, "(empty)");
}

/*
 * Answer the stuck request with a 504 on its own connection before the
 * kill, so that nginx gets a complete response: otherwise it would see
 * the connection close, answer 502, and retry an idempotent request on
 * another worker, where it would get stuck again. The connection is the
 * worker's; pidfd_getfd() lends the master a copy (parent of the worker,
 * so the ptrace check passes). Best effort: without it, the kill alone.
 */
/* Wait (bounded) until the kernel shows pid stopped. */
static bool stopped(pid_t pid)
{
	char stat[512], *state;

	for (int i = 0; i < 100; i++) {
		proc_text(pid, "stat", stat, sizeof(stat));
		state = strrchr(stat, ')');
		if (state != NULL && (state[2] == 'T' || state[2] == 't'))
			return true;
		usleep(1000);
	}
	return false;
}

/* Write all of p[0..n) to a non-blocking socket, waiting at most ~100 ms. */
static bool write_all(int fd, const char *p, size_t n)
{
	for (int tries = 0; n > 0 && tries < 10; tries++) {
		ssize_t w = write(fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			return false;
		} else {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			poll(&pfd, 1, 10);
		}
	}
	return n == 0;
}

static bool answer_on(pid_t pid, const struct fw_slot_request *r)
{
	static const char text[] = "Status: 504 Gateway Timeout\r\n"
				   "Content-Type: text/plain; charset=utf-8\r\n"
				   "Content-Length: 20\r\n\r\n"
				   "504 Gateway Timeout\n";
	struct fw_buf out = FW_BUF_INIT;
	int pidfd, fd = -1;
	bool sent = false;

	if ((pidfd = pidfd_open(pid, 0)) < 0)
		return false;
	if ((fd = pidfd_getfd(pidfd, r->fd, 0)) < 0) {
		fw_log_errno(FW_LOG_DEBUG, "pidfd_getfd(worker %ld, fd %d)", (long)pid, r->fd);
	} else if (fw_fcgi_put_stream(&out, FCGI_STDOUT, r->id, text, sizeof(text) - 1) == 0 &&
		   fw_fcgi_put_stream(&out, FCGI_STDOUT, r->id, NULL, 0) == 0 &&
		   fw_fcgi_put_end(&out, r->id, 0, FCGI_REQUEST_COMPLETE) == 0) {
		sent = write_all(fd, out.data, out.len);
	}
	fw_buf_release(&out);
	if (fd >= 0)
		close(fd);
	close(pidfd);
	return sent;
}

/*
 * Answer the stuck request with a 504 on its own connection before the
 * kill, so that nginx gets a complete response: otherwise it would see
 * the connection close, answer 502, and retry an idempotent request on
 * another worker, where it would get stuck again. The connection is the
 * worker's; pidfd_getfd() lends the master a copy (it is the worker's
 * parent, so the ptrace check passes). The worker is stopped first and
 * the scoreboard read again: only if the same request is still running
 * (nothing of its own answer can be on the wire) is the 504 written.
 * Best effort: otherwise the kill alone.
 */
static bool answer_timeout(pid_t pid, const struct fw_slot *s, uint64_t since,
			   const struct fw_slot_request *r)
{
	struct fw_slot_request now;
	bool same;

	if (r->fd < 0 || kill(pid, SIGSTOP) != 0)
		return false;
	same = stopped(pid) && fw_slot_load(s->handler_ms) == since &&
	       fw_slot_request_read(s, &now) && now.fd == r->fd && now.id == r->id;
	if (same)
		return answer_on(pid, r);
	kill(pid, SIGCONT);
	return false;
}

/*
 * The evidence, logged before the kill: which request, for how long, and
 * what the kernel says the process is doing (blocked in which wait
 * channel, in which system call, on which kernel stack).
 */
static void time_out(struct fw_master *m, struct fw_proc *p, const struct fw_slot *s, uint64_t ms)
{
	struct fw_slot_request r = {.method = "?", .path = "?", .fd = -1};
	char wchan[128], syscall[256], stack[1024], stat[512], *state;
	uint64_t since = fw_slot_load(s->handler_ms);
	bool answered;

	if (!fw_slot_request_read(s, &r))
		r.fd = -1; /* torn: name nothing, answer nothing */
	proc_text(p->pid, "wchan", wchan, sizeof(wchan));
	proc_text(p->pid, "syscall", syscall, sizeof(syscall));
	proc_text(p->pid, "stack", stack, sizeof(stack));
	proc_text(p->pid, "stat", stat, sizeof(stat));
	state = strrchr(stat, ')');
	answered = since != 0 && answer_timeout(p->pid, s, since, &r);
	fw_log(FW_LOG_ERROR,
	       "worker %ld timed out: %s %s has run for %llu ms (timeout %d s); state %.1s, wchan %s, "
	       "syscall %s, kernel stack %s; %s, killing the worker",
	       (long)p->pid, r.method, r.path, (unsigned long long)ms, m->cfg.timeout,
	       state != NULL && state[1] == ' ' ? state + 2 : "?", wchan, syscall, stack,
	       answered ? "answered 504" : "could not answer it");
	p->timed_out = true;
	if (kill(p->pid, SIGKILL) != 0 && errno != ESRCH)
		fw_log_errno(FW_LOG_ERROR, "kill(%ld, SIGKILL)", (long)p->pid);
}

void fw_timeouts_check(struct fw_master *m, uint64_t now)
{
	uint64_t limit = (uint64_t)m->cfg.timeout * 1000;

	for (size_t i = 0; i < m->nprocs_max; i++) {
		struct fw_proc *p = &m->procs[i];
		const struct fw_slot *s = &m->sb->slots[i];
		uint64_t since;

		if (p->state == FW_PROC_FREE || p->timed_out)
			continue;
		/*
		 * A worker stuck in its start-up hook would hold a recycle (and,
		 * at recycle_concurrency = 1, every later one) forever.
		 */
		if (p->state == FW_PROC_BOOTING && now - p->spawned_ms > BOOT_TIMEOUT_MS) {
			fw_log(FW_LOG_ERROR, "worker %ld not ready after %d s; killing it", (long)p->pid,
			       BOOT_TIMEOUT_MS / 1000);
			kill(p->pid, SIGKILL);
			p->spawned_ms = now; /* once */
			continue;
		}
		if (limit == 0)
			continue;
		since = fw_slot_load(s->handler_ms);
		if (since != 0 && now > since && now - since > limit)
			time_out(m, p, s, now - since);
	}
}

/* ---- the container's memory limit ---- */

#define CGROUP_BUDGET_SHARE 85 /* % of the limit shared out as rss_limit_mb */
#define CGROUP_HIGH_WATER 90   /* % of the limit at which the largest worker goes */
#define CGROUP_WORTH_RECYCLING 2 /* % of the limit the largest worker must hold for that */

/*
 * No rss_limit_mb, but a cgroup memory limit: share most of it among the
 * workers, counting the replacements that may run beside them, so each
 * worker retires on its own before the group nears the limit.
 */
void fw_cgroup_budget(struct fw_master *m)
{
	uint64_t share, mb;
	int slots = m->workers_wanted + m->cfg.recycle_concurrency;

	if (fw_cgroup_detect(&m->cgroup) != 0 || (m->cfg.rss_limit_mb != 0 && !m->rss_limit_derived))
		return;
	share = m->cgroup.limit / 100 * CGROUP_BUDGET_SHARE;
	mb = share / (uint64_t)slots >> 20;
	if (mb < 16)
		mb = 16;
	m->cfg.rss_limit_mb = (int)mb;
	m->rss_limit_derived = true;
	if (m->cfg.rss_soft_limit_mb >= m->cfg.rss_limit_mb)
		m->cfg.rss_soft_limit_mb = 0;
	fw_log(FW_LOG_INFO,
	       "rss_limit_mb derived from the cgroup memory limit (%llu MiB, %s): %llu MiB per worker "
	       "(%d%% of it over %d workers and %d replacement(s))",
	       (unsigned long long)(m->cgroup.limit >> 20), m->cgroup.dir, (unsigned long long)mb,
	       CGROUP_BUDGET_SHARE, m->workers_wanted, m->cfg.recycle_concurrency);
}

/* The limits in effect, for the status page (after start and each reload). */
void fw_limits_publish(struct fw_master *m)
{
	struct fw_scoreboard *sb = m->sb;

	fw_slot_store(sb->rss_limit_kb, (uint64_t)m->cfg.rss_limit_mb * 1024);
	fw_slot_store(sb->rss_soft_limit_kb, (uint64_t)m->cfg.rss_soft_limit_mb * 1024);
	fw_slot_store(sb->max_requests, (uint64_t)m->cfg.max_requests);
	fw_slot_store(sb->max_requests_jitter, (uint64_t)m->cfg.max_requests_jitter);
	fw_slot_store(sb->timeout_s, (uint64_t)m->cfg.timeout);
	fw_slot_store(sb->cgroup_limit_bytes, m->cgroup.limit);
}

static bool victim_alive(const struct fw_master *m)
{
	for (size_t i = 0; m->cgroup_victim != 0 && i < m->nprocs_max; i++)
		if (m->procs[i].state != FW_PROC_FREE && m->procs[i].pid == m->cgroup_victim)
			return true;
	return false;
}

/*
 * Near the limit, the largest worker drains now (its replacement starts
 * meanwhile), one at a time: the kernel's OOM killer would take the whole
 * group, in-flight requests and all.
 */
void fw_cgroup_check(struct fw_master *m)
{
	struct fw_proc *largest = NULL;
	uint64_t ws, biggest = 0;

	if (m->cgroup.limit == 0)
		return;
	ws = fw_cgroup_working_set(&m->cgroup);
	fw_slot_store(m->sb->cgroup_working_set_bytes, ws);
	if (m->mode != FW_RUNNING || victim_alive(m))
		return;
	m->cgroup_victim = 0;
	if (ws / CGROUP_HIGH_WATER < m->cgroup.limit / 100)
		return;
	for (size_t i = 0; i < m->nprocs_max; i++) {
		struct fw_proc *p = &m->procs[i];
		uint64_t kb = fw_slot_load(m->sb->slots[i].private_kb);

		if ((p->state == FW_PROC_READY || p->state == FW_PROC_RETIRING) && kb > biggest) {
			largest = p;
			biggest = kb;
		}
	}
	if (largest == NULL)
		return;
	/*
	 * Workers that hold little are not what fills the group (page cache
	 * that cannot be dropped, tmpfs files, other processes): recycling
	 * them would only churn. Say so, once a minute.
	 */
	if (biggest * 1024 < m->cgroup.limit / 100 * CGROUP_WORTH_RECYCLING) {
		uint64_t now = fw_now_ms();

		if (m->cgroup_warned_ms == 0 || now - m->cgroup_warned_ms >= 60000) {
			fw_log(FW_LOG_WARN,
			       "the group uses %llu MiB of its %llu MiB memory limit, but the largest worker "
			       "holds only %llu KiB: the memory is elsewhere (page cache, tmpfs, other "
			       "processes); not recycling",
			       (unsigned long long)(ws >> 20), (unsigned long long)(m->cgroup.limit >> 20),
			       (unsigned long long)biggest);
			m->cgroup_warned_ms = now;
		}
		return;
	}
	fw_log(FW_LOG_WARN,
	       "the group uses %llu MiB of its %llu MiB memory limit: recycling worker %ld, the largest "
	       "(%llu KiB private)",
	       (unsigned long long)(ws >> 20), (unsigned long long)(m->cgroup.limit >> 20),
	       (long)largest->pid, (unsigned long long)biggest);
	if (fw_proc_send(largest, FW_MSG_DRAIN, -1) != 0)
		kill(largest->pid, SIGTERM);
	largest->state = FW_PROC_DRAINING;
	/* A worker a reload is replacing stays one: "reload done" waits for it. */
	if (largest->retire != FW_RETIRE_RELOAD) {
		largest->retire = FW_RETIRE_MEMORY;
		largest->retire_figure = biggest;
	}
	m->cgroup_victim = largest->pid;
}
