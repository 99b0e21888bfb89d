/*
 * Request-scoped memory (after nginx's ngx_pool_t): allocations are carved
 * from blocks and never freed one by one; fw_pool_reset() runs the
 * registered cleanups (last registered first) and gives everything back at
 * once. The first block is kept across resets, so a request that fits in
 * it allocates nothing from the heap.
 */
#ifndef FW_CORE_POOL_H
#define FW_CORE_POOL_H

#include <stddef.h>

struct fw_pool_block;
struct fw_pool_cleanup;

struct fw_pool {
	struct fw_pool_block *first;   /* kept by reset */
	struct fw_pool_block *current; /* where small allocations go */
	struct fw_pool_cleanup *cleanups;
	size_t block_size;
};

/* No memory is taken until the first allocation. */
void fw_pool_init(struct fw_pool *p, size_t block_size);

/* size bytes aligned for any type; NULL when out of memory. */
void *fw_pool_alloc(struct fw_pool *p, size_t size);
char *fw_pool_strndup(struct fw_pool *p, const char *s, size_t n);

/* Run fn(arg) at reset. 0, or -1 when out of memory (fn is not run). */
int fw_pool_cleanup_add(struct fw_pool *p, void (*fn)(void *arg), void *arg);

/* Run the cleanups now (last registered first); reset then runs none. */
void fw_pool_run_cleanups(struct fw_pool *p);

void fw_pool_reset(struct fw_pool *p);
void fw_pool_finish(struct fw_pool *p);

#endif
