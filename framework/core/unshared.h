/*
 * Memory a forked child does not inherit the contents of (it sees zeroes):
 * for what the master rewrites at every recycle and no worker reads. Each
 * page the master shares with its live workers costs it a copy-on-write
 * fault (2-2.5 us on a VM) at its first write after every fork.
 */
#ifndef FW_CORE_UNSHARED_H
#define FW_CORE_UNSHARED_H

#include <stddef.h>

/*
 * size bytes of zeroed memory, page aligned, for the life of the process
 * (never freed); NULL (errno) if it could not be mapped. Where the kernel
 * lacks MADV_WIPEONFORK (before Linux 4.14) the memory is ordinary, shared
 * copy-on-write like the rest.
 */
void *fw_unshared_alloc(size_t size);

#endif
