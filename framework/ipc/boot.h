/*
 * The one door through which the master starts a worker (as nginx's
 * ngx_spawn_process is): the master forks and calls entry->main with what
 * the new worker needs. The master sees no more of a worker than this:
 * no libevent, no connection; the entry points are handed to it by the
 * program's fw_main() (main/main.c), which links both.
 */
#ifndef FW_IPC_BOOT_H
#define FW_IPC_BOOT_H

#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"
#include "ipc/scoreboard.h"

/* A listening socket, as the master opened it. */
struct fw_boot_listener {
	int fd;
	enum fw_proto proto;
	bool inet;   /* TCP: allowed_clients applies */
	bool status; /* status_listen: the status page only */
};

/* What the master hands a freshly forked worker; valid for the worker's life. */
struct fw_worker_boot {
	const struct fw_config *cfg;
	struct fw_boot_listener listen[FW_MAX_LISTENERS];
	int nlisten;
	int chan_fd;
	int peer_in;            /* a replacement: its end of the pair to the worker it replaces, or -1 */
	int slot_index;
	struct fw_slot *slot;
	struct fw_scoreboard *sb;
	pid_t master_pid;
};

struct fw_worker_entry {
	/* In the forked child: the worker, until it stops; returns its exit status. */
	int (*main)(const struct fw_worker_boot *boot);
	/*
	 * In the master, before forking (once, and again after a reload): what
	 * every worker's start would otherwise do alone at each recycle
	 * (worker/preboot.c). Runs no application code. May be NULL.
	 */
	void (*preboot)(bool single_threaded);
};

#endif
