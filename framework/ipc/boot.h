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
#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"
#include "ipc/scoreboard.h"

/* How a worker that never served ends, for the master's log line. */
#define FW_EXIT_BOOT 3         /* a start-up hook failed */
#define FW_EXIT_INCOMPATIBLE 4 /* started by exec, it can't take over from this master's build */
#define FW_EXIT_EXEC 127       /* the new build's file could not be executed */

/* A listening socket, as the master opened it. */
struct fw_boot_socket {
	int fd;
	enum fw_proto proto;
	bool inet;   /* TCP: allowed_clients applies */
	bool status; /* status_listen: the status page only */
};

/* What the master hands a freshly forked worker; valid for the worker's life. */
struct fw_worker_boot {
	const struct fw_config *cfg;
	struct fw_boot_socket listen[FW_MAX_LISTENERS];
	int nlisten;
	int chan_fd;
	int peer_in; /* a replacement: its end of the pair to the worker it replaces, or -1 */
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
	/*
	 * The program, as it was started: the executable's path (read from
	 * /proc/self/exe at start, before anyone replaced the file) and argv.
	 * A live upgrade starts the file now at that path with these
	 * arguments: its canary (with FW_BOOT_ENV), then the master itself.
	 */
	const char *exe;
	char *const *argv;
};

/*
 * A worker started by exec (an upgrade's canary) gets what a forked one
 * finds in memory as one environment variable: its descriptors, its slot,
 * the master. The configuration it reads itself; the scoreboard it maps
 * from the descriptor (fw_scoreboard_adopt). image_version is the master
 * image format the master will hand to the new build (master/image.c):
 * a build that reads another refuses before READY.
 */
#define FW_BOOT_ENV "FW_EXEC_WORKER"
#define FW_BOOT_ENV_VERSION 1

struct fw_boot_env {
	int chan_fd;
	int peer_in;
	int slot_index;
	int sb_fd;
	pid_t master_pid;
	int image_version;
	int nlisten;
	struct fw_boot_socket listen[FW_MAX_LISTENERS];
};

/* "1 chan=5 peer=-1 ..." into out. 0, or -1 when it does not fit. */
int fw_boot_env_format(const struct fw_boot_env *e, char *out, size_t len);

/* The variable's value back. 0, or -1 with why in err. Pure. */
int fw_boot_env_parse(const char *s, struct fw_boot_env *e, char *err, size_t errlen);

#endif
