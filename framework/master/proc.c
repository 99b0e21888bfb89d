/*
 * The process table's descriptors: forking a worker into the slot the
 * policy chose, its channel and its socket pair to the worker it
 * replaces; reaping it, with what it left behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"
#include "master/signals.h"

/*
 * In the child: drop what belongs to the master, then become a worker:
 * this build's, or with envp, the new build's by exec (an upgrade's canary).
 */
static _Noreturn void child(struct fw_master *m, int slot, int chan, int peer_in, char **envp)
{
	struct fw_slot *s = &m->sb->slots[slot];
	struct fw_worker_boot boot = {
		.cfg = &m->cfg,
		.nlisten = m->nlisteners,
		.chan_fd = chan,
		.peer_in = peer_in,
		.slot_index = slot,
		.slot = s,
		.sb = m->sb,
		.master_pid = m->pid,
	};

	for (int i = 0; i < m->nlisteners; i++) {
		boot.listen[i].fd = m->listeners[i].fd;
		boot.listen[i].proto = m->listeners[i].proto;
		boot.listen[i].inet = m->listeners[i].addr.family != AF_UNIX;
		boot.listen[i].status = m->listeners[i].status;
	}
	fw_signals_child();
	memset(s, 0, sizeof(*s));
	fw_slot_store(s->pid, (int32_t)getpid());
	fw_slot_store(s->started_ms, fw_now_ms());
	fw_slot_store(s->state, (uint32_t)FW_WORKER_BOOTING);
	if (envp != NULL)
		fw_upgrade_exec_worker(m, chan, peer_in, envp);
	/* Opt-in core files and evidence; the workers' user can then read their memory. */
	if (m->cfg.dumpable && prctl(PR_SET_DUMPABLE, 1) != 0)
		fw_log_errno(FW_LOG_WARN, "prctl(PR_SET_DUMPABLE)");
	for (size_t i = 0; i < m->pol.nslots; i++) {
		const struct fw_proc *p = &m->procs[i];

		if (p->chan >= 0)
			close(p->chan);
		if (p->chan_worker >= 0)
			close(p->chan_worker);
		if (p->peer >= 0)
			close(p->peer);
	}
	for (size_t i = 0; i < m->nhandoffs; i++)
		close(m->handoffs[i].fd);
	close(m->sb_fd); /* the mapping stays; the file is the master's to grow */
	fw_fork_exit(m->entry->main(&boot));
}

/*
 * A replacement's socket pair to the worker it replaces, made with the
 * fork: the replacement watches its end from the start, and the old worker
 * gets the other end with DRAIN once the replacement is ready. Without it
 * the idle connections go through the master.
 */
static void peer_pair(int replaces, int peer[2])
{
	if (replaces >= 0 && fw_chan_pair(peer) == 0)
		return;
	if (replaces >= 0)
		fw_log_errno(FW_LOG_DEBUG, "socketpair for a direct handoff");
	peer[0] = peer[1] = -1;
}

static void close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* The slot's blocks in the scoreboard file, before its first worker touches them. */
static int commit(struct fw_master *m, int slot)
{
	int err;

	if ((size_t)slot < m->sb_committed)
		return 0;
	if ((err = fw_scoreboard_commit(m->sb_fd, (size_t)slot + 1)) != 0) {
		fw_log(FW_LOG_ERROR, "scoreboard %s: no room for worker slot %d: %s", m->state_path,
		       slot, strerror(err));
		return -1;
	}
	m->sb_committed = (size_t)slot + 1;
	return 0;
}

int fw_proc_spawn(struct fw_master *m, int slot, int replaces, bool exec)
{
	int fds[2], peer[2];
	char **envp = NULL;
	pid_t pid;

	if (commit(m, slot) != 0)
		return -1;
	if (fw_chan_pair(fds) != 0) {
		fw_log_errno(FW_LOG_ERROR, "socketpair");
		return -1;
	}
	peer_pair(replaces, peer);
	/* Made here: after fork, with other threads, only async-signal-safe calls. */
	if (exec && (envp = fw_upgrade_worker_env(m, slot, fds[1], peer[1])) == NULL) {
		close_pair(fds);
		close_pair(peer);
		return -1;
	}
	if ((pid = fw_fork(m)) < 0) {
		fw_log_errno(FW_LOG_ERROR, "fork");
		close_pair(fds);
		close_pair(peer);
		fw_exec_env_free(envp);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		if (peer[0] >= 0)
			close(peer[0]);
		child(m, slot, fds[1], peer[1], envp);
	}
	fw_exec_env_free(envp);
	if (peer[1] >= 0)
		close(peer[1]);
	m->procs[slot] = (struct fw_proc){
		.pid = pid,
		.chan = fds[0],
		/*
		 * The worker's end stays open here too, until the worker is
		 * reaped. Its exit then does not wake the master a second time
		 * (end of file on the channel, then SIGCHLD; a context switch
		 * each), and what was sent to it and never read can be taken back
		 * (take_back()).
		 */
		.chan_worker = fds[1],
		.peer = peer[0],
	};
	fw_log(FW_LOG_DEBUG, "worker %ld %s into slot %d", (long)pid,
	       exec ? "started by exec" : "forked", slot);
	return 0;
}

/*
 * The master's end of a replacement's handoff pair, when it will not go
 * to the old worker: the replacement then reads end of file. A draining
 * worker waits for that (worker.c), so an end left open here would hold
 * the replacement until graceful_timeout.
 */
void fw_proc_peer_close(struct fw_proc *p)
{
	if (p->peer >= 0) {
		close(p->peer);
		p->peer = -1;
	}
}

int fw_proc_send(struct fw_master *m, int slot, uint32_t type, int fd)
{
	struct fw_msg msg = {.type = type};

	if (m->procs[slot].chan < 0) {
		errno = EPIPE;
		return -1;
	}
	return fw_chan_send(m->procs[slot].chan, &msg, fd);
}

void fw_proc_send_msg_all(struct fw_master *m, const struct fw_msg *msg)
{
	for (size_t i = 0; i < m->pol.nslots; i++) {
		struct fw_proc *p = &m->procs[i];

		if (p->pid == 0 || p->chan < 0)
			continue;
		if (fw_chan_send(p->chan, msg, -1) != 0 && errno != EPIPE)
			fw_log_errno(FW_LOG_WARN, "telling worker %ld", (long)p->pid);
	}
}

/*
 * Connections the master passed to a worker that died before reading them
 * are still queued at the worker's end of the channel: they go to another
 * worker instead of closing under nginx. The rest (a STOP, say) is dropped.
 */
static void take_back(struct fw_master *m, struct fw_proc *p)
{
	struct fw_msg msg;
	int r, fds[FW_CHAN_MAX_FDS], n, taken = 0;

	if (p->chan_worker < 0)
		return;
	while ((r = fw_chan_recvv(p->chan_worker, &msg, fds, &n)) == 1) {
		for (int i = 0; i < n; i++) {
			if (msg.type == FW_MSG_CONN) {
				fw_handoff_push(m, fds[i], fw_msg_kind(&msg, i));
				taken++;
			} else {
				close(fds[i]);
			}
		}
	}
	if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		fw_log_errno(FW_LOG_WARN, "recvmsg(worker %ld's end of its channel)", (long)p->pid);
	if (taken > 0)
		fw_log(FW_LOG_INFO, "worker %ld left %d connection(s) unread; passed on", (long)p->pid,
		       taken);
	close(p->chan_worker);
	p->chan_worker = -1;
}

static void exited(struct fw_master *m, int slot, int status)
{
	struct fw_proc *p = &m->procs[slot];
	const struct fw_slot *s = &m->sb->slots[slot];
	struct fw_event ev = {.type = FW_EV_EXIT,
			      .now = fw_now_ms(),
			      .slot = slot,
			      .flag = WIFEXITED(status) && WEXITSTATUS(status) == 0};

	/*
	 * What the worker sent before it exited is still queued: its last
	 * connections (SCM_RIGHTS), its RETIRE, its READY. Read it all first;
	 * closing the channel unread would close those connections under nginx.
	 */
	fw_master_read_channel(m, slot);
	/* As it was, for the log: the slot is free once the policy hears of it. */
	m->exited = (struct fw_exited){.pid = p->pid,
				       .status = status,
				       .requests = fw_slot_load(s->requests),
				       .handler_ms = fw_slot_load(s->handler_ms)};
	if (m->exited.handler_ms != 0 && !fw_slot_request_read(s, &m->exited.r))
		m->exited.handler_ms = 0;
	/* Its counts join the totals, so metrics never go backwards. */
	fw_scoreboard_retire_slot(m->sb, &m->sb->slots[slot]);
	if (p->chan >= 0)
		close(p->chan);
	take_back(m, p);
	fw_proc_peer_close(p); /* it died before it was ready */
	fw_timeout_forget(p);
	*p = (struct fw_proc){.chan = -1, .chan_worker = -1, .peer = -1};
	fw_master_event(m, &ev); /* how it went, logged and counted; perhaps its replacement */
}

void fw_proc_reap(struct fw_master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < m->pol.nslots; i++) {
			if (m->procs[i].pid == pid) {
				exited(m, (int)i, status);
				break;
			}
		}
	}
	if (pid < 0 && errno != ECHILD)
		fw_log_errno(FW_LOG_ERROR, "waitpid");
}
