/*
 * The container's memory limit: a per-worker budget shared out of it when
 * rss_limit_mb is not set, and the group's working set read each tick for
 * the policy, which recycles the largest worker before the group nears the
 * limit. The limits in effect are published for the status page.
 */
#include <signal.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"

#define CGROUP_BUDGET_SHARE 85 /* % of the limit shared out as rss_limit_mb */

/*
 * No rss_limit_mb, but a cgroup memory limit: share most of it among the
 * workers, counting the replacements that may run beside them, so each
 * worker retires on its own before the group nears the limit.
 */
void fw_cgroup_budget(struct fw_master *m)
{
	uint64_t share, mb;
	int slots = m->pol.workers_wanted + m->cfg.recycle_concurrency;

	if (fw_cgroup_detect(&m->cgroup) != 0 || (m->cfg.rss_limit_mb != 0 && !m->rss_limit_derived))
		return;
	share = m->cgroup.limit / 100 * CGROUP_BUDGET_SHARE;
	mb = share / (uint64_t)slots >> 20;
	if (mb < 16)
		mb = 16;
	m->cfg.rss_limit_mb = (int)mb;
	m->rss_limit_derived = true;
	if (m->cfg.rss_soft_limit_mb >= m->cfg.rss_limit_mb)
		m->cfg.rss_soft_limit_mb = 0;
	fw_log(FW_LOG_INFO,
	       "rss_limit_mb derived from the cgroup memory limit (%llu MiB, %s): %llu MiB per worker "
	       "(%d%% of it over %d workers and %d replacement(s))",
	       (unsigned long long)(m->cgroup.limit >> 20), m->cgroup.dir, (unsigned long long)mb,
	       CGROUP_BUDGET_SHARE, m->pol.workers_wanted, m->cfg.recycle_concurrency);
}

/* The limits in effect, for the status page (after start and each reload). */
void fw_limits_publish(struct fw_master *m)
{
	struct fw_scoreboard *sb = m->sb;

	fw_slot_store(sb->rss_limit_kb, (uint64_t)m->cfg.rss_limit_mb * 1024);
	fw_slot_store(sb->rss_soft_limit_kb, (uint64_t)m->cfg.rss_soft_limit_mb * 1024);
	fw_slot_store(sb->max_requests, (uint64_t)m->cfg.max_requests);
	fw_slot_store(sb->max_requests_jitter, (uint64_t)m->cfg.max_requests_jitter);
	fw_slot_store(sb->timeout_s, (uint64_t)m->cfg.timeout);
	fw_slot_store(sb->cgroup_limit_bytes, m->cgroup.limit);
}

void fw_cgroup_read(struct fw_master *m, struct fw_readings *r)
{
	r->cgroup_limit = m->cgroup.limit;
	r->cgroup_working_set = m->cgroup.limit != 0 ? fw_cgroup_working_set(&m->cgroup) : 0;
	fw_slot_store(m->sb->cgroup_working_set_bytes, r->cgroup_working_set);
}
