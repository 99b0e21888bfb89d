/*
 * The policy's decisions carried out: the one place where they meet fork,
 * messages, signals, the log and the counters of the status page.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"
#include "master/notify.h"

static void count(struct fw_master *m, enum fw_retire_reason r)
{
	fw_slot_store(m->sb->recycled[r], fw_slot_load(m->sb->recycled[r]) + 1);
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

/* A worker that was serving died on its own: a crash, with its last request. */
static void crashed(struct fw_master *m, const struct fw_exited *e, const char *how, uint64_t now)
{
	char running[200] = "";

	if (e->handler_ms != 0)
		snprintf(running, sizeof(running), " while running %s %s for %llu ms", e->r.method,
			 e->r.path, (unsigned long long)(now - e->handler_ms));
	fw_log(FW_LOG_ERROR, "worker %ld %s%s after %llu requests; replacing it", (long)e->pid, how,
	       running, (unsigned long long)e->requests);
	count(m, FW_RETIRE_CRASH);
}

/* Why a worker went, logged and counted once (the policy says which it was). */
static void gone(struct fw_master *m, const struct fw_action *a, uint64_t now)
{
	const struct fw_exited *e = &m->exited;
	long pid = (long)e->pid;
	unsigned long long served = e->requests;
	char how[160];

	describe(e->status, how, sizeof(how));
	switch ((enum fw_gone)a->how) {
	case FW_GONE_RECYCLED:
		count(m, a->reason);
		if (a->reason == FW_RETIRE_UPGRADE) {
			fw_log(FW_LOG_INFO,
			       "worker %ld of the old build retired after %llu requests, %llu s", pid,
			       served, (unsigned long long)(a->value2 / 1000));
			break;
		}
		fw_log(FW_LOG_INFO, "worker %ld recycled (%s: %llu %s) after %llu requests, %llu s", pid,
		       fw_retire_reason_name(a->reason), (unsigned long long)a->value,
		       a->reason == FW_RETIRE_MEMORY ? "KiB private" : "requests", served,
		       (unsigned long long)(a->value2 / 1000));
		break;
	case FW_GONE_RETIRED:
		fw_log(FW_LOG_INFO, "worker %ld retired (fewer workers wanted)", pid);
		break;
	case FW_GONE_TIMED_OUT:
		count(m, FW_RETIRE_TIMEOUT); /* logged with its evidence when killed */
		break;
	case FW_GONE_CRASHED:
		crashed(m, e, how, now);
		break;
	case FW_GONE_STOPPED:
		fw_log(FW_LOG_DEBUG, "worker %ld %s after %llu requests", pid, how, served);
		break;
	case FW_GONE_BOOT_RETRIED:
		fw_log(FW_LOG_ERROR, "worker %ld failed to start (%s)", pid, how);
		break;
	case FW_GONE_BOOT_FAILED:
		fw_log(FW_LOG_ERROR, "worker %ld failed to start (%s); retrying in %llu ms", pid, how,
		       (unsigned long long)a->value);
		break;
	case FW_GONE_BOOT_GAVE_UP:
		fw_log(FW_LOG_ERROR, "worker %ld failed to start (%s); %d failures in a row, giving up",
		       pid, how, FW_BOOT_FAILURES_MAX);
		break;
	case FW_GONE_CANARY: /* upgrade.c says it, as the upgrade's refusal */
		break;
	}
}

/*
 * DRAIN, with the replacement's end of its socket pair when there is one:
 * the old worker's idle connections then go straight across, one
 * SCM_RIGHTS hop instead of two, without waking the master. A worker that
 * can't be told is stopped instead.
 */
static void drain(struct fw_master *m, int slot, int replacement)
{
	struct fw_proc *peer = replacement >= 0 ? &m->procs[replacement] : NULL;
	int fd = peer != NULL ? peer->peer : -1;

	if (fw_proc_send(m, slot, FW_MSG_DRAIN, fd) != 0) {
		fw_log_errno(FW_LOG_WARN, "telling worker %ld to drain; stopping it",
			     (long)m->procs[slot].pid);
		kill(m->procs[slot].pid, SIGTERM);
	}
	if (peer != NULL)
		fw_proc_peer_close(peer);
}

static void signal_one(struct fw_master *m, int slot, int sig)
{
	if (kill(m->procs[slot].pid, sig) != 0 && errno != ESRCH)
		fw_log_errno(FW_LOG_ERROR, "kill(%ld, %d)", (long)m->procs[slot].pid, sig);
}

static void announce(struct fw_master *m, const char *what)
{
	char where[512];

	fw_listeners_text(m, where, sizeof(where));
	fw_log(FW_LOG_INFO, "%s: %d worker(s) serving %s", what, m->pol.workers_wanted, where);
	fw_notify_ready(where);
}

void fw_act(struct fw_master *m, const struct fw_action *a, uint64_t now)
{
	struct fw_event failed = {.type = FW_EV_SPAWN_FAILED, .now = now, .slot = a->slot};

	switch (a->type) {
	case FW_ACT_SPAWN:
		if (fw_proc_spawn(m, a->slot, a->peer, a->how == 1) != 0)
			fw_master_event(m, &failed);
		break;
	case FW_ACT_DRAIN:
		drain(m, a->slot, a->peer);
		break;
	case FW_ACT_DROP_PEER:
		fw_proc_peer_close(&m->procs[a->slot]);
		break;
	case FW_ACT_STOP:
	case FW_ACT_QUIT:
		if (fw_proc_send(m, a->slot, a->type == FW_ACT_STOP ? FW_MSG_STOP : FW_MSG_QUIT, -1) !=
		    0)
			signal_one(m, a->slot, a->type == FW_ACT_STOP ? SIGTERM : SIGQUIT);
		break;
	case FW_ACT_KILL:
		if (a->how == 1)
			fw_log(FW_LOG_ERROR, "worker %ld not ready after %d s; killing it",
			       (long)m->procs[a->slot].pid, FW_BOOT_TIMEOUT_MS / 1000);
		else
			fw_log(FW_LOG_WARN, "worker %ld still running at the stop deadline; killing it",
			       (long)m->procs[a->slot].pid);
		signal_one(m, a->slot, SIGKILL);
		break;
	case FW_ACT_ASK_STUCK:
		fw_timeout_ask(m, a->slot, a->value, a->value2);
		break;
	case FW_ACT_KILL_STUCK:
		fw_timeout_done(m, a->slot, a->how);
		break;
	case FW_ACT_GONE:
		if (a->how == FW_GONE_CANARY)
			fw_upgrade_act(m, a, now);
		else
			gone(m, a, now);
		break;
	case FW_ACT_UPGRADE_START:
	case FW_ACT_UPGRADE_REFUSED:
	case FW_ACT_EXEC:
	case FW_ACT_UPGRADE_ROLLING:
	case FW_ACT_UPGRADE_DONE:
	case FW_ACT_UPGRADE_ABANDONED:
		fw_upgrade_act(m, a, now);
		break;
	case FW_ACT_ANNOUNCE:
		announce(m, "ready");
		break;
	case FW_ACT_RELOAD_DONE:
		announce(m, "reload done");
		break;
	case FW_ACT_STOPPING:
		/* Not ready from now on (the probes), and systemd hears it from us. */
		fw_slot_store(m->sb->stopping, (uint32_t)1);
		fw_notify_stopping();
		break;
	case FW_ACT_GROUP_FULL:
		fw_log(FW_LOG_WARN,
		       "the group uses %llu MiB of its %llu MiB memory limit: recycling worker %ld, the "
		       "largest (%llu KiB private)",
		       (unsigned long long)(fw_slot_load(m->sb->cgroup_working_set_bytes) >> 20),
		       (unsigned long long)(m->cgroup.limit >> 20), (long)m->procs[a->slot].pid,
		       (unsigned long long)a->value);
		break;
	case FW_ACT_GROUP_ELSEWHERE:
		fw_log(FW_LOG_WARN,
		       "the group uses %llu MiB of its %llu MiB memory limit, but the largest worker "
		       "holds "
		       "only %llu KiB: the memory is elsewhere (page cache, tmpfs, other processes); "
		       "not "
		       "recycling",
		       (unsigned long long)(fw_slot_load(m->sb->cgroup_working_set_bytes) >> 20),
		       (unsigned long long)(m->cgroup.limit >> 20), (unsigned long long)a->value);
		break;
	}
}
