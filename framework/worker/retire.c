/*
 * When a worker asks to be replaced: after max_requests (+ jitter), or
 * when its private memory is over rss_limit_mb. And the worker's side of
 * `timeout` for deferred requests (a handler stuck in the loop itself is
 * the master's business: it reads the scoreboard). The heartbeat also
 * runs the connections' own timeouts (conn_timeout.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/memstat.h"
#include "ipc/chan.h"
#include "worker/worker.h"

/*
 * max_requests + a uniform draw from 0..jitter, one per worker, so that
 * workers started together do not all reach their limit together.
 */
static uint64_t draw_limit(const struct fw_config *cfg)
{
	uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ fw_now_us();

	if (cfg->max_requests == 0)
		return 0;
	/* splitmix64: one well-mixed draw is all that is needed */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (uint64_t)cfg->max_requests + x % ((uint64_t)cfg->max_requests_jitter + 1);
}

void fw_retire_init(struct fw_worker *w)
{
	w->retire_after = draw_limit(w->cfg);
	fw_memguard_init(&w->mem, w->cfg, w->slot);
	fw_slot_store(w->slot->tcmalloc, (uint32_t)(strcmp(fw_heap_allocator(), "tcmalloc") == 0));
	/* Tests and benchmarks that prove a path allocates nothing ask for this. */
	if (getenv("FW_COUNT_ALLOCS") != NULL &&
	    fw_heap_count_calls(&w->slot->allocs, &w->slot->frees) == 0)
		fw_slot_store(w->slot->counting, (uint32_t)1);
	/* The heap figures wait for the first heartbeat reading (see measure()). */
}

/*
 * Tell the master. A send that fails (its queue full) is retried from the
 * heartbeat: until the master knows, it would keep sending connections
 * and count the exit as a crash.
 */
static void retire_send(struct fw_worker *w)
{
	struct fw_msg m = {.type = FW_MSG_RETIRE,
			   .arg = w->retire_reason,
			   .value = w->retire_figure,
			   .value2 = w->retire_reason == FW_RETIRE_MEMORY};

	if (w->retire_sent || w->mode == FW_WORKER_ORPHANED || w->retire_reason == FW_RETIRE_NONE)
		return;
	if (fw_chan_send(w->chan_fd, &m, -1) != 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			fw_log_errno(FW_LOG_ERROR, "sendmsg(retire)");
		return;
	}
	w->retire_sent = true;
	fw_slot_store(w->slot->retiring, (uint32_t)w->retire_reason);
}

static void retire_want(struct fw_worker *w, enum fw_retire_reason why, uint64_t figure)
{
	w->retire_reason = why;
	w->retire_figure = figure;
	w->retire_sent = false;
	retire_send(w);
}

/*
 * Over the limit: take no more work. Idle connections go to the master
 * now, which holds them for the other workers, instead of waiting for the
 * replacement while memory keeps growing. The worker exits only once the
 * master has acknowledged (DRAIN): connections it sent before that still
 * arrive and are passed on.
 */
static void retire_memory(struct fw_worker *w, uint64_t kb)
{
	/* The limit in effect: a cgroup budget shared out again (FW_MSG_LIMITS) is not in cfg. */
	fw_log(FW_LOG_INFO, "private memory %llu KiB over rss_limit_mb (%llu MiB): retiring",
	       (unsigned long long)kb, (unsigned long long)(w->mem.hard >> 20));
	retire_want(w, FW_RETIRE_MEMORY, kb);
	fw_worker_drain(w, false);
}

/* May memory still retire the worker? Not twice, nor one that stops for good. */
static bool memory_watched(const struct fw_worker *w)
{
	return w->retire_reason != FW_RETIRE_MEMORY &&
	       (w->mode == FW_WORKER_SERVING || fw_worker_draining(w));
}

void fw_retire_check(struct fw_worker *w)
{
	uint64_t kb = 0;

	if (!memory_watched(w))
		return;
	if (w->retire_reason == FW_RETIRE_NONE && w->mode == FW_WORKER_SERVING && w->retire_after != 0 &&
	    w->app_requests >= w->retire_after) {
		retire_want(w, FW_RETIRE_MAX_REQUESTS, w->app_requests);
		return;
	}
	/*
	 * Memory is watched until the worker exits: one that waits for its
	 * replacement (max_requests, reload) may still grow past the limit.
	 */
	if (fw_memguard_check(&w->mem, fw_now_ms(), &kb) == FW_RETIRE_MEMORY)
		retire_memory(w, kb);
}

/* Deferred requests past `timeout` get a 504 here; the loop is alive. */
static bool time_out_one(struct fw_conn *c, void *arg)
{
	uint64_t now = *(const uint64_t *)arg, limit = (uint64_t)c->w->cfg->timeout * 1000;

	if (c->req == NULL || c->req->state != FW_REQ_DEFERRED || now - c->req->start_ms <= limit)
		return false;
	fw_request_time_out(c, c->req); /* runs the cancel callback */
	fw_conn_settle(c);
	return true;
}

void fw_retire_tick(struct fw_worker *w)
{
	uint64_t now = fw_now_ms();
	uint64_t kb = 0;

	retire_send(w); /* a retry, if the last send found the channel full */
	if (fw_memguard_refresh(&w->mem, now, &kb) == FW_RETIRE_MEMORY && memory_watched(w))
		retire_memory(w, kb);
	/* Not before the first measurement: a 0 would draw as growth. */
	if (now - w->mem_sampled_ms >= FW_MEM_HISTORY_S * 1000 &&
	    fw_slot_load(w->slot->measured_ms) != 0) {
		struct fw_slot *s = w->slot;
		uint32_t i = fw_slot_load(s->mem_history_next);

		fw_slot_store(s->mem_history[i % FW_MEM_HISTORY], (uint32_t)fw_slot_load(s->private_kb));
		fw_slot_store(s->mem_history_next, i + 1);
		w->mem_sampled_ms = now;
	}
	if (w->cfg->timeout > 0 && w->in_flight > 0)
		fw_conn_for_each(w, time_out_one, &now);
	fw_conn_timeouts(w, now);
}
