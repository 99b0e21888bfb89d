/*
 * The master's decisions as a pure function: the process table and an
 * event in, the table's next state and a list of actions out. No fork, no
 * message, no signal, no clock, no log: the event brings the time and what
 * the scoreboard says; the master's loop (master.c) turns what happens
 * into events, asks fw_policy_on(), and carries the actions out.
 * tests/unit/test_policy.c drives it with tables of events, without
 * processes or sleeps.
 *
 * What it decides (the states and messages are ipc/recycle.h's):
 *   - replacement first: a worker that asks to retire is QUEUED; at most
 *     recycle_concurrency are being replaced at once, the oldest request
 *     first; its replacement is spawned, and on its READY the old worker
 *     is told to DRAIN, with the replacement's pair end;
 *   - capacity: workers that serve or will (BOOTING, SERVING, QUEUED) are
 *     kept at `workers`: spawn after crashes, memory retirements and
 *     SIGTTIN, drain one (no replacement) when fewer are wanted;
 *   - failed boots: one worker at a time after one, with a backoff of
 *     250 ms doubling to 5 s; five in a row and the master gives up;
 *   - what each exit was (a recycle and its reason, a crash, a failed boot,
 *     a stop), for the executor to count and log;
 *   - `timeout`: which handler is stuck (ask the worker), and when the
 *     worker is to be killed (its answer, or none within a second); a
 *     worker stuck in its start-up hook for a minute is killed;
 *   - the cgroup's high water: the largest worker drains, one at a time;
 *   - stopping: every worker told, the stragglers killed at the deadline;
 *   - a live upgrade (SIGUSR2; ipc/recycle.h has its phases): the new
 *     build's canary replaces the oldest serving worker; if it fails
 *     before READY the upgrade is refused and its worker serves on (no
 *     boot failure is counted: the running build is not at fault); on its
 *     READY the master re-executes, and once resumed every worker of the
 *     old build is replaced like a reload's;
 *   - where waiting connections go: the least busy serving worker.
 */
#ifndef FW_MASTER_POLICY_H
#define FW_MASTER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/recycle.h"
#include "ipc/scoreboard.h"

#define FW_BOOT_FAILURES_MAX 5
#define FW_BOOT_TIMEOUT_MS 60000
#define FW_STUCK_REPLY_MS \
	1000 /* a worker that can't run its signal handler is killed without an answer */
#define FW_QUIT_GRACE_MS 2000
#define FW_STUCK_MS 500 /* a handler running this long: no connection goes to its worker */

enum fw_master_mode { FW_RUNNING, FW_STOPPING, FW_QUITTING };

/* The policy's view of one slot of the process table. */
struct fw_pslot {
	enum fw_wstate state;
	uint32_t gen; /* bumped at each spawn into the slot: who `replaces` means */
	uint64_t spawned_ms;
	enum fw_retire_reason retire; /* why it retires; NONE when only fewer are wanted */
	uint64_t retire_ms;           /* when it asked: the queue's order */
	uint64_t retire_figure;       /* requests served, or private KiB */
	int replaces;                 /* a booting replacement: the slot it replaces, or -1 */
	uint32_t replaces_gen;
	int boot_round;       /* boot_failures when it was forked */
	bool timed_out;       /* killed past `timeout` */
	uint64_t stuck_since; /* asked about the handler started then; 0 */
	uint64_t stuck_asked_ms;
	bool boot_killed; /* killed for not booting in time */
	bool exec;        /* started by exec of the new build: an upgrade's canary */
	bool old_build;   /* of the build the upgrade under way replaces */
};

struct fw_policy {
	/* Settings: the configuration's (a reload changes them). */
	int workers_wanted;
	int concurrency; /* recycle_concurrency */
	int timeout_s;   /* 0: off */
	int graceful_s;  /* graceful_timeout */
	int max_conns;
	/* State. */
	enum fw_master_mode mode;
	struct fw_pslot slot[FW_MAX_SLOTS];
	size_t nslots;     /* slots in use are below this */
	int boot_failures; /* in a row, reset by a READY */
	uint64_t spawn_after_ms;
	uint64_t stop_deadline_ms;
	bool killed;       /* SIGKILL sent at the stop deadline */
	bool announced;    /* "ready" said once every first worker served */
	bool reloading;    /* until no worker of the old configuration is left */
	int cgroup_victim; /* the worker drained for the group, until it exits; -1 */
	uint32_t cgroup_victim_gen;
	uint64_t cgroup_warned_ms;
	int exit_status;
	enum fw_upgrade_phase upgrade;
	int canary; /* the upgrade's first worker of the new build, until READY; -1 */
	uint32_t canary_gen;
};

/* What the scoreboard says of a slot, read by the executor for the event. */
struct fw_reading {
	uint64_t handler_ms; /* a handler has run since; 0 */
	uint64_t conns;
	uint64_t private_kb;
	uint64_t requests;
};

struct fw_readings {
	struct fw_reading slot[FW_MAX_SLOTS];
	uint64_t cgroup_limit;       /* bytes; 0: none */
	uint64_t cgroup_working_set; /* bytes */
};

enum fw_ev_type {
	FW_EV_TICK,         /* once a second: timeouts, the cgroup (needs readings) */
	FW_EV_STEP,         /* nothing happened but time: spawn what is due, the stop deadline */
	FW_EV_READY,        /* slot */
	FW_EV_RETIRE,       /* slot, reason, figure, alone */
	FW_EV_EXIT,         /* slot; clean: it exited with status 0 */
	FW_EV_SPAWN_FAILED, /* slot (that a SPAWN named) */
	FW_EV_STUCK_REPLY,  /* slot, since, reply (enum fw_stuck_reply) */
	FW_EV_RELOAD,       /* the new settings are in the policy (fw_policy_settings) */
	FW_EV_SCALE,        /* delta: +1 (SIGTTIN) or -1 (SIGTTOU) */
	FW_EV_STOP,         /* quit: a fast stop (SIGINT, SIGQUIT), else graceful (SIGTERM) */
	FW_EV_UPGRADE,      /* SIGUSR2 */
	FW_EV_EXEC_FAILED,  /* the master could not re-execute: it goes on as it was */
	FW_EV_RESUMED,      /* the master's new image has taken over the table */
};

struct fw_event {
	enum fw_ev_type type;
	uint64_t now; /* ms, monotonic */
	int slot;
	enum fw_retire_reason reason; /* RETIRE */
	uint64_t figure;              /* RETIRE */
	uint64_t since;               /* STUCK_REPLY */
	uint32_t reply;               /* STUCK_REPLY */
	bool flag;                    /* RETIRE: alone (already draining); EXIT: clean; STOP: quit */
	int delta;                    /* SCALE */
	const struct fw_readings *r;  /* TICK (and RELOAD: requests served, for the figure) */
};

/* How a worker's exit is accounted (counted on the status page, logged). */
enum fw_gone {
	FW_GONE_RECYCLED,  /* reason, figure: it drained and exited cleanly */
	FW_GONE_RETIRED,   /* fewer workers wanted */
	FW_GONE_TIMED_OUT, /* killed past `timeout` (logged when killed) */
	FW_GONE_CRASHED,
	FW_GONE_STOPPED,
	FW_GONE_BOOT_FAILED,  /* value: retry in ms */
	FW_GONE_BOOT_RETRIED, /* failed with others of the same round: one failure for them all */
	FW_GONE_BOOT_GAVE_UP, /* the fifth in a row: the master stops */
	FW_GONE_CANARY,       /* an upgrade's canary, before READY: the upgrade is refused */
};

/* Why an upgrade did not start, or stopped (FW_ACT_UPGRADE_REFUSED's how). */
enum fw_upgrade_refusal {
	FW_REFUSED_BUSY,         /* one is under way (nothing changes) */
	FW_REFUSED_STOPPING,     /* the master is stopping (nothing changes) */
	FW_REFUSED_NO_WORKER,    /* no worker serves, so none can be compared with the new build */
	FW_REFUSED_SPAWN_FAILED, /* the canary could not be started (fork, socketpair, a slot) */
	FW_REFUSED_EXEC_FAILED,  /* the master could not re-execute */
};

enum fw_act_type {
	FW_ACT_SPAWN,       /* slot (free, chosen), peer: the slot it replaces or -1;
			       how: 1 to start it by exec of the new build (a canary) */
	FW_ACT_DRAIN,       /* slot; peer: the replacement whose pair end goes with it, or -1 */
	FW_ACT_DROP_PEER,   /* slot: its pair end will go to no one (it reads end of file) */
	FW_ACT_STOP,        /* slot: graceful stop */
	FW_ACT_QUIT,        /* slot: fast stop */
	FW_ACT_KILL,        /* slot: SIGKILL (a worker that never booted, the stop deadline) */
	FW_ACT_ASK_STUCK,   /* slot, value: the handler's start (FW_SIG_STUCK) */
	FW_ACT_KILL_STUCK,  /* slot, how: its enum fw_stuck_reply, or -1 for no answer; log, kill */
	FW_ACT_GONE,        /* slot, how: enum fw_gone; reason, value: figure or delay, value2: age */
	FW_ACT_ANNOUNCE,    /* every first worker serves */
	FW_ACT_RELOAD_DONE, /* no worker of the old configuration is left */
	FW_ACT_STOPPING,    /* the master stops (say so: systemd, the probes) */
	FW_ACT_GROUP_FULL,  /* slot, value: its private KiB: drained for the cgroup's sake */
	FW_ACT_GROUP_ELSEWHERE, /* value: the largest worker's KiB: the memory is elsewhere */
	FW_ACT_UPGRADE_START,   /* slot: the canary's, peer: the worker it replaces (a SPAWN follows) */
	FW_ACT_UPGRADE_REFUSED, /* how: enum fw_upgrade_refusal */
	FW_ACT_EXEC,            /* the canary is ready: the master re-executes (after this event) */
	FW_ACT_UPGRADE_ROLLING, /* value: workers of the old build to replace */
	FW_ACT_UPGRADE_DONE,    /* no worker of the old build is left */
	FW_ACT_UPGRADE_ABANDONED, /* the master stops during one */
};

struct fw_action {
	enum fw_act_type type;
	int slot;
	int peer;
	int how;
	enum fw_retire_reason reason;
	uint64_t value;
	uint64_t value2;
};

#define FW_POLICY_MAX_ACTIONS (4 * FW_MAX_SLOTS)

/* A fresh table, with the settings. */
void fw_policy_init(struct fw_policy *p, int workers, int concurrency, int timeout_s, int graceful_s,
		    int max_conns);

/* New settings (a reload), before its FW_EV_RELOAD. */
void fw_policy_settings(struct fw_policy *p, int workers, int concurrency, int timeout_s, int graceful_s,
			int max_conns);

/*
 * One event: the table moves on, and the actions to carry out, in order,
 * go to out[0..max). Returns how many (never more than max: the rest of a
 * step waits for the next event).
 */
size_t fw_policy_on(struct fw_policy *p, const struct fw_event *ev, struct fw_action *out, size_t max);

/*
 * Where n waiting connections go: dest[i] gets a slot, or -1 when no
 * worker can take one now (they wait).
 */
void fw_policy_place(const struct fw_policy *p, const struct fw_readings *r, uint64_t now, size_t n,
		     int *dest);

/* Live workers (any state but FREE). */
size_t fw_policy_live(const struct fw_policy *p);

/* When the executor must wake at the latest for the policy (spawn backoff, stop deadline). */
uint64_t fw_policy_wake(const struct fw_policy *p, uint64_t now, uint64_t later);

#endif
