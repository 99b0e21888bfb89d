/*
 * Threads that take no signal. fw's signals (SIGTERM, SIGHUP, SIGUSR2,
 * the stuck handler's) are for the thread that runs the event loop: one
 * delivered to a helper thread would set a flag the loop reads late, or
 * run the stuck handler's answer on a thread that holds no request.
 */
#ifndef FW_CORE_THREAD_H
#define FW_CORE_THREAD_H

#include <pthread.h>

/*
 * pthread_create() with every signal blocked in the new thread; the
 * caller's own mask is as it was. attr may be NULL. Returns
 * pthread_create's error number (0: started); the caller logs it.
 */
int fw_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

#endif
