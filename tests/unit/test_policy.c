/*
 * The master's policy (master/policy.c), without processes or sleeps:
 * each scenario is a table of events and of the actions each must give,
 * written as text. An event line:
 *     [+MS|-MS] step | tick | ready S | retire S REASON [alone] | exit S clean|crash
 *           | spawnfail S | reply S answered|unanswered|gone | reload | ttin | ttou
 *           | term | quit | usr2 | execfail | resumed
 * (+MS moves the clock first, -MS back: the master's tick is stamped
 * when its turn began, an exit read in that turn later; a tick reads the scenario's readings, set
 * with lines "handler S AGO_MS", "private S KB", "group LIMIT_MB WS_MB",
 * which give no actions). Actions are written as:
 *     spawn S [for R] | drain S [peer R] | drop S | stop S | quit S | kill S [boot]
 *     | ask S | stuck S answered|unanswered|gone|none | gone S HOW [REASON|MS]
 *     | announce | reload-done | stopping | group-full S | elsewhere
 *     | upgrade-start S for R | refused WHY | exec S | rolling N | upgrade-done
 *     | abandoned   (a canary's spawn ends with " exec"; its exit is "gone S canary")
 * separated by "; ".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "master/policy.h"

struct scenario {
	const char *name;
	int workers, concurrency, timeout_s;
	const char *steps[40][2]; /* {event, expected actions}, ended by {NULL} */
};

static const char *gone_name(int how)
{
	static const char *const names[] = {
		[FW_GONE_RECYCLED] = "recycled",
		[FW_GONE_RETIRED] = "retired",
		[FW_GONE_TIMED_OUT] = "timed-out",
		[FW_GONE_CRASHED] = "crashed",
		[FW_GONE_STOPPED] = "stopped",
		[FW_GONE_BOOT_FAILED] = "boot-failed",
		[FW_GONE_BOOT_RETRIED] = "boot-retried",
		[FW_GONE_BOOT_GAVE_UP] = "gave-up",
		[FW_GONE_CANARY] = "canary",
	};
	return names[how];
}

static const char *reply_name(int how)
{
	return how == FW_STUCK_ANSWERED     ? "answered"
	       : how == FW_STUCK_UNANSWERED ? "unanswered"
	       : how == FW_STUCK_GONE       ? "gone"
					    : "none";
}

static void render(const struct fw_action *a, char *out, size_t len)
{
	switch (a->type) {
	case FW_ACT_SPAWN:
		if (a->peer >= 0)
			snprintf(out, len, "spawn %d for %d%s", a->slot, a->peer, a->how ? " exec" : "");
		else
			snprintf(out, len, "spawn %d%s", a->slot, a->how ? " exec" : "");
		break;
	case FW_ACT_DRAIN:
		if (a->peer >= 0)
			snprintf(out, len, "drain %d peer %d", a->slot, a->peer);
		else
			snprintf(out, len, "drain %d", a->slot);
		break;
	case FW_ACT_DROP_PEER:
		snprintf(out, len, "drop %d", a->slot);
		break;
	case FW_ACT_STOP:
		snprintf(out, len, "stop %d", a->slot);
		break;
	case FW_ACT_QUIT:
		snprintf(out, len, "quit %d", a->slot);
		break;
	case FW_ACT_KILL:
		snprintf(out, len, "kill %d%s", a->slot, a->how == 1 ? " boot" : "");
		break;
	case FW_ACT_ASK_STUCK:
		snprintf(out, len, "ask %d", a->slot);
		break;
	case FW_ACT_KILL_STUCK:
		snprintf(out, len, "stuck %d %s", a->slot, reply_name(a->how));
		break;
	case FW_ACT_GONE:
		if (a->how == FW_GONE_RECYCLED)
			snprintf(out, len, "gone %d recycled %s", a->slot,
				 fw_retire_reason_name(a->reason));
		else if (a->how == FW_GONE_BOOT_FAILED)
			snprintf(out, len, "gone %d boot-failed %llu", a->slot,
				 (unsigned long long)a->value);
		else
			snprintf(out, len, "gone %d %s", a->slot, gone_name(a->how));
		break;
	case FW_ACT_ANNOUNCE:
		snprintf(out, len, "announce");
		break;
	case FW_ACT_RELOAD_DONE:
		snprintf(out, len, "reload-done");
		break;
	case FW_ACT_STOPPING:
		snprintf(out, len, "stopping");
		break;
	case FW_ACT_GROUP_FULL:
		snprintf(out, len, "group-full %d", a->slot);
		break;
	case FW_ACT_GROUP_ELSEWHERE:
		snprintf(out, len, "elsewhere");
		break;
	case FW_ACT_UPGRADE_START:
		snprintf(out, len, "upgrade-start %d for %d", a->slot, a->peer);
		break;
	case FW_ACT_UPGRADE_REFUSED: {
		static const char *const why[] = {
			[FW_REFUSED_BUSY] = "busy",           [FW_REFUSED_STOPPING] = "stopping",
			[FW_REFUSED_NO_WORKER] = "no-worker", [FW_REFUSED_SPAWN_FAILED] = "spawn",
			[FW_REFUSED_EXEC_FAILED] = "exec",
		};
		snprintf(out, len, "refused %s", why[a->how]);
		break;
	}
	case FW_ACT_EXEC:
		snprintf(out, len, "exec %d", a->slot);
		break;
	case FW_ACT_UPGRADE_ROLLING:
		snprintf(out, len, "rolling %llu", (unsigned long long)a->value);
		break;
	case FW_ACT_UPGRADE_DONE:
		snprintf(out, len, "upgrade-done");
		break;
	case FW_ACT_UPGRADE_ABANDONED:
		snprintf(out, len, "abandoned");
		break;
	}
}

static enum fw_retire_reason reason(const char *s)
{
	for (int r = FW_RETIRE_MAX_REQUESTS; r < FW_RETIRE_NREASONS; r++)
		if (strcmp(s, fw_retire_reason_name((enum fw_retire_reason)r)) == 0)
			return (enum fw_retire_reason)r;
	return FW_RETIRE_NONE;
}

struct run {
	struct fw_policy p;
	struct fw_readings r;
	uint64_t now;
};

/* A readings line: true if it was one (no event). */
static bool readings(struct run *run, const char *line)
{
	int s;
	unsigned long long a, b;

	if (sscanf(line, "handler %d %llu", &s, &a) == 2) {
		run->r.slot[s].handler_ms = a == 0 ? 0 : run->now - a;
		return true;
	}
	if (sscanf(line, "private %d %llu", &s, &a) == 2) {
		run->r.slot[s].private_kb = a;
		return true;
	}
	if (sscanf(line, "group %llu %llu", &a, &b) == 2) {
		run->r.cgroup_limit = a << 20;
		run->r.cgroup_working_set = b << 20;
		return true;
	}
	return false;
}

static bool event(struct run *run, const char *line, struct fw_event *ev)
{
	char word[32] = "", arg[32] = "", arg2[32] = "";
	int slot = -1, adv = 0, n = 0;

	if (line[0] == '+' || line[0] == '-') { /* -MS: stamped before the last event */
		sscanf(line + 1, "%d %n", &adv, &n);
		run->now = line[0] == '+' ? run->now + (uint64_t)adv : run->now - (uint64_t)adv;
		line += n + 1;
	}
	if (readings(run, line))
		return false;
	sscanf(line, "%31s %d %31s %31s", word, &slot, arg, arg2);
	*ev = (struct fw_event){.now = run->now, .slot = slot, .r = &run->r};
	if (strcmp(word, "step") == 0) {
		ev->type = FW_EV_STEP;
	} else if (strcmp(word, "tick") == 0) {
		ev->type = FW_EV_TICK;
	} else if (strcmp(word, "ready") == 0) {
		ev->type = FW_EV_READY;
	} else if (strcmp(word, "retire") == 0) {
		ev->type = FW_EV_RETIRE;
		ev->reason = reason(arg);
		ev->figure = 1;
		ev->flag = strcmp(arg2, "alone") == 0;
	} else if (strcmp(word, "exit") == 0) {
		ev->type = FW_EV_EXIT;
		ev->flag = strcmp(arg, "clean") == 0;
	} else if (strcmp(word, "spawnfail") == 0) {
		ev->type = FW_EV_SPAWN_FAILED;
	} else if (strcmp(word, "reply") == 0) {
		ev->type = FW_EV_STUCK_REPLY;
		ev->since = run->p.slot[slot].stuck_since;
		ev->reply = strcmp(arg, "answered") == 0 ? FW_STUCK_ANSWERED
			    : strcmp(arg, "gone") == 0   ? FW_STUCK_GONE
							 : FW_STUCK_UNANSWERED;
	} else if (strcmp(word, "reload") == 0) {
		ev->type = FW_EV_RELOAD;
	} else if (strcmp(word, "ttin") == 0 || strcmp(word, "ttou") == 0) {
		ev->type = FW_EV_SCALE;
		ev->delta = word[2] == 'i' ? +1 : -1;
	} else if (strcmp(word, "term") == 0 || strcmp(word, "quit") == 0) {
		ev->type = FW_EV_STOP;
		ev->flag = word[0] == 'q';
	} else if (strcmp(word, "usr2") == 0) {
		ev->type = FW_EV_UPGRADE;
	} else if (strcmp(word, "execfail") == 0) {
		ev->type = FW_EV_EXEC_FAILED;
	} else if (strcmp(word, "resumed") == 0) {
		ev->type = FW_EV_RESUMED;
	} else {
		check_fail(__FILE__, __LINE__, "unknown event line '%s'", line);
		return false;
	}
	return true;
}

static void play(const struct scenario *sc)
{
	static struct run run;
	static struct fw_action acts[FW_POLICY_MAX_ACTIONS];

	memset(&run, 0, sizeof(run));
	run.now = 1000000;
	fw_policy_init(&run.p, sc->workers, sc->concurrency, sc->timeout_s, 30, 100);
	for (int i = 0; sc->steps[i][0] != NULL; i++) {
		char got[1024] = "", one[128];
		struct fw_event ev;
		size_t n;

		if (!event(&run, sc->steps[i][0], &ev))
			continue;
		n = fw_policy_on(&run.p, &ev, acts, FW_POLICY_MAX_ACTIONS);
		for (size_t k = 0; k < n; k++) {
			render(&acts[k], one, sizeof(one));
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "; " : "",
				 one);
		}
		if (!CHECK_EQ_STR(got, sc->steps[i][1]))
			fprintf(stderr, "  in \"%s\", step %d: %s\n", sc->name, i, sc->steps[i][0]);
	}
}

/* clang-format off: each scenario is a table, one step a line */
static const struct scenario scenarios[] = {
	{"start, then one recycle, replacement first",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"+10 retire 0 max_requests", "spawn 2 for 0"},
	  {"ready 2", "drain 0 peer 2"},
	  {"exit 0 clean", "gone 0 recycled max_requests"},
	  {"+1000 step", ""},
	  {NULL}}},
	{"a tick stamped before the spawn of its turn: the new worker is not 'not ready after 60 s'",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"+100 retire 0 max_requests", "spawn 1 for 0"},
	  {"-5 tick", ""},
	  {"+60006 tick", "kill 1 boot"},
	  {NULL}}},
	{"a wave at recycle_concurrency 1: one at a time, oldest first",
	 3,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1; spawn 2"},
	  {"ready 0", ""},
	  {"ready 1", ""},
	  {"ready 2", "announce"},
	  {"+1 retire 1 max_requests", "spawn 3 for 1"},
	  {"+1 retire 0 max_requests", ""},
	  {"+1 retire 2 max_requests", ""},
	  {"ready 3", "drain 1 peer 3"},
	  {"exit 1 clean", "gone 1 recycled max_requests; spawn 1 for 0"},
	  {"ready 1", "drain 0 peer 1"},
	  {"exit 0 clean", "gone 0 recycled max_requests; spawn 0 for 2"},
	  {"ready 0", "drain 2 peer 0"},
	  {"exit 2 clean", "gone 2 recycled max_requests"},
	  {NULL}}},
	{"a wave at recycle_concurrency 2: two at a time",
	 3,
	 2,
	 60,
	 {{"step", "spawn 0; spawn 1; spawn 2"},
	  {"ready 0", ""},
	  {"ready 1", ""},
	  {"ready 2", "announce"},
	  {"+1 retire 0 max_requests", "spawn 3 for 0"},
	  {"+1 retire 1 max_requests", "spawn 4 for 1"},
	  {"+1 retire 2 max_requests", ""},
	  {"ready 4", "drain 1 peer 4"},
	  {"exit 1 clean", "gone 1 recycled max_requests; spawn 1 for 2"},
	  {NULL}}},
	{"a replacement that dies before READY: a failed boot, then another",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"retire 0 max_requests", "spawn 1 for 0"},
	  {"exit 1 crash", "gone 1 boot-failed 250"},
	  {"+100 step", ""},
	  {"+200 step", "spawn 1 for 0"},
	  {"ready 1", "drain 0 peer 1"},
	  {"exit 0 clean", "gone 0 recycled max_requests"},
	  {NULL}}},
	{"a tick that read the clock before an exit started a replacement: not a boot timeout",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"retire 0 max_requests", "spawn 2 for 0"},
	  {"retire 1 max_requests", ""},
	  {"ready 2", "drain 0 peer 2"},
	  {"+12 exit 0 clean", "gone 0 recycled max_requests; spawn 0 for 1"},
	  {"-2 tick", ""},
	  {"+61000 tick", "kill 0 boot"},
	  {NULL}}},
	{"a fork that fails: the old worker waits, the master retries in a second",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"retire 0 max_requests", "spawn 1 for 0"},
	  {"spawnfail 1", ""},
	  {"+500 step", ""},
	  {"+600 step", "spawn 1 for 0"},
	  {NULL}}},
	{"the old worker dies while its replacement boots: the replacement just serves",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"retire 0 max_requests", "spawn 2 for 0"},
	  {"exit 0 crash", "gone 0 crashed"},
	  {"ready 2", "drop 2"},
	  {NULL}}},
	{"a crash during a drain is a crash",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"retire 0 max_requests", "spawn 1 for 0"},
	  {"ready 1", "drain 0 peer 1"},
	  {"exit 0 crash", "gone 0 crashed"},
	  {NULL}}},
	{"a reload during a recycle: every old worker replaced, then reload-done",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"+1 retire 0 max_requests", "spawn 2 for 0"},
	  {"+1 reload", ""},
	  {"ready 2", "drain 0 peer 2"},
	  {"exit 0 clean", "gone 0 recycled max_requests; spawn 0 for 1"},
	  {"ready 0", "drain 1 peer 0"},
	  {"exit 1 clean", "gone 1 recycled reload; spawn 1 for 2"},
	  {"ready 1", "drain 2 peer 1"},
	  {"exit 2 clean", "gone 2 recycled reload; reload-done"},
	  {NULL}}},
	{"a reload with nothing to replace is done at once",
	 1,
	 1,
	 60,
	 {{"reload", "spawn 0; reload-done"}, {NULL}}},
	{"SIGTTOU during a recycle: one fewer, the oldest serving drains alone",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"retire 0 max_requests", "spawn 2 for 0"},
	  {"ttou", "drain 1"},
	  {"ready 2", "drain 0 peer 2"},
	  {"exit 1 clean", "gone 1 retired"},
	  {"exit 0 clean", "gone 0 recycled max_requests"},
	  {"ttin", "spawn 0"},
	  {NULL}}},
	{"over its memory limit: drains at once, its replacement comes meanwhile",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"retire 0 memory alone", "drain 0; spawn 1"},
	  {"ready 1", ""},
	  {"exit 0 clean", "gone 0 recycled memory"},
	  {NULL}}},
	{"the cgroup's high water: the largest worker drains, one at a time",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"group 1000 950"},
	  {"private 0 5000"},
	  {"private 1 200000"},
	  {"tick", "group-full 1; drain 1; spawn 2"},
	  {"+1000 tick", ""},
	  {"ready 2", ""},
	  {"exit 1 clean", "gone 1 recycled memory"},
	  {"private 1 0"},
	  {"private 2 100"},
	  {"private 0 300000"},
	  {"+1000 tick", "group-full 0; drain 0; spawn 1"},
	  {NULL}}},
	{"the cgroup fills with something else: said once a minute",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"group 1000 950"},
	  {"private 0 1000"},
	  {"tick", "elsewhere"},
	  {"+1000 tick", ""},
	  {"+60000 tick", "elsewhere"},
	  {NULL}}},
	{"a handler past timeout: asked, answered, killed, replaced",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"+60000 handler 0 59000"},
	  {"tick", ""},
	  {"+2000 handler 0 61000"},
	  {"tick", "ask 0"},
	  {"+1000 tick", ""},
	  {"reply 0 answered", "stuck 0 answered"},
	  {"exit 0 crash", "gone 0 timed-out; spawn 0"},
	  {NULL}}},
	{"a handler past timeout that never answers: killed after a second",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"+70000 handler 0 65000"},
	  {"tick", "ask 0"},
	  {"+1001 tick", "stuck 0 none"},
	  {"+1000 tick", ""},
	  {"exit 0 crash", "gone 0 timed-out; spawn 0"},
	  {NULL}}},
	{"a handler that returns as it is asked: not killed",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"+70000 handler 0 65000"},
	  {"tick", "ask 0"},
	  {"reply 0 gone", "stuck 0 gone"},
	  {"handler 0 0"},
	  {"+1000 tick", ""},
	  {"retire 0 max_requests", "spawn 1 for 0"},
	  {NULL}}},
	{"five failed boots in a row: the master gives up",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"exit 0 crash", "gone 0 boot-failed 250"},
	  {"+250 step", "spawn 0"},
	  {"exit 0 crash", "gone 0 boot-failed 500"},
	  {"+500 step", "spawn 0"},
	  {"exit 0 crash", "gone 0 boot-failed 1000"},
	  {"+1000 step", "spawn 0"},
	  {"exit 0 crash", "gone 0 boot-failed 2000"},
	  {"+2000 step", "spawn 0"},
	  {"exit 0 crash", "stopping; drop 0; quit 0; gone 0 gave-up"},
	  {"+10000 step", ""},
	  {NULL}}},
	{"workers forked together fail together: one failure for them all",
	 3,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1; spawn 2"},
	  {"exit 0 crash", "gone 0 boot-failed 250"},
	  {"exit 1 crash", "gone 1 boot-retried"},
	  {"exit 2 crash", "gone 2 boot-retried"},
	  {"+250 step", "spawn 0"},
	  {"ready 0", "spawn 1; spawn 2"},
	  {NULL}}},
	{"a worker stuck booting for a minute is killed, once",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"}, {"+61000 tick", "kill 0 boot"}, {"+61000 tick", ""}, {NULL}}},
	{"a graceful stop: everyone told, the stragglers killed at the deadline",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"term", "stopping; drop 0; stop 0; drop 1; stop 1"},
	  {"term", ""},
	  {"+31000 step", ""},
	  {"exit 0 clean", "gone 0 stopped"},
	  {"+1001 step", "kill 1"},
	  {"+1000 step", ""},
	  {NULL}}},
	{"a fast stop after a graceful one",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"term", "stopping; drop 0; stop 0"},
	  {"quit", "stopping; drop 0; quit 0"},
	  {"+2001 step", "kill 0"},
	  {NULL}}},
	{"a draining worker stays one through a graceful stop: its exit is a recycle",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"retire 0 max_requests", "spawn 1 for 0"},
	  {"ready 1", "drain 0 peer 1"},
	  {"term", "stopping; drop 0; stop 0; drop 1; stop 1"},
	  {"exit 0 clean", "gone 0 recycled max_requests"},
	  {"exit 1 clean", "gone 1 stopped"},
	  {NULL}}},
	{"RETIRE while stopping is ignored; READY while stopping too",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"term", "stopping; drop 0; stop 0"},
	  {"ready 0", ""},
	  {"retire 0 max_requests", ""},
	  {NULL}}},
	{"an upgrade: the canary first, then the master, then every old worker",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"+10 usr2", "spawn 2 for 0 exec; upgrade-start 2 for 0"},
	  {"usr2", "refused busy"},
	  {"reload", ""},
	  {"ready 2", "drain 0 peer 2; exec 2"},
	  {"usr2", "refused busy"},
	  {"resumed", "rolling 2"},
	  {"+5 exit 0 clean", "gone 0 recycled upgrade; spawn 0 for 1"},
	  {"ready 0", "drain 1 peer 0"},
	  {"exit 1 clean", "gone 1 recycled upgrade; upgrade-done"},
	  {"+10 usr2", "spawn 1 for 2 exec; upgrade-start 1 for 2"},
	  {NULL}}},
	{"a canary that dies before READY: refused, no backoff, the old worker serves on",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"usr2", "spawn 2 for 0 exec; upgrade-start 2 for 0"},
	  {"exit 2 crash", "gone 2 canary"},
	  {"+1 step", ""},
	  {"+1 retire 1 max_requests", "spawn 2 for 1"},
	  {"ready 2", "drain 1 peer 2"},
	  {"+1 usr2", "spawn 3 for 0 exec; upgrade-start 3 for 0"},
	  {NULL}}},
	{"a canary that dies after READY, before the master's exec: refused, the old build serves on",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"usr2", "spawn 2 for 0 exec; upgrade-start 2 for 0"},
	  {"ready 2", "drain 0 peer 2; exec 2"},
	  {"exit 2 crash", "gone 2 canary; spawn 2"},
	  {"exit 0 clean", "gone 0 recycled upgrade"},
	  {"ready 2", ""},
	  {"+1 usr2", "spawn 0 for 1 exec; upgrade-start 0 for 1"},
	  {NULL}}},
	{"a canary that never says READY is killed at the boot timeout: refused",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"usr2", "spawn 1 for 0 exec; upgrade-start 1 for 0"},
	  {"+61000 tick", "kill 1 boot"},
	  {"exit 1 crash", "gone 1 canary"},
	  {"retire 0 max_requests", "spawn 1 for 0"},
	  {NULL}}},
	{"the master cannot re-execute: refused, the canary is replaced in turn",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"usr2", "spawn 1 for 0 exec; upgrade-start 1 for 0"},
	  {"ready 1", "drain 0 peer 1; exec 1"},
	  {"execfail", "refused exec"},
	  {"exit 0 clean", "gone 0 recycled upgrade; spawn 0 for 1"},
	  {"ready 0", "drain 1 peer 0"},
	  {NULL}}},
	{"SIGUSR2 with no worker serving yet, or while stopping: refused",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"usr2", "refused no-worker"},
	  {"ready 0", "announce"},
	  {"term", "stopping; drop 0; stop 0"},
	  {"usr2", "refused stopping"},
	  {NULL}}},
	{"a stop during the canary abandons the upgrade",
	 1,
	 1,
	 60,
	 {{"step", "spawn 0"},
	  {"ready 0", "announce"},
	  {"usr2", "spawn 1 for 0 exec; upgrade-start 1 for 0"},
	  {"term", "abandoned; stopping; drop 0; stop 0; drop 1; stop 1"},
	  {"exit 1 clean", "gone 1 stopped"},
	  {"exit 0 clean", "gone 0 stopped"},
	  {NULL}}},
	{"workers booting and replacing at the takeover are of the old build too",
	 2,
	 1,
	 60,
	 {{"step", "spawn 0; spawn 1"},
	  {"ready 0", ""},
	  {"ready 1", "announce"},
	  {"+1 retire 1 max_requests", "spawn 2 for 1"},
	  {"+1 usr2", "spawn 3 for 0 exec; upgrade-start 3 for 0"},
	  {"ready 3", "drain 0 peer 3; exec 3"},
	  {"resumed", "rolling 3"},
	  {"ready 2", "drain 1 peer 2"},
	  {"exit 0 clean", "gone 0 recycled upgrade"},
	  {"exit 1 clean", "gone 1 recycled max_requests; spawn 0 for 2"},
	  {"ready 0", "drain 2 peer 0"},
	  {"exit 2 clean", "gone 2 recycled upgrade; upgrade-done"},
	  {NULL}}},
	{NULL, 0, 0, 0, {{NULL}}},
};
/* clang-format on */

/* Where waiting connections go: the least busy serving worker, never a stuck or full one. */
static void test_place(void)
{
	static struct fw_policy p;
	static struct fw_readings r;
	int dest[6];

	fw_policy_init(&p, 4, 1, 60, 30, 5);
	p.nslots = 4;
	for (int i = 0; i < 4; i++)
		p.slot[i].state = FW_W_SERVING;
	p.slot[3].state = FW_W_QUEUED; /* to be replaced: last choice */
	r.slot[0].conns = 3;
	r.slot[1].conns = 0;
	r.slot[1].handler_ms = 1000; /* a handler running for 9 s: stuck */
	r.slot[2].conns = 2;
	r.slot[3].conns = 0;
	fw_policy_place(&p, &r, 10000, 6, dest);
	CHECK_EQ_INT(dest[0], 2);
	CHECK_EQ_INT(dest[1], 0); /* 3 against 3: the first */
	CHECK_EQ_INT(dest[2], 2);
	CHECK_EQ_INT(dest[3], 0); /* 0 is at max_conns (5) after this one */
	CHECK_EQ_INT(dest[4], 2); /* ... and 2 after this one */
	CHECK_EQ_INT(dest[5], 3); /* only the queued one is left */
	p.mode = FW_STOPPING;
	fw_policy_place(&p, &r, 10000, 1, dest);
	CHECK_EQ_INT(dest[0], -1); /* stopping: no one */
}

/* The wake-up the executor must not sleep past, and not one already gone. */
static void test_wake(void)
{
	static struct fw_policy p;

	fw_policy_init(&p, 1, 1, 60, 30, 5);
	CHECK_EQ_UINT(fw_policy_wake(&p, 100, 1000), 1000);
	p.spawn_after_ms = 300;
	CHECK_EQ_UINT(fw_policy_wake(&p, 100, 1000), 300);
	CHECK_EQ_UINT(fw_policy_wake(&p, 400, 1000), 1000); /* passed: no busy loop */
	p.mode = FW_STOPPING;
	p.stop_deadline_ms = 500;
	CHECK_EQ_UINT(fw_policy_wake(&p, 100, 1000), 500);
	p.killed = true;
	CHECK_EQ_UINT(fw_policy_wake(&p, 600, 1000), 1000);
}

int main(void)
{
	for (const struct scenario *sc = scenarios; sc->name != NULL; sc++)
		play(sc);
	test_place();
	test_wake();
	return check_done();
}
