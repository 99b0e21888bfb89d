/*
 * The scoreboard: shared memory created by the master before it forks.
 *
 * Each slot has a single writer, its worker; the header has a single
 * writer, the master. Each slot fills whole pages, and a worker maps
 * everything but its own slot read-only (fw_scoreboard_protect): a stray
 * write in one worker can't change what the master, the probes or the
 * status page read about another, or about the master. Everyone else only reads (the master, the status
 * page in any worker, later the probes). Numbers are written and read with
 * relaxed atomics: a reader may see one field from one moment and the next
 * from the next, never a torn number. The current request's method and
 * path are strings, so they sit behind a sequence counter (a seqlock):
 * odd while being written, and a reader retries until it reads one even
 * value before and after its copy.
 */
#ifndef FW_IPC_SCOREBOARD_H
#define FW_IPC_SCOREBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/build.h"
#include "ipc/recycle.h"

#define FW_MAX_SLOTS 1024
#define FW_HIST_BUCKETS 14
#define FW_MEM_HISTORY 120 /* samples per worker: 10 minutes */
#define FW_MEM_HISTORY_S 5
#ifndef FW_MAX_LISTENERS
#define FW_MAX_LISTENERS 8
#endif

#define FW_SLOT_METHOD_LEN 16
#define FW_SLOT_PATH_LEN 128
#define FW_SLOT_ALIGN 4096 /* a page: the unit of protection */

struct fw_slot {
	uint32_t state; /* its fw_worker_mode */
	int32_t pid;
	uint32_t in_flight; /* requests in handlers or deferred */
	uint32_t conns;
	uint32_t retiring;     /* an fw_retire_reason once the worker asked */
	uint32_t seq;          /* seqlock over the running request's method and path */
	uint64_t requests;     /* answered since the worker started */
	uint64_t started_ms;   /* fw_now_ms() at fork */
	uint64_t heartbeat_ms; /* the loop ran at this time */
	uint64_t handler_ms;   /* a handler has been running since; 0 if none */
	uint64_t rss_kb;       /* last precise measurement (smaps_rollup) */
	uint64_t private_kb;
	uint64_t heap_kb;          /* allocator: bytes in use */
	uint64_t heap_free_kb;     /* allocator: free, held for reuse */
	uint64_t heap_released_kb; /* allocator: given back to the OS */
	uint64_t allocs;           /* malloc/free calls, counted with FW_COUNT_ALLOCS=1 */
	uint64_t frees;
	uint32_t counting; /* allocs and frees are being counted */
	uint32_t tcmalloc; /* tcmalloc really serves malloc here */
	uint64_t measured_ms;
	char req_method[FW_SLOT_METHOD_LEN];
	char req_path[FW_SLOT_PATH_LEN];
	/* Request durations (answered requests), FW_HIST_BUCKETS cumulative-free counts. */
	uint64_t hist[FW_HIST_BUCKETS];
	uint64_t hist_sum_us;
	/* Private memory every FW_MEM_HISTORY_S seconds, oldest overwritten. */
	uint32_t mem_history[FW_MEM_HISTORY];
	uint32_t mem_history_next; /* where the next sample goes; samples so far */
	/* The worker's build (core/build.h), written once at its start, behind seq. */
	char build[FW_BUILD_ID_LEN];
	char version[FW_VERSION_LEN];
} __attribute__((aligned(FW_SLOT_ALIGN)));

/*
 * The master's build and its upgrades (SIGUSR2), written by the master as
 * a whole behind the header's upgrade_seq (fw_scoreboard_upgrade_store).
 */
struct fw_upgrade_info {
	char master_build[FW_BUILD_ID_LEN];
	char master_version[FW_VERSION_LEN];
	uint32_t phase;                       /* enum fw_upgrade_phase: the one under way */
	uint32_t result;                      /* enum fw_upgrade_result: the last one's */
	uint64_t started_ms;                  /* the one under way, or the last one: SIGUSR2 */
	uint64_t ended_ms;                    /* the last one: done, refused or abandoned */
	uint64_t counts[FW_UPGRADE_NRESULTS]; /* by result, since the master started */
	char from_build[FW_BUILD_ID_LEN];     /* the build it replaced */
	char detail[256];                     /* the last one: what happened, or why it was refused */
};

#define FW_SCOREBOARD_MAGIC 0x66777362u /* "fwsb": a probe checks it reads a scoreboard */

struct fw_scoreboard {
	/* Written by the master only. */
	uint32_t magic;
	uint32_t version; /* of this layout: a probe refuses another */
	int32_t master_pid;
	uint32_t workers_wanted;
	uint32_t stopping; /* the master is stopping: not ready */
	uint32_t nlisteners;
	uint64_t started_ms;
	uint64_t master_heartbeat_ms; /* CLOCK_MONOTONIC: comparable across processes */
	uint32_t retired_seq;      /* seqlock: odd while an exited worker's counts move to the totals */
	uint64_t requests_retired; /* answered by workers that have exited */
	uint64_t recycled[FW_RETIRE_NREASONS];
	uint64_t hist_retired[FW_HIST_BUCKETS]; /* durations of exited workers' requests */
	uint64_t hist_sum_us_retired;
	int64_t accept_queue[FW_MAX_LISTENERS]; /* waiting connections; -1 where unreadable */
	/* Limits in effect (after a reload, the new ones); 0: none. */
	uint64_t rss_limit_kb; /* as set, or derived from the cgroup limit */
	uint64_t rss_soft_limit_kb;
	uint64_t max_requests;
	uint64_t max_requests_jitter;
	uint64_t timeout_s;
	uint64_t cgroup_limit_bytes;       /* the container's memory limit */
	uint64_t cgroup_working_set_bytes; /* its usage less inactive page cache, each tick */
	uint32_t upgrade_seq;              /* seqlock over upgrade */
	struct fw_upgrade_info upgrade;
	size_t nslots;
	struct fw_slot slots[];
};

#define FW_SCOREBOARD_VERSION 6

_Static_assert(sizeof(struct fw_slot) % FW_SLOT_ALIGN == 0, "a slot is whole pages");

/* Upper bounds of the duration buckets, in microseconds (the last is +Inf). */
extern const uint64_t fw_hist_bounds_us[FW_HIST_BUCKETS];

/*
 * The master, when a worker has exited: add its counts to the retired
 * totals and free its slot, as one step for readers (a seqlock), so that a
 * sum over slots and totals counts the worker once, and counters exported
 * to Prometheus never go back.
 */
void fw_scoreboard_retire_slot(struct fw_scoreboard *sb, struct fw_slot *s);

/*
 * Readers of the totals: seq = fw_scoreboard_read_begin(sb), read, and
 * read again while fw_scoreboard_read_retry(sb, seq).
 */
uint32_t fw_scoreboard_read_begin(const struct fw_scoreboard *sb);
bool fw_scoreboard_read_retry(const struct fw_scoreboard *sb, uint32_t seq);

/* Count one request of `us` microseconds into a slot (its worker only). */
void fw_slot_observe(struct fw_slot *s, uint64_t us);

/*
 * Create the scoreboard as a shared mapping of the file at path (on tmpfs:
 * /dev/shm), so that probes, which are other processes, can read it.
 * The file is created afresh, mode 0640: it holds the requests in flight,
 * for the server's user and group (and root) to read. Its blocks are
 * allocated for the header and the first `ncommit` slots; *fd gets the
 * file, for fw_scoreboard_commit(). NULL with errno.
 */
struct fw_scoreboard *fw_scoreboard_create(const char *path, size_t nslots, size_t ncommit, int *fd);

/*
 * Allocate the blocks of the slots below `upto` before a worker uses
 * them: on a full tmpfs, the first write to a page would otherwise kill
 * it with SIGBUS. 0, or an errno (ENOSPC).
 */
int fw_scoreboard_commit(int fd, size_t upto);

/*
 * In a worker: everything read-only but its own slot. 0, or -1 with
 * errno (the protection is then off; the worker still works).
 */
int fw_scoreboard_protect(struct fw_scoreboard *sb, const struct fw_slot *own);

/*
 * Map an existing scoreboard read-only (probes). NULL with errno (EPROTO:
 * not one). *owner (if not NULL): the file's owner, for the caller to
 * check, since anyone can create a file in /dev/shm.
 */
const struct fw_scoreboard *fw_scoreboard_open(const char *path, uid_t *owner);

/*
 * Map the scoreboard another image of the program created, from its file
 * (a worker started by exec, a master that re-executed itself), read and
 * write. NULL with errno (EPROTO: not a scoreboard of this layout).
 */
struct fw_scoreboard *fw_scoreboard_adopt(int fd);

/* Unmap; the creator also removes the file (path NULL: unmap only). */
void fw_scoreboard_destroy(const struct fw_scoreboard *sb, const char *path);

#define fw_slot_store(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define fw_slot_load(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* The handler's request, as the scoreboard keeps it. */
struct fw_slot_request {
	char method[FW_SLOT_METHOD_LEN];
	char path[FW_SLOT_PATH_LEN];
};

/* Writer side: the worker records the request its handler is running. */
void fw_slot_request_begin(struct fw_slot *s, const struct fw_slot_request *r, uint64_t now);
void fw_slot_request_end(struct fw_slot *s);

/* The worker's build, once at its start (its slot's single writer). */
void fw_slot_build_set(struct fw_slot *s, const char *build, const char *version);
/* A reader's copy: false when the slot kept changing. */
bool fw_slot_build_read(const struct fw_slot *s, char build[FW_BUILD_ID_LEN],
			char version[FW_VERSION_LEN]);

/* The master's upgrade record: the writer (the master) and any reader. */
void fw_scoreboard_upgrade_store(struct fw_scoreboard *sb, const struct fw_upgrade_info *u);
bool fw_scoreboard_upgrade_load(const struct fw_scoreboard *sb, struct fw_upgrade_info *u);

/*
 * Reader side: copy the running request's method and path. false when
 * the slot kept changing (the request is not a stuck one, then).
 */
bool fw_slot_request_read(const struct fw_slot *s, struct fw_slot_request *out);

#endif
