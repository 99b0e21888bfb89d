/*
 * Master <-> worker messages: fixed-size, typed, over a SOCK_SEQPACKET
 * socketpair (one per worker), so every read is exactly one message and
 * its size is checked before it is used (after OpenBSD's imsg). File
 * descriptors can ride along (SCM_RIGHTS), for handing over connections.
 * What the messages mean is the recycle protocol's (ipc/recycle.h).
 */
#ifndef FW_IPC_CHAN_H
#define FW_IPC_CHAN_H

#include <stdint.h>

#include "ipc/recycle.h"

struct fw_msg {
	uint32_t type;
	uint32_t arg;
	uint64_t value;
	uint64_t value2;
};

/* The kind (FW_CONN_*, ipc/recycle.h) of a message's i-th descriptor, in its masks. */
static inline void fw_msg_kind_set(struct fw_msg *m, int i, unsigned kind)
{
	if (kind & FW_CONN_SCGI)
		m->value |= 1ULL << i;
	if (kind & FW_CONN_STATUS)
		m->value2 |= 1ULL << i;
}

static inline unsigned fw_msg_kind(const struct fw_msg *m, int i)
{
	return (unsigned)((m->value >> i) & 1) * FW_CONN_SCGI |
	       (unsigned)((m->value2 >> i) & 1) * FW_CONN_STATUS;
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
