/*
 * What a peer may not hold forever: a connection slot, a request object,
 * an unsent response. Checked once a second (the heartbeat), each against
 * the time of the last progress:
 *
 *   request_timeout  a request being received (from its first byte, or
 *                    from the accept for a new connection, to its last;
 *                    for a streamed body, between two of its pieces);
 *   send_timeout     output the peer does not read (between two writes
 *                    that took bytes, as nginx's send_timeout);
 *   idle_timeout     a kept connection with nothing in progress (above
 *                    the front end's own keep-alive timeout, so that it
 *                    is the front end that closes, never a race with it);
 *   the lingering close's own bound (linger.c).
 *
 * Closing one gives its buffers back at once (fw_conn_close).
 */
#include "core/clock.h"
#include "core/log.h"
#include "worker/worker.h"

static bool over(uint64_t now, uint64_t since, int seconds)
{
	return since != 0 && now > since && now - since > (uint64_t)seconds * 1000;
}

static bool idle(const struct fw_conn *c)
{
	return c->state == FW_CONN_ACTIVE && fw_conn_idle(c) && c->recv_since == 0;
}

static bool sweep_one(struct fw_conn *c, void *arg)
{
	uint64_t now = *(const uint64_t *)arg;
	const struct fw_config *cfg = c->w->cfg;

	/* A lingering connection has answered: only its own bound applies. */
	if (c->state == FW_CONN_LINGERING) {
		if (!fw_conn_linger_expired(c, now))
			return false;
		fw_conn_close(c, NULL); /* the peer never closed its side */
		return true;
	}
	/* A streamed body its handler paused is not the client's delay. */
	if (over(now, c->recv_since, cfg->request_timeout) && !fw_body_paused(c)) {
		fw_log(FW_LOG_WARN,
		       "connection %d took over request_timeout (%d s) to send its request; "
		       "closing it",
		       c->fd, cfg->request_timeout);
	} else if (fw_conn_unsent(c) > 0 && over(now, c->send_ms, cfg->send_timeout)) {
		fw_log(FW_LOG_WARN,
		       "connection %d read none of its %zu unsent bytes for send_timeout (%d s); "
		       "closing it",
		       c->fd, fw_conn_unsent(c), cfg->send_timeout);
	} else if (idle(c) && over(now, c->active_ms, cfg->idle_timeout)) {
		fw_log(FW_LOG_DEBUG, "connection %d idle for idle_timeout (%d s); closing it", c->fd,
		       cfg->idle_timeout);
		fw_conn_close(c, NULL); /* nothing in flight either way: a plain close */
		return true;
	} else {
		return false;
	}
	fw_conn_break(c);
	fw_conn_settle(c);
	return true;
}

void fw_conn_timeouts(struct fw_worker *w, uint64_t now)
{
	fw_conn_for_each(w, sweep_one, &now);
}
