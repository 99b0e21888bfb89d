/*
 * Forking a worker cheaply. With a recycle every 100 requests, the fork,
 * a new worker's first page faults and its exit are part of what a
 * request costs; bench/forkfloor.c and bench/recycle.py measure them
 * (bench/RESULTS.md, "Recycling at full load"). What the master does for
 * that is fenced here, so that the rest of it reads plainly:
 *
 *   - preboot: what every worker's start would do alone, done once in the
 *     master for all the workers to come (worker/preboot.c, through the
 *     entry's preboot): 90 -> 56 page faults per new worker;
 *   - trim: the master's all-zero pages given back before it forks, so
 *     that fork copies, and each exit tears down, no page table entry for
 *     them (master/trim.c);
 *   - _Fork: tcmalloc's atfork handlers skipped where they guard nothing
 *     (one thread): they dirty ~30 pages of its metadata on both sides of
 *     every fork, about a third of what a recycle costs;
 *   - stdio flushed once, not at every fork;
 *   - _exit at the worker's end: the master's atexit handlers and the
 *     dynamic linker's fini walk are not run (nor do they copy pages).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "master/master.h"
#include "master/trim.h"

pid_t fw_fork(struct fw_master *m)
{
	/*
	 * Buffered output would otherwise be written twice. In a master with
	 * one thread only the application's start-up code wrote any (the
	 * master's own messages are single write()s, core/log.c), so once is
	 * enough: at every fork it would only take stdio's locks, a
	 * copy-on-write fault in the master. Another thread may write any time.
	 */
	if (m->prefork_due || !m->single_threaded)
		fflush(NULL);
	if (m->prefork_due) {
		/* Once for every worker to come, instead of in each at every recycle. */
		if (m->entry->preboot != NULL)
			m->entry->preboot(m->single_threaded);
		if (m->single_threaded) {
			size_t pages = fw_trim_zero_pages();

			fw_log(FW_LOG_DEBUG, "gave back %zu KiB of zero pages before forking",
			       pages * (size_t)sysconf(_SC_PAGESIZE) / 1024);
		}
		m->prefork_due = false;
	}
	/*
	 * _Fork() skips pthread_atfork handlers. They protect locks held by
	 * other threads; a master with one thread holds none at this point.
	 */
	return m->single_threaded ? _Fork() : fork();
}

#if defined(__SANITIZE_ADDRESS__)
#define WORKER_EXIT_RUNS_ATEXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_EXIT_RUNS_ATEXIT 1
#endif
#endif

/*
 * A worker ends with _exit(): the atexit handlers and destructors it would
 * run were registered by the master before fork and are the master's.
 * Buffered stdio output is flushed first. Under AddressSanitizer, exit()
 * runs the leak check.
 */
_Noreturn void fw_fork_exit(int status)
{
#ifdef WORKER_EXIT_RUNS_ATEXIT
	exit(status);
#else
	fflush(NULL);
	_exit(status);
#endif
}
