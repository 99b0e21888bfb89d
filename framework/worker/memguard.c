#include "worker/memguard.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/memstat.h"
#include "core/result.h"

#ifdef FW_HAVE_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#include <gperftools/malloc_hook_c.h>
#include <sys/mman.h>
#endif

#define READ_MIN_INTERVAL_MS 250 /* precise readings while near, not over, a limit */
#define REFRESH_INTERVAL_MS 1000 /* heartbeat readings while limits are set */
#define REFRESH_IDLE_MS 5000     /* heartbeat readings without limits (status page) */
#define SOFT_QUIET_MS 1000       /* after a release that left us over the soft limit, */
#define SOFT_QUIET_MAX_MS 60000  /* doubling each time it does not help */
#define NEAR(limit) ((limit) / 10 * 9)

#ifdef FW_HAVE_TCMALLOC
/* Bytes mapped since the hooks went in; hooks may run on any thread. */
static int64_t hooked_mapped;

static void on_mmap(const void *result, const void *start, size_t size, int prot, int flags, int fd,
		    off_t offset)
{
	(void)start, (void)prot, (void)flags, (void)fd, (void)offset;
	if (result != MAP_FAILED)
		__atomic_add_fetch(&hooked_mapped, (int64_t)size, __ATOMIC_RELAXED);
}

static void on_munmap(const void *ptr, size_t size)
{
	(void)ptr;
	__atomic_sub_fetch(&hooked_mapped, (int64_t)size, __ATOMIC_RELAXED);
}

static void on_mremap(const void *result, const void *old, size_t old_size, size_t new_size, int flags,
		      const void *new_addr)
{
	(void)result, (void)old, (void)flags, (void)new_addr;
	__atomic_add_fetch(&hooked_mapped, (int64_t)new_size - (int64_t)old_size, __ATOMIC_RELAXED);
}

static void on_sbrk(const void *result, ptrdiff_t increment)
{
	(void)result;
	__atomic_add_fetch(&hooked_mapped, (int64_t)increment, __ATOMIC_RELAXED);
}

static void hooks_install(void)
{
	static int installed;

	if (installed++)
		return;
	MallocHook_AddMmapHook(on_mmap);
	MallocHook_AddMunmapHook(on_munmap);
	MallocHook_AddMremapHook(on_mremap);
	MallocHook_AddSbrkHook(on_sbrk);
}

/* Process-wide and inherited by fork: the master installs them once for every worker. */
void fw_memguard_preboot(void)
{
	hooks_install();
	(void)fw_heap_allocator(); /* its answer is cached */
}

/* First tier: an upper bound of what the heap may hold, free to read. */
static int64_t tier1(void)
{
	return __atomic_load_n(&hooked_mapped, __ATOMIC_RELAXED);
}

/* Second tier: without the pages tcmalloc has released. */
static int64_t tier2(void)
{
	size_t unmapped = 0;

	MallocExtension_GetNumericProperty("tcmalloc.pageheap_unmapped_bytes", &unmapped);
	return tier1() - (int64_t)unmapped;
}
#else
static int statm_fd = -1;

static void hooks_install(void)
{
	if (statm_fd < 0)
		statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
}

/* Nothing to share: /proc/self/statm opened by the master would be the master's. */
void fw_memguard_preboot(void) {}

/* RSS in bytes: at least the private memory. */
static int64_t tier1(void)
{
	char buf[128];
	long pages, rss;
	ssize_t n = statm_fd >= 0 ? pread(statm_fd, buf, sizeof(buf) - 1, 0) : -1;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%ld %ld", &pages, &rss) != 2)
		return 0;
	return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

static int64_t tier2(void)
{
	return tier1();
}
#endif

/* tcmalloc's first tier is a plain load; statm's is a system call, skipped by headroom too. */
#ifdef FW_HAVE_TCMALLOC
#define TIER1_FREE 1
#else
#define TIER1_FREE 0
#endif

/*
 * Read smaps_rollup, publish it, recalibrate. 0, or -1 (logged once).
 * With heap, also the allocator's figures: not at boot, where tcmalloc's
 * statistics lock every size class's list and so copy ~20 pages of its
 * metadata in a worker that may live only a few milliseconds.
 */
static int measure(struct fw_memguard *g, uint64_t now, struct fw_memstat *m, bool heap)
{
	static int warned;

	if (g->no_smaps || fw_memstat_read(0, m) != 0) {
		if (!warned++)
			fw_log_errno(FW_LOG_WARN, "reading /proc/self/smaps_rollup; memory limits now "
						  "judge by the allocator's estimate alone");
		g->no_smaps = true; /* not retried at every request */
		return -1;
	}
	g->offset = (int64_t)m->private_kb * 1024 - tier2();
	g->last_read_ms = now;
	g->skip = 0; /* a fresh figure: plan again from it */
	g->skip1 = 0;
	g->last_estimate = (int64_t)m->private_kb * 1024;
	fw_slot_store(g->slot->rss_kb, m->rss_kb);
	fw_slot_store(g->slot->private_kb, m->private_kb);
	fw_slot_store(g->slot->measured_ms, now);
	if (heap)
		fw_memguard_heap(g);
	return 0;
}

/* The allocator's figures for the status page (a few property reads: once a second at most). */
void fw_memguard_heap(struct fw_memguard *g)
{
	struct fw_heap_stats h;

	fw_heap_stats(&h);
	fw_slot_store(g->slot->heap_kb, h.used / 1024);
	fw_slot_store(g->slot->heap_free_kb, h.free / 1024);
	fw_slot_store(g->slot->heap_released_kb, h.released / 1024);
}

void fw_memguard_init(struct fw_memguard *g, const struct fw_config *cfg, struct fw_slot *slot)
{
	struct fw_memstat m;

	memset(g, 0, sizeof(*g));
	g->slot = slot;
	g->soft = (uint64_t)cfg->rss_soft_limit_mb << 20;
	g->hard = (uint64_t)cfg->rss_limit_mb << 20;
	hooks_install();
	/*
	 * Limits need a calibrated estimate from the first request on; without
	 * them the first figure waits for the heartbeat, so that a worker born
	 * to replace another starts without walking its own mappings.
	 */
	if (g->hard != 0 || g->soft != 0)
		measure(g, fw_now_ms(), &m, false);
	else
		g->last_read_ms = fw_now_ms() - REFRESH_IDLE_MS + REFRESH_INTERVAL_MS;
}

void fw_memguard_limits(struct fw_memguard *g, uint64_t hard, uint64_t soft)
{
	g->hard = hard;
	g->soft = soft;
	g->skip = g->skip1 = 0; /* plan again from the next reading */
}

/* The limit that matters now: the soft one unless it is resting. */
static uint64_t trigger(const struct fw_memguard *g, uint64_t now)
{
	if (g->soft != 0 && now >= g->soft_quiet_until)
		return g->soft;
	return g->hard;
}

/*
 * Skip the second tier for as many requests as the headroom allows at the
 * fastest growth per request seen so far, so a worker sitting below its
 * limit pays for the lookup once in many requests, and a leaking one at
 * every request near the limit.
 */
static void plan_skip(struct fw_memguard *g, int64_t estimate, uint64_t limit)
{
	int64_t growth = estimate - g->last_estimate, room = (int64_t)NEAR(limit) - estimate;

	if (growth > g->max_growth)
		g->max_growth = growth;
	g->last_estimate = estimate;
	if (room <= 0 || g->max_growth <= 0)
		g->skip = room <= 0 ? 0 : 64;
	else
		g->skip = (uint64_t)(room / (2 * g->max_growth) < 64 ? room / (2 * g->max_growth) : 64);
}

/* As plan_skip(), for a first tier that costs a system call (statm). */
static void plan_skip1(struct fw_memguard *g, int64_t estimate, uint64_t limit)
{
	int64_t growth = estimate - g->last_estimate1, room = (int64_t)NEAR(limit) - estimate;

	if (growth > g->max_growth)
		g->max_growth = growth;
	g->last_estimate1 = estimate;
	if (room <= 0)
		g->skip1 = 0;
	else if (g->max_growth <= 0)
		g->skip1 = 64;
	else
		g->skip1 = (uint64_t)FW_MIN(room / (2 * g->max_growth), (int64_t)64);
}

static int decide(struct fw_memguard *g, uint64_t now, struct fw_memstat *m, uint64_t *private_kb);

int fw_memguard_check(struct fw_memguard *g, uint64_t now, uint64_t *private_kb)
{
	struct fw_memstat m;
	uint64_t limit;
	int64_t estimate, upper;

	if (g->hard == 0 && g->soft == 0)
		return FW_RETIRE_NONE;
	limit = trigger(g, now);
	if (limit == 0)
		return FW_RETIRE_NONE;
	if (!TIER1_FREE && g->skip1 > 0) {
		g->skip1--;
		return FW_RETIRE_NONE;
	}
	upper = tier1() + g->offset;
	if (upper < (int64_t)NEAR(limit)) {
		if (!TIER1_FREE)
			plan_skip1(g, upper, limit);
		return FW_RETIRE_NONE;
	}
	/* Skipping is only for a worker whose upper bound is still below the limit. */
	if (g->skip > 0 && upper < (int64_t)limit) {
		g->skip--;
		return FW_RETIRE_NONE;
	}
	estimate = tier2() + g->offset;
	plan_skip(g, estimate, limit);
	if (estimate < (int64_t)NEAR(limit) ||
	    (estimate < (int64_t)limit && now - g->last_read_ms < READ_MIN_INTERVAL_MS))
		return FW_RETIRE_NONE;
	if (measure(g, now, &m, true) != 0) {
		/* No precise figure: the estimate decides (it errs high). */
		*private_kb = (uint64_t)(estimate > 0 ? estimate : 0) / 1024;
		return g->hard != 0 && estimate > (int64_t)g->hard ? FW_RETIRE_MEMORY : FW_RETIRE_NONE;
	}
	return decide(g, now, &m, private_kb);
}

/* On a precise reading: release free heap over the soft limit, retire over the hard one. */
static int decide(struct fw_memguard *g, uint64_t now, struct fw_memstat *mp, uint64_t *private_kb)
{
	struct fw_memstat m = *mp;

	if (g->soft != 0 && m.private_kb * 1024 > g->soft && now >= g->soft_quiet_until) {
		uint64_t before = m.private_kb;

		fw_heap_release();
		if (measure(g, now, &m, true) != 0)
			return FW_RETIRE_NONE;
		fw_log(FW_LOG_INFO,
		       "private memory %llu KiB over rss_soft_limit_mb: released free heap, now %llu "
		       "KiB",
		       (unsigned long long)before, (unsigned long long)m.private_kb);
		/*
		 * Still over: releasing again soon would not help either. Wait
		 * twice as long each time (up to a minute) before the next try.
		 */
		if (m.private_kb * 1024 > g->soft) {
			g->soft_quiet_ms = g->soft_quiet_ms == 0
						   ? SOFT_QUIET_MS
						   : FW_MIN(g->soft_quiet_ms * 2, SOFT_QUIET_MAX_MS);
			g->soft_quiet_until = now + g->soft_quiet_ms;
		} else {
			g->soft_quiet_ms = 0;
		}
	}
	*private_kb = m.private_kb;
	return g->hard != 0 && m.private_kb * 1024 > g->hard ? FW_RETIRE_MEMORY : FW_RETIRE_NONE;
}

int fw_memguard_refresh(struct fw_memguard *g, uint64_t now, uint64_t *private_kb)
{
	struct fw_memstat m;
	uint64_t every = g->hard != 0 || g->soft != 0 ? REFRESH_INTERVAL_MS : REFRESH_IDLE_MS;

	if (now - g->last_read_ms < every || measure(g, now, &m, true) != 0)
		return FW_RETIRE_NONE;
	/*
	 * The limits hold between requests too: uploads still arriving, a
	 * deferred request's buffers, or a worker with no request to end.
	 */
	if (g->hard == 0 && g->soft == 0)
		return FW_RETIRE_NONE;
	return decide(g, now, &m, private_kb);
}
