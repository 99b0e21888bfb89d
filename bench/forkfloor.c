/*
 * The floor under a recycle: fork() by a process linked like an fw app,
 * and the child's exit, with nothing served in between. bench/recycle.py
 * prints it beside its ratio, because at a recycle every 100 requests of a
 * hello world this floor alone is several percent of the machine.
 *
 *   forkfloor [N]    prints one JSON object: CPU microseconds per fork, in
 *                    the parent and in the child, for each case below
 *
 * Cases, in this order (trimming cannot be undone):
 *   empty       the child exits at once
 *   boot        the child creates and frees a libevent base, as a worker's
 *               boot does, and allocates what 16 connections would
 *   empty-trim, boot-trim   the same after fw_trim_zero_pages(), as the
 *               master does before its first fork
 * Forks use _Fork(), as the master does (no atfork handlers).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/trim.h"

static double cpu_us(int who)
{
	struct rusage r;

	getrusage(who, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

static void boot(void)
{
	struct event_base *base = event_base_new();
	void *conns[16];

	if (base != NULL)
		event_base_free(base);
	for (int i = 0; i < 16; i++)
		if ((conns[i] = calloc(1, 464)) != NULL)
			memset(conns[i], 1, 464);
	for (int i = 0; i < 16; i++)
		free(conns[i]);
}

static int run(const char *name, int n, int work, int first)
{
	double self = cpu_us(RUSAGE_SELF), kids = cpu_us(RUSAGE_CHILDREN);

	for (int i = 0; i < n; i++) {
		pid_t pid = _Fork();

		if (pid < 0) {
			perror("fork");
			return -1;
		}
		if (pid == 0) {
			if (work)
				boot();
			_exit(0);
		}
		if (waitpid(pid, NULL, 0) != pid) {
			perror("waitpid");
			return -1;
		}
	}
	printf("%s\"%s\": {\"parent_us\": %.1f, \"child_us\": %.1f}", first ? "" : ", ", name,
	       (cpu_us(RUSAGE_SELF) - self) / n, (cpu_us(RUSAGE_CHILDREN) - kids) / n);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	void *keep = malloc(100); /* the allocator is set up, as in a master */

	if (n <= 0 || keep == NULL) {
		fprintf(stderr, "usage: forkfloor [N>0]\n");
		return 2;
	}
	printf("{\"forks\": %d, ", n);
	if (run("empty", n, 0, 1) != 0 || run("boot", n, 1, 0) != 0)
		return 1;
	printf(", \"trimmed_pages\": %zu", fw_trim_zero_pages());
	if (run("empty-trim", n, 0, 0) != 0 || run("boot-trim", n, 1, 0) != 0)
		return 1;
	printf("}\n");
	free(keep);
	return 0;
}
