/*
 * Before it forks, the master gives back the pages of its private anonymous
 * memory that hold nothing but zeros.
 *
 * tcmalloc zero-fills about 3 MiB at start (its page map and size-class
 * tables) and writes little of it again: three quarters of the master's
 * anonymous memory are resident pages of zeros. fork() copies the page
 * table entry of every resident anonymous page and write-protects it, and
 * every worker's exit tears all of them down again, so at a recycle every
 * 100 requests those pages cost more than the worker's own work.
 * MADV_DONTNEED on a private anonymous page leaves it zero-fill-on-demand:
 * for a page that is all zeros, what the program reads does not change.
 */
#ifndef FW_MASTER_TRIM_H
#define FW_MASTER_TRIM_H

#include <stddef.h>

/*
 * Drop the all-zero resident pages of the heap and of unnamed private
 * writable mappings. Only for a process with one thread (another thread
 * could write a page between the check and the madvise); signals are
 * blocked meanwhile for the same reason. Returns the pages dropped.
 * Compiled out under AddressSanitizer, which forbids reading redzones.
 */
size_t fw_trim_zero_pages(void);

#endif
