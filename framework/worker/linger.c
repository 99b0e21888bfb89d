/*
 * Closing a connection after its last answer (no FCGI_KEEP_CONN, SCGI).
 *
 * A bare close() costs least (accept4, read, write, close: what uWSGI
 * does). It is safe once the peer's whole request has been read
 * (FastCGI's empty STDIN or its ABORT_REQUEST, SCGI's body to its
 * CONTENT_LENGTH): a well-formed peer then sends nothing more, so no byte
 * can arrive after the close and make the kernel reset the connection
 * under the answer. Over TCP a peer's empty write after our FIN sends
 * nothing and fails nothing, so that is where the close is bare, and for
 * SCGI on both transports (no SCGI client writes after its body).
 *
 * FastCGI over a unix socket is the exception. When one end is released,
 * Linux marks the other end shut down both ways (unix_release_sock), and
 * every later write there fails with EPIPE, an empty one included. The
 * npm fastcgi-client writes an empty buffer after each record it sends;
 * when that write comes after our close, Node drops the socket with the
 * answer unread (tests/e2e/test_clients.py). So there the write side is
 * shut down and the connection lingers until the peer's hang-up. nginx
 * without fastcgi_keep_conn waits for that end of file before it closes
 * (measured: a connection left open until the peer closes first costs
 * nginx a 5 ms stall per request), so the shutdown cannot wait either.
 * What it saves against a lingering read: a unix socket reports the
 * peer's close as a hang-up, so it is closed without reading it.
 *
 * nginx, the front end nearly every deployment runs, is known not to write
 * after a request: once its empty STDIN is sent, it only reads until our
 * end of file (or closes, when its client goes). It names itself in every
 * request (SERVER_SOFTWARE, from Debian's and upstream's fastcgi_params),
 * so a peer that does gets the bare close over a unix socket too: the
 * shutdown and the sweep's hang-up cost a tenth of the backend's CPU per
 * request there (bench/RESULTS.md, issue 19). Any other peer, or an nginx
 * whose config leaves SERVER_SOFTWARE out, keeps the shutdown. A peer that
 * claims to be nginx and writes after its request can lose only its own
 * answer.
 *
 * A connection whose request has not all arrived (a BEGIN_REQUEST
 * refused, an answer before the body) gets the classic lingering close on
 * both transports: write side shut down, input read and dropped until the
 * peer's end of file.
 *
 * Lingering connections are not watched by epoll: one poll() every
 * LINGER_SWEEP_MS looks at all of them, and only those with something to
 * report cost another call. LINGER_MS bounds it all.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "worker/worker.h"

#define LINGER_MS 2000
#define LINGER_SWEEP_MS 5 /* lingering connections are looked at this often */
#define LINGER_READS 16   /* reads of dropped input per connection and sweep */
#define LINGER_FIRST_CAP 64

static uint8_t drop_buf[16 * 1024];

/*
 * A draining worker (its replacement serves, or it drains alone) still
 * answers: its answers go out the way a serving worker's do, or the npm
 * client above loses the ones that end while a worker is recycled, which
 * is exactly what recycling must never cost. It stays bounded: LINGER_MS
 * per connection, within graceful_timeout, and a lingering connection is
 * one the drain waits for (nconns), so the drain still ends. A worker
 * that exits (STOPPING, ORPHANED: the whole server goes, or the master
 * is gone and it must be out within a second) closes bare: its answer is
 * out, and nothing is left to serve the next request of that peer.
 */
bool fw_conn_linger_needed(const struct fw_conn *c)
{
	if (c->state != FW_CONN_LAST || fw_worker_leaving(c->w))
		return false; /* the peer closed, or the worker goes: the answer is out */
	if (!c->input_done)
		return true;
	return !c->inet && c->proto == FW_PROTO_FASTCGI && !c->quiet_peer;
}

bool fw_linger_quiet_peer(const struct fw_nv *env, size_t n)
{
	static const char name[] = "SERVER_SOFTWARE", nginx[] = "nginx/";

	for (size_t i = 0; i < n; i++) {
		if (env[i].name_len == sizeof(name) - 1 &&
		    memcmp(env[i].name, name, sizeof(name) - 1) == 0)
			return env[i].value_len >= sizeof(nginx) - 1 &&
			       memcmp(env[i].value, nginx, sizeof(nginx) - 1) == 0;
	}
	return false;
}

static void linger_arm(struct fw_worker *w)
{
	struct timeval tv = {0, LINGER_SWEEP_MS * 1000};

	/* If the timer cannot be set, fw_conn_timeouts() closes them after LINGER_MS. */
	if (!evtimer_pending(&w->linger_ev, NULL) && evtimer_add(&w->linger_ev, &tv) != 0)
		fw_log(FW_LOG_ERROR, "evtimer_add: cannot sweep lingering connections");
}

/* Room for one more lingering connection; the arrays only grow, to the peak. */
static int linger_reserve(struct fw_worker *w)
{
	size_t cap = w->linger_cap ? w->linger_cap * 2 : LINGER_FIRST_CAP;
	struct pollfd *pfd;
	struct fw_conn **conns;

	if (w->nlingering < w->linger_cap)
		return 0;
	if ((pfd = realloc(w->linger_pfd, cap * sizeof(*pfd))) == NULL)
		return -1;
	w->linger_pfd = pfd;
	if ((conns = realloc(w->linger_conns, cap * sizeof(*conns))) == NULL)
		return -1;
	w->linger_conns = conns;
	w->linger_cap = cap;
	return 0;
}

int fw_conn_linger(struct fw_conn *c)
{
	struct fw_worker *w = c->w;
	size_t i = w->nlingering;

	if (linger_reserve(w) != 0) {
		fw_log(FW_LOG_ERROR, "out of memory for a lingering close; closing at once");
		return -1;
	}
	if (shutdown(c->fd, SHUT_WR) != 0) {
		if (errno != ENOTCONN) /* ENOTCONN: the peer is gone already */
			fw_log_errno(FW_LOG_WARN, "shutdown(fd %d)", c->fd);
		return -1;
	}
	w->linger_pfd[i] = (struct pollfd){.fd = c->fd, .events = POLLIN | POLLRDHUP};
	w->linger_conns[i] = c;
	c->linger_slot = i;
	w->nlingering++;
	c->state = FW_CONN_LINGERING;
	c->linger_since = fw_now_ms();
	linger_arm(w);
	return 0;
}

void fw_conn_linger_forget(struct fw_conn *c)
{
	struct fw_worker *w = c->w;
	size_t i = c->linger_slot, last = --w->nlingering;

	if (i != last) {
		w->linger_pfd[i] = w->linger_pfd[last];
		w->linger_conns[i] = w->linger_conns[last];
		w->linger_conns[i]->linger_slot = i;
	}
}

/* Read and drop what the peer sent: true at its end of file (or an error). */
static bool linger_drain(struct fw_conn *c)
{
	ssize_t n = 1;

	for (int i = 0; i < LINGER_READS && n > 0; i++)
		n = read(c->fd, drop_buf, sizeof(drop_buf));
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* One connection at a sweep; revents: what poll() said of it. May close it. */
static void linger_check(struct fw_conn *c, short revents, uint64_t now)
{
	/*
	 * A unix socket hangs up when the peer has closed (or both sides are
	 * shut down): with the request read whole, nothing it sends or reads
	 * can be hurt by our close, and nginx's close costs no read. Otherwise
	 * the rest of the input is read first: unread bytes at our close send
	 * a reset over TCP, and an ECONNRESET over a unix socket.
	 */
	if ((revents & (POLLERR | POLLNVAL)) || ((revents & POLLHUP) && !c->inet && c->input_done)) {
		fw_conn_close(c, NULL);
		return;
	}
	if ((revents & (POLLIN | POLLRDHUP | POLLHUP)) && linger_drain(c)) {
		fw_conn_close(c, NULL);
		return;
	}
	if (fw_elapsed_ms(now, c->linger_since) > LINGER_MS)
		fw_conn_close(c, NULL); /* the peer never closed its side */
}

static void on_linger_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct fw_worker *w = arg;
	uint64_t now = fw_now_ms();
	int n;

	FW_UNUSED(fd);
	FW_UNUSED(what);
	if (w->nlingering == 0)
		return;
	n = poll(w->linger_pfd, w->nlingering, 0);
	if (n < 0 && errno != EINTR)
		fw_log_errno(FW_LOG_ERROR, "poll(%zu lingering connections)", w->nlingering);
	/* Backwards: closing one moves the last (already looked at) into its place. */
	for (size_t i = w->nlingering; i-- > 0;)
		linger_check(w->linger_conns[i], n > 0 ? w->linger_pfd[i].revents : 0, now);
	if (w->nlingering > 0)
		linger_arm(w);
}

void fw_conn_linger_init(struct fw_worker *w)
{
	evtimer_assign(&w->linger_ev, w->base, on_linger_sweep, w);
}

bool fw_conn_linger_expired(const struct fw_conn *c, uint64_t now)
{
	return c->state == FW_CONN_LINGERING && fw_elapsed_ms(now, c->linger_since) > LINGER_MS;
}

bool fw_conn_lingering(const struct fw_conn *c)
{
	const struct fw_worker *w = c->w;

	return c->linger_slot < w->nlingering && w->linger_conns[c->linger_slot] == c;
}

void fw_conn_linger_free(struct fw_worker *w)
{
	free(w->linger_pfd);
	free(w->linger_conns);
	w->linger_pfd = NULL;
	w->linger_conns = NULL;
	w->linger_cap = 0;
}
