/* core/pool.c: request-scoped memory with cleanups. */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/pool.h"
#include "core/reuse.h"

#define ALIGN alignof(max_align_t)

static bool aligned(const void *p)
{
	return (uintptr_t)p % ALIGN == 0;
}

static void test_init(void)
{
	struct fw_pool p;

	fw_pool_init(&p, 10);
	CHECK(p.first == NULL);
	CHECK(p.current == NULL);
	CHECK(p.cleanups == NULL);
	CHECK_EQ_UINT(p.block_size, 256); /* the minimum */
	fw_pool_init(&p, 4096);
	CHECK_EQ_UINT(p.block_size, 4096);
	/* A pool that never allocated can be reset and finished. */
	fw_pool_reset(&p);
	fw_pool_finish(&p);
	CHECK(p.first == NULL);
	fw_pool_finish(&p);
	CHECK(p.first == NULL);
}

static void test_alloc(void)
{
	struct fw_pool p;
	unsigned char *ptrs[500];
	size_t sizes[500];
	bool ok = true;

	fw_pool_init(&p, 1024);
	/* Many sizes over several blocks: aligned, writable, not overlapping. */
	for (size_t i = 0; i < 500; i++) {
		sizes[i] = 1 + (i * 37) % 200;
		ptrs[i] = fw_pool_alloc(&p, sizes[i]);
		if (ptrs[i] == NULL) {
			ok = false;
			break;
		}
		ok &= aligned(ptrs[i]);
		memset(ptrs[i], (int)(i & 0xff), sizes[i]);
	}
	CHECK(ok);
	for (size_t i = 0; ok && i < 500; i++) {
		for (size_t j = 0; j < sizes[i]; j++)
			ok &= ptrs[i][j] == (unsigned char)(i & 0xff);
	}
	CHECK(ok);
	CHECK(p.first != NULL);
	CHECK(p.current != p.first); /* 500 allocations do not fit in 1024 bytes */

	/* Consecutive small allocations are carved from one block, aligned. */
	fw_pool_reset(&p);
	{
		char *a = fw_pool_alloc(&p, 1);
		char *b = fw_pool_alloc(&p, 1);

		CHECK(a != NULL && b != NULL);
		CHECK_EQ_INT(b - a, (intmax_t)ALIGN);
	}
	/* Zero bytes is a valid request. */
	CHECK(fw_pool_alloc(&p, 0) != NULL);
	/* More than size_t can describe fails, without a huge malloc. */
	CHECK(fw_pool_alloc(&p, SIZE_MAX) == NULL);
	CHECK(fw_pool_alloc(&p, SIZE_MAX - 8) == NULL);
	fw_pool_finish(&p);
	CHECK(p.first == NULL);
}

static void test_large(void)
{
	struct fw_pool p;
	char *a, *big, *b, *huge;

	fw_pool_init(&p, 1024);
	a = fw_pool_alloc(&p, 16);
	/* Larger than a quarter block: a block of its own ... */
	big = fw_pool_alloc(&p, 1020); /* more than is left in the block */
	/* ... so the room left in the current block is still used. */
	b = fw_pool_alloc(&p, 16);
	CHECK(a != NULL && big != NULL && b != NULL);
	CHECK(aligned(big));
	CHECK_EQ_INT(b - a, (intmax_t)((16 + ALIGN - 1) / ALIGN * ALIGN));
	memset(big, 'B', 1020);
	/* Larger than the block size itself. */
	huge = fw_pool_alloc(&p, 100000);
	if (CHECK(huge != NULL)) {
		memset(huge, 'H', 100000);
		CHECK(aligned(huge));
	}
	CHECK(big[0] == 'B' && big[1019] == 'B');
	fw_pool_finish(&p);
}

static void test_reset_keeps_first_block(void)
{
	struct fw_pool p;
	void *first_alloc, *again;
	struct fw_pool_block *first;

	fw_pool_init(&p, 512);
	first_alloc = fw_pool_alloc(&p, 32);
	first = p.first;
	for (int i = 0; i < 100; i++)
		fw_pool_alloc(&p, 100);
	fw_pool_alloc(&p, 5000);
	fw_pool_reset(&p);
#if FW_REUSE
	CHECK(p.first == first);
	CHECK(p.current == first);
	again = fw_pool_alloc(&p, 32);
	CHECK(again == first_alloc);
#else
	/* Under AddressSanitizer nothing is kept (core/reuse.h). */
	(void)first, (void)first_alloc, (void)again;
	CHECK(p.first == NULL);
#endif
	fw_pool_finish(&p);
	CHECK(p.first == NULL);
	CHECK(p.current == NULL);
}

static void test_strndup(void)
{
	struct fw_pool p;
	char *s;

	fw_pool_init(&p, 256);
	s = fw_pool_strndup(&p, "hello world", 5);
	CHECK_EQ_STR(s, "hello");
	s = fw_pool_strndup(&p, "abc", 0);
	CHECK_EQ_STR(s, "");
	s = fw_pool_strndup(&p, "a\0b", 3);
	CHECK(s != NULL && s[0] == 'a' && s[1] == '\0' && s[2] == 'b' && s[3] == '\0');
	CHECK(fw_pool_strndup(&p, "x", SIZE_MAX) == NULL);
	fw_pool_finish(&p);
}

static int order[8];
static int norder;

static void record(void *arg)
{
	if (norder < 8)
		order[norder] = *(int *)arg;
	norder++;
}

static void test_cleanups(void)
{
	static int one = 1, two = 2, three = 3;
	struct fw_pool p;

	fw_pool_init(&p, 256);
	/* A cleanup is the first thing put in the pool. */
	CHECK_EQ_INT(fw_pool_cleanup_add(&p, record, &one), 0);
	CHECK_EQ_INT(fw_pool_cleanup_add(&p, record, &two), 0);
	fw_pool_alloc(&p, 1000); /* a separate block in between */
	CHECK_EQ_INT(fw_pool_cleanup_add(&p, record, &three), 0);
	CHECK_EQ_INT(norder, 0);
	fw_pool_reset(&p);
	CHECK_EQ_INT(norder, 3);
	CHECK_EQ_INT(order[0], 3); /* last registered first */
	CHECK_EQ_INT(order[1], 2);
	CHECK_EQ_INT(order[2], 1);
	CHECK(p.cleanups == NULL);

	/* Ran once: a second reset runs nothing. */
	fw_pool_reset(&p);
	CHECK_EQ_INT(norder, 3);

	/* finish runs the pending ones too. */
	norder = 0;
	CHECK_EQ_INT(fw_pool_cleanup_add(&p, record, &two), 0);
	fw_pool_finish(&p);
	CHECK_EQ_INT(norder, 1);
	CHECK_EQ_INT(order[0], 2);
}

int main(void)
{
	test_init();
	test_alloc();
	test_large();
	test_reset_keeps_first_block();
	test_strndup();
	test_cleanups();
	return check_done();
}
