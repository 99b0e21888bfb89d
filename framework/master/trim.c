#include "master/trim.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define FW_TRIM_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FW_TRIM_OFF 1
#endif
#endif

#ifdef FW_TRIM_OFF
size_t fw_trim_zero_pages(void)
{
	return 0;
}
#else

/* Larger mappings are reservations (a sanitizer's shadow), not a heap. */
#define TRIM_MAX_MAPPING ((uintptr_t)1 << 30)
#define TRIM_CHUNK 4096 /* pages per mincore() call */

static int page_is_zero(const void *p, size_t len)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < len / sizeof(*w); i++)
		if (w[i] != 0)
			return 0;
	return 1;
}

/* madvise a run of zero pages; returns the pages dropped. */
static size_t drop(uintptr_t start, uintptr_t end, size_t page)
{
	if (start == end)
		return 0;
	if (madvise((void *)start, end - start, MADV_DONTNEED) != 0) {
		/* EINVAL for locked pages: they stay, and so does correctness. */
		fw_log_errno(FW_LOG_DEBUG, "madvise(%#lx, %lu, MADV_DONTNEED)", (unsigned long)start,
			     (unsigned long)(end - start));
		return 0;
	}
	return (end - start) / page;
}

static size_t trim_range(uintptr_t lo, uintptr_t hi, size_t page)
{
	unsigned char vec[TRIM_CHUNK];
	size_t dropped = 0;

	for (uintptr_t at = lo; at < hi;) {
		uintptr_t end = hi - at > TRIM_CHUNK * page ? at + TRIM_CHUNK * page : hi;
		uintptr_t run = at;

		if (mincore((void *)at, end - at, vec) != 0) {
			fw_log_errno(FW_LOG_DEBUG, "mincore(%#lx)", (unsigned long)at);
			return dropped;
		}
		for (uintptr_t p = at; p < end; p += page) {
			if ((vec[(p - at) / page] & 1) && page_is_zero((const void *)p, page))
				continue; /* extends the run */
			dropped += drop(run, p, page);
			run = p + page;
		}
		dropped += drop(run, end, page);
		at = end;
	}
	return dropped;
}

size_t fw_trim_zero_pages(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), dropped = 0;
	sigset_t all, old;
	char line[4352]; /* PATH_MAX and the fields before it */
	FILE *maps;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((maps = fopen("/proc/self/maps", "re")) == NULL) {
		fw_log_errno(FW_LOG_DEBUG, "fopen /proc/self/maps");
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 0;
	}
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long lo, hi;
		char perms[8], name[256] = "";

		if (strchr(line, '\n') == NULL) {
			/* A longer name is a file's: not ours to trim. Skip the rest. */
			int c;

			while ((c = fgetc(maps)) != EOF && c != '\n')
				;
			continue;
		}
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &lo, &hi, perms, name) < 3)
			continue;
		/* Private and writable, and anonymous: the heap or no name at all. */
		if (strcmp(perms, "rw-p") != 0 || (name[0] != '\0' && strcmp(name, "[heap]") != 0))
			continue;
		if (hi - lo > TRIM_MAX_MAPPING)
			continue;
		dropped += trim_range(lo, hi, page);
	}
	fclose(maps);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return dropped;
}
#endif
