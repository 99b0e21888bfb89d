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
	pid_t pid;              /* 0: free */
	int chan;               /* master's end of the channel; -1 once closed */
	int chan_worker;        /* the worker's end, kept until reaping (proc.c); -1 */
	int peer;               /* a replacement not yet ready: the master's end of its
				       * socket pair to the worker it replaces, or -1 */
	struct fw_stuck *stuck; /* past `timeout`, asked to answer 504 (timeout.c); NULL */
};

/*
 * A worker just reaped, as it was: its slot is free (and may be taken
 * again) by the time its exit is accounted (act.c).
 */
struct fw_exited {
	pid_t pid;
	int status; /* from waitpid() */
	uint64_t requests;
	uint64_t handler_ms;      /* a handler was running since; 0 */
	struct fw_slot_request r; /* ... this one */
};

#define FW_HANDOFF_QUEUE 4096

struct fw_master {
	struct fw_config cfg; /* the master's copy; replaced by a reload */
	const struct fw_worker_entry *entry;
	struct fw_socket listeners[FW_MAX_LISTENERS];
	int nlisteners;
	struct fw_scoreboard *sb;
	int sb_fd;            /* its file: slots get their blocks before their first worker */
	size_t sb_committed;  /* slots below this have them */
	char state_path[256]; /* the scoreboard's file */
	struct fw_policy pol; /* the decisions' state (policy.h) */
	struct fw_proc procs[FW_MAX_SLOTS];
	pid_t pid;
	bool single_threaded;    /* fork without atfork handlers (_Fork) */
	bool prefork_due;        /* entry->preboot, fw_trim_zero_pages() before the next fork */
	struct fw_cgroup cgroup; /* the container's memory limit, if any */
	bool rss_limit_derived;  /* cfg.rss_limit_mb came from the cgroup limit */
	struct fw_handoff {
		int fd;
		unsigned kind;        /* FW_CONN_* (ipc/recycle.h) */
	} handoffs[FW_HANDOFF_QUEUE]; /* connections waiting for a worker */
	size_t nhandoffs;
	struct fw_exited exited; /* the worker whose FW_EV_EXIT is being handled */
	/* A live upgrade (upgrade.c) */
	struct fw_upgrade_info upgrade; /* as the scoreboard shows it */
	bool exec_due;                  /* the canary is ready: re-execute at the loop's top */
	int canary_errno;               /* why the canary's exec failed (its last message); 0 */
	int exec_errno;                 /* why the master's own failed; 0 */
	enum fw_resumed {
		FW_FRESH,        /* started by hand, systemd, a container */
		FW_RESUMED,      /* the new image of an upgrade */
		FW_RESUMED_BACK, /* the old image again: the new one could not take over */
	} resumed;
};

/* Run the master until it stops; returns the process exit status. */
int fw_master_run(const struct fw_config *cfg, const struct fw_worker_entry *entry);

/* init.c: sockets, scoreboard, privileges; 0, or -1 after logging (what was opened is closed). */
int fw_master_init(struct fw_master *m, const struct fw_config *cfg,
		   const struct fw_worker_entry *entry);
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
/*
 * Fork a worker into slot (replaces: the slot it stands in for, or -1);
 * exec: of the new build (an upgrade's canary). 0, or -1 after logging.
 */
int fw_proc_spawn(struct fw_master *m, int slot, int replaces, bool exec);
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

/*
 * upgrade.c: a live upgrade (SIGUSR2), the executor's side of its phases
 * (ipc/recycle.h).
 */
void fw_upgrade_signal(struct fw_master *m, uint64_t now);
/* The environment of a canary: malloc'd (fw_exec_env_free), for fw_upgrade_exec_worker; NULL after logging. */
char **fw_upgrade_worker_env(const struct fw_master *m, int slot, int chan, int peer_in);
/* In the forked child: become the new build's worker. Sends FW_MSG_EXEC_FAILED if it can't. */
_Noreturn void fw_upgrade_exec_worker(struct fw_master *m, int chan, int peer_in, char **envp);
/* At the loop's top, when exec_due: the master re-executes itself; returns only if it failed. */
void fw_upgrade_exec(struct fw_master *m);
/* In the new image, from fw_master_init: the table taken over. 0, or -1 after logging. */
int fw_upgrade_resume(struct fw_master *m, const char *image_env);
/* An upgrade's action (FW_ACT_UPGRADE_*, FW_ACT_EXEC, a canary's FW_GONE_CANARY) carried out. */
void fw_upgrade_act(struct fw_master *m, const struct fw_action *a, uint64_t now);
/* The master's build into the scoreboard, at start. */
void fw_upgrade_publish(struct fw_master *m);

/*
 * exec.c: what crosses an execve(). fw_exec_keep_only(): every descriptor
 * from 3 up closes at exec but keep[] (-1 entries are skipped);
 * async-signal-safe. fw_exec_cloexec(): those closed at exec again.
 */
void fw_exec_keep_only(const int *keep, size_t n);
void fw_exec_cloexec(const int *fds, size_t n);
/* Every descriptor the master's next image takes over, and `extra`: malloc'd, *n of them; NULL (errno). */
int *fw_exec_inherited(const struct fw_master *m, int extra, size_t *n);
/* The environment with add[] (NAME=value, malloc'd, owned from here) added or replacing; NULL (errno). */
char **fw_exec_env(char *const *add, size_t nadd);
/* The environment of the master's next image (FW_MASTER_IMAGE=image_value, NOTIFY_SOCKET); NULL (errno). */
char **fw_exec_master_env(const char *image_value);
void fw_exec_env_free(char **envp);

/*
 * image.c: the master's table as text for its next image (a live
 * upgrade). fw_image_read() fills m's table, listeners, scoreboard
 * descriptor and kept settings; 0, or -1 with why in err.
 */
#define FW_IMAGE_VERSION 1
#define FW_IMAGE_ENV "FW_MASTER_IMAGE"
int fw_image_write(const struct fw_master *m, struct fw_buf *out);
int fw_image_read(struct fw_master *m, const char *text, size_t len, char *err, size_t errlen);

/* master.c: can this process (the workers' user) open cfg's access_log? 0, or -1 after logging. */
int fw_access_log_writable(const struct fw_config *cfg);

#endif
