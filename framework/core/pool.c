#include "core/pool.h"

#include "core/reuse.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POOL_ALIGN alignof(max_align_t)

struct fw_pool_block {
	struct fw_pool_block *next;
	size_t size; /* usable bytes in data */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct fw_pool_cleanup {
	struct fw_pool_cleanup *next;
	void (*fn)(void *arg);
	void *arg;
};

void fw_pool_init(struct fw_pool *p, size_t block_size)
{
	memset(p, 0, sizeof(*p));
	p->block_size = block_size < 256 ? 256 : block_size;
}

static struct fw_pool_block *block_new(size_t size)
{
	struct fw_pool_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	b = malloc(sizeof(*b) + size);
	if (b == NULL)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

static void *block_take(struct fw_pool_block *b, size_t size)
{
	size_t start = (b->used + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);

	if (start > b->size || size > b->size - start)
		return NULL;
	b->used = start + size;
	return b->data + start;
}

/* Link b right after the current block: every block stays on the chain from first. */
static void block_link(struct fw_pool *p, struct fw_pool_block *b)
{
	b->next = p->current->next;
	p->current->next = b;
}

void *fw_pool_alloc(struct fw_pool *p, size_t size)
{
	struct fw_pool_block *b;
	void *mem;

	if (p->first == NULL) {
		if ((p->first = block_new(p->block_size)) == NULL)
			return NULL;
		p->current = p->first;
	}
	if ((mem = block_take(p->current, size)) != NULL)
		return mem;
	/*
	 * A large allocation gets a block of its own, so the room left in the
	 * current block stays usable and the kept first block never grows.
	 */
	if (size > p->block_size / 4) {
		if ((b = block_new(size)) == NULL)
			return NULL;
		block_link(p, b);
		return block_take(b, size);
	}
	if ((b = block_new(p->block_size)) == NULL)
		return NULL;
	block_link(p, b);
	p->current = b;
	return block_take(b, size);
}

char *fw_pool_strndup(struct fw_pool *p, const char *s, size_t n)
{
	char *d;

	if (n == SIZE_MAX || (d = fw_pool_alloc(p, n + 1)) == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

int fw_pool_cleanup_add(struct fw_pool *p, void (*fn)(void *arg), void *arg)
{
	struct fw_pool_cleanup *c = fw_pool_alloc(p, sizeof(*c));

	if (c == NULL)
		return -1;
	c->fn = fn;
	c->arg = arg;
	c->next = p->cleanups;
	p->cleanups = c;
	return 0;
}

void fw_pool_run_cleanups(struct fw_pool *p)
{
	/* Cleanups live in the pool: unlink each before running it. */
	while (p->cleanups != NULL) {
		struct fw_pool_cleanup *c = p->cleanups;

		p->cleanups = c->next;
		c->fn(c->arg);
	}
}

void fw_pool_reset(struct fw_pool *p)
{
	struct fw_pool_block *b, *next;

	fw_pool_run_cleanups(p);
	if (p->first == NULL)
		return;
	for (b = p->first->next; b != NULL; b = next) {
		next = b->next;
		fw_poison(b->data, b->used);
		free(b);
	}
	fw_poison(p->first->data, p->first->used);
	if (!FW_REUSE) {
		/* Under ASan every block goes, so a stale pointer is a use-after-free. */
		free(p->first);
		p->first = p->current = NULL;
		return;
	}
	p->first->next = NULL;
	p->first->used = 0;
	p->current = p->first;
}

void fw_pool_finish(struct fw_pool *p)
{
	fw_pool_reset(p);
	free(p->first);
	p->first = NULL;
	p->current = NULL;
}
