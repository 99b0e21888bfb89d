/*
 * Connections in transit. A draining worker gives its idle keepalive
 * connections back through its channel (SCM_RIGHTS) when it has no direct
 * socket to its replacement; the master passes each to the least busy
 * serving worker (the policy's choice: fw_policy_place), or holds it until
 * one is ready. The socket never closes, so nginx never sees a reset and
 * never races a close.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "ipc/chan.h"
#include "master/master.h"

void fw_handoff_push(struct fw_master *m, int fd, unsigned kind)
{
	if (m->pol.mode != FW_RUNNING || m->nhandoffs == FW_HANDOFF_QUEUE) {
		/* Stopping, or a flood no worker takes: the connection ends here. */
		shutdown(fd, SHUT_RDWR);
		close(fd);
		return;
	}
	m->handoffs[m->nhandoffs++] = (struct fw_handoff){.fd = fd, .kind = kind};
}

/*
 * Pass the waiting connections on: each to the least busy serving worker
 * (counting what this round gave it), in one message per worker.
 */
void fw_handoff_forward(struct fw_master *m)
{
	static int dest[FW_HANDOFF_QUEUE];
	static struct fw_handoff left[FW_HANDOFF_QUEUE];
	size_t nleft = 0;

	if (m->nhandoffs == 0)
		return;
	fw_policy_place(&m->pol, fw_master_readings(m), fw_now_ms(), m->nhandoffs, dest);
	for (size_t i = 0; i < m->nhandoffs; i++) {
		int slot = dest[i], batch[FW_CHAN_MAX_FDS], n = 0;
		size_t picked[FW_CHAN_MAX_FDS];
		struct fw_msg msg = {.type = FW_MSG_CONN};

		if (slot == -2)
			continue; /* sent with an earlier one */
		if (slot < 0) {
			if (m->pol.mode == FW_RUNNING)
				left[nleft++] = m->handoffs[i]; /* no worker ready yet */
			else
				close(m->handoffs[i].fd);
			continue;
		}
		/* This one and the later ones for the same worker, in one message. */
		for (size_t j = i; j < m->nhandoffs && n < FW_CHAN_MAX_FDS; j++) {
			if (dest[j] == slot) {
				fw_msg_kind_set(&msg, n, m->handoffs[j].kind);
				picked[n] = j;
				batch[n++] = m->handoffs[j].fd;
				dest[j] = -2;
			}
		}
		msg.arg = (uint32_t)n;
		if (fw_chan_sendv(m->procs[slot].chan, &msg, batch, n) == 0) {
			for (int k = 0; k < n; k++)
				close(batch[k]);
		} else {
			for (int k = 0; k < n; k++)
				left[nleft++] =
					m->handoffs[picked[k]]; /* its channel is full: next round */
		}
	}
	memcpy(m->handoffs, left, nleft * sizeof(left[0]));
	m->nhandoffs = nleft;
}
