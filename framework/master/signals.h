/*
 * The master's signals. Handlers only set a bit; the signals stay blocked
 * except inside ppoll(), so the loop sees each one without a race.
 */
#ifndef FW_MASTER_SIGNALS_H
#define FW_MASTER_SIGNALS_H

#include <signal.h>

enum {
	FW_SIG_CHLD = 1 << 0,
	FW_SIG_TERM = 1 << 1,
	FW_SIG_INT = 1 << 2,
	FW_SIG_QUIT = 1 << 3,
	FW_SIG_HUP = 1 << 4,
	FW_SIG_TTIN = 1 << 5,
	FW_SIG_TTOU = 1 << 6,
	FW_SIG_USR1 = 1 << 7,
	FW_SIG_USR2 = 1 << 8,
};

/* Install the handlers and block the signals. 0, or -1 after logging. */
int fw_signals_init(void);

/* The signals received since the last call, as FW_SIG_* bits. */
unsigned fw_signals_take(void);

/* The mask for ppoll(): the signals unblocked. */
const sigset_t *fw_signals_waitmask(void);

/* In a child after fork: default handlers, the mask the process started with. */
void fw_signals_child(void);

#endif
