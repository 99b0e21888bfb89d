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

#endif
