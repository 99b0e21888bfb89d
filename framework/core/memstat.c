#include "core/memstat.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FW_HAVE_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#include <gperftools/malloc_hook_c.h>
#endif

/* The value in kB of the line "name:   1234 kB", or -1. */
static long long field_kb(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			char *end;
			long long v = strtoll(p + n + 1, &end, 10);

			return end == p + n + 1 || v < 0 ? -1 : v;
		}
	}
	return -1;
}

int fw_memstat_parse(const char *text, struct fw_memstat *out)
{
	long long rss = field_kb(text, "Rss"), pc = field_kb(text, "Private_Clean"),
		  pd = field_kb(text, "Private_Dirty"), sc = field_kb(text, "Shared_Clean"),
		  sd = field_kb(text, "Shared_Dirty"), sw = field_kb(text, "Swap");

	if (rss < 0 || pc < 0 || pd < 0)
		return -1;
	out->rss_kb = (uint64_t)rss;
	out->private_kb = (uint64_t)(pc + pd);
	out->shared_kb = (uint64_t)((sc > 0 ? sc : 0) + (sd > 0 ? sd : 0));
	out->swap_kb = sw > 0 ? (uint64_t)sw : 0;
	return 0;
}

int fw_memstat_read(pid_t pid, struct fw_memstat *out)
{
	char path[64], text[4096];
	ssize_t n;
	int fd;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/smaps_rollup");
	else
		snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	if (fw_memstat_parse(text, out) != 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

#ifdef FW_HAVE_TCMALLOC
static uint64_t tc_property(const char *name)
{
	size_t v = 0;

	return MallocExtension_GetNumericProperty(name, &v) ? (uint64_t)v : 0;
}

uint64_t fw_heap_mapped_bytes(void)
{
	uint64_t size = tc_property("generic.heap_size");
	uint64_t unmapped = tc_property("tcmalloc.pageheap_unmapped_bytes");

	return size > unmapped ? size - unmapped : 0;
}

uint64_t fw_heap_used_bytes(void)
{
	return tc_property("generic.current_allocated_bytes");
}

void fw_heap_release(void)
{
	MallocExtension_ReleaseFreeMemory();
}

void fw_heap_stats(struct fw_heap_stats *out)
{
	out->used = tc_property("generic.current_allocated_bytes");
	out->free = tc_property("tcmalloc.pageheap_free_bytes") +
		    tc_property("tcmalloc.central_cache_free_bytes") +
		    tc_property("tcmalloc.transfer_cache_free_bytes") +
		    tc_property("tcmalloc.thread_cache_free_bytes");
	out->released = tc_property("tcmalloc.pageheap_unmapped_bytes");
}

const char *fw_heap_allocator(void)
{
	/* Which malloc serves this process cannot change: found once, and inherited by workers. */
	static const char *allocator;

	if (allocator == NULL) {
		void *p = calloc(1, 64); /* calloc: the probe is not read, but compilers assume it is */
		int owned = p != NULL && MallocExtension_GetOwnership(p) == MallocExtension_kOwned;

		free(p);
		allocator = owned ? "tcmalloc" : "system";
	}
	return allocator;
}

static uint64_t *count_allocs, *count_frees;

static void on_new(const void *ptr, size_t size)
{
	(void)ptr, (void)size;
	__atomic_add_fetch(count_allocs, 1, __ATOMIC_RELAXED);
}

static void on_delete(const void *ptr)
{
	if (ptr != NULL)
		__atomic_add_fetch(count_frees, 1, __ATOMIC_RELAXED);
}

int fw_heap_count_calls(uint64_t *allocs, uint64_t *frees)
{
	count_allocs = allocs;
	count_frees = frees;
	return MallocHook_AddNewHook(on_new) && MallocHook_AddDeleteHook(on_delete) ? 0 : -1;
}
#else
uint64_t fw_heap_mapped_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (uint64_t)mi.arena + (uint64_t)mi.hblkhd;
}

uint64_t fw_heap_used_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

void fw_heap_release(void)
{
	malloc_trim(0);
}

void fw_heap_stats(struct fw_heap_stats *out)
{
	struct mallinfo2 mi = mallinfo2();

	out->used = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
	out->free = (uint64_t)mi.fordblks;
	out->released = 0;
}

const char *fw_heap_allocator(void)
{
	return "system";
}

int fw_heap_count_calls(uint64_t *allocs, uint64_t *frees)
{
	(void)allocs, (void)frees;
	return -1;
}
#endif
