#include "core/unshared.h"

#include <errno.h>
#include <sys/mman.h>

#include "core/log.h"

void *fw_unshared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Not MADV_DONTFORK: a child that touched the memory would fault, not read zeroes. */
	if (madvise(p, size, MADV_WIPEONFORK) != 0)
		fw_log_errno(FW_LOG_DEBUG,
			     "madvise(MADV_WIPEONFORK): the master's scratch pages stay shared");
	return p;
}
