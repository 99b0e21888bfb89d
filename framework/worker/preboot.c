/*
 * What the master prepares for the workers to come, before it forks them
 * (and again after a reload). Every worker inherits what this leaves
 * behind; done in each worker instead, it would cost page faults on memory
 * shared with the master at every recycle (bench/RESULTS.md). Runs no
 * application code.
 */
#include "worker/worker.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pool.h"
#include "core/reuse.h"
#include "core/result.h"
#include "worker/memguard.h"

static void rehearsal_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
}

/*
 * What a worker's event loop allocates as it starts (the tables libevent
 * keeps per descriptor and per signal, a saved sigaction for each signal,
 * the timer heap), done once on a throwaway base. Signal events install
 * libevent's handler for a moment: only in a master with one thread, with
 * those signals blocked (they wait, they are not lost), and deleting the
 * events puts the master's own handlers back, as libevent saved them.
 */
static void rehearse_events(struct event_base *base, bool signals)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGQUIT};
	struct event io, timer, sig[FW_NELEM(sigs)];
	struct timeval second = {1, 0};
	sigset_t block, old;
	int p[2];

	sigemptyset(&block);
	for (size_t i = 0; i < FW_NELEM(sigs); i++)
		sigaddset(&block, sigs[i]);
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
		return;
	if (sigprocmask(SIG_BLOCK, &block, &old) == 0) {
		event_assign(&io, base, p[0], EV_READ | EV_PERSIST, rehearsal_cb, NULL);
		evtimer_assign(&timer, base, rehearsal_cb, NULL);
		for (size_t i = 0; i < FW_NELEM(sigs); i++)
			evsignal_assign(&sig[i], base, sigs[i], rehearsal_cb, NULL);
		(void)event_add(&io, NULL);
		(void)event_add(&timer, &second);
		for (size_t i = 0; signals && i < FW_NELEM(sigs); i++)
			(void)evsignal_add(&sig[i], NULL);
		for (size_t i = 0; signals && i < FW_NELEM(sigs); i++)
			(void)evsignal_del(&sig[i]);
		(void)event_del(&timer);
		(void)event_del(&io);
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
	}
	close(p[0]);
	close(p[1]);
}

/*
 * Connections and requests for the workers to come, allocated once by the
 * master before it forks: every worker starts with them on its free lists
 * and writes into them in place. Allocated in each worker instead, they
 * would have tcmalloc carve fresh spans and thread free lists through them
 * at every recycle; allocating and freeing them in the master would not
 * help, as a span whose objects are all free goes back to the page heap.
 */
#define RESERVE_CONNS 32 /* nginx may keep all of its keep-alive connections on one worker */
#define RESERVE_REQS 8

static struct {
	struct fw_conn *conns;
	size_t nconns;
	fw_req *reqs;
	size_t nreqs;
} reserve;

static void reserve_fill(void)
{
	while (reserve.nconns < RESERVE_CONNS) {
		struct fw_conn *c = calloc(1, sizeof(*c));

		if (c == NULL)
			return;
		c->next = reserve.conns;
		reserve.conns = c;
		reserve.nconns++;
	}
	while (FW_REUSE && reserve.nreqs < RESERVE_REQS) {
		fw_req *req = fw_req_create();

		if (req == NULL)
			return;
		/* The pool's first block and the buffers a FastCGI request fills first. */
		(void)fw_pool_alloc(&req->pool, 64);
		fw_pool_reset(&req->pool);
		(void)fw_buf_reserve(&req->params, 2 * FW_BUF_MIN_CAP);
		(void)fw_buf_reserve(&req->body, FW_BUF_MIN_CAP);
		(void)fw_buf_reserve(&req->out, FW_BUF_MIN_CAP);
		req->next_free = reserve.reqs;
		reserve.reqs = req;
		reserve.nreqs++;
	}
}

/* The worker's copy of the reserve is its own from here on. */
void fw_worker_reserve_take(struct fw_worker *w)
{
	w->free_conns = reserve.conns;
	w->nfree_conns = reserve.nconns;
	w->free_reqs = reserve.reqs;
	w->nfree_reqs = reserve.nreqs;
	memset(&reserve, 0, sizeof(reserve));
}

/*
 * Run in the master before it forks workers (after a reload too): every
 * worker inherits what this leaves behind, instead of each doing it at
 * every recycle, with page faults on memory it shares with the master.
 */
void fw_worker_preboot(bool single_threaded)
{
	struct event_base *base = fw_worker_base_new();

	fw_memguard_preboot();
	if (base != NULL) {
		rehearse_events(base, single_threaded);
		event_base_free(base);
	}
	reserve_fill();
}
