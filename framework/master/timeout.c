/*
 * `timeout`: a handler that has run longer is stuck. (A deferred request
 * past it is the worker's own business: its loop still runs.) The master
 * sees it in the scoreboard on its 1 s tick and takes the evidence, what
 * the kernel says the process is doing. Then it asks the worker, with
 * FW_SIG_STUCK, to answer the request 504 itself (worker/stuck.c: the
 * worker has the connection and knows its protocol). On the reply, or
 * when none comes in time, it logs the evidence and kills the worker; a
 * kept connection the worker surrendered with its reply goes to another
 * worker. A worker stuck in its start-up hook is killed too.
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

#define BOOT_TIMEOUT_MS 60000
/* The signal handler answers within milliseconds; a worker that cannot run it (D state, signals
 * blocked) is killed without an answer after this. */
#define REPLY_MS 1000

struct fw_stuck {
	uint64_t since;    /* the handler's start, as in its slot: the question's value */
	uint64_t ms;       /* how long it had run when asked */
	uint64_t asked_ms;
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
	snprintf(st->state, sizeof(st->state), "%.1s", state != NULL && state[1] == ' ' ? state + 2 : "?");
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

static void forget(struct fw_proc *p)
{
	free(p->stuck);
	p->stuck = NULL;
}

/* The evidence, logged once, and the kill. */
static void kill_stuck(struct fw_master *m, struct fw_proc *p, const char *outcome)
{
	const struct fw_stuck *st = p->stuck;

	fw_log(FW_LOG_ERROR,
	       "worker %ld timed out: %s %s has run for %llu ms (timeout %d s); state %s, wchan %s, "
	       "syscall %s, kernel stack %s; %s, killing the worker",
	       (long)p->pid, st->r.method, st->r.path, (unsigned long long)st->ms, m->cfg.timeout,
	       st->state, st->wchan, st->syscall, st->stack, outcome);
	p->timed_out = true;
	if (kill(p->pid, SIGKILL) != 0 && errno != ESRCH)
		fw_log_errno(FW_LOG_ERROR, "kill(%ld, SIGKILL)", (long)p->pid);
	forget(p);
}

static void time_out(struct fw_master *m, struct fw_proc *p, const struct fw_slot *s, uint64_t since,
		     uint64_t now)
{
	struct fw_stuck *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		fw_log(FW_LOG_ERROR, "worker %ld timed out: out of memory for its evidence; killing it",
		       (long)p->pid);
		p->timed_out = true;
		kill(p->pid, SIGKILL);
		return;
	}
	p->stuck = st;
	st->since = since;
	st->ms = now - since;
	st->asked_ms = now;
	if (!fw_slot_request_read(s, &st->r)) {
		snprintf(st->r.method, sizeof(st->r.method), "?"); /* torn: name nothing */
		snprintf(st->r.path, sizeof(st->r.path), "?");
	}
	evidence(p->pid, st);
	if (ask(p->pid, since) != 0) {
		fw_log_errno(FW_LOG_WARN, "rt_tgsigqueueinfo(worker %ld, FW_SIG_STUCK)", (long)p->pid);
		kill_stuck(m, p, "could not ask it to answer");
	}
}

bool fw_timeout_reply(struct fw_master *m, struct fw_proc *p, const struct fw_msg *msg, int fd)
{
	if (p->stuck == NULL || msg->value != p->stuck->since)
		return false; /* an answer to a question no longer asked */
	switch (msg->arg) {
	case FW_STUCK_GONE:
		fw_log(FW_LOG_INFO, "worker %ld: %s %s returned as it reached timeout (%d s); not killed",
		       (long)p->pid, p->stuck->r.method, p->stuck->r.path, m->cfg.timeout);
		forget(p);
		return false;
	case FW_STUCK_ANSWERED:
		kill_stuck(m, p, "answered 504");
		if (fd < 0)
			return false;
		fw_handoff_push(m, fd, 0); /* FastCGI; the 504 ended its request: nginx may send the next */
		return true;
	default:
		kill_stuck(m, p, "could not answer it");
		return false;
	}
}

void fw_timeout_forget(struct fw_proc *p)
{
	forget(p);
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
		if (p->stuck != NULL) {
			if (now - p->stuck->asked_ms > REPLY_MS)
				kill_stuck(m, p, "no answer from it");
			continue;
		}
		if (limit == 0)
			continue;
		since = fw_slot_load(s->handler_ms);
		if (since != 0 && now > since && now - since > limit)
			time_out(m, p, s, since, now);
	}
}
