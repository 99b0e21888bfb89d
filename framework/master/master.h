/*
 * The master: a small supervisor that never serves a request. It owns the
 * listening socket, the scoreboard and the process table; it forks
 * workers, replaces the ones that ask to retire (replacement first), that
 * die or that run past `timeout`, passes idle connections between workers,
 * and stops them all on a signal.
 */
#ifndef FW_MASTER_MASTER_H
#define FW_MASTER_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "ipc/scoreboard.h"
#include "master/cgroup.h"
#include "master/listen.h"

enum fw_proc_state {
	FW_PROC_FREE = 0,
	FW_PROC_BOOTING,  /* forked, READY not yet received */
	FW_PROC_READY,    /* serving */
	FW_PROC_RETIRING, /* asked to be replaced; serving until its replacement is ready */
	FW_PROC_DRAINING, /* told to drain (or draining by itself): finishing, handing over */
	FW_PROC_STOPPING, /* told to stop */
};

struct fw_proc {
	enum fw_proc_state state;
	pid_t pid;
	int chan;                     /* master's end of the channel; -1 once closed */
	int chan_worker;              /* the worker's end, kept until reaping (proc.c); -1 */
	uint64_t spawned_ms;
	enum fw_retire_reason retire; /* why it retires; NONE when only scaled down */
	uint64_t retire_ms;           /* when it asked: the queue's order */
	uint64_t retire_figure;       /* requests served, or private KiB */
	bool replacement_started;     /* a replacement is booting for it */
	int replaces;                 /* for a replacement: the slot it replaces, or -1 */
	pid_t replaces_pid;
	int peer;                     /* for a replacement not yet ready: the master's end of its
				       * socket pair to the worker it replaces, or -1 */
	bool timed_out;               /* the master killed it past `timeout` */
	struct fw_stuck *stuck;       /* past `timeout`, asked to answer 504 (timeout.c); NULL */
	int boot_round;               /* m->boot_failures when it was forked */
};

enum fw_master_mode { FW_RUNNING, FW_STOPPING, FW_QUITTING };

#define FW_HANDOFF_QUEUE 4096

struct fw_master {
	struct fw_config cfg;         /* the master's copy; replaced by a reload */
	struct fw_listener listeners[FW_MAX_LISTENERS];
	int nlisteners;
	struct fw_scoreboard *sb;
	int sb_fd;                    /* its file: slots get their blocks before their first worker */
	size_t sb_committed;          /* slots below this have them */
	char state_path[256];         /* the scoreboard's file */
	struct fw_proc procs[FW_MAX_SLOTS];
	size_t nprocs_max;            /* slots in use are below this index */
	int workers_wanted;
	enum fw_master_mode mode;
	uint64_t stop_deadline_ms;
	bool killed;                  /* SIGKILL sent at the stop deadline */
	int boot_failures;            /* in a row, reset by a READY */
	uint64_t spawn_after_ms;
	bool announced;               /* "ready" logged once all first workers were up */
	bool reloading;              /* HUP in progress: READY=1 once the new generation serves */
	int exit_status;
	pid_t pid;
	bool single_threaded;         /* fork without atfork handlers (_Fork) */
	bool prefork_due;             /* fw_worker_preboot(), fw_trim_zero_pages() before the next fork */
	struct fw_cgroup cgroup;        /* the container's memory limit, if any */
	pid_t cgroup_victim;            /* the worker recycled for it, until it exits */
	uint64_t cgroup_warned_ms;      /* last "the memory is elsewhere" warning */
	bool rss_limit_derived;         /* cfg.rss_limit_mb came from the cgroup limit */
	struct fw_handoff {
		int fd;
		unsigned kind;          /* FW_CONN_* (ipc/chan.h) */
	} handoffs[FW_HANDOFF_QUEUE];   /* connections waiting for a worker */
	size_t nhandoffs;
};

/* Run the master until it stops; returns the process exit status. */
int fw_master_run(const struct fw_config *cfg);

/* master.c: read every queued message of a worker's channel */
void fw_master_read_channel(struct fw_master *m, struct fw_proc *p);

struct fw_msg;

/* proc.c: the process table */
int fw_proc_spawn(struct fw_master *m, int replaces);
void fw_proc_reap(struct fw_master *m);
size_t fw_proc_count(const struct fw_master *m, enum fw_proc_state st);
size_t fw_proc_live(const struct fw_master *m);
void fw_proc_signal_all(struct fw_master *m, int sig);
void fw_proc_send_all(struct fw_master *m, uint32_t type);
void fw_proc_send_all_keep(struct fw_master *m, uint32_t type);
/* The same, with a message of the caller's (a value to carry). */
void fw_proc_send_msg_all(struct fw_master *m, const struct fw_msg *msg);
int fw_proc_send(struct fw_proc *p, uint32_t type, int fd);
void fw_proc_peer_close(struct fw_proc *p);

/* recycle.c: replacement first, scaling, reload */
void fw_recycle_retire_wanted(struct fw_master *m, struct fw_proc *p, enum fw_retire_reason why,
			      uint64_t figure, bool draining);
void fw_recycle_ready(struct fw_master *m, struct fw_proc *p);
void fw_recycle_step(struct fw_master *m);
/* SIGHUP: 0 once the workers are being replaced, -1 if the file has errors (nothing changes). */
int fw_recycle_reload(struct fw_master *m);

/* handoff.c: connections waiting for a worker */
/* A connection of that kind (FW_CONN_*) for another worker; the master owns fd from here. */
void fw_handoff_push(struct fw_master *m, int fd, unsigned kind);
void fw_handoff_forward(struct fw_master *m);

/* timeout.c: handlers stuck past `timeout`, workers stuck booting */
void fw_timeouts_check(struct fw_master *m, uint64_t now);
/* A worker's FW_MSG_STUCK, with the descriptor it carried (-1): true when fd was kept. */
bool fw_timeout_reply(struct fw_master *m, struct fw_proc *p, const struct fw_msg *msg, int fd);
/* The worker is gone: what was kept about its stuck handler goes too. */
void fw_timeout_forget(struct fw_proc *p);

/* budget.c: the cgroup memory limit; the limits in effect, for the status page */
void fw_cgroup_budget(struct fw_master *m);
void fw_cgroup_check(struct fw_master *m);
void fw_limits_publish(struct fw_master *m);

/*
 * state.c: before the scoreboard is created at path: the derived default's
 * directory made safe, and no other live master's file there. 0, or -1
 * after logging why.
 */
int fw_state_prepare(const struct fw_config *cfg, const char *path);

/* master.c: can this process (the workers' user) open cfg's access_log? 0, or -1 after logging. */
int fw_access_log_writable(const struct fw_config *cfg);

#endif
