/*
 * The container's memory limit: a per-worker budget shared out of it when
 * rss_limit_mb is not set, and the largest worker recycled before the
 * group nears it. The limits in effect are published for the status page.
 */
#include <signal.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/master.h"

#define CGROUP_BUDGET_SHARE 85 /* % of the limit shared out as rss_limit_mb */
#define CGROUP_HIGH_WATER 90   /* % of the limit at which the largest worker goes */
#define CGROUP_WORTH_RECYCLING 2 /* % of the limit the largest worker must hold for that */

/*
 * No rss_limit_mb, but a cgroup memory limit: share most of it among the
 * workers, counting the replacements that may run beside them, so each
 * worker retires on its own before the group nears the limit.
 */
void fw_cgroup_budget(struct fw_master *m)
{
	uint64_t share, mb;
	int slots = m->workers_wanted + m->cfg.recycle_concurrency;

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
	       CGROUP_BUDGET_SHARE, m->workers_wanted, m->cfg.recycle_concurrency);
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

static bool victim_alive(const struct fw_master *m)
{
	for (size_t i = 0; m->cgroup_victim != 0 && i < m->nprocs_max; i++)
		if (m->procs[i].state != FW_PROC_FREE && m->procs[i].pid == m->cgroup_victim)
			return true;
	return false;
}

/*
 * Near the limit, the largest worker drains now (its replacement starts
 * meanwhile), one at a time: the kernel's OOM killer would take the whole
 * group, in-flight requests and all.
 */
void fw_cgroup_check(struct fw_master *m)
{
	struct fw_proc *largest = NULL;
	uint64_t ws, biggest = 0;

	if (m->cgroup.limit == 0)
		return;
	ws = fw_cgroup_working_set(&m->cgroup);
	fw_slot_store(m->sb->cgroup_working_set_bytes, ws);
	if (m->mode != FW_RUNNING || victim_alive(m))
		return;
	m->cgroup_victim = 0;
	if (ws / CGROUP_HIGH_WATER < m->cgroup.limit / 100)
		return;
	for (size_t i = 0; i < m->nprocs_max; i++) {
		struct fw_proc *p = &m->procs[i];
		uint64_t kb = fw_slot_load(m->sb->slots[i].private_kb);

		if ((p->state == FW_PROC_READY || p->state == FW_PROC_RETIRING) && kb > biggest) {
			largest = p;
			biggest = kb;
		}
	}
	if (largest == NULL)
		return;
	/*
	 * Workers that hold little are not what fills the group (page cache
	 * that cannot be dropped, tmpfs files, other processes): recycling
	 * them would only churn. Say so, once a minute.
	 */
	if (biggest * 1024 < m->cgroup.limit / 100 * CGROUP_WORTH_RECYCLING) {
		uint64_t now = fw_now_ms();

		if (m->cgroup_warned_ms == 0 || now - m->cgroup_warned_ms >= 60000) {
			fw_log(FW_LOG_WARN,
			       "the group uses %llu MiB of its %llu MiB memory limit, but the largest worker "
			       "holds only %llu KiB: the memory is elsewhere (page cache, tmpfs, other "
			       "processes); not recycling",
			       (unsigned long long)(ws >> 20), (unsigned long long)(m->cgroup.limit >> 20),
			       (unsigned long long)biggest);
			m->cgroup_warned_ms = now;
		}
		return;
	}
	fw_log(FW_LOG_WARN,
	       "the group uses %llu MiB of its %llu MiB memory limit: recycling worker %ld, the largest "
	       "(%llu KiB private)",
	       (unsigned long long)(ws >> 20), (unsigned long long)(m->cgroup.limit >> 20),
	       (long)largest->pid, (unsigned long long)biggest);
	if (fw_proc_send(largest, FW_MSG_DRAIN, -1) != 0)
		kill(largest->pid, SIGTERM);
	largest->state = FW_PROC_DRAINING;
	/* A worker a reload is replacing stays one: "reload done" waits for it. */
	if (largest->retire != FW_RETIRE_RELOAD) {
		largest->retire = FW_RETIRE_MEMORY;
		largest->retire_figure = biggest;
	}
	m->cgroup_victim = largest->pid;
}
