/*
 * The new thread inherits its creator's signal mask, so the mask is
 * filled around pthread_create() rather than in the thread: a signal
 * arriving between its start and its own pthread_sigmask() would
 * otherwise find it unmasked.
 */
#include <signal.h>

#include "core/thread.h"

int fw_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	if ((r = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0)
		return r;
	r = pthread_create(t, attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL); /* cannot fail: old came from the same call */
	return r;
}
