/*
 * Reuse and its checks. fw keeps request memory for the next request (the
 * pool's first block, buffers, request objects, scratch buffers): a warm
 * worker allocates nothing. The price is that a pointer a handler keeps
 * past its request points at the next request's data instead of freed
 * memory. So:
 *  - under AddressSanitizer nothing is kept: every stale pointer is a
 *    heap-use-after-free that ASan reports, with both stacks;
 *  - in debug builds (FW_POISON) what is handed back is overwritten with
 *    0xdb, so stale reads show garbage at once instead of plausible data.
 */
#ifndef FW_CORE_REUSE_H
#define FW_CORE_REUSE_H

#include <stddef.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define FW_REUSE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FW_REUSE 0
#endif
#endif
#ifndef FW_REUSE
#define FW_REUSE 1
#endif

#define FW_POISON_BYTE 0xdb

static inline void fw_poison(void *p, size_t n)
{
#ifdef FW_POISON
	if (p != NULL)
		memset(p, FW_POISON_BYTE, n);
#else
	(void)p;
	(void)n;
#endif
}

#endif
