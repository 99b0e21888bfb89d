/*
 * Master <-> worker messages: fixed-size, typed, over a SOCK_SEQPACKET
 * socketpair (one per worker), so every read is exactly one message and
 * its size is checked before it is used (after OpenBSD's imsg). A file
 * descriptor can ride along (SCM_RIGHTS), for handing over connections.
 */
#ifndef FW_IPC_CHAN_H
#define FW_IPC_CHAN_H

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
	FW_MSG_HANDOFF,   /* worker -> master, fd attached: an idle connection for another worker */
	FW_MSG_CONN,      /* master -> worker, or retiring worker -> its replacement over the
			     socket DRAIN carried, fd attached: adopt this connection */
	FW_MSG_REOPEN,    /* master -> worker: reopen the log files (SIGUSR1) */
};

struct fw_msg {
	uint32_t type;
	uint32_t arg;
	uint64_t value;
	uint64_t value2;
};

/* A connected pair: fds[0] for the master, fds[1] for the worker. 0 or -1 (errno). */
int fw_chan_pair(int fds[2]);

/* Most descriptors one message carries (SCM_MAX_FD is 253). */
#define FW_CHAN_MAX_FDS 64

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
