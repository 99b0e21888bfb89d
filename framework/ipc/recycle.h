/*
 * The recycle protocol: how a worker is replaced without failing a
 * request, written down once. Its messages travel over each worker's
 * channel (ipc/chan.h, fixed-size, descriptors attached by SCM_RIGHTS),
 * and over a socket pair from a retiring worker to its replacement.
 *
 * Messages
 *   worker -> master   READY             booted, accepting
 *                      RETIRE(reason, figure, alone)
 *                                        replace me (max_requests, memory);
 *                                        alone: already draining (memory)
 *                      HANDOFF(conns)    idle connections for another worker
 *                      STUCK(since, r)   the answer to FW_SIG_STUCK
 *   master -> worker   DRAIN(peer?)      your replacement is ready: hand
 *                                        over (to it over peer, when given)
 *                                        and exit; also the ack of `alone`
 *                      STOP, QUIT        graceful stop, fast stop
 *                      CONN(conns)       adopt these connections
 *                      REOPEN, LIMITS    reopen logs; new memory limits
 *   old -> replacement CONN(conns)       over the pair made with the fork
 *
 * A recycle, replacement first (capacity never drops below `workers`):
 *
 *   old worker               master                        replacement
 *   SERVING -- RETIRE -->    SERVING -> QUEUED
 *                            (a recycle_concurrency place)
 *                            fork, with a socket pair ---->  BOOTING
 *                            QUEUED -> REPLACING
 *                                            <-- READY ----  SERVING
 *   <-- DRAIN(peer) ------   REPLACING -> DRAINING
 *   DRAINING: stops accepting (the listening socket stays
 *   with the others: nothing queued there is lost), finishes
 *   its requests; each idle connection -- CONN over peer -->  adopted
 *   exits when none is left                                   (reads EOF on
 *                            reaps it: counts, logs           the pair)
 *
 * Off the main road:
 *   - memory: the worker drains at once (RETIRE alone, DRAINING_ALONE);
 *     the master's DRAIN acknowledges it, and its replacement comes meanwhile;
 *   - a reload (SIGHUP) marks every worker QUEUED (reason reload);
 *   - fewer workers wanted (SIGTTOU, a reload): DRAIN without a peer;
 *   - a replacement that dies before READY: its old worker is QUEUED again;
 *   - the old worker dies first: the replacement serves, its pair reads EOF;
 *   - a worker that dies before READY is a failed boot: backoff, give up
 *     after 5 in a row;
 *   - connections the master passed to a worker that died unread are
 *     taken back from its channel and passed on.
 *
 * The master's view of a worker (master/policy.c):
 *
 *   FREE --fork--> BOOTING --READY--> SERVING --RETIRE--> QUEUED --fork--> REPLACING
 *                     |                  | \                 |                  |
 *                     |                  |  `--RETIRE alone--+------------------+--> DRAINING --exit--> FREE
 *                     |                  `-------- fewer wanted / cgroup ---------------^
 *                     `-- exit: failed boot      any --STOP/QUIT--> STOPPING --exit--> FREE
 *
 * The worker's own mode, which it also publishes in its scoreboard slot
 * (worker/worker.c; a state a process publishes is the state it acts on):
 *
 *   BOOTING --READY sent--> SERVING --memory--> DRAINING_ALONE --DRAIN--> DRAINING
 *                              |---------------------DRAIN--------------------^
 *                              |---STOP/SIGTERM--> STOPPING <--STOP-- DRAINING*
 *                              `---channel EOF (master gone)--> ORPHANED
 *   It exits once no connection is left, nothing can still come from the
 *   worker it replaced, and (but when ORPHANED) the master has sent DRAIN or
 *   STOP: connections sent before that still arrive.
 *
 * A connection's life in a worker (worker/conn.c):
 *
 *   ACTIVE --a request without keep-alive, or SCGI's one, is in--> LAST
 *   LAST --answer sent--> LINGERING --peer's EOF, or 2 s--> closed
 *     (as while SERVING while the worker DRAINs; STOPPING or ORPHANED: closed at once)
 *   ACTIVE --peer's EOF with output queued--> PEER_GONE --sent--> closed
 *   ACTIVE --idle, the worker DRAINING, movable--> MOVING --sent--> closed here
 *   ACTIVE --idle, the worker STOPPING--> closed
 *   any --I/O or protocol error, or a timeout--> BROKEN --safe point--> closed
 *   "Idle" is between requests (FastCGI with keep-alive) or before the only
 *   one (SCGI): nothing read of a request, nothing unsent.
 */
#ifndef FW_IPC_RECYCLE_H
#define FW_IPC_RECYCLE_H

#include <signal.h>

enum fw_msg_type {
	FW_MSG_READY = 1,   /* worker -> master: booted, accepting */
	FW_MSG_STOP,        /* master -> worker: graceful stop (finish in-flight, exit) */
	FW_MSG_QUIT,        /* master -> worker: fast stop */
	FW_MSG_RETIRE,      /* worker -> master: replace me; arg = fw_retire_reason, value = figure;
			     value2 = 1 when the worker is already draining (memory) */
	FW_MSG_DRAIN,       /* master -> worker: your replacement is ready; hand over and exit.
			     May carry a socket to that replacement, whose other end the
			     replacement got when it was forked (fw_worker_boot.peer_in). */
	FW_MSG_HANDOFF,     /* worker -> master, fds attached: idle connections for another worker;
			     their kinds in the masks (fw_msg_kind) */
	FW_MSG_CONN,        /* master -> worker, or retiring worker -> its replacement over the
			     socket DRAIN carried, fds attached: adopt these connections, of
			     the kinds the masks say */
	FW_MSG_REOPEN,      /* master -> worker: reopen the log files (SIGUSR1) */
	FW_MSG_LIMITS,      /* master -> worker: memory limits now (bytes): value = rss_limit_mb's,
			     value2 = rss_soft_limit_mb's (a budget shared out again, SIGTTIN/TTOU) */
	FW_MSG_STUCK,       /* worker -> master, the answer to FW_SIG_STUCK: value = the handler's
			     start (the signal's value), arg = FW_STUCK_*; with FW_STUCK_ANSWERED
			     on a kept connection, that connection is attached (for another worker) */
	FW_MSG_EXEC_FAILED, /* a canary -> master, its last word: the new build's file could not
			       be executed; value = errno */
};

/* Why a worker was replaced; the status page counts each. */
enum fw_retire_reason {
	FW_RETIRE_NONE = 0,
	FW_RETIRE_MAX_REQUESTS,
	FW_RETIRE_MEMORY,
	FW_RETIRE_TIMEOUT,
	FW_RETIRE_CRASH,
	FW_RETIRE_RELOAD,
	FW_RETIRE_UPGRADE, /* a worker of the build an upgrade replaces */
	FW_RETIRE_NREASONS,
};

/*
 * A live upgrade (SIGUSR2), in the master (master/upgrade.c):
 *
 *   NONE --USR2--> CANARY: one worker of the new build, started by exec of
 *                  the file at the executable's path, replaces the oldest
 *      |           serving worker (the recycle above, peer and all)
 *      |-- it exits, crashes or times out before READY --> NONE (refused)
 *      `-- READY --> EXEC: the master re-executes that file in place (same
 *                  pid), its table handed over in a memory file
 *                  --> ROLLING: every worker of the old build is QUEUED
 *                  (reason upgrade) and replaced by a fork of the new master,
 *                  recycle_concurrency at a time
 *                  --> NONE (done) when no worker of the old build is left.
 *   A stop abandons it; a second SIGUSR2, or a SIGHUP, is refused meanwhile.
 */
enum fw_upgrade_phase {
	FW_UPGRADE_NONE = 0,
	FW_UPGRADE_CANARY,
	FW_UPGRADE_EXEC,
	FW_UPGRADE_ROLLING,
};

/* How the last upgrade ended. */
enum fw_upgrade_result {
	FW_UPGRADE_NO_RESULT = 0, /* none yet */
	FW_UPGRADE_DONE,
	FW_UPGRADE_REFUSED,   /* the new build failed its canary; the old one serves on */
	FW_UPGRADE_ABANDONED, /* the server stopped meanwhile */
	FW_UPGRADE_NRESULTS,
};

/* The master's view of a worker (the diagram above). */
enum fw_wstate {
	FW_W_FREE = 0,
	FW_W_BOOTING,   /* forked, READY not yet received */
	FW_W_SERVING,   /* accepting */
	FW_W_QUEUED,    /* to be replaced, still accepting: waits for a recycle_concurrency place */
	FW_W_REPLACING, /* its replacement boots; still accepting */
	FW_W_DRAINING,  /* told to drain, or draining alone: hands over, then exits */
	FW_W_STOPPING,  /* told to stop: finishes, closes, exits */
};

/* The worker's own mode, published in its scoreboard slot (the diagram above). */
enum fw_worker_mode {
	FW_WORKER_FREE = 0, /* the slot: no worker */
	FW_WORKER_BOOTING,
	FW_WORKER_SERVING,
	FW_WORKER_DRAINING_ALONE, /* over memory: draining before the master's DRAIN */
	FW_WORKER_DRAINING,
	FW_WORKER_STOPPING,
	FW_WORKER_ORPHANED, /* the master is gone: stopping within a second */
};

/* A connection's life in a worker (the diagram above). */
enum fw_conn_state {
	FW_CONN_ACTIVE = 0,
	FW_CONN_LAST,      /* its last request is in: close once answered */
	FW_CONN_PEER_GONE, /* the peer closed: send what is queued, then close */
	FW_CONN_MOVING,    /* idle, marked for handoff: waits for the channel to take it */
	FW_CONN_LINGERING, /* write side shut down: read until the peer closes */
	FW_CONN_BROKEN,    /* I/O or protocol error: close at the next safe point */
};

/*
 * What a handed-over connection is, for the worker that adopts it: bit i
 * of value says the i-th descriptor speaks SCGI (else FastCGI), bit i of
 * value2 that it was accepted on status_listen.
 */
enum { FW_CONN_SCGI = 1, FW_CONN_STATUS = 2 };

/*
 * A handler stuck past `timeout`: the master queues FW_SIG_STUCK to the
 * worker's main thread with the handler's start time (sival_ptr, as in
 * the slot's handler_ms). The worker's signal handler answers 504 on the
 * request's connection, replies FW_MSG_STUCK and waits to be killed
 * (worker/stuck.c, master/timeout.c). A real-time signal: queued, never
 * merged with another, and no one else's.
 */
#define FW_SIG_STUCK (SIGRTMIN + 2)

enum fw_stuck_reply {
	FW_STUCK_GONE = 0,   /* that handler is no longer running: nothing done */
	FW_STUCK_ANSWERED,   /* 504 written; the worker waits for its SIGKILL */
	FW_STUCK_UNANSWERED, /* still stuck, but the 504 could not be written */
};

const char *fw_retire_reason_name(enum fw_retire_reason r);
/* "none", "canary", "exec", "rolling"; "none", "done", "refused", "abandoned". */
const char *fw_upgrade_phase_name(enum fw_upgrade_phase p);
const char *fw_upgrade_result_name(enum fw_upgrade_result r);
/* As the status page names it: booting, ready, draining, stopping. */
const char *fw_worker_mode_name(enum fw_worker_mode m);

#endif
