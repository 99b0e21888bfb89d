/*
 * The master loop: what happens becomes an event for the policy, and its
 * decisions are carried out. ppoll() waits on the workers' channels with
 * the signals unblocked only while waiting (their handlers only set
 * flags); a tick once a second brings what the scoreboard says (handlers
 * running, memory, connections) for the timeouts and the cgroup.
 */
#include "master/master.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "core/unshared.h"
#include "ipc/chan.h"
#include "master/notify.h"
#include "master/signals.h"

#define TICK_MS 1000
#define HANDOFF_RETRY_MS 10

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

/*
 * Written at every event and tick: unshared pages (core/unshared.h), so
 * that the master's writes don't copy pages it shares with its workers.
 */
static void *scratch(void **p, void *fallback, size_t size)
{
	if (*p == NULL && (*p = fw_unshared_alloc(size)) == NULL)
		*p = fallback;
	return *p;
}

const struct fw_readings *fw_master_readings(struct fw_master *m)
{
	static struct fw_readings fallback;
	static void *mem;
	struct fw_readings *r = scratch(&mem, &fallback, sizeof(fallback));

	for (size_t i = 0; i < m->pol.nslots; i++) {
		const struct fw_slot *s = &m->sb->slots[i];

		r->slot[i] = (struct fw_reading){
			.handler_ms = fw_slot_load(s->handler_ms),
			.conns = fw_slot_load(s->conns),
			.private_kb = fw_slot_load(s->private_kb),
			.requests = fw_slot_load(s->requests),
		};
	}
	r->cgroup_limit = m->cgroup.limit;
	return r;
}

#define QUEUE FW_POLICY_MAX_ACTIONS

/*
 * Events are told to the policy one at a time, in order: one that comes
 * up while the actions of another are carried out (a spawn that fails, a
 * worker that can't be asked) waits in the queue until they are done.
 */
void fw_master_event(struct fw_master *m, const struct fw_event *ev)
{
	static struct fw_action fallback_acts[64];
	static struct fw_event fallback_queue[16];
	static void *acts_mem, *queue_mem;
	static size_t head, tail;
	static bool busy;
	struct fw_action *acts = scratch(&acts_mem, fallback_acts,
					 FW_POLICY_MAX_ACTIONS * sizeof(*acts));
	struct fw_event *queue = scratch(&queue_mem, fallback_queue, QUEUE * sizeof(*queue));
	size_t max = acts == fallback_acts ? FW_NELEM(fallback_acts) : FW_POLICY_MAX_ACTIONS;
	size_t cap = queue == fallback_queue ? FW_NELEM(fallback_queue) : QUEUE;

	if (tail - head == cap) {
		fw_log(FW_LOG_ERROR, "master: %zu events waiting; event %d dropped", cap, ev->type);
		return;
	}
	queue[tail++ % cap] = *ev;
	if (busy)
		return; /* the loop below tells it */
	busy = true;
	while (head != tail) {
		struct fw_event e = queue[head++ % cap];
		size_t n = fw_policy_on(&m->pol, &e, acts, max);

		for (size_t i = 0; i < n; i++)
			fw_act(m, &acts[i], e.now);
	}
	busy = false;
}

static void event(struct fw_master *m, enum fw_ev_type type, uint64_t now)
{
	struct fw_event ev = {.type = type, .now = now, .slot = -1};

	fw_master_event(m, &ev);
}

static void stop(struct fw_master *m, bool quit, const char *why, uint64_t now)
{
	struct fw_event ev = {.type = FW_EV_STOP, .now = now, .slot = -1, .flag = quit};

	if (m->pol.mode == FW_QUITTING || m->pol.mode == (quit ? FW_QUITTING : FW_STOPPING))
		return;
	fw_log(FW_LOG_INFO, "%s: %s", why, quit ? "stopping now" : "stopping gracefully");
	fw_master_event(m, &ev);
	fw_handoff_forward(m); /* closes what was waiting for a worker */
}

static void scale(struct fw_master *m, int delta, uint64_t now)
{
	struct fw_event ev = {.type = FW_EV_SCALE, .now = now, .slot = -1, .delta = delta};
	int before = m->pol.workers_wanted;

	fw_master_event(m, &ev);
	if (m->pol.workers_wanted == before)
		return;
	fw_slot_store(m->sb->workers_wanted, (uint32_t)m->pol.workers_wanted);
	fw_log(FW_LOG_INFO, "%s: %d worker(s) wanted", delta > 0 ? "SIGTTIN" : "SIGTTOU",
	       m->pol.workers_wanted);
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

static void reload(struct fw_master *m, uint64_t now)
{
	struct fw_event ev = {.type = FW_EV_RELOAD, .now = now, .slot = -1};
	size_t n = 0;

	fw_notify_reloading();
	if (fw_reload(m) != 0) {
		/* systemd waits for READY=1 after RELOADING=1, whatever came of it. */
		fw_notify_ready("reload failed: configuration errors; the running configuration stays");
		return;
	}
	ev.r = fw_master_readings(m);
	for (size_t i = 0; i < m->pol.nslots; i++) {
		enum fw_wstate st = m->pol.slot[i].state;

		n += st == FW_W_SERVING || st == FW_W_BOOTING || st == FW_W_QUEUED;
	}
	fw_log(FW_LOG_INFO, "SIGHUP: configuration reloaded; replacing %zu worker(s), %d wanted", n,
	       m->pol.workers_wanted);
	fw_master_event(m, &ev); /* "reload done" at once when no worker had to be replaced */
}

static void on_signals(struct fw_master *m, unsigned sigs, uint64_t now)
{
	/*
	 * Stop before reaping: systemd and a terminal signal the whole group,
	 * so workers may exit before the master has read its own signal, and
	 * they must not be mistaken for crashes and replaced.
	 */
	if (sigs & (FW_SIG_INT | FW_SIG_QUIT))
		stop(m, true, sigs & FW_SIG_INT ? "SIGINT" : "SIGQUIT", now);
	else if (sigs & FW_SIG_TERM)
		stop(m, false, "SIGTERM", now);
	if (sigs & FW_SIG_CHLD)
		fw_proc_reap(m);
	if ((sigs & FW_SIG_HUP) && m->pol.mode == FW_RUNNING) {
		/* An upgrade reads the configuration again itself, and a reload's workers would mix builds. */
		if (m->pol.upgrade != FW_UPGRADE_NONE)
			fw_log(FW_LOG_WARN, "SIGHUP: refused, an upgrade is under way (%s)",
			       fw_upgrade_phase_name(m->pol.upgrade));
		else
			reload(m, now);
	}
	if (sigs & FW_SIG_USR2)
		fw_upgrade_signal(m, now);
	if (sigs & FW_SIG_TTIN)
		scale(m, +1, now);
	if (sigs & FW_SIG_TTOU)
		scale(m, -1, now);
	if (sigs & FW_SIG_USR1) {
		struct fw_msg reopen = {.type = FW_MSG_REOPEN};

		/* logrotate moved the files: the master reopens its own, each worker its own. */
		if (fw_log_reopen() != 0)
			fw_log_errno(FW_LOG_ERROR,
				     "SIGUSR1: reopening the error log; still writing the old file");
		else
			fw_log(FW_LOG_INFO, "SIGUSR1: error log reopened; workers reopen theirs");
		fw_proc_send_msg_all(m, &reopen);
	}
}

static void on_message(struct fw_master *m, int slot, const struct fw_msg *msg, const int *fds, int nfds)
{
	struct fw_event ev = {.now = fw_now_ms(), .slot = slot};
	int used = 0;

	switch (msg->type) {
	case FW_MSG_READY:
		fw_log(FW_LOG_DEBUG, "worker %ld ready", (long)m->procs[slot].pid);
		ev.type = FW_EV_READY;
		fw_master_event(m, &ev);
		break;
	case FW_MSG_RETIRE:
		fw_log(FW_LOG_DEBUG, "worker %ld asks to retire: %s (%llu)", (long)m->procs[slot].pid,
		       fw_retire_reason_name((enum fw_retire_reason)msg->arg),
		       (unsigned long long)msg->value);
		ev.type = FW_EV_RETIRE;
		ev.reason = (enum fw_retire_reason)msg->arg;
		ev.figure = msg->value;
		ev.flag = msg->value2 != 0;
		fw_master_event(m, &ev);
		break;
	case FW_MSG_HANDOFF:
		for (; used < nfds; used++)
			fw_handoff_push(m, fds[used], fw_msg_kind(msg, used));
		break;
	case FW_MSG_STUCK:
		used = fw_timeout_reply(m, slot, msg, nfds > 0 ? fds[0] : -1) ? 1 : 0;
		break;
	case FW_MSG_EXEC_FAILED:
		if (m->pol.slot[slot].exec)
			m->canary_errno = (int)msg->value;
		break;
	default:
		fw_log(FW_LOG_WARN, "worker %ld sent unknown message %u", (long)m->procs[slot].pid,
		       msg->type);
	}
	for (int i = used; i < nfds; i++)
		close(fds[i]);
}

void fw_master_read_channel(struct fw_master *m, int slot)
{
	struct fw_proc *p = &m->procs[slot];
	struct fw_msg msg;
	int r, fds[FW_CHAN_MAX_FDS], n;

	while (p->chan >= 0 && (r = fw_chan_recvv(p->chan, &msg, fds, &n)) == 1)
		on_message(m, slot, &msg, fds, n);
	if (p->chan < 0)
		return;
	if (r == 0) {
		/* Only if its end was lost (the master keeps it until reaping): SIGCHLD tells the rest. */
		close(p->chan);
		p->chan = -1;
	} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
		fw_log_errno(FW_LOG_WARN, "recvmsg(worker %ld)", (long)p->pid);
	}
}

static int poll_timeout(const struct fw_master *m, uint64_t now, uint64_t next_tick)
{
	uint64_t wake = next_tick;

	if (m->nhandoffs > 0 && now + HANDOFF_RETRY_MS < wake)
		wake = now + HANDOFF_RETRY_MS;
	wake = fw_policy_wake(&m->pol, now, wake);
	return wake > now ? (int)(wake - now) : 0;
}

static void wait_events(struct fw_master *m, int timeout_ms)
{
	static struct pollfd fallback_fds[FW_MAX_SLOTS];
	static int fallback_owner[FW_MAX_SLOTS];
	static void *fds_mem, *owner_mem;
	struct pollfd *fds = scratch(&fds_mem, fallback_fds, sizeof(fallback_fds));
	int *owner = scratch(&owner_mem, fallback_owner, sizeof(fallback_owner));
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
	nfds_t n = 0;
	int r;

	for (size_t i = 0; i < m->pol.nslots; i++) {
		if (m->procs[i].pid != 0 && m->procs[i].chan >= 0) {
			fds[n] = (struct pollfd){.fd = m->procs[i].chan, .events = POLLIN};
			owner[n++] = (int)i;
		}
	}
	r = ppoll(fds, n, &ts, fw_signals_waitmask());
	if (r < 0) {
		if (errno != EINTR)
			fw_log_errno(FW_LOG_ERROR, "ppoll");
		return;
	}
	for (nfds_t i = 0; i < n && r > 0; i++) {
		if (fds[i].revents != 0 && m->procs[owner[i]].chan == fds[i].fd)
			fw_master_read_channel(m, owner[i]);
	}
}

/* Once a second: the heartbeat, and what the scoreboard says, for the timeouts and the cgroup. */
static void tick(struct fw_master *m, uint64_t now)
{
	struct fw_event ev = {.type = FW_EV_TICK, .now = now, .slot = -1};
	struct fw_readings *r = (struct fw_readings *)fw_master_readings(m);

	fw_slot_store(m->sb->master_heartbeat_ms, now);
	fw_cgroup_read(m, r);
	ev.r = r;
	fw_master_event(m, &ev);
	accept_queues(m);
}

/*
 * An upgrade's new image (or its old one again) has the table: what
 * happened while it was executed (exits, messages) is still queued.
 */
static void resumed(struct fw_master *m)
{
	struct fw_event ev = {.type = m->resumed == FW_RESUMED ? FW_EV_RESUMED : FW_EV_EXEC_FAILED,
			      .now = fw_now_ms(),
			      .slot = -1,
			      .r = fw_master_readings(m)};

	fw_master_event(m, &ev);
	m->resumed = FW_FRESH; /* said: a later execve failure is this image's own */
	fw_proc_reap(m);
}

int fw_master_run(const struct fw_config *cfg, const struct fw_worker_entry *entry)
{
	static struct fw_master m;
	uint64_t next_tick = 0;
	char where[512];

	if (fw_master_init(&m, cfg, entry) != 0)
		return 1;
	if (m.resumed != FW_FRESH) {
		resumed(&m);
	} else {
		fw_listeners_text(&m, where, sizeof(where));
		fw_log(FW_LOG_INFO, "master %ld starting %d worker(s): %s", (long)m.pid,
		       m.pol.workers_wanted, where);
	}
	for (;;) {
		uint64_t now = fw_now_ms();

		on_signals(&m, fw_signals_take(), now);
		/* Here, between events, with the signals taken: any later one waits in the kernel. */
		if (m.exec_due)
			fw_upgrade_exec(&m);
		if (m.pol.mode != FW_RUNNING && fw_policy_live(&m.pol) == 0)
			break;
		if (now >= next_tick) {
			tick(&m, now);
			next_tick = now + TICK_MS;
		}
		event(&m, FW_EV_STEP, now); /* a backoff that ended, the stop deadline */
		fw_handoff_forward(&m);
		wait_events(&m, poll_timeout(&m, fw_now_ms(), next_tick));
	}
	fw_master_finish(&m);
	fw_log(FW_LOG_INFO, "master %ld stopped", (long)m.pid);
	return m.pol.exit_status;
}
