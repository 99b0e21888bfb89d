/*
 * The process table: forking workers, reaping them, and saying why each
 * one went (the reason is counted on the status page and logged).
 */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"
#include "master/notify.h"
#include "master/signals.h"
#include "master/trim.h"
#include "worker/worker.h"

#define BOOT_FAILURES_MAX 5
#define BOOT_BACKOFF_MAX_MS 5000

static int free_slot(const struct fw_master *m)
{
	for (size_t i = 0; i < FW_MAX_SLOTS; i++) {
		if (m->procs[i].state == FW_PROC_FREE)
			return (int)i;
	}
	return -1;
}

#if defined(__SANITIZE_ADDRESS__)
#define WORKER_EXIT_RUNS_ATEXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_EXIT_RUNS_ATEXIT 1
#endif
#endif

/*
 * A worker ends with _exit(): the atexit handlers and destructors it would
 * run were registered by the master before fork and are the master's, and
 * running them (plus the dynamic linker's fini walk) dirties pages the
 * worker still shares with the master, at every recycle. Buffered stdio
 * output is flushed first. Under AddressSanitizer, exit() runs the leak check.
 */
static _Noreturn void worker_exit(int status)
{
#ifdef WORKER_EXIT_RUNS_ATEXIT
	exit(status);
#else
	fflush(NULL);
	_exit(status);
#endif
}

/* In the child: drop what belongs to the master, then become a worker. */
static void child(struct fw_master *m, int slot, int chan, int peer_in)
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
	/* Opt-in core files and evidence; the workers' user can then read their memory. */
	if (m->cfg.dumpable && prctl(PR_SET_DUMPABLE, 1) != 0)
		fw_log_errno(FW_LOG_WARN, "prctl(PR_SET_DUMPABLE)");
	for (size_t i = 0; i < m->nprocs_max; i++) {
		if (m->procs[i].state == FW_PROC_FREE)
			continue;
		if (m->procs[i].chan >= 0)
			close(m->procs[i].chan);
		if (m->procs[i].chan_worker >= 0)
			close(m->procs[i].chan_worker);
		if (m->procs[i].peer >= 0)
			close(m->procs[i].peer);
	}
	for (size_t i = 0; i < m->nhandoffs; i++)
		close(m->handoffs[i].fd);
	close(m->sb_fd); /* the mapping stays; the file is the master's to grow */
	memset(s, 0, sizeof(*s));
	fw_slot_store(s->pid, (int32_t)getpid());
	fw_slot_store(s->started_ms, fw_now_ms());
	fw_slot_store(s->state, (uint32_t)FW_SLOT_BOOTING);
	worker_exit(fw_worker_main(&boot));
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

int fw_proc_spawn(struct fw_master *m, int replaces)
{
	int slot = free_slot(m), fds[2], peer[2];
	pid_t pid;

	if (slot < 0) {
		fw_log(FW_LOG_ERROR, "no free worker slot (%d in use)", FW_MAX_SLOTS);
		return -1;
	}
	if ((size_t)slot >= m->sb_committed) {
		int err = fw_scoreboard_commit(m->sb_fd, (size_t)slot + 1);

		if (err != 0) {
			fw_log(FW_LOG_ERROR, "scoreboard %s: no room for worker slot %d: %s", m->state_path,
			       slot, strerror(err));
			return -1;
		}
		m->sb_committed = (size_t)slot + 1;
	}
	if (fw_chan_pair(fds) != 0) {
		fw_log_errno(FW_LOG_ERROR, "socketpair");
		return -1;
	}
	peer_pair(replaces, peer);
	/*
	 * Buffered output would otherwise be written twice. In a master with
	 * one thread only the application's start-up code wrote any (the
	 * master's own messages are single write()s, core/log.c), so once is
	 * enough: at every fork it would only take stdio's locks, a
	 * copy-on-write fault in the master. Another thread may write any time.
	 */
	if (m->prefork_due || !m->single_threaded)
		fflush(NULL);
	if (m->prefork_due) {
		/* Once for every worker to come, instead of in each at every recycle. */
		fw_worker_preboot(m->single_threaded);
		if (m->single_threaded) {
			size_t pages = fw_trim_zero_pages();

			fw_log(FW_LOG_DEBUG, "gave back %zu KiB of zero pages before forking",
			       pages * (size_t)sysconf(_SC_PAGESIZE) / 1024);
		}
		m->prefork_due = false;
	}
	/*
	 * _Fork() skips pthread_atfork handlers. tcmalloc's lock and unlock every
	 * central free list around fork, which dirties ~30 pages of its metadata
	 * on both sides of every fork, about a third of what a recycle costs.
	 * They protect locks held by other threads; a master with one thread
	 * holds none at this point, so it can skip them.
	 */
	pid = m->single_threaded ? _Fork() : fork();
	if (pid < 0) {
		fw_log_errno(FW_LOG_ERROR, "fork");
		close_pair(fds);
		close_pair(peer);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		if (peer[0] >= 0)
			close(peer[0]);
		child(m, slot, fds[1], peer[1]);
	}
	if (peer[1] >= 0)
		close(peer[1]);
	m->procs[slot] = (struct fw_proc){
		.state = FW_PROC_BOOTING,
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
		.spawned_ms = fw_now_ms(),
		.replaces = replaces,
		.replaces_pid = replaces >= 0 ? m->procs[replaces].pid : 0,
		.peer = peer[0],
		.boot_round = m->boot_failures,
	};
	if ((size_t)slot >= m->nprocs_max)
		m->nprocs_max = (size_t)slot + 1;
	fw_log(FW_LOG_DEBUG, "worker %ld forked into slot %d", (long)pid, slot);
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

int fw_proc_send(struct fw_proc *p, uint32_t type, int fd)
{
	struct fw_msg msg = {.type = type};

	if (p->chan < 0) {
		errno = EPIPE;
		return -1;
	}
	return fw_chan_send(p->chan, &msg, fd);
}

static void describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "ended with wait status %#x", (unsigned)status);
}

static void boot_failed(struct fw_master *m, const struct fw_proc *p, const char *how)
{
	pid_t pid = p->pid;
	uint64_t delay;

	/*
	 * Workers forked together fail together (the first start, a database
	 * down): they count as one failure. After a failure one worker at a
	 * time probes, so each later failure is a new round of the backoff:
	 * 250 ms, 0.5 s, 1 s, 2 s, about 4 s for a dependency to come back.
	 */
	if (p->boot_round < m->boot_failures) {
		fw_log(FW_LOG_ERROR, "worker %ld failed to start (%s)", (long)pid, how);
		return;
	}
	m->boot_failures++;
	delay = 250ULL << (m->boot_failures - 1 < 10 ? m->boot_failures - 1 : 10);
	if (delay > BOOT_BACKOFF_MAX_MS)
		delay = BOOT_BACKOFF_MAX_MS;
	if (m->boot_failures >= BOOT_FAILURES_MAX) {
		fw_log(FW_LOG_ERROR, "worker %ld failed to start (%s); %d failures in a row, giving up",
		       (long)pid, how, m->boot_failures);
		m->exit_status = 1;
		if (m->mode == FW_RUNNING) {
			/* Not ready from now on, and systemd hears it from us. */
			fw_slot_store(m->sb->stopping, (uint32_t)1);
			fw_notify_stopping();
			m->mode = FW_QUITTING;
			m->stop_deadline_ms = fw_now_ms() + 2000;
			fw_proc_send_all(m, FW_MSG_QUIT);
		}
		return;
	}
	fw_log(FW_LOG_ERROR, "worker %ld failed to start (%s); retrying in %llu ms", (long)pid, how,
	       (unsigned long long)delay);
	m->spawn_after_ms = fw_now_ms() + delay;
}

static void count(struct fw_master *m, enum fw_retire_reason r)
{
	fw_slot_store(m->sb->recycled[r], fw_slot_load(m->sb->recycled[r]) + 1);
}

/* A worker that was serving died on its own: a crash, with its last request. */
static void crashed(struct fw_master *m, struct fw_proc *p, const struct fw_slot *s, const char *how)
{
	struct fw_slot_request r;
	char running[200] = "";
	uint64_t since = fw_slot_load(s->handler_ms);

	if (since != 0 && fw_slot_request_read(s, &r))
		snprintf(running, sizeof(running), " while running %s %s for %llu ms", r.method, r.path,
			 (unsigned long long)(fw_now_ms() - since));
	fw_log(FW_LOG_ERROR, "worker %ld %s%s after %llu requests; replacing it", (long)p->pid, how,
	       running, (unsigned long long)fw_slot_load(s->requests));
	count(m, FW_RETIRE_CRASH);
}

/* Log and count why a worker went, once per worker. */
static void account(struct fw_master *m, struct fw_proc *p, const struct fw_slot *s, int status)
{
	char how[160];
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	uint64_t age = (fw_now_ms() - p->spawned_ms) / 1000;

	describe(status, how, sizeof(how));
	if (p->timed_out) {
		count(m, FW_RETIRE_TIMEOUT); /* logged with its evidence when killed */
	} else if (p->state == FW_PROC_BOOTING && m->mode == FW_RUNNING) {
		boot_failed(m, p, how);
	} else if (p->state == FW_PROC_DRAINING && clean) {
		if (p->retire != FW_RETIRE_NONE) {
			count(m, p->retire);
			fw_log(FW_LOG_INFO, "worker %ld recycled (%s: %llu %s) after %llu requests, %llu s",
			       (long)p->pid, fw_retire_reason_name(p->retire),
			       (unsigned long long)p->retire_figure,
			       p->retire == FW_RETIRE_MEMORY ? "KiB private" : "requests",
			       (unsigned long long)fw_slot_load(s->requests), (unsigned long long)age);
		} else {
			fw_log(FW_LOG_INFO, "worker %ld retired (fewer workers wanted)", (long)p->pid);
		}
	} else if (m->mode != FW_RUNNING || p->state == FW_PROC_STOPPING) {
		fw_log(FW_LOG_DEBUG, "worker %ld %s after %llu requests", (long)p->pid, how,
		       (unsigned long long)fw_slot_load(s->requests));
	} else {
		crashed(m, p, s, how);
	}
}

/* A replacement that did not make it: its old worker asks again later. */
static void replacement_lost(struct fw_master *m, const struct fw_proc *p)
{
	struct fw_proc *old;

	if (p->replaces < 0 || p->state != FW_PROC_BOOTING)
		return;
	old = &m->procs[p->replaces];
	if (old->pid == p->replaces_pid && old->state == FW_PROC_RETIRING)
		old->replacement_started = false;
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

static void exited(struct fw_master *m, struct fw_proc *p, int status)
{
	struct fw_slot *s = &m->sb->slots[p - m->procs];

	/*
	 * What the worker sent before it exited is still queued: its last
	 * connections (SCM_RIGHTS), its RETIRE, its READY. Read it all first;
	 * closing the channel unread would close those connections under nginx.
	 */
	if (p->chan >= 0)
		fw_master_read_channel(m, p);
	account(m, p, s, status);
	replacement_lost(m, p);
	/* Its counts join the totals, so metrics never go backwards. */
	fw_scoreboard_retire_slot(m->sb, s);
	if (p->chan >= 0)
		close(p->chan);
	take_back(m, p);
	fw_proc_peer_close(p); /* it died before it was ready */
	fw_timeout_forget(p);
	*p = (struct fw_proc){
	    .state = FW_PROC_FREE, .chan = -1, .chan_worker = -1, .replaces = -1, .peer = -1};
}

void fw_proc_reap(struct fw_master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < m->nprocs_max; i++) {
			if (m->procs[i].state != FW_PROC_FREE && m->procs[i].pid == pid) {
				exited(m, &m->procs[i], status);
				break;
			}
		}
	}
	if (pid < 0 && errno != ECHILD)
		fw_log_errno(FW_LOG_ERROR, "waitpid");
}

size_t fw_proc_count(const struct fw_master *m, enum fw_proc_state st)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nprocs_max; i++)
		n += m->procs[i].state == st;
	return n;
}

size_t fw_proc_live(const struct fw_master *m)
{
	return m->nprocs_max - fw_proc_count(m, FW_PROC_FREE);
}

void fw_proc_signal_all(struct fw_master *m, int sig)
{
	for (size_t i = 0; i < m->nprocs_max; i++) {
		if (m->procs[i].state != FW_PROC_FREE && kill(m->procs[i].pid, sig) != 0 && errno != ESRCH)
			fw_log_errno(FW_LOG_ERROR, "kill(%ld, %d)", (long)m->procs[i].pid, sig);
	}
}

/* Tell every worker; one whose channel is full or gone gets the signal instead. */
void fw_proc_send_all(struct fw_master *m, uint32_t type)
{
	for (size_t i = 0; i < m->nprocs_max; i++) {
		struct fw_proc *p = &m->procs[i];

		if (p->state == FW_PROC_FREE)
			continue;
		fw_proc_peer_close(p); /* a booting replacement replaces no one now */
		if (fw_proc_send(p, type, -1) != 0)
			kill(p->pid, type == FW_MSG_STOP ? SIGTERM : SIGQUIT);
		/* A draining worker keeps its state: its exit is still a recycle. */
		if (p->state != FW_PROC_DRAINING || type == FW_MSG_QUIT)
			p->state = FW_PROC_STOPPING;
	}
}

/* Tell every live worker, without changing its state (a reopen, say). */
void fw_proc_send_all_keep(struct fw_master *m, uint32_t type)
{
	struct fw_msg msg = {.type = type};

	fw_proc_send_msg_all(m, &msg);
}

void fw_proc_send_msg_all(struct fw_master *m, const struct fw_msg *msg)
{
	for (size_t i = 0; i < m->nprocs_max; i++) {
		struct fw_proc *p = &m->procs[i];

		if (p->state == FW_PROC_FREE || p->chan < 0)
			continue;
		if (fw_chan_send(p->chan, msg, -1) != 0 && errno != EPIPE)
			fw_log_errno(FW_LOG_WARN, "telling worker %ld", (long)p->pid);
	}
}
