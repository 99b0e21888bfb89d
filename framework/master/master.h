/*
 * The master: a small supervisor that never serves a request. It owns the
 * listening sockets, the scoreboard and the process table; it forks
 * workers, replaces the ones that ask to retire (replacement first), that
 * die or that run past `timeout`, passes idle connections between workers,
 * and stops them all on a signal.
 *
 * What it decides is policy.c's, a pure function of the table and an
 * event; this side turns what happens (signals, messages, exits, time)
 * into events (master.c), and carries the decisions out (act.c) with the
 * process table's descriptors (proc.c).
 */
#ifndef FW_MASTER_MASTER_H
#define FW_MASTER_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "ipc/boot.h"
#include "ipc/scoreboard.h"
#include "master/cgroup.h"
#include "master/policy.h"
#include "master/sockets.h"

/* What the master holds for a worker, beside the policy's view (same index). */
struct fw_proc {
	pid_t pid;                    /* 0: free */
	int chan;                     /* master's end of the channel; -1 once closed */
	int chan_worker;              /* the worker's end, kept until reaping (proc.c); -1 */
	int peer;                     /* a replacement not yet ready: the master's end of its
				       * socket pair to the worker it replaces, or -1 */
	struct fw_stuck *stuck;       /* past `timeout`, asked to answer 504 (timeout.c); NULL */
};

/*
 * A worker just reaped, as it was: its slot is free (and may be taken
 * again) by the time its exit is accounted (act.c).
 */
struct fw_exited {
	pid_t pid;
	int status;                   /* from waitpid() */
	uint64_t requests;
	uint64_t handler_ms;          /* a handler was running since; 0 */
	struct fw_slot_request r;     /* ... this one */
};

#define FW_HANDOFF_QUEUE 4096

struct fw_master {
	struct fw_config cfg;         /* the master's copy; replaced by a reload */
	const struct fw_worker_entry *entry;
	struct fw_listener listeners[FW_MAX_LISTENERS];
	int nlisteners;
	struct fw_scoreboard *sb;
	int sb_fd;                    /* its file: slots get their blocks before their first worker */
	size_t sb_committed;          /* slots below this have them */
	char state_path[256];         /* the scoreboard's file */
	struct fw_policy pol;         /* the decisions' state (policy.h) */
	struct fw_proc procs[FW_MAX_SLOTS];
	pid_t pid;
	bool single_threaded;         /* fork without atfork handlers (_Fork) */
	bool prefork_due;             /* entry->preboot, fw_trim_zero_pages() before the next fork */
	struct fw_cgroup cgroup;        /* the container's memory limit, if any */
	bool rss_limit_derived;         /* cfg.rss_limit_mb came from the cgroup limit */
	struct fw_handoff {
		int fd;
		unsigned kind;          /* FW_CONN_* (ipc/recycle.h) */
	} handoffs[FW_HANDOFF_QUEUE];   /* connections waiting for a worker */
	size_t nhandoffs;
	struct fw_exited exited;      /* the worker whose FW_EV_EXIT is being handled */
};

/* Run the master until it stops; returns the process exit status. */
int fw_master_run(const struct fw_config *cfg, const struct fw_worker_entry *entry);

/* init.c: sockets, scoreboard, privileges; 0, or -1 after logging (what was opened is closed). */
int fw_master_init(struct fw_master *m, const struct fw_config *cfg, const struct fw_worker_entry *entry);
void fw_master_finish(struct fw_master *m);
/* "fastcgi on /run/app.sock, scgi on 127.0.0.1:4000" */
void fw_listeners_text(const struct fw_master *m, char *out, size_t len);

/* master.c: what happened, to the policy, and its decisions carried out */
void fw_master_event(struct fw_master *m, const struct fw_event *ev);
/* Read every queued message of a worker's channel. */
void fw_master_read_channel(struct fw_master *m, int slot);
/* What the scoreboard says of every slot (TICK, RELOAD, placing connections). */
const struct fw_readings *fw_master_readings(struct fw_master *m);

/* act.c: one decision of the policy carried out (a spawn that fails is an event of its own) */
void fw_act(struct fw_master *m, const struct fw_action *a, uint64_t now);

struct fw_msg;

/* proc.c: the process table's descriptors */
/* Fork a worker into slot (replaces: the slot it stands in for, or -1). 0, or -1 after logging. */
int fw_proc_spawn(struct fw_master *m, int slot, int replaces);
/* Reap every exited worker: its last messages, then FW_EV_EXIT. */
void fw_proc_reap(struct fw_master *m);
int fw_proc_send(struct fw_master *m, int slot, uint32_t type, int fd);
/* To every live worker, without changing anything (a reopen, new limits). */
void fw_proc_send_msg_all(struct fw_master *m, const struct fw_msg *msg);
void fw_proc_peer_close(struct fw_proc *p);

/* fork.c: fork (and the worker's exit), with what makes a recycle cheap */
pid_t fw_fork(struct fw_master *m);
_Noreturn void fw_fork_exit(int status);

/* reload.c: SIGHUP: 0 with the new configuration in m, -1 if the file has errors (nothing changes). */
int fw_reload(struct fw_master *m);

/* handoff.c: connections waiting for a worker */
/* A connection of that kind (FW_CONN_*) for another worker; the master owns fd from here. */
void fw_handoff_push(struct fw_master *m, int fd, unsigned kind);
void fw_handoff_forward(struct fw_master *m);

/* timeout.c: the evidence of a stuck handler, the question, the answer, the kill */
void fw_timeout_ask(struct fw_master *m, int slot, uint64_t since, uint64_t ran_ms);
void fw_timeout_done(struct fw_master *m, int slot, int reply);
/* A worker's FW_MSG_STUCK, with the descriptor it carried (-1): true when fd was kept. */
bool fw_timeout_reply(struct fw_master *m, int slot, const struct fw_msg *msg, int fd);
/* The worker is gone: what was kept about its stuck handler goes too. */
void fw_timeout_forget(struct fw_proc *p);

/* budget.c: the cgroup memory limit; the limits in effect, for the status page */
void fw_cgroup_budget(struct fw_master *m);
/* The group's working set, into the readings and the scoreboard (each tick). */
void fw_cgroup_read(struct fw_master *m, struct fw_readings *r);
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
