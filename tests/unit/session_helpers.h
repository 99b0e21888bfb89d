/*
 * A worker built without a process for unit tests of its sessions: one
 * connection is one end of a socketpair, records are fed to it as the
 * worker would read them, answers are read back from the other end.
 * Header-only: each test executable includes it once.
 */
#ifndef FW_TEST_SESSION_HELPERS_H
#define FW_TEST_SESSION_HELPERS_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"
#include "core/result.h"
#include "proto/fcgi.h"
#include "worker/session.h"
#include "worker/worker.h"

static struct fw_config cfg;
static struct fw_worker worker;
static struct fw_slot slot;

static inline void worker_init(int max_body_kb)
{
	struct fw_buf errors = FW_BUF_INIT;

	if (fw_config_load(&cfg, NULL, &errors) != 0 || (worker.base = event_base_new()) == NULL)
		abort();
	fw_buf_release(&errors);
	cfg.max_body_kb = max_body_kb;
	cfg.log_level = FW_LOG_WARN;
	worker.cfg = &cfg;
	worker.slot = &slot;
	worker.max_body = (size_t)max_body_kb * 1024;
	worker.access_fd = -1;
	worker.peer_in = worker.peer_out = -1;
	worker.accepting = true; /* as if listening: closing a connection resumes nothing */
	fw_current_worker = &worker;
	fw_conn_linger_init(&worker); /* closes after an answer linger */
}

struct peer {
	struct fw_conn *c;
	int fd; /* the front end's end */
	uint8_t in[1 << 20];
	size_t in_len;
};

static inline void peer_open(struct peer *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0)
		abort();
	p->c = fw_conn_open(&worker, sv[0], FW_PROTO_FASTCGI, false, true);
	if (p->c == NULL)
		abort();
	p->fd = sv[1];
	p->in_len = 0;
}

static inline void peer_close(struct peer *p)
{
	if (p->c != NULL)
		fw_conn_close(p->c, NULL);
	close(p->fd);
}

static inline bool never(const struct fw_conn *c)
{
	(void)c;
	return false;
}

/* Feed bytes as the worker would read them; FW_OK or FW_ERROR. */
static inline int feed(struct peer *p, const struct fw_buf *b)
{
	size_t used;
	int r = fw_fcgi_feed(p->c, (const uint8_t *)b->data, b->len, never, &used);

	if (r == FW_OK && used != b->len)
		check_fail(__FILE__, __LINE__, "fed %zu bytes, %zu used", b->len, used);
	return r;
}

static inline void record(struct fw_buf *b, uint8_t type, uint16_t id, const void *data, size_t len)
{
	uint8_t h[FCGI_HEADER_LEN];

	fw_fcgi_header(h, type, id, (uint16_t)len, 0);
	fw_buf_append(b, h, sizeof(h));
	if (len > 0)
		fw_buf_append(b, data, len);
}

static inline void begin(struct fw_buf *b, uint16_t id, bool keep)
{
	uint8_t body[8] = {0, FCGI_RESPONDER, keep ? FCGI_KEEP_CONN : 0};

	record(b, FCGI_BEGIN_REQUEST, id, body, sizeof(body));
}

/* PARAMS of a request for method + path (cl: CONTENT_LENGTH, NULL for none), and its end. */
static inline void params(struct fw_buf *b, uint16_t id, const char *method, const char *path,
			  const char *cl)
{
	struct fw_buf nv = FW_BUF_INIT;

	fw_fcgi_nv_put(&nv, "REQUEST_METHOD", 14, method, strlen(method));
	fw_fcgi_nv_put(&nv, "DOCUMENT_URI", 12, path, strlen(path));
	if (cl != NULL)
		fw_fcgi_nv_put(&nv, "CONTENT_LENGTH", 14, cl, strlen(cl));
	record(b, FCGI_PARAMS, id, nv.data, nv.len);
	record(b, FCGI_PARAMS, id, NULL, 0);
	fw_buf_release(&nv);
}

static inline void stdin_bytes(struct fw_buf *b, uint16_t id, size_t n, char fill)
{
	char chunk[4096];

	memset(chunk, fill, sizeof(chunk));
	while (n > 0) {
		size_t k = n < sizeof(chunk) ? n : sizeof(chunk);

		record(b, FCGI_STDIN, id, chunk, k);
		n -= k;
	}
}

/* An answer read back: its id, the CGI status, the body, END_REQUEST's protocol status. */
struct answer {
	uint16_t id;
	int status;
	char body[8192];
	size_t body_len;
	int protocol_status; /* -1: no END_REQUEST */
};

static inline void drain(struct peer *p)
{
	ssize_t n;

	while ((n = read(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len)) > 0)
		p->in_len += (size_t)n;
}

/* The next whole answer (records up to END_REQUEST); false when there is none. */
static inline bool next_answer(struct peer *p, struct answer *a)
{
	struct fw_buf out = FW_BUF_INIT;
	size_t pos = 0;
	bool done = false;

	drain(p);
	memset(a, 0, sizeof(*a));
	a->protocol_status = -1;
	while (!done && pos + FCGI_HEADER_LEN <= p->in_len) {
		const uint8_t *h = p->in + pos;
		size_t clen = (size_t)(h[4] << 8 | h[5]), plen = h[6];
		const uint8_t *content = h + FCGI_HEADER_LEN;

		if (pos + FCGI_HEADER_LEN + clen + plen > p->in_len)
			break;
		a->id = (uint16_t)(h[2] << 8 | h[3]);
		if (h[1] == FCGI_STDOUT)
			fw_buf_append(&out, content, clen);
		else if (h[1] == FCGI_END_REQUEST)
			a->protocol_status = content[4], done = true;
		pos += FCGI_HEADER_LEN + clen + plen;
	}
	if (done) {
		const char *sep = out.len > 0 ? strstr(out.data, "\r\n\r\n") : NULL;

		a->status = sep != NULL && strncmp(out.data, "Status: ", 8) == 0 ? atoi(out.data + 8)
										 : 0;
		if (sep != NULL) {
			a->body_len = out.len - (size_t)(sep + 4 - out.data);
			memcpy(a->body, sep + 4, a->body_len < sizeof(a->body) ? a->body_len : 0);
		}
		memmove(p->in, p->in + pos, p->in_len - pos);
		p->in_len -= pos;
	}
	fw_buf_release(&out);
	return done;
}

/* The next answer is for id, with status and (unless NULL) body, and complete. */
static inline void expect_answer(struct peer *p, uint16_t id, int status, const char *body, int line)
{
	struct answer a;

	if (!check_true(__FILE__, line, next_answer(p, &a), "an answer"))
		return;
	check_eq_uint(__FILE__, line, a.id, id, "id", "want");
	check_eq_int(__FILE__, line, a.status, status, "status", "want");
	check_eq_int(__FILE__, line, a.protocol_status, FCGI_REQUEST_COMPLETE, "protocol status",
		     "FCGI_REQUEST_COMPLETE");
	if (body != NULL)
		check_true(__FILE__, line,
			   a.body_len == strlen(body) && memcmp(a.body, body, a.body_len) == 0, body);
}

#define EXPECT_ANSWER(p, id, status, body) expect_answer(p, id, status, body, __LINE__)

/* Free what the worker kept, for the leak check. */
static inline void worker_finish(void)
{
	fw_conn_free_all(&worker);
	while (worker.free_reqs != NULL) {
		fw_req *r = worker.free_reqs;

		worker.free_reqs = r->next_free;
		fw_req_destroy(r);
	}
	fw_buf_release(&worker.scratch);
	event_del(&worker.linger_ev);
	event_base_free(worker.base);
}

#endif
