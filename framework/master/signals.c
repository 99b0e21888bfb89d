#include "master/signals.h"

#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/unshared.h"

static const struct {
	int sig;
	unsigned bit;
} handled[] = {
	{SIGCHLD, FW_SIG_CHLD}, {SIGTERM, FW_SIG_TERM}, {SIGINT, FW_SIG_INT},
	{SIGQUIT, FW_SIG_QUIT}, {SIGHUP, FW_SIG_HUP},   {SIGTTIN, FW_SIG_TTIN},
	{SIGTTOU, FW_SIG_TTOU}, {SIGUSR1, FW_SIG_USR1}, {SIGUSR2, FW_SIG_USR2},
};

#define NHANDLED (sizeof(handled) / sizeof(handled[0]))

/*
 * The flags, and the stack the handler runs on, are unshared pages: a
 * handler's write, and the frame the kernel pushes for it (several KiB
 * with AVX-512 state), would otherwise each copy a page the master shares
 * with its workers at every SIGCHLD, that is, at every recycle.
 */
static volatile sig_atomic_t fallback[NHANDLED];
static volatile sig_atomic_t *pending = fallback;
static sigset_t wait_mask, start_mask;

#define ALT_STACK_MIN (64 * 1024)

static void unshare(void)
{
	long need = sysconf(_SC_SIGSTKSZ);
	size_t size = need > ALT_STACK_MIN ? (size_t)need : ALT_STACK_MIN;
	void *flags = fw_unshared_alloc(sizeof(fallback));
	stack_t old, ss = {.ss_size = size};

	if (flags != NULL)
		pending = flags;
	/* One the application (or a sanitizer) set up stays: its handlers may need it. */
	if (sigaltstack(NULL, &old) != 0 || !(old.ss_flags & SS_DISABLE))
		return;
	if ((ss.ss_sp = fw_unshared_alloc(size)) != NULL && sigaltstack(&ss, NULL) != 0)
		fw_log_errno(FW_LOG_DEBUG, "sigaltstack");
}

static void on_signal(int sig)
{
	for (size_t i = 0; i < NHANDLED; i++) {
		if (handled[i].sig == sig)
			pending[i] = 1;
	}
}

int fw_signals_init(void)
{
	struct sigaction sa;
	sigset_t block;

	sigemptyset(&block);
	for (size_t i = 0; i < NHANDLED; i++)
		sigaddset(&block, handled[i].sig);
	if (sigprocmask(SIG_BLOCK, &block, &start_mask) != 0) {
		fw_log_errno(FW_LOG_ERROR, "sigprocmask");
		return -1;
	}
	/*
	 * What the workers start with, and what ppoll() waits with: the mask
	 * the program started with, but for these. A master's new image (a
	 * live upgrade) starts with them blocked, as its old image left them
	 * across the execve so that none was lost meanwhile.
	 */
	for (size_t i = 0; i < NHANDLED; i++)
		sigdelset(&start_mask, handled[i].sig);
	wait_mask = start_mask;
	unshare();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_ONSTACK;
	for (size_t i = 0; i < NHANDLED; i++) {
		if (sigaction(handled[i].sig, &sa, NULL) != 0) {
			fw_log_errno(FW_LOG_ERROR, "sigaction(%d)", handled[i].sig);
			return -1;
		}
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		fw_log_errno(FW_LOG_WARN, "sigaction(SIGPIPE)");
	return 0;
}

unsigned fw_signals_take(void)
{
	unsigned bits = 0;

	for (size_t i = 0; i < NHANDLED; i++) {
		if (pending[i]) {
			pending[i] = 0;
			bits |= handled[i].bit;
		}
	}
	return bits;
}

const sigset_t *fw_signals_waitmask(void)
{
	return &wait_mask;
}

void fw_signals_child(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NHANDLED; i++)
		sigaction(handled[i].sig, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	/*
	 * Until the worker's own handler (worker.c): a SIGUSR2 sent to the
	 * whole group, meant for the master (systemctl kill -s USR2 without
	 * --kill-whom=main), must not end a worker that is starting.
	 */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGUSR2, &sa, NULL);
	sigprocmask(SIG_SETMASK, &start_mask, NULL);
}
