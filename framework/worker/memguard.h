/*
 * The worker's memory limits (rss_soft_limit_mb, rss_limit_mb), checked
 * after every request and once a second, at a cost that stays near zero until the worker gets
 * close to a limit.
 *
 * What is limited is the worker's private memory: Private_Clean +
 * Private_Dirty in /proc/self/smaps_rollup, the pages it holds alone. Pages
 * still shared with the master after fork do not count (core/memstat.h).
 *
 * Reading smaps_rollup costs tens of microseconds, so between readings an
 * estimate stands in, calibrated by every reading:
 *   estimate = mapped + offset
 * where `mapped` is what the allocator and the program mapped since boot,
 * counted by tcmalloc's mmap/sbrk hooks (free to read), minus what tcmalloc
 * released to the OS (0.6 us to read, so read only when the first tier says
 * the estimate may be near a limit). Growth always shows up in `mapped` at
 * once; what it misses (pages shared with the master being written) is
 * caught by the reading the heartbeat takes every second while limits are
 * set. With the system allocator the first tier is RSS from
 * /proc/self/statm (one pread), which is larger than private memory, so the
 * check is conservative; being a system call, it is skipped for as many
 * requests as the headroom allows at the fastest growth seen.
 */
#ifndef FW_WORKER_MEMGUARD_H
#define FW_WORKER_MEMGUARD_H

#include <stdint.h>

#include "config/config.h"
#include "ipc/scoreboard.h"

struct fw_memguard {
	uint64_t soft, hard; /* bytes; 0 = off */
	int64_t offset;      /* private - mapped at the last reading */
	uint64_t last_read_ms;
	uint64_t soft_quiet_until; /* after a release that did not help */
	uint64_t soft_quiet_ms;
	bool no_smaps;  /* smaps_rollup unreadable: the estimate decides */
	uint64_t skip;  /* requests to skip the second tier */
	uint64_t skip1; /* ... the first, when it costs a system call */
	int64_t last_estimate1;
	int64_t last_estimate;
	int64_t max_growth; /* largest growth per request seen */
	struct fw_slot *slot;
};

void fw_memguard_init(struct fw_memguard *g, const struct fw_config *cfg, struct fw_slot *slot);
/* New limits (bytes; 0 = off) from the master: a cgroup budget shared out again. */
void fw_memguard_limits(struct fw_memguard *g, uint64_t hard, uint64_t soft);
/* In the master before forking: what every worker may inherit (tcmalloc's hooks). */
void fw_memguard_preboot(void);

/*
 * After a request. Returns FW_RETIRE_MEMORY when the worker is over
 * rss_limit_mb (after releasing free memory if rss_soft_limit_mb is set),
 * FW_RETIRE_NONE otherwise. *private_kb gets the deciding figure.
 */
int fw_memguard_check(struct fw_memguard *g, uint64_t now, uint64_t *private_kb);

/* The allocator's figures into the scoreboard slot. */
void fw_memguard_heap(struct fw_memguard *g);

/*
 * Heartbeat: a precise reading for the status page and the calibration,
 * and the limits applied to it as fw_memguard_check() does (FW_RETIRE_*;
 * *private_kb gets the figure when it decides).
 */
int fw_memguard_refresh(struct fw_memguard *g, uint64_t now, uint64_t *private_kb);

#endif
