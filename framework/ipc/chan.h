/*
 * Master <-> worker messages: fixed-size, typed, over a SOCK_SEQPACKET
 * socketpair (one per worker), so every read is exactly one message and
 * its size is checked before it is used (after OpenBSD's imsg). A file
 * descriptor can ride along (SCM_RIGHTS), for handing over connections.
 */
#ifndef FW_IPC_CHAN_H
#define FW_IPC_CHAN_H

#include <signal.h>
#include <stdint.h>

enum fw_msg_type {
	FW_MSG_READY = 1, /* worker -> master: booted, accepting */
	FW_MSG_STOP,      /* master -> worker: graceful stop (finish in-flight, exit) */
	FW_MSG_QUIT,      /* master -> worker: fast stop */
	FW_MSG_RETIRE,    /* worker -> master: replace me; arg = fw_retire_reason, value = figure;
			     value2 = 1 when the worker is already draining (memory) */
	FW_MSG_DRAIN,     /* master -> worker: your replacement is ready; hand over and exit.
			     May carry a socket to that replacement, whose other end the
			     replacement got when it was forked (fw_worker_boot.peer_in). */
	FW_MSG_HANDOFF,   /* worker -> master, fds attached: idle connections for another worker;
			     their kinds in the masks (fw_msg_kind) */
	FW_MSG_CONN,      /* master -> worker, or retiring worker -> its replacement over the
			     socket DRAIN carried, fds attached: adopt these connections, of
			     the kinds the masks say */
	FW_MSG_REOPEN,    /* master -> worker: reopen the log files (SIGUSR1) */
	FW_MSG_LIMITS,    /* master -> worker: memory limits now (bytes): value = rss_limit_mb's,
			     value2 = rss_soft_limit_mb's (a budget shared out again, SIGTTIN/TTOU) */
	FW_MSG_STUCK,     /* worker -> master, the answer to FW_SIG_STUCK: value = the handler's
			     start (the signal's value), arg = FW_STUCK_*; with FW_STUCK_ANSWERED
			     on a kept connection, that connection is attached (for another worker) */
};

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
	FW_STUCK_GONE = 0,     /* that handler is no longer running: nothing done */
	FW_STUCK_ANSWERED,     /* 504 written; the worker waits for its SIGKILL */
	FW_STUCK_UNANSWERED,   /* still stuck, but the 504 could not be written */
};

struct fw_msg {
	uint32_t type;
	uint32_t arg;
	uint64_t value;
	uint64_t value2;
};

/*
 * What a handed-over connection is, for the worker that adopts it: bit i
 * of value says the i-th descriptor speaks SCGI (else FastCGI), bit i of
 * value2 that it was accepted on status_listen. A FastCGI connection
 * changes hands between two requests, an SCGI one only before its request
 * begins (one request per connection).
 */
enum { FW_CONN_SCGI = 1, FW_CONN_STATUS = 2 };

static inline void fw_msg_kind_set(struct fw_msg *m, int i, unsigned kind)
{
	if (kind & FW_CONN_SCGI)
		m->value |= 1ULL << i;
	if (kind & FW_CONN_STATUS)
		m->value2 |= 1ULL << i;
}

static inline unsigned fw_msg_kind(const struct fw_msg *m, int i)
{
	return (unsigned)((m->value >> i) & 1) * FW_CONN_SCGI | (unsigned)((m->value2 >> i) & 1) * FW_CONN_STATUS;
}

/* A connected pair: fds[0] for the master, fds[1] for the worker. 0 or -1 (errno). */
int fw_chan_pair(int fds[2]);

/* Most descriptors one message carries (SCM_MAX_FD is 253). */
#define FW_CHAN_MAX_FDS 64
_Static_assert(FW_CHAN_MAX_FDS <= 64, "one bit of a 64-bit mask per descriptor (fw_msg_kind)");

/*
 * Send one message, with fd attached unless it is -1. Returns 0, or -1
 * with errno (EAGAIN when the peer's queue is full: the channel is
 * non-blocking on both ends so neither process can hang on the other).
 */
int fw_chan_send(int fd, const struct fw_msg *m, int pass_fd);

/* The same with n (<= FW_CHAN_MAX_FDS) descriptors attached. */
int fw_chan_sendv(int fd, const struct fw_msg *m, const int *fds, int n);

/*
 * Receive one message. Returns 1 with *m (and *pass_fd, or -1, when
 * pass_fd is not NULL), 0 when the peer is gone, -1 with errno (EAGAIN:
 * nothing to read; EBADMSG: wrong size, the message is dropped).
 * Descriptors beyond the first are closed: use fw_chan_recvv for those.
 */
int fw_chan_recv(int fd, struct fw_msg *m, int *pass_fd);

/* The same, with up to FW_CHAN_MAX_FDS descriptors in fds; *n gets their count. */
int fw_chan_recvv(int fd, struct fw_msg *m, int *fds, int *n);

#endif
