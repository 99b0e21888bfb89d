/*
 * stream: responses sent while they are produced, a request body read as
 * it arrives, and blocking work run off the event loop. The tests and
 * bench/stream.py drive these four routes through nginx (conf/nginx.conf):
 *
 *   GET  /stream/events?n=N&ms=M  N server-sent events ("data: <i>"), M ms apart
 *   GET  /stream/bytes?mb=N       N MiB, the byte at offset i being i % 251,
 *                                 produced piece by piece as the client reads
 *   POST /stream/sha256           "<bytes> <sha256 hex>" of the body, hashed as
 *                                 it arrives (nettle), never held whole
 *   GET  /stream/offload?ms=M     sleeps M ms on the offload pool, then "slept M"
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <fw.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIECE (128 * 1024) /* bytes written per turn of /stream/bytes */
#define MAX_MB (64 * 1024)

/* A number from the query string within [0, max], or -1. */
static long query_num(fw_req *req, const char *name, long def, long max)
{
	const char *q = fw_query(req, name);
	char *end;
	long v;

	if (q == NULL)
		return def;
	errno = 0;
	v = strtol(q, &end, 10);
	return errno != 0 || end == q || *end != '\0' || v < 0 || v > max ? -1 : v;
}

/* ---- GET /stream/events: server-sent events, each flushed as it is written ---- */

struct events {
	struct event timer; /* in request memory: nothing to free */
	fw_req *req;
	long n, i, ms;
};

static void events_next(evutil_socket_t fd, short what, void *arg)
{
	struct events *e = arg;
	struct timeval tv = {e->ms / 1000, (e->ms % 1000) * 1000};

	(void)fd;
	(void)what;
	fw_printf(e->req, "data: %ld\n\n", e->i++);
	if (e->i == e->n) {
		fw_finish(e->req, 200); /* sends the last event and ends the stream */
		return;
	}
	/* -1: the client is gone; the cancel callback stops the timer. */
	if (fw_flush(e->req) == 0)
		evtimer_add(&e->timer, &tv);
}

static void events_cancel(fw_req *req, void *arg)
{
	struct events *e = arg;

	(void)req;
	evtimer_del(&e->timer);
}

static int events(fw_req *req, void *arg)
{
	struct events *e = fw_alloc(req, sizeof(*e));

	(void)arg;
	if (e == NULL)
		return 500;
	e->req = req;
	e->i = 0;
	if ((e->n = query_num(req, "n", 5, 1000000)) < 0 ||
	    (e->ms = query_num(req, "ms", 1000, 3600 * 1000)) < 0)
		return fw_error(req, 400, "n and ms are whole numbers");
	fw_set_header(req, "Content-Type", "text/event-stream");
	fw_set_header(req, "Cache-Control", "no-cache");
	if (e->n == 0)
		return 200;
	evtimer_assign(&e->timer, fw_event_base(), events_next, e);
	fw_on_cancel(req, events_cancel, e);
	events_next(-1, 0, e); /* the first one at once: the head goes with it */
	return FW_ASYNC;
}

/* ---- GET /stream/bytes: a body of any size, paced by the client ---- */

/* 251 is prime: a piece starting anywhere in the pattern is one copy. */
static uint8_t pattern[PIECE + 251];

struct bytes {
	uint64_t off, total;
};

static void bytes_more(fw_req *req, void *arg)
{
	struct bytes *b = arg;
	size_t n = b->total - b->off < PIECE ? (size_t)(b->total - b->off) : PIECE;

	if (fw_write(req, pattern + b->off % 251, n) != 0) {
		fw_finish(req, 500); /* cuts the stream off: the client sees it broken */
		return;
	}
	b->off += n;
	if (b->off == b->total) {
		fw_finish(req, 200);
		return;
	}
	/*
	 * Only when the connection has room again: the worker holds ~PIECE +
	 * 256 KiB. -1: the client is gone, and nothing would call this again
	 * (no cancel callback here): end the request now, or it stays
	 * orphaned.
	 */
	if (fw_flush(req) != 0 || fw_on_writable(req, bytes_more, b) != 0)
		fw_finish(req, 500);
}

static int bytes(fw_req *req, void *arg)
{
	struct bytes *b = fw_alloc(req, sizeof(*b));
	long mb = query_num(req, "mb", 1, MAX_MB);
	char len[24];

	(void)arg;
	if (b == NULL)
		return 500;
	if (mb < 0)
		return fw_error(req, 400, "mb is a whole number of MiB up to %d", MAX_MB);
	b->off = 0;
	b->total = (uint64_t)mb << 20;
	fw_set_header(req, "Content-Type", "application/octet-stream");
	/* A known length goes out (for progress bars); fw holds the stream to it. */
	snprintf(len, sizeof(len), "%llu", (unsigned long long)b->total);
	fw_set_header(req, "Content-Length", len);
	if (b->total == 0)
		return 200;
	if (fw_flush(req) != 0 || fw_on_writable(req, bytes_more, b) != 0)
		return 500;
	return FW_ASYNC;
}

/* ---- POST /stream/sha256: the body hashed as it arrives ---- */

struct hash {
	struct sha256_ctx ctx;
	unsigned long long bytes;
};

static int hash_chunk(fw_req *req, const void *data, size_t len, void *arg)
{
	struct hash *h = arg;

	(void)req;
	sha256_update(&h->ctx, len, data);
	h->bytes += len;
	return 0;
}

static int hash_end(fw_req *req, void *arg)
{
	struct hash *h = arg;
	uint8_t digest[SHA256_DIGEST_SIZE];

	sha256_digest(&h->ctx, sizeof(digest), digest);
	fw_set_header(req, "Content-Type", "text/plain");
	fw_printf(req, "%llu ", h->bytes);
	for (size_t i = 0; i < sizeof(digest); i++)
		fw_printf(req, "%02x", digest[i]);
	fw_write(req, "\n", 1);
	return 200;
}

static int sha256(fw_req *req, void *arg)
{
	struct hash *h = fw_alloc(req, sizeof(*h));

	(void)arg;
	if (h == NULL)
		return 500;
	sha256_init(&h->ctx);
	h->bytes = 0;
	if (fw_on_body(req, hash_chunk, hash_end, h) != 0)
		return 500;
	return FW_ASYNC;
}

/* ---- GET /stream/offload: a blocking call on the offload pool ---- */

struct nap {
	long ms, slept;
};

/* On a pool thread: blocks, in slices, and stops early once its request is cancelled. */
static void nap_work(void *arg)
{
	struct nap *n = arg;
	struct timespec slice = {0, 10 * 1000 * 1000};

	for (n->slept = 0; n->slept < n->ms; n->slept += 10) {
		if (fw_offload_cancelled()) {
			fw_log(FW_LOG_INFO,
			       "offload: request cancelled; sleep stopped after %ld of %ld ms", n->slept,
			       n->ms);
			return;
		}
		if (n->ms - n->slept < 10)
			slice.tv_nsec = (n->ms - n->slept) * 1000 * 1000;
		nanosleep(&slice, NULL);
	}
}

/* Back on the event loop. */
static void nap_done(fw_req *req, void *arg)
{
	struct nap *n = arg;

	if (fw_cancelled(req)) {
		fw_log(FW_LOG_INFO, "offload: done for a cancelled request (%ld of %ld ms slept)",
		       n->slept, n->ms);
		return; /* n is request memory: it goes with the request, after this */
	}
	fw_set_header(req, "Content-Type", "text/plain");
	fw_printf(req, "slept %ld\n", n->ms);
	fw_finish(req, 200);
}

static int offload(fw_req *req, void *arg)
{
	struct nap *n = fw_alloc(req, sizeof(*n));

	(void)arg;
	if (n == NULL)
		return 500;
	if ((n->ms = query_num(req, "ms", 100, 3600 * 1000)) < 0)
		return fw_error(req, 400, "ms is a whole number");
	n->slept = 0;
	if (fw_offload(req, nap_work, nap_done, n) != 0)
		return 503;
	return FW_ASYNC;
}

int main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i % 251);
	if (fw_route("GET", "/stream/events", events, NULL) != 0 ||
	    fw_route("GET", "/stream/bytes", bytes, NULL) != 0 ||
	    fw_route_stream("POST", "/stream/sha256", sha256, NULL) != 0 ||
	    fw_route("GET", "/stream/offload", offload, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
