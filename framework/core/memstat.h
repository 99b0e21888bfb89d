/*
 * Memory figures of a process.
 *
 * Precise: /proc/PID/smaps_rollup. "Private" is Private_Clean +
 * Private_Dirty: pages mapped by this process alone. Pages a worker still
 * shares with the master after fork (copy-on-write, not yet written) are
 * not in it, so a limit on it does not fire for memory the worker never
 * took. Reading it walks every mapping of the process: tens of
 * microseconds, so it is not done per request.
 *
 * Cheap: the allocator's own counters (tcmalloc's mapped heap, or glibc's
 * mallinfo2), no system call. It tracks heap growth at once; the precise
 * figure calibrates it.
 */
#ifndef FW_CORE_MEMSTAT_H
#define FW_CORE_MEMSTAT_H

#include <stdint.h>
#include <sys/types.h>

struct fw_memstat {
	uint64_t rss_kb;
	uint64_t private_kb; /* Private_Clean + Private_Dirty */
	uint64_t shared_kb;  /* Shared_Clean + Shared_Dirty */
	uint64_t swap_kb;
};

/* Parse the text of smaps_rollup (pure). 0, or -1 when fields are missing. */
int fw_memstat_parse(const char *text, struct fw_memstat *out);

/* Read /proc/PID/smaps_rollup (pid 0: this process). 0, or -1 with errno. */
int fw_memstat_read(pid_t pid, struct fw_memstat *out);

/* Heap bytes the allocator has mapped (in use + free but not returned). */
uint64_t fw_heap_mapped_bytes(void);

/* Heap bytes the program has allocated and not freed. */
uint64_t fw_heap_used_bytes(void);

/* Give free heap memory back to the operating system. */
void fw_heap_release(void);

/* The allocator's own figures (0 where it has none). */
struct fw_heap_stats {
	uint64_t used;     /* allocated by the program, not freed */
	uint64_t free;     /* held by the allocator for reuse (free lists, caches) */
	uint64_t released; /* given back to the OS, still reserved */
};
void fw_heap_stats(struct fw_heap_stats *out);

/*
 * Which allocator really serves malloc in this process: "tcmalloc" only
 * if tcmalloc owns a block just allocated (linked but shadowed by libc's
 * malloc, it would not), "system" otherwise.
 */
const char *fw_heap_allocator(void);

/*
 * Count every malloc/free (tcmalloc's hooks) into *allocs and *frees,
 * for tests that prove a path allocates nothing. 0, or -1 when the
 * allocator has no hooks.
 */
int fw_heap_count_calls(uint64_t *allocs, uint64_t *frees);

#endif
