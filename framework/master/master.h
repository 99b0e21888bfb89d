/*
 * The master: a small supervisor that never serves a request. It owns the
 * listening socket, the scoreboard and the process table, forks workers,
 * restarts the ones that die and stops them all on a signal.
 */
#ifndef FW_MASTER_MASTER_H
#define FW_MASTER_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "ipc/scoreboard.h"
#include "master/listen.h"

enum fw_proc_state {
	FW_PROC_FREE = 0,
	FW_PROC_BOOTING,  /* forked, READY not yet received */
	FW_PROC_READY,
	FW_PROC_STOPPING, /* told to stop */
};

struct fw_proc {
	enum fw_proc_state state;
	pid_t pid;
	int chan;       /* master's end of the channel; -1 once the worker closed it */
	uint64_t spawned_ms;
};

enum fw_master_mode { FW_RUNNING, FW_STOPPING, FW_QUITTING };

struct fw_master {
	const struct fw_config *cfg;
	struct fw_listener listener;
	struct fw_scoreboard *sb;
	struct fw_proc procs[FW_MAX_SLOTS];
	size_t nprocs_max;   /* slots in use are below this index */
	int workers_wanted;
	enum fw_master_mode mode;
	uint64_t stop_deadline_ms;
	bool killed;         /* SIGKILL sent at the deadline */
	int boot_failures;   /* in a row, reset by a READY */
	uint64_t spawn_after_ms;
	bool announced;      /* "ready" logged once all first workers were up */
	int exit_status;
	pid_t pid;
};

/* Run the master until it stops; returns the process exit status. */
int fw_master_run(const struct fw_config *cfg);

/* proc.c */
int fw_proc_spawn(struct fw_master *m);
/* Reap every exited child; `why` for each is logged. */
void fw_proc_reap(struct fw_master *m);
size_t fw_proc_live(const struct fw_master *m);
void fw_proc_signal_all(struct fw_master *m, int sig);
void fw_proc_send_all(struct fw_master *m, uint32_t type);

#endif
