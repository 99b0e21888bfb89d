/*
 * Scratch buffers lent to requests (fw_scratch). A worker keeps the ones
 * handed back on a free list, their memory trimmed to the keep ceiling,
 * so the next request borrows warm memory instead of allocating.
 */
#include <stdlib.h>

#include "core/reuse.h"
#include "http/req.h"

#define SCRATCH_FREE_MAX 64

static fw_buf *free_list[SCRATCH_FREE_MAX];
static size_t nfree;
static size_t keep_bytes = 64 * 1024;

void fw_scratch_configure(size_t keep)
{
	/* Called in every new worker: a write would copy the page it shares with the master. */
	if (keep_bytes != keep)
		keep_bytes = keep;
}

static fw_buf *scratch_take(void)
{
	if (nfree > 0)
		return free_list[--nfree];
	return calloc(1, sizeof(fw_buf));
}

static void scratch_give_back(fw_buf *b)
{
	fw_poison(b->data, b->len);
	fw_buf_reset(b, FW_REUSE ? keep_bytes : 0);
	if (FW_REUSE && nfree < SCRATCH_FREE_MAX) {
		free_list[nfree++] = b;
		return;
	}
	fw_buf_release(b);
	free(b);
}

FW_API fw_buf *fw_scratch(fw_req *req)
{
	struct fw_scratch_ref *ref = fw_pool_alloc(&req->pool, sizeof(*ref));
	fw_buf *b;

	if (ref == NULL || (b = scratch_take()) == NULL)
		return NULL;
	ref->buf = b;
	ref->next = req->scratch;
	req->scratch = ref;
	return b;
}

bool fw_scratch_owned(const fw_req *req, const fw_buf *b)
{
	for (const struct fw_scratch_ref *r = req->scratch; r != NULL; r = r->next)
		if (r->buf == b)
			return true;
	return false;
}

void fw_scratch_return_all(fw_req *req)
{
	for (struct fw_scratch_ref *r = req->scratch; r != NULL; r = r->next)
		scratch_give_back(r->buf);
	req->scratch = NULL;
}
