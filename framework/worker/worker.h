/*
 * A worker process: one libevent loop serving many connections.
 *
 * Files: worker.c (boot, loop, signals, channel, stop), listener.c
 * (accept), conn.c (a connection's I/O and FastCGI records), request.c
 * (route, run the handler, build the response). Everything here runs in
 * the worker after fork; nothing is shared with the master except the
 * scoreboard slot and the channel.
 */
#ifndef FW_WORKER_WORKER_H
#define FW_WORKER_WORKER_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "core/buf.h"
#include "ipc/boot.h"
#include "http/req.h"
#include "ipc/scoreboard.h"
#include "proto/fcgi.h"
#include "proto/scgi.h"
#include "worker/memguard.h"
#include "worker/threads.h"

struct fw_worker;

/* A listening socket as a worker sees it. */
struct fw_worker_listener {
	int fd;
	enum fw_proto proto;
	bool inet;   /* TCP: allowed_clients applies */
	bool status; /* status_listen: the status page only */
	struct event ev;
	struct fw_worker *w;
};

struct fw_conn;

struct fw_worker {
	const struct fw_config *cfg;
	struct event_base *base;
	struct fw_slot *slot;
	struct fw_scoreboard *sb;
	int slot_index;
	struct fw_worker_listener listen[FW_MAX_LISTENERS];
	int nlisten;
	int chan_fd;
	pid_t master_pid;
	/* The handler running now, as the FW_SIG_STUCK handler sees it (stuck.c); since last set. */
	struct {
		struct fw_conn *c;
		fw_req *req;
		volatile uint64_t since;
	} running;

	struct event accept_pause_ev; /* re-enables accept after EMFILE */
	struct event chan_ev;
	struct event heartbeat_ev;
	struct event stop_ev; /* graceful_timeout while stopping */
	struct event sig_term, sig_int, sig_quit;
	bool events_started;
	bool accepting;
	enum fw_worker_mode mode;      /* ipc/recycle.h; also in its slot */
	int peer_out;                  /* retiring: socket to the replacement, or -1 (then the master) */
	int peer_in;                   /* socket from the worker this one replaces, or -1 */
	struct event peer_ev;          /* watches peer_in */
	struct event handoff_ev;       /* sends marked connections; retries a full channel */
	struct event drain_ev;         /* settles connections after fw_worker_drain() */
	struct event linger_ev;        /* sweeps lingering connections (linger.c) */
	size_t nlingering;             /* connections lingering, unwatched */
	struct pollfd *linger_pfd;     /* theirs, for poll(), [0, nlingering) */
	struct fw_conn **linger_conns; /* the same order */
	size_t linger_cap;
	struct fw_conn *reading_now; /* fw_conn_read_now()'s connection */
	bool reading_now_closed;     /* ... and it was closed meanwhile */

	/* Recycling. */
	uint64_t retire_after;               /* max_requests + jitter, 0 = never */
	enum fw_retire_reason retire_reason; /* asked for, NONE before */
	uint64_t retire_figure;
	bool retire_sent; /* the master has the request */
	struct fw_memguard mem;
	uint64_t last_timeout_scan_ms;
	uint64_t mem_sampled_ms; /* the last sample of the memory history */

	struct fw_conn *conns; /* doubly linked, all open connections */
	size_t nconns;
	struct fw_conn *free_conns;
	size_t nfree_conns;
	fw_req *free_reqs;
	size_t nfree_reqs;
	size_t in_flight;      /* requests in handlers or deferred */
	uint64_t requests;     /* answered */
	uint64_t app_requests; /* ... of them, the app's (not the status page): what max_requests counts */
	size_t max_body;

	/* Responses are built here and written at once; a connection gets
	 * its own output buffer only when the socket would not take it all. */
	struct fw_buf scratch;

	struct fw_threads threads; /* fw_offload()'s pool (threads.h), started lazily */

	int access_fd; /* -1: no access log */

	long pid;                  /* getpid(), once: the access log writes it per line */
	struct fw_buf access_line; /* one line, reused */
};

struct fw_conn {
	struct fw_worker *w;
	struct fw_conn *prev, *next;
	int fd;
	enum fw_proto proto;
	struct event rev;
	struct event wev;
	struct event stream_ev; /* back to this connection from the loop (stream.c) */
	union {
		struct fw_fcgi_parser fcgi;
		struct fw_scgi_parser scgi;
	} p;               /* the protocol's parser state */
	struct fw_buf out; /* output the socket has not taken yet, from out_off */
	size_t out_off;
	struct fw_buf held; /* input not parsed while output is backed up */
	struct fw_buf mgmt; /* a GET_VALUES record being collected */
	fw_req *req;        /* the request on this connection, if any */
	uint16_t cur_id;    /* id of the last BEGIN_REQUEST */
	bool input_open;    /* its STDIN has not ended yet (also after an early answer) */
	bool input_done;    /* the last request's input was read to its end (linger.c) */
	bool quiet_peer;    /* FastCGI: the peer writes nothing after its request (linger.c) */
	bool inet;          /* accepted on a TCP listener (unknown, so false, when handed over) */
	bool params_done;
	bool reading;             /* rev is added */
	bool writing;             /* wev is added */
	bool keepalive;           /* the last request asked to keep the connection */
	enum fw_conn_state state; /* its life (ipc/recycle.h); whether the worker stops is the worker's */
	uint64_t linger_since;
	size_t linger_slot;  /* LINGERING: its place in the worker's linger arrays */
	bool visit;          /* walks that may close other connections */
	bool status_only;    /* accepted on status_listen */
	uint64_t recv_since; /* receiving a request since (ms; from accept for a new one); 0 when not */
	uint64_t active_ms;  /* bytes last read or written (or opened): idle_timeout counts from it */
	uint64_t send_ms;    /* unsent output last shrank (or began): send_timeout counts from it */
};

/* Not accepting any more: draining (alone or told to), stopping, or orphaned. */
static inline bool fw_worker_stopping(const struct fw_worker *w)
{
	return w->mode >= FW_WORKER_DRAINING_ALONE;
}

/* Handing idle connections over (to the replacement, or the master) rather than closing them. */
static inline bool fw_worker_draining(const struct fw_worker *w)
{
	return w->mode == FW_WORKER_DRAINING_ALONE || w->mode == FW_WORKER_DRAINING;
}

/* Stopping for good (STOPPING, ORPHANED): no replacement takes over from it. */
static inline bool fw_worker_leaving(const struct fw_worker *w)
{
	return fw_worker_stopping(w) && !fw_worker_draining(w);
}

/* I/O or protocol error: close at the next safe point (fw_conn_settle). */
static inline void fw_conn_break(struct fw_conn *c)
{
	c->state = FW_CONN_BROKEN;
}

static inline bool fw_conn_broken(const struct fw_conn *c)
{
	return c->state == FW_CONN_BROKEN;
}

/* Its last request is in (no keep-alive, SCGI's one, a refused BEGIN): close once answered. */
static inline void fw_conn_last(struct fw_conn *c)
{
	if (c->state == FW_CONN_ACTIVE)
		c->state = FW_CONN_LAST;
}

/* No request is read after the one in progress: closing once the output is sent. */
static inline bool fw_conn_ending(const struct fw_conn *c)
{
	return c->state == FW_CONN_LAST || c->state == FW_CONN_PEER_GONE;
}

/* worker.c */
int fw_worker_main(const struct fw_worker_boot *boot); /* returns the exit status */
/* The worker's event base: one thread, no locks, libevent's variables ignored. */
struct event_base *fw_worker_base_new(void);

/* preboot.c */
/*
 * In the master, before it forks (once, and again after a reload): what
 * every worker's boot would otherwise do alone, at every recycle. It
 * installs the allocator hooks of the memory checks, rehearses what a
 * worker's event loop allocates as it starts (tables per descriptor and,
 * when the master has no other thread to take a signal meanwhile, per
 * signal), and fills a reserve of connections and requests (with their
 * first pool block and buffers) that each worker starts with on its free
 * lists. A worker takes about 34 fewer page faults (90 -> 56 under
 * bench/recycle.py's load, bench/RESULTS.md).
 */
void fw_worker_preboot(bool single_threaded);
/* In the worker, at its start: its copy of that reserve becomes its own. */
void fw_worker_reserve_take(struct fw_worker *w);
void fw_worker_check_stopped(struct fw_worker *w);
/*
 * Stop accepting and hand every connection over once idle (retiring).
 * acked: the master asked (DRAIN); otherwise the worker waits for its
 * DRAIN before it exits, so that no connection is left in its channel.
 */
void fw_worker_drain(struct fw_worker *w, bool acked);

/* retire.c */
void fw_retire_init(struct fw_worker *w);
/* After each answered request: ask the master for a replacement when due. */
void fw_retire_check(struct fw_worker *w);
/* Heartbeat: memory figures, deferred requests past `timeout`. */
void fw_retire_tick(struct fw_worker *w);

/* stuck.c: a handler stuck past `timeout` is answered 504 from a signal handler. */
int fw_stuck_init(void);
/* Around a handler call: the request the master may ask about (since: as in the slot). */
void fw_stuck_begin(struct fw_worker *w, struct fw_conn *c, fw_req *req, uint64_t since);
void fw_stuck_end(struct fw_worker *w);
/*
 * c closes, or req is recycled, while a callback still runs (fw_finish in
 * it): if it is the one recorded, forget it, so that the signal does not
 * answer on a freed or finished one. Either may be NULL.
 */
void fw_stuck_forget(struct fw_worker *w, const struct fw_conn *c, const fw_req *req);

/* accesslog.c */
int fw_access_open(struct fw_worker *w);
void fw_access_reopen(struct fw_worker *w);
void fw_access_log(struct fw_worker *w, fw_req *req, int status, size_t bytes, uint64_t us);

/* listener.c */
void fw_listener_start(struct fw_worker *w);
void fw_listener_stop(struct fw_worker *w);
void fw_listener_conn_closed(struct fw_worker *w);
/* A connection was added (accepted or handed over): pause at max_conns. */
void fw_listener_conn_opened(struct fw_worker *w);

/* conn.c */
/*
 * watch: add its read event now; false when fw_conn_read_now() follows.
 * fresh: no request has been read on it yet (accepted, not handed over
 * between requests): request_timeout counts from now.
 */
struct fw_conn *fw_conn_open(struct fw_worker *w, int fd, enum fw_proto proto, bool watch, bool fresh);
void fw_conn_close(struct fw_conn *c, const char *why);
/* Close every connection; _free_all also frees the ones kept for reuse. */
void fw_conn_close_all(struct fw_worker *w);
void fw_conn_free_all(struct fw_worker *w);
/*
 * Call fn once for every connection open now. fn returns true when it may
 * have closed connections (c included); false promises c is still there.
 */
void fw_conn_for_each(struct fw_worker *w, bool (*fn)(struct fw_conn *c, void *arg), void *arg);
/* Output for this connection goes into the returned buffer; then fw_conn_send(). */
struct fw_buf *fw_conn_outbuf(struct fw_conn *c);
void fw_conn_send(struct fw_conn *c);
bool fw_conn_idle(const struct fw_conn *c);
/* A safe point: close c if it broke or finished (do not use c afterwards). */
void fw_conn_settle(struct fw_conn *c);
/* Feed the input held while the output was backed up or the body paused, then read again. */
void fw_conn_resume(struct fw_conn *c);

/*
 * Read a connection just accepted (opened without watch) without waiting
 * for epoll to report it: nginx writes its request right after connect(),
 * so it is usually there, and one epoll_wait per connection is saved. It
 * is added to epoll only if it still has to be read: a request answered
 * at once without keep-alive never is. May close the connection.
 */
void fw_conn_read_now(struct fw_conn *c);

/* linger.c: closing after the last answer */
/* The lingering-close sweep's timer, set up with the other events. */
void fw_conn_linger_init(struct fw_worker *w);
/* c answered its last request and is idle: may a bare close hurt its peer? */
bool fw_conn_linger_needed(const struct fw_conn *c);
/* A FastCGI request's params (env, n): is its peer one known to write nothing after it? */
bool fw_linger_quiet_peer(const struct fw_nv *env, size_t n);
/* Linger instead (c unwatched by epoll first): 0, or -1 (close it now). */
int fw_conn_linger(struct fw_conn *c);
/* Is c in the sweep's arrays (whatever its state has become since)? */
bool fw_conn_lingering(const struct fw_conn *c);
/* c closes while in them: out of the sweep's arrays. */
void fw_conn_linger_forget(struct fw_conn *c);
/* Has c been waiting for its peer's close for too long? */
bool fw_conn_linger_expired(const struct fw_conn *c, uint64_t now);
void fw_conn_linger_free(struct fw_worker *w);
/* Output the socket has not taken yet. */
size_t fw_conn_unsent(const struct fw_conn *c);

/* conn_timeout.c: once a second, close connections past request_timeout, send_timeout, idle_timeout. */
void fw_conn_timeouts(struct fw_worker *w, uint64_t now);
/* Send the connections marked for handoff, many per message. */
void fw_conn_send_handoffs(struct fw_worker *w);

/* request.c */
fw_req *fw_request_get(struct fw_worker *w);
/* The request is over: back to the free list (or parked while offloaded work may use it). */
void fw_request_put(struct fw_worker *w, fw_req *req);
/* Params counted, not yet indexed: FW_OK, or FW_DONE when answered 431 (over max_params). */
int fw_request_params_count(struct fw_conn *c, fw_req *req, size_t count);
/* Params complete: check them. FW_OK, or FW_DONE when already answered (4xx). */
int fw_request_params(struct fw_conn *c, fw_req *req);
/* Body complete: route and run the handler. */
void fw_request_run(struct fw_conn *c, fw_req *req);
/* Answer without running a handler (400, 413, ...). */
void fw_request_reject(struct fw_conn *c, fw_req *req, int status);
/* The connection is going away: cancel its request. */
void fw_request_abandon(struct fw_conn *c, fw_req *req);
/* A deferred request ran past `timeout`: cancel it and answer 504. */
void fw_request_time_out(struct fw_conn *c, fw_req *req);
/*
 * Cancel a deferred request and answer `status` for it with a stand-in
 * (504, a streamed body's 413), or cut its stream off when its head was
 * sent.
 */
void fw_request_fail(struct fw_conn *c, fw_req *req, int status);
/* A handler's (or body callback's) return: a status answers now, FW_ASYNC defers. */
void fw_request_returned(struct fw_conn *c, fw_req *req, int status);
/*
 * Around application code the loop runs for a request (handlers and every
 * callback): the master sees it running since now, and a stuck one is
 * answered as a stuck handler is (stuck.c). c may be NULL (an offload's
 * done for a request that has lost its connection).
 */
void fw_request_app_begin(struct fw_worker *w, struct fw_conn *c, fw_req *req);
void fw_request_app_end(struct fw_worker *w);

/* stream.c: streamed responses */
void fw_stream_event(evutil_socket_t fd, short what, void *arg); /* c->stream_ev */
/* Output was written: a writable callback may be due. */
void fw_stream_drained(struct fw_conn *c);
/* The end of a streamed response (or its cut-off); returns the status that was sent. */
int fw_stream_finish(struct fw_conn *c, fw_req *req, int status);
/* Cut a streamed response off (logged at level) so that the front end sees it broken. */
void fw_stream_cut(struct fw_conn *c, fw_req *req, enum fw_log_level level, const char *why);
/* c closes now with a stream under way: tell the front end, if that can be done at once. */
void fw_stream_closing(struct fw_conn *c);
/* Its request left c (c->req is NULL now): come back to input the request had paused. */
void fw_stream_left(struct fw_conn *c);

/* body.c: streamed request bodies */
int fw_body_chunk(struct fw_conn *c, fw_req *req, const uint8_t *data, size_t len);
void fw_body_end(struct fw_conn *c, fw_req *req);
/* Its handler paused the body: hold the input, and request_timeout does not run. */
bool fw_body_paused(const struct fw_conn *c);

/* offload.c */
void fw_offload_park(fw_req *req);
void fw_offload_complete(struct fw_job *job);

/* worker.c: free heap back to the OS, after a big answer. */
void fw_worker_heap_release(struct fw_worker *w);

extern struct fw_worker *fw_current_worker;

#endif
