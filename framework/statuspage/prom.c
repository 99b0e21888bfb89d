/*
 * The status page in the Prometheus text exposition format 0.0.4
 * (?format=prometheus): every family with its # HELP and # TYPE lines,
 * its samples together. The families are listed in docs/operations.md;
 * renaming one breaks dashboards and alerts.
 */
#include <stdio.h>
#include <string.h>

#include "statuspage/statuspage.h"

static int family(struct fw_buf *b, const char *name, const char *type, const char *help)
{
	return fw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int one(struct fw_buf *b, const char *name, const char *type, const char *help,
	       unsigned long long v)
{
	return family(b, name, type, help) | fw_buf_printf(b, "%s %llu\n", name, v);
}

/* A sample with one label; the value is escaped. */
static int labelled(struct fw_buf *b, const char *name, const char *label, const char *value,
		    unsigned long long v)
{
	int rc = fw_buf_printf(b, "%s{%s=\"", name, label);

	rc |= fw_status_prom_label(b, value);
	return rc | fw_buf_printf(b, "\"} %llu\n", v);
}

static int totals(struct fw_buf *b, const struct fw_scoreboard *sb, const struct fw_status_totals *t)
{
	int rc = one(b, "fw_requests_total", "counter",
		     "Requests answered, by workers alive and exited.", t->requests);

	rc |= one(b, "fw_requests_in_flight", "gauge",
		  "Requests in handlers or deferred, over all workers.", t->in_flight);
	rc |= one(b, "fw_connections", "gauge", "Open client connections, over all workers.", t->conns);
	rc |= family(b, "fw_workers", "gauge", "Worker processes by state.");
	/* By the name the page gives each mode: a worker draining alone is draining. */
	for (int s = FW_WORKER_BOOTING; s <= FW_WORKER_ORPHANED; s++) {
		const char *name = fw_worker_mode_name((enum fw_worker_mode)s);
		uint64_t n = 0;
		bool first = true;

		for (int k = FW_WORKER_BOOTING; k <= FW_WORKER_ORPHANED; k++) {
			if (strcmp(fw_worker_mode_name((enum fw_worker_mode)k), name) != 0)
				continue;
			first = first && k >= s;
			n += t->by_state[k];
		}
		if (first)
			rc |= labelled(b, "fw_workers", "state", name, n);
	}
	rc |= one(b, "fw_workers_wanted", "gauge", "Workers the master keeps running.",
		  fw_slot_load(sb->workers_wanted));
	rc |= family(b, "fw_recycles_total", "counter", "Workers replaced, by reason.");
	for (int r = FW_RETIRE_MAX_REQUESTS; r < FW_RETIRE_NREASONS; r++)
		rc |= labelled(b, "fw_recycles_total", "reason",
			       fw_retire_reason_name((enum fw_retire_reason)r),
			       fw_slot_load(sb->recycled[r]));
	return rc;
}

/* Limits in effect, so that alerts can compare memory with them; 0: none set. */
static int limits(struct fw_buf *b, const struct fw_scoreboard *sb)
{
	uint64_t cg = fw_slot_load(sb->cgroup_limit_bytes);
	int rc = one(b, "fw_worker_rss_limit_bytes", "gauge",
		     "Private memory at which a worker is recycled (rss_limit_mb, set or derived from "
		     "the cgroup limit; 0: none).",
		     (unsigned long long)fw_slot_load(sb->rss_limit_kb) * 1024);

	rc |= one(b, "fw_worker_rss_soft_limit_bytes", "gauge",
		  "Private memory at which a worker is recycled once idle (rss_soft_limit_mb; 0: none).",
		  (unsigned long long)fw_slot_load(sb->rss_soft_limit_kb) * 1024);
	rc |= one(b, "fw_worker_max_requests", "gauge",
		  "Requests after which a worker is recycled, before jitter (max_requests; 0: none).",
		  (unsigned long long)fw_slot_load(sb->max_requests));
	rc |= family(b, "fw_cgroup_memory_limit_bytes", "gauge",
		     "The memory limit of the cgroup the server runs in (absent: none).");
	if (cg != 0)
		rc |= fw_buf_printf(b, "fw_cgroup_memory_limit_bytes %llu\n", (unsigned long long)cg);
	rc |= family(b, "fw_cgroup_memory_working_set_bytes", "gauge",
		     "The cgroup's memory use less inactive page cache, as the OOM killer weighs it "
		     "(absent: no limit).");
	if (cg != 0)
		rc |= fw_buf_printf(b, "fw_cgroup_memory_working_set_bytes %llu\n",
				    (unsigned long long)fw_slot_load(sb->cgroup_working_set_bytes));
	return rc;
}

static int accept_queues(struct fw_buf *b, const struct fw_scoreboard *sb)
{
	uint32_t n = fw_slot_load(sb->nlisteners);
	int rc = family(b, "fw_accept_queue_connections", "gauge",
			"Connections waiting in a TCP listener's accept queue (listener: its index "
			"in listen; Unix sockets are not shown).");

	for (uint32_t i = 0; i < n && i < FW_MAX_LISTENERS; i++) {
		int64_t q = fw_slot_load(sb->accept_queue[i]);

		if (q >= 0)
			rc |= fw_buf_printf(b, "fw_accept_queue_connections{listener=\"%u\"} %lld\n", i,
					    (long long)q);
	}
	return rc;
}

/* One family of per-worker samples, labelled slot and pid. */
enum worker_field { W_REQUESTS, W_PRIVATE, W_RSS, W_HEAP };

static unsigned long long worker_value(const struct fw_slot *s, enum worker_field f)
{
	switch (f) {
	case W_REQUESTS:
		return fw_slot_load(s->requests);
	case W_PRIVATE:
		return fw_slot_load(s->private_kb) * 1024;
	case W_RSS:
		return fw_slot_load(s->rss_kb) * 1024;
	case W_HEAP:
		return fw_slot_load(s->heap_kb) * 1024;
	}
	return 0;
}

static int per_worker(struct fw_buf *b, const struct fw_scoreboard *sb)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		[W_REQUESTS] = {"fw_worker_requests_total", "counter",
				"Requests answered by this worker process."},
		[W_PRIVATE] = {"fw_worker_private_memory_bytes", "gauge",
			       "Private resident memory of the worker (smaps_rollup)."},
		[W_RSS] = {"fw_worker_rss_bytes", "gauge",
			   "Resident memory of the worker (smaps_rollup)."},
		[W_HEAP] = {"fw_worker_heap_bytes", "gauge", "Bytes in use in the worker's allocator."},
	};
	int rc = 0;

	for (int f = W_REQUESTS; f <= W_HEAP; f++) {
		rc |= family(b, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < sb->nslots; i++) {
			const struct fw_slot *s = &sb->slots[i];

			if (fw_slot_load(s->state) == FW_WORKER_FREE)
				continue;
			rc |= fw_buf_printf(b, "%s{slot=\"%zu\",pid=\"%d\"} %llu\n", fams[f].name, i,
					    (int)fw_slot_load(s->pid), worker_value(s, f));
		}
	}
	return rc;
}

static int histogram(struct fw_buf *b, const struct fw_status_totals *t)
{
	unsigned long long cum = 0;
	char num[32];
	int rc = family(b, "fw_request_duration_seconds", "histogram",
			"Time from a request's arrival to its answer, over workers alive and exited.");

	for (int i = 0; i < FW_HIST_BUCKETS; i++) {
		cum += t->hist[i];
		if (i == FW_HIST_BUCKETS - 1)
			snprintf(num, sizeof(num), "+Inf");
		else
			fw_status_seconds(num, sizeof(num), fw_hist_bounds_us[i]);
		rc |= fw_buf_printf(b, "fw_request_duration_seconds_bucket{le=\"%s\"} %llu\n", num, cum);
	}
	fw_status_seconds(num, sizeof(num), t->hist_sum_us);
	return rc | fw_buf_printf(b,
				  "fw_request_duration_seconds_sum %s\n"
				  "fw_request_duration_seconds_count %llu\n",
				  num, cum);
}

static int master(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now)
{
	uint64_t started = fw_slot_load(sb->started_ms), beat = fw_slot_load(sb->master_heartbeat_ms);
	char num[32];
	int rc = family(b, "fw_master_uptime_seconds", "gauge", "Time since the master started.");

	fw_status_seconds(num, sizeof(num), now > started ? (now - started) * 1000 : 0);
	rc |= fw_buf_printf(b, "fw_master_uptime_seconds %s\n", num);
	rc |= family(b, "fw_master_heartbeat_age_seconds", "gauge",
		     "Time since the master's loop last ran (it runs every second).");
	fw_status_seconds(num, sizeof(num), now > beat ? (now - beat) * 1000 : 0);
	return rc | fw_buf_printf(b, "fw_master_heartbeat_age_seconds %s\n", num);
}

int fw_status_prometheus(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now_ms)
{
	struct fw_status_totals t;
	int rc;

	fw_status_totals(sb, &t);
	rc = fw_buf_reserve(b, 3072 + t.workers * 400);
	rc |= totals(b, sb, &t);
	rc |= limits(b, sb);
	rc |= accept_queues(b, sb);
	rc |= per_worker(b, sb);
	rc |= histogram(b, &t);
	rc |= fw_status_builds_prom(b, sb);
	return rc | master(b, sb, now_ms);
}
