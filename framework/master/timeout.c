/*
 * `timeout`: a handler that has run longer is stuck. (A deferred request
 * past it is the worker's own business: its loop still runs.) The policy
 * sees it in the scoreboard's readings on the 1 s tick; here the master
 * takes the evidence, what the kernel says the process is doing, and asks
 * the worker, with FW_SIG_STUCK, to answer the request 504 itself
 * (worker/stuck.c: the worker has the connection and knows its protocol).
 * On the reply, or when none comes within FW_STUCK_REPLY_MS, it logs the
 * evidence and kills the worker; a kept connection the worker
 * surrendered with its reply goes to another worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"

struct fw_stuck {
	uint64_t ms; /* how long it had run when asked */
	struct fw_slot_request r;
	char state[8], wchan[128], syscall[256], stack[1024];
};

/* One line of /proc/PID/NAME, or why it could not be read. */
static void proc_text(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || (n = read(fd, out, len - 1)) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		/* Workers are not dumpable unless `dumpable = on`: then only root reads this. */
		snprintf(out, len, "(%s%s)", strerror(err),
			 err == EACCES || err == EPERM ? "; dumpable = on shows it" : "");
		return;
	}
	close(fd);
	out[n] = '\0';
	for (char *c = out; *c != '\0'; c++)
		if (*c == '\n')
			*c = (c[1] == '\0') ? '\0' : '|';
	if (out[0] == '\0')
		snprintf(out, len, "(empty)");
}

static void evidence(pid_t pid, struct fw_stuck *st)
{
	char stat[512], *state;

	proc_text(pid, "wchan", st->wchan, sizeof(st->wchan));
	proc_text(pid, "syscall", st->syscall, sizeof(st->syscall));
	proc_text(pid, "stack", st->stack, sizeof(st->stack));
	proc_text(pid, "stat", stat, sizeof(stat));
	state = strrchr(stat, ')');
	snprintf(st->state, sizeof(st->state), "%.1s",
		 state != NULL && state[1] == ' ' ? state + 2 : "?");
}

/* FW_SIG_STUCK to the worker's main thread (its pid), where the stuck handler runs. */
static int ask(pid_t pid, uint64_t since)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = FW_SIG_STUCK;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)(uintptr_t)since;
	return (int)syscall(SYS_rt_tgsigqueueinfo, pid, pid, FW_SIG_STUCK, &si);
}

void fw_timeout_forget(struct fw_proc *p)
{
	free(p->stuck);
	p->stuck = NULL;
}

void fw_timeout_ask(struct fw_master *m, int slot, uint64_t since, uint64_t ran_ms)
{
	struct fw_proc *p = &m->procs[slot];
	const struct fw_slot *s = &m->sb->slots[slot];
	struct fw_stuck *st = p->stuck != NULL ? p->stuck : calloc(1, sizeof(*st));
	struct fw_event ev = {.type = FW_EV_STUCK_REPLY,
			      .now = fw_now_ms(),
			      .slot = slot,
			      .since = since,
			      .reply = FW_STUCK_UNANSWERED};

	p->stuck = st;
	if (st != NULL) {
		st->ms = ran_ms;
		if (!fw_slot_request_read(s, &st->r)) {
			snprintf(st->r.method, sizeof(st->r.method), "?"); /* torn: name nothing */
			snprintf(st->r.path, sizeof(st->r.path), "?");
		}
		evidence(p->pid, st);
	}
	if (ask(p->pid, since) != 0) {
		fw_log_errno(FW_LOG_WARN, "rt_tgsigqueueinfo(worker %ld, FW_SIG_STUCK)", (long)p->pid);
		fw_master_event(m, &ev); /* no answer can come: as if it could not write one */
	}
}

void fw_timeout_done(struct fw_master *m, int slot, int reply)
{
	struct fw_proc *p = &m->procs[slot];
	const struct fw_stuck *st = p->stuck;
	static const struct fw_stuck unknown = {.r = {.method = "?", .path = "?"},
						.state = "?",
						.wchan = "?",
						.syscall = "?",
						.stack = "?"};

	if (reply == FW_STUCK_GONE) {
		fw_log(FW_LOG_INFO,
		       "worker %ld: %s %s returned as it reached timeout (%d s); not killed",
		       (long)p->pid, st != NULL ? st->r.method : "?", st != NULL ? st->r.path : "?",
		       m->cfg.timeout);
		fw_timeout_forget(p);
		return;
	}
	if (st == NULL)
		st = &unknown; /* no memory for the evidence */
	fw_log(FW_LOG_ERROR,
	       "worker %ld timed out: %s %s has run for %llu ms (timeout %d s); state %s, wchan %s, "
	       "syscall %s, kernel stack %s; %s, killing the worker",
	       (long)p->pid, st->r.method, st->r.path, (unsigned long long)st->ms, m->cfg.timeout,
	       st->state, st->wchan, st->syscall, st->stack,
	       reply == FW_STUCK_ANSWERED ? "answered 504"
	       : reply < 0                ? "no answer from it"
					  : "could not answer it");
	if (kill(p->pid, SIGKILL) != 0 && errno != ESRCH)
		fw_log_errno(FW_LOG_ERROR, "kill(%ld, SIGKILL)", (long)p->pid);
	fw_timeout_forget(p);
}

bool fw_timeout_reply(struct fw_master *m, int slot, const struct fw_msg *msg, int fd)
{
	struct fw_pslot *s = &m->pol.slot[slot];
	struct fw_event ev = {.type = FW_EV_STUCK_REPLY,
			      .now = fw_now_ms(),
			      .slot = slot,
			      .since = msg->value,
			      .reply = msg->arg};
	bool asked = s->stuck_since != 0 && s->stuck_since == msg->value;

	fw_master_event(m, &ev);
	/* The 504 ended its request: nginx may send the next one on it, to another worker. */
	if (!asked || msg->arg != FW_STUCK_ANSWERED || fd < 0)
		return false;
	fw_handoff_push(m, fd, 0);
	return true;
}
