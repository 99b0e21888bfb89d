/* The master's decisions, pure (policy.h). */
#include "master/policy.h"

#include <string.h>

#include "core/clock.h" /* fw_elapsed_ms only: the policy reads no clock */

#define WORKERS_MAX 512
#define SPAWN_RETRY_MS 1000
#define BOOT_BACKOFF_FIRST_MS 250
#define BOOT_BACKOFF_MAX_MS 5000
#define GROUP_WARN_EVERY_MS 60000
#define GROUP_HIGH_WATER 90     /* % of the limit at which the largest worker goes */
#define GROUP_WORTH_RECYCLING 2 /* % of the limit the largest worker must hold for that */

struct out {
	struct fw_action *a;
	size_t n, max;
};

static void act(struct out *o, struct fw_action a)
{
	if (o->n < o->max)
		o->a[o->n++] = a;
}

static void act1(struct out *o, enum fw_act_type type, int slot)
{
	act(o, (struct fw_action){.type = type, .slot = slot, .peer = -1});
}

void fw_policy_settings(struct fw_policy *p, int workers, int concurrency, int timeout_s, int graceful_s,
			int max_conns)
{
	p->workers_wanted = workers;
	p->concurrency = concurrency;
	p->timeout_s = timeout_s;
	p->graceful_s = graceful_s;
	p->max_conns = max_conns;
}

void fw_policy_init(struct fw_policy *p, int workers, int concurrency, int timeout_s, int graceful_s,
		    int max_conns)
{
	memset(p, 0, sizeof(*p));
	fw_policy_settings(p, workers, concurrency, timeout_s, graceful_s, max_conns);
	p->mode = FW_RUNNING;
	p->cgroup_victim = -1;
	p->canary = -1;
	for (size_t i = 0; i < FW_MAX_SLOTS; i++)
		p->slot[i].replaces = -1;
}

static bool live(const struct fw_pslot *s)
{
	return s->state != FW_W_FREE;
}

static size_t count(const struct fw_policy *p, enum fw_wstate st)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nslots; i++)
		n += p->slot[i].state == st;
	return n;
}

size_t fw_policy_live(const struct fw_policy *p)
{
	return p->nslots - count(p, FW_W_FREE);
}

/* Workers that serve or will: what `workers` is compared with. */
static size_t capacity(const struct fw_policy *p)
{
	return count(p, FW_W_BOOTING) + count(p, FW_W_SERVING) + count(p, FW_W_QUEUED);
}

/* Recycles under way: a replacement booting, or a worker draining for a reason. */
static size_t in_progress(const struct fw_policy *p)
{
	size_t n = count(p, FW_W_REPLACING);

	for (size_t i = 0; i < p->nslots; i++)
		n += p->slot[i].state == FW_W_DRAINING && p->slot[i].retire != FW_RETIRE_NONE;
	return n;
}

/* The queued worker that asked first. */
static int oldest_queued(const struct fw_policy *p)
{
	int best = -1;

	for (size_t i = 0; i < p->nslots; i++)
		if (p->slot[i].state == FW_W_QUEUED &&
		    (best < 0 || p->slot[i].retire_ms < p->slot[best].retire_ms))
			best = (int)i;
	return best;
}

/* Is slot still the worker that `gen` named? */
static bool same(const struct fw_policy *p, int slot, uint32_t gen)
{
	return slot >= 0 && live(&p->slot[slot]) && p->slot[slot].gen == gen;
}

/*
 * A new worker in the first free slot; replaces is the slot it stands in
 * for, or -1; exec: started from the new build's file (a canary).
 */
static int spawn_as(struct fw_policy *p, struct out *o, int replaces, uint64_t now, bool exec)
{
	int slot = -1;

	for (size_t i = 0; i < FW_MAX_SLOTS && slot < 0; i++)
		if (!live(&p->slot[i]))
			slot = (int)i;
	if (slot < 0 || o->n == o->max)
		return -1; /* every slot taken (1024): the next event tries again */
	p->slot[slot] = (struct fw_pslot){
		.state = FW_W_BOOTING,
		.gen = p->slot[slot].gen + 1,
		.spawned_ms = now,
		.replaces = replaces,
		.replaces_gen = replaces >= 0 ? p->slot[replaces].gen : 0,
		.boot_round = p->boot_failures,
		.exec = exec,
	};
	if ((size_t)slot >= p->nslots)
		p->nslots = (size_t)slot + 1;
	act(o, (struct fw_action){.type = FW_ACT_SPAWN, .slot = slot, .peer = replaces, .how = exec});
	return slot;
}

static int spawn(struct fw_policy *p, struct out *o, int replaces, uint64_t now)
{
	return spawn_as(p, o, replaces, now, false);
}

static void drain(struct fw_policy *p, struct out *o, int slot, int peer)
{
	p->slot[slot].state = FW_W_DRAINING;
	act(o, (struct fw_action){.type = FW_ACT_DRAIN, .slot = slot, .peer = peer});
}

/* More workers than wanted (SIGTTOU, a reload): the oldest queued, else the oldest serving, drains. */
static bool scale_down(struct fw_policy *p, struct out *o)
{
	int victim = oldest_queued(p);

	if (victim < 0) {
		for (size_t i = 0; i < p->nslots; i++)
			if (p->slot[i].state == FW_W_SERVING &&
			    (victim < 0 || p->slot[i].spawned_ms < p->slot[victim].spawned_ms))
				victim = (int)i;
		if (victim < 0)
			return false;
		p->slot[victim].retire = FW_RETIRE_NONE; /* not a recycle: it just goes */
	}
	drain(p, o, victim, -1);
	return true;
}

static void stop_deadline(struct fw_policy *p, struct out *o, uint64_t now)
{
	if (p->mode == FW_RUNNING || p->killed || now < p->stop_deadline_ms)
		return;
	for (size_t i = 0; i < p->nslots; i++)
		if (live(&p->slot[i]))
			act(o, (struct fw_action){
				       .type = FW_ACT_KILL, .slot = (int)i, .peer = -1, .how = 0});
	p->killed = true;
}

static bool reload_left(const struct fw_policy *p)
{
	for (size_t i = 0; i < p->nslots; i++)
		if (live(&p->slot[i]) && p->slot[i].retire == FW_RETIRE_RELOAD)
			return true;
	return false;
}

static bool old_build_left(const struct fw_policy *p)
{
	for (size_t i = 0; i < p->nslots; i++)
		if (live(&p->slot[i]) && p->slot[i].old_build)
			return true;
	return false;
}

/* After every event: keep `workers`, run the queue, say what became true. */
static void step(struct fw_policy *p, struct out *o, uint64_t now)
{
	int q;

	if (p->mode != FW_RUNNING) {
		stop_deadline(p, o, now);
		return;
	}
	while (capacity(p) > (size_t)p->workers_wanted && capacity(p) > 0 && scale_down(p, o))
		;
	while (in_progress(p) < (size_t)p->concurrency && now >= p->spawn_after_ms &&
	       (q = oldest_queued(p)) >= 0 && spawn(p, o, q, now) >= 0)
		p->slot[q].state = FW_W_REPLACING;
	/* Crashes, memory retirements and SIGTTIN leave room: fill it. */
	while (capacity(p) < (size_t)p->workers_wanted && now >= p->spawn_after_ms) {
		/* After a failed boot, one worker at a time until one works. */
		if (p->boot_failures > 0 && count(p, FW_W_BOOTING) > 0)
			break;
		if (spawn(p, o, -1, now) < 0)
			break;
	}
	if (!p->announced && count(p, FW_W_SERVING) >= (size_t)p->workers_wanted) {
		p->announced = true;
		act1(o, FW_ACT_ANNOUNCE, -1);
	}
	if (p->reloading && !reload_left(p)) {
		p->reloading = false;
		act1(o, FW_ACT_RELOAD_DONE, -1);
	}
	if (p->upgrade == FW_UPGRADE_ROLLING && !old_build_left(p)) {
		p->upgrade = FW_UPGRADE_NONE;
		act1(o, FW_ACT_UPGRADE_DONE, -1);
	}
}

static void stop(struct fw_policy *p, struct out *o, bool quit, uint64_t now)
{
	enum fw_master_mode mode = quit ? FW_QUITTING : FW_STOPPING;

	if (p->mode == FW_QUITTING || p->mode == mode)
		return;
	p->mode = mode;
	p->stop_deadline_ms = now + FW_QUIT_GRACE_MS + (quit ? 0 : (uint64_t)p->graceful_s * 1000);
	if (p->upgrade != FW_UPGRADE_NONE) {
		p->upgrade = FW_UPGRADE_NONE;
		p->canary = -1;
		act1(o, FW_ACT_UPGRADE_ABANDONED, -1);
	}
	act1(o, FW_ACT_STOPPING, -1);
	for (size_t i = 0; i < p->nslots; i++) {
		struct fw_pslot *s = &p->slot[i];

		if (!live(s))
			continue;
		act1(o, FW_ACT_DROP_PEER, (int)i); /* a booting replacement replaces no one now */
		act1(o, quit ? FW_ACT_QUIT : FW_ACT_STOP, (int)i);
		/* A draining worker stays one: its exit is still a recycle. */
		if (s->state != FW_W_DRAINING || quit)
			s->state = FW_W_STOPPING;
	}
}

/*
 * A replacement is ready: its old worker drains now, with the pair end the
 * replacement was forked with, so that idle connections go straight
 * across. Without it (the old one died, or drains on its own) the
 * replacement just serves, and its pair reads end of file.
 */
static void on_ready(struct fw_policy *p, struct out *o, int slot)
{
	struct fw_pslot *s = &p->slot[slot];
	int old = s->replaces;

	p->boot_failures = 0;
	if (s->state != FW_W_BOOTING)
		return; /* stopping: its pair was dropped already */
	/* Forked before a reload, or of the build being replaced: it serves, and is replaced in turn. */
	s->state = s->retire == FW_RETIRE_RELOAD || s->retire == FW_RETIRE_UPGRADE ? FW_W_QUEUED
										   : FW_W_SERVING;
	s->replaces = -1;
	if (old >= 0 && same(p, old, s->replaces_gen) && p->slot[old].state == FW_W_REPLACING) {
		drain(p, o, old, slot);
		if (s->exec && p->slot[old].retire == FW_RETIRE_NONE)
			p->slot[old].retire = FW_RETIRE_UPGRADE;
	} else if (old >= 0) {
		act1(o, FW_ACT_DROP_PEER, slot);
	}
	/* The new build boots and serves: the master follows it (FW_EV_RESUMED, or EXEC_FAILED). */
	if (s->exec && p->upgrade == FW_UPGRADE_CANARY && slot == p->canary) {
		p->upgrade = FW_UPGRADE_EXEC;
		act1(o, FW_ACT_EXEC, slot);
	}
}

static void on_retire(struct fw_policy *p, struct out *o, const struct fw_event *ev)
{
	struct fw_pslot *s = &p->slot[ev->slot];
	enum fw_retire_reason why = ev->reason;

	if (p->mode != FW_RUNNING ||
	    (s->state != FW_W_SERVING && s->state != FW_W_QUEUED && s->state != FW_W_REPLACING))
		return;
	if (why <= FW_RETIRE_NONE || why >= FW_RETIRE_NREASONS)
		why = FW_RETIRE_MAX_REQUESTS;
	if (s->state == FW_W_SERVING)
		s->retire_ms = ev->now;
	/* The first reason stays (a reload, then max_requests while waiting), but memory wins. */
	if (s->retire == FW_RETIRE_NONE || why == FW_RETIRE_MEMORY) {
		s->retire = why;
		s->retire_figure = ev->figure;
	}
	if (!ev->flag) {
		if (s->state == FW_W_SERVING)
			s->state = FW_W_QUEUED;
		return;
	}
	/*
	 * It drains by itself (memory). DRAIN acknowledges it: no connection
	 * is passed to it after this message, and it waits for it before it
	 * exits, so nothing is left unread in its channel.
	 */
	drain(p, o, ev->slot, -1);
}

static uint64_t backoff(int failures)
{
	uint64_t delay = (uint64_t)BOOT_BACKOFF_FIRST_MS << (failures - 1 < 10 ? failures - 1 : 10);

	return delay > BOOT_BACKOFF_MAX_MS ? BOOT_BACKOFF_MAX_MS : delay;
}

/*
 * A worker that died before READY. Workers forked together fail together
 * (the first start, a database down): they count as one failure. After a
 * failure one worker at a time probes, so each later failure is a new
 * round of the backoff: 250 ms, 0.5 s, 1 s, 2 s, about 4 s for a
 * dependency to come back.
 */
static enum fw_gone boot_failed(struct fw_policy *p, struct out *o, const struct fw_pslot *s,
				uint64_t now, uint64_t *delay)
{
	*delay = 0;
	if (s->boot_round < p->boot_failures)
		return FW_GONE_BOOT_RETRIED;
	p->boot_failures++;
	if (p->boot_failures >= FW_BOOT_FAILURES_MAX) {
		p->exit_status = 1;
		stop(p, o, true, now);
		return FW_GONE_BOOT_GAVE_UP;
	}
	*delay = backoff(p->boot_failures);
	p->spawn_after_ms = now + *delay;
	return FW_GONE_BOOT_FAILED;
}

static void free_slot(struct fw_policy *p, int slot)
{
	struct fw_pslot *s = &p->slot[slot];
	int old = s->state == FW_W_BOOTING ? s->replaces : -1;

	/*
	 * A replacement that did not make it: its old worker waits for
	 * another. One that a refused upgrade's canary was to replace serves
	 * on as before.
	 */
	if (old >= 0 && same(p, old, s->replaces_gen) && p->slot[old].state == FW_W_REPLACING)
		p->slot[old].state = s->exec && p->slot[old].retire == FW_RETIRE_NONE ? FW_W_SERVING
										      : FW_W_QUEUED;
	if (p->canary == slot) {
		p->canary = -1;
		if (p->upgrade == FW_UPGRADE_CANARY || p->upgrade == FW_UPGRADE_EXEC)
			p->upgrade = FW_UPGRADE_NONE; /* the master's exec, if due, sees it and stays */
	}
	if (p->cgroup_victim == slot)
		p->cgroup_victim = -1;
	*s = (struct fw_pslot){.state = FW_W_FREE, .gen = s->gen, .replaces = -1};
}

static void on_exit(struct fw_policy *p, struct out *o, const struct fw_event *ev)
{
	struct fw_pslot *s = &p->slot[ev->slot];
	struct fw_action a = {.type = FW_ACT_GONE,
			      .slot = ev->slot,
			      .peer = -1,
			      .reason = s->retire,
			      .value = s->retire_figure,
			      .value2 = fw_elapsed_ms(ev->now, s->spawned_ms)};

	if (s->timed_out)
		a.how = FW_GONE_TIMED_OUT;
	else if (s->exec && p->mode == FW_RUNNING &&
		 (s->state == FW_W_BOOTING || (ev->slot == p->canary && p->upgrade == FW_UPGRADE_EXEC)))
		/*
		 * The new build's fault, not the running one's: no backoff. Also
		 * after its READY, until the master has executed the new build:
		 * that exec is called off.
		 */
		a.how = FW_GONE_CANARY;
	else if (s->state == FW_W_BOOTING && p->mode == FW_RUNNING)
		a.how = (int)boot_failed(p, o, s, ev->now, &a.value);
	else if (s->state == FW_W_DRAINING && ev->flag)
		a.how = s->retire != FW_RETIRE_NONE ? FW_GONE_RECYCLED : FW_GONE_RETIRED;
	else if (p->mode != FW_RUNNING || s->state == FW_W_STOPPING)
		a.how = FW_GONE_STOPPED;
	else
		a.how = FW_GONE_CRASHED;
	act(o, a);
	free_slot(p, ev->slot);
}

static void on_spawn_failed(struct fw_policy *p, struct out *o, int slot, uint64_t now)
{
	if (p->slot[slot].exec) {
		act(o, (struct fw_action){.type = FW_ACT_UPGRADE_REFUSED,
					  .slot = slot,
					  .peer = -1,
					  .how = FW_REFUSED_SPAWN_FAILED});
		free_slot(p, slot);
		return;
	}
	free_slot(p, slot);
	p->spawn_after_ms = now + SPAWN_RETRY_MS;
}

static void on_stuck_reply(struct fw_policy *p, struct out *o, const struct fw_event *ev)
{
	struct fw_pslot *s = &p->slot[ev->slot];

	if (s->stuck_since == 0 || ev->since != s->stuck_since)
		return; /* an answer to a question no longer asked */
	s->stuck_since = 0;
	s->timed_out = ev->reply != FW_STUCK_GONE;
	act(o, (struct fw_action){
		       .type = FW_ACT_KILL_STUCK, .slot = ev->slot, .peer = -1, .how = (int)ev->reply});
}

/* Handlers past `timeout`, workers that never boot, questions never answered. */
static void timeouts(struct fw_policy *p, struct out *o, const struct fw_event *ev)
{
	uint64_t now = ev->now, limit = (uint64_t)p->timeout_s * 1000;

	for (size_t i = 0; i < p->nslots; i++) {
		struct fw_pslot *s = &p->slot[i];
		uint64_t since = ev->r->slot[i].handler_ms;

		if (!live(s) || s->timed_out)
			continue;
		/* One stuck in its start-up hook would hold a recycle (and at concurrency 1 all later ones). */
		if (s->state == FW_W_BOOTING && !s->boot_killed &&
		    fw_elapsed_ms(now, s->spawned_ms) > FW_BOOT_TIMEOUT_MS) {
			s->boot_killed = true;
			act(o, (struct fw_action){
				       .type = FW_ACT_KILL, .slot = (int)i, .peer = -1, .how = 1});
			continue;
		}
		if (s->stuck_since != 0) {
			if (fw_elapsed_ms(now, s->stuck_asked_ms) > FW_STUCK_REPLY_MS) {
				s->stuck_since = 0;
				s->timed_out = true;
				act(o, (struct fw_action){.type = FW_ACT_KILL_STUCK,
							  .slot = (int)i,
							  .peer = -1,
							  .how = -1});
			}
			continue;
		}
		if (limit == 0 || since == 0 || now <= since || now - since <= limit)
			continue;
		s->stuck_since = since;
		s->stuck_asked_ms = now;
		act(o, (struct fw_action){.type = FW_ACT_ASK_STUCK,
					  .slot = (int)i,
					  .peer = -1,
					  .value = since,
					  .value2 = now - since});
	}
}

/*
 * Near the cgroup's limit, the largest worker drains now (its replacement
 * starts meanwhile), one at a time: the kernel's OOM killer would take the
 * whole group, in-flight requests and all. Workers that hold little are
 * not what fills the group: recycling them would only churn; said once a
 * minute instead.
 */
static void group(struct fw_policy *p, struct out *o, const struct fw_event *ev)
{
	const struct fw_readings *r = ev->r;
	uint64_t biggest = 0;
	int largest = -1;

	if (r->cgroup_limit == 0 || p->mode != FW_RUNNING ||
	    same(p, p->cgroup_victim, p->cgroup_victim_gen))
		return;
	p->cgroup_victim = -1;
	if (r->cgroup_working_set / GROUP_HIGH_WATER < r->cgroup_limit / 100)
		return;
	for (size_t i = 0; i < p->nslots; i++) {
		enum fw_wstate st = p->slot[i].state;

		if ((st == FW_W_SERVING || st == FW_W_QUEUED || st == FW_W_REPLACING) &&
		    r->slot[i].private_kb > biggest) {
			largest = (int)i;
			biggest = r->slot[i].private_kb;
		}
	}
	if (largest < 0)
		return;
	if (biggest * 1024 < r->cgroup_limit / 100 * GROUP_WORTH_RECYCLING) {
		if (p->cgroup_warned_ms == 0 ||
		    fw_elapsed_ms(ev->now, p->cgroup_warned_ms) >= GROUP_WARN_EVERY_MS) {
			p->cgroup_warned_ms = ev->now;
			act(o, (struct fw_action){.type = FW_ACT_GROUP_ELSEWHERE,
						  .slot = largest,
						  .peer = -1,
						  .value = biggest});
		}
		return;
	}
	act(o, (struct fw_action){
		       .type = FW_ACT_GROUP_FULL, .slot = largest, .peer = -1, .value = biggest});
	drain(p, o, largest, -1);
	/* A worker a reload is replacing stays one: "reload done" waits for it. */
	if (p->slot[largest].retire != FW_RETIRE_RELOAD) {
		p->slot[largest].retire = FW_RETIRE_MEMORY;
		p->slot[largest].retire_figure = biggest;
	}
	p->cgroup_victim = largest;
	p->cgroup_victim_gen = p->slot[largest].gen;
}

/*
 * SIGHUP: every worker of the old configuration is replaced, replacement
 * first. Not during an upgrade (the executor refuses it): the upgrade
 * reads the configuration again itself.
 */
static void on_reload(struct fw_policy *p, const struct fw_event *ev)
{
	if (p->upgrade != FW_UPGRADE_NONE)
		return;
	for (size_t i = 0; i < p->nslots; i++) {
		struct fw_pslot *s = &p->slot[i];

		if (s->state != FW_W_SERVING && s->state != FW_W_BOOTING && s->state != FW_W_QUEUED)
			continue;
		/* A booting worker has the old configuration too; it retires once ready. */
		if (s->state != FW_W_BOOTING)
			s->state = FW_W_QUEUED;
		s->retire = FW_RETIRE_RELOAD;
		s->retire_ms = ev->now;
		s->retire_figure = ev->r != NULL ? ev->r->slot[i].requests : 0;
	}
	p->reloading = true;
}

static void refuse(struct out *o, enum fw_upgrade_refusal why)
{
	act(o, (struct fw_action){.type = FW_ACT_UPGRADE_REFUSED, .slot = -1, .peer = -1, .how = why});
}

/* The oldest worker that serves, not yet being replaced: the canary takes its place. */
static int oldest_serving(const struct fw_policy *p)
{
	int best = -1;

	for (size_t i = 0; i < p->nslots; i++) {
		const struct fw_pslot *s = &p->slot[i];

		if ((s->state == FW_W_SERVING || s->state == FW_W_QUEUED) && !s->timed_out &&
		    (best < 0 || s->spawned_ms < p->slot[best].spawned_ms))
			best = (int)i;
	}
	return best;
}

/*
 * SIGUSR2: one worker of the new build first, in the place of the oldest
 * (a recycle's replacement, with its socket pair), so that capacity stays
 * and nothing else changes until the new build has shown it boots.
 */
static void on_upgrade(struct fw_policy *p, struct out *o, uint64_t now)
{
	int victim, canary;

	if (p->mode != FW_RUNNING) {
		refuse(o, FW_REFUSED_STOPPING);
		return;
	}
	if (p->upgrade != FW_UPGRADE_NONE) {
		refuse(o, FW_REFUSED_BUSY);
		return;
	}
	if ((victim = oldest_serving(p)) < 0) {
		refuse(o, FW_REFUSED_NO_WORKER);
		return;
	}
	if ((canary = spawn_as(p, o, victim, now, true)) < 0) {
		refuse(o, FW_REFUSED_SPAWN_FAILED);
		return;
	}
	p->slot[victim].state = FW_W_REPLACING;
	p->upgrade = FW_UPGRADE_CANARY;
	p->canary = canary;
	p->canary_gen = p->slot[canary].gen;
	act(o, (struct fw_action){.type = FW_ACT_UPGRADE_START, .slot = canary, .peer = victim});
}

/*
 * The master could not re-execute: it stays the old build. The canary
 * is replaced in turn, so that one build serves, as before SIGUSR2.
 */
static void on_exec_failed(struct fw_policy *p, struct out *o)
{
	for (size_t i = 0; i < p->nslots; i++) {
		struct fw_pslot *s = &p->slot[i];

		if (!live(s) || !s->exec)
			continue;
		s->exec = false;
		if (s->state == FW_W_SERVING) {
			s->state = FW_W_QUEUED;
			s->retire = FW_RETIRE_UPGRADE;
		}
	}
	p->upgrade = FW_UPGRADE_NONE;
	p->canary = -1;
	refuse(o, FW_REFUSED_EXEC_FAILED);
}

/*
 * The master is the new build now: every worker but the canary is of the
 * old one, and is replaced like a reload's (the upgrade read the
 * configuration again, so a reload under way is part of it).
 */
static void on_resumed(struct fw_policy *p, struct out *o, const struct fw_event *ev)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->nslots; i++) {
		struct fw_pslot *s = &p->slot[i];

		if (!live(s))
			continue;
		if (s->exec) {
			s->exec = false;
			continue;
		}
		s->old_build = true;
		n++;
		if (s->state != FW_W_SERVING && s->state != FW_W_QUEUED && s->state != FW_W_BOOTING)
			continue; /* going already */
		if (s->state != FW_W_BOOTING)
			s->state = FW_W_QUEUED;
		if (s->retire == FW_RETIRE_NONE || s->retire == FW_RETIRE_RELOAD) {
			s->retire = FW_RETIRE_UPGRADE;
			s->retire_ms = ev->now;
			s->retire_figure = ev->r != NULL ? ev->r->slot[i].requests : 0;
		}
	}
	p->reloading = false;
	p->upgrade = FW_UPGRADE_ROLLING;
	p->canary = -1;
	act(o, (struct fw_action){.type = FW_ACT_UPGRADE_ROLLING, .slot = -1, .peer = -1, .value = n});
}

static void on_scale(struct fw_policy *p, int delta)
{
	int n = p->workers_wanted + delta;

	if (p->mode == FW_RUNNING && n >= 1 && n <= WORKERS_MAX)
		p->workers_wanted = n;
}

size_t fw_policy_on(struct fw_policy *p, const struct fw_event *ev, struct fw_action *out, size_t max)
{
	struct out o = {.a = out, .max = max};

	switch (ev->type) {
	case FW_EV_TICK:
		timeouts(p, &o, ev);
		group(p, &o, ev);
		break;
	case FW_EV_STEP:
		break;
	case FW_EV_READY:
		on_ready(p, &o, ev->slot);
		break;
	case FW_EV_RETIRE:
		on_retire(p, &o, ev);
		break;
	case FW_EV_EXIT:
		on_exit(p, &o, ev);
		break;
	case FW_EV_SPAWN_FAILED:
		on_spawn_failed(p, &o, ev->slot, ev->now);
		break;
	case FW_EV_STUCK_REPLY:
		on_stuck_reply(p, &o, ev);
		break;
	case FW_EV_RELOAD:
		on_reload(p, ev);
		break;
	case FW_EV_SCALE:
		on_scale(p, ev->delta);
		break;
	case FW_EV_STOP:
		stop(p, &o, ev->flag, ev->now);
		break;
	case FW_EV_UPGRADE:
		on_upgrade(p, &o, ev->now);
		break;
	case FW_EV_EXEC_FAILED:
		on_exec_failed(p, &o);
		break;
	case FW_EV_RESUMED:
		on_resumed(p, &o, ev);
		break;
	}
	step(p, &o, ev->now);
	return o.n;
}

void fw_policy_place(const struct fw_policy *p, const struct fw_readings *r, uint64_t now, size_t n,
		     int *dest)
{
	uint64_t given[FW_MAX_SLOTS];

	memset(given, 0, p->nslots * sizeof(given[0]));
	for (size_t k = 0; k < n; k++) {
		uint64_t best_load = UINT64_MAX;
		int best = -1;

		for (size_t i = 0; p->mode == FW_RUNNING && i < p->nslots; i++) {
			const struct fw_pslot *s = &p->slot[i];
			uint64_t busy = r->slot[i].handler_ms, load;

			if ((s->state != FW_W_SERVING && s->state != FW_W_QUEUED &&
			     s->state != FW_W_REPLACING) ||
			    s->timed_out || s->stuck_since != 0)
				continue;
			/* Not to a worker stuck in a handler, nor past its max_conns. */
			if ((busy != 0 && now > busy && now - busy > FW_STUCK_MS) ||
			    r->slot[i].conns + given[i] >= (uint64_t)p->max_conns)
				continue;
			/* A worker to be replaced would only have to pass it on again. */
			load = r->slot[i].conns + given[i] + (s->state != FW_W_SERVING ? 1000000 : 0);
			if (load < best_load) {
				best = (int)i;
				best_load = load;
			}
		}
		dest[k] = best;
		if (best >= 0)
			given[best]++;
	}
}

uint64_t fw_policy_wake(const struct fw_policy *p, uint64_t now, uint64_t later)
{
	uint64_t wake = later;

	if (p->mode == FW_RUNNING && p->spawn_after_ms > now && p->spawn_after_ms < wake)
		wake = p->spawn_after_ms;
	if (p->mode != FW_RUNNING && !p->killed && p->stop_deadline_ms < wake)
		wake = p->stop_deadline_ms;
	return wake;
}
