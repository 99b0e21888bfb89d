/*
 * A PostgreSQL server just good enough for libpq, on a unix socket, in
 * a thread of the test: it trusts every startup, answers every query of
 * the extended protocol with an empty success, and counts what it sees
 * (Syncs, Terminates, cancel requests), so that tests of framework/pg
 * can check what reaches a server without one installed. It can hold its
 * answers to Syncs (a query that runs long), keep a cancel request's
 * connection open (a server slow to answer it), and stop reading (a
 * server busy elsewhere: what is sent stays in the socket). Messages are skipped as
 * they stream in, whatever their size.
 * Header-only: each test executable includes it once.
 */
#ifndef FW_TEST_PG_FAKE_H
#define FW_TEST_PG_FAKE_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FAKE_MAX_CLIENTS 16
#define FAKE_PROTOCOL_3 196608
#define FAKE_CANCEL_CODE 80877102

struct fake_client {
	int fd;
	bool startup; /* the startup packet (or a cancel request) comes next */
	uint8_t hdr[8];
	size_t hlen;
	size_t skip; /* what is left of the current message's body */
	int type;    /* the current message: its type byte, 'c' a cancel request, 's' a startup */
	int held;    /* Syncs not answered yet (hold) */
	uint8_t out[4096];
	size_t olen;
	bool cancel; /* a cancel request's connection, kept open (hold_cancel) */
};

struct fake_pg {
	char dir[64]; /* libpq's host= */
	int port;
	int lfd, wake[2];
	pthread_t thread;
	pthread_mutex_t lock;
	/* Under lock: what the tests set, and what the server saw. */
	bool hold, hold_cancel, quit;
	bool deaf; /* reads nothing: what clients send stays in the sockets */
	int syncs, terminates, cancels, startups;
	struct fake_client cl[FAKE_MAX_CLIENTS];
};

static inline void fake_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t fake_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * One message to the client: type, the length, body[0..len). Queued as a
 * server queues its answers, which go out at a Sync (fake_flush): before
 * it, a client that has not sent its Sync hears nothing.
 */
static inline void fake_send(struct fake_client *c, char type, const void *body, size_t len)
{
	if (c->olen + len + 5 > sizeof(c->out))
		abort();
	c->out[c->olen] = (uint8_t)type;
	fake_put32(c->out + c->olen + 1, (uint32_t)(len + 4));
	if (len > 0)
		memcpy(c->out + c->olen + 5, body, len);
	c->olen += len + 5;
}

static inline void fake_flush(struct fake_client *c)
{
	if (c->olen > 0 && write(c->fd, c->out, c->olen) != (ssize_t)c->olen)
		perror("fake pg: write");
	c->olen = 0;
}

static inline void fake_close(struct fake_client *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Under lock: a whole message came in. */
static inline void fake_message(struct fake_pg *f, struct fake_client *c)
{
	static const uint8_t zero[4], key[8] = {0, 0, 0, 42, 0, 0, 0, 7};

	switch (c->type) {
	case 's':
		f->startups++;
		fake_send(c, 'R', zero, 4); /* AuthenticationOk */
		fake_send(c, 'K', key, 8);
		fake_send(c, 'Z', "I", 1);
		fake_flush(c);
		return;
	case 'c':
		f->cancels++;
		if (f->hold_cancel)
			c->cancel = true;
		else
			fake_close(c);
		return;
	case 'P':
		fake_send(c, '1', NULL, 0);
		return;
	case 'B':
		fake_send(c, '2', NULL, 0);
		return;
	case 'D':
		fake_send(c, 'n', NULL, 0);
		return;
	case 'E':
		fake_send(c, 'C', "SELECT 0", 9);
		return;
	case 'S':
		f->syncs++;
		fake_send(c, 'Z', "I", 1);
		if (f->hold)
			c->held++;
		else
			fake_flush(c);
		return;
	case 'X':
		f->terminates++;
		fake_close(c);
		return;
	default:
		return;
	}
}

/* Under lock: the header of the next message is complete. */
static inline void fake_header(struct fake_pg *f, struct fake_client *c)
{
	uint32_t len;

	if (c->startup) {
		uint32_t code = fake_get32(c->hdr + 4);

		len = fake_get32(c->hdr);
		c->type = code == FAKE_CANCEL_CODE ? 'c' : 's';
		c->startup = code != FAKE_PROTOCOL_3 && code != FAKE_CANCEL_CODE;
		if (c->startup) /* SSL or GSS encryption asked: "N", then the real startup */
			c->type = 0;
		c->skip = len >= 8 ? len - 8 : 0;
		if (c->startup && write(c->fd, "N", 1) != 1)
			perror("fake pg: write");
	} else {
		c->type = c->hdr[0];
		len = fake_get32(c->hdr + 1);
		c->skip = len >= 4 ? len - 4 : 0;
	}
	if (c->skip == 0)
		fake_message(f, c);
}

/* Under lock: bytes from a client, streamed through its messages. */
static inline void fake_bytes(struct fake_pg *f, struct fake_client *c, const uint8_t *p, size_t n)
{
	while (n > 0 && c->fd >= 0) {
		if (c->skip > 0) {
			size_t k = c->skip < n ? c->skip : n;

			c->skip -= k;
			p += k;
			n -= k;
			if (c->skip == 0)
				fake_message(f, c);
			continue;
		}
		c->hdr[c->hlen++] = *p++;
		n--;
		if (c->hlen == (c->startup ? 8u : 5u)) {
			c->hlen = 0;
			fake_header(f, c);
		}
	}
}

/* Under lock: what the tests released since the last turn. */
static inline void fake_release(struct fake_pg *f)
{
	for (int i = 0; i < FAKE_MAX_CLIENTS; i++) {
		struct fake_client *c = &f->cl[i];

		if (c->fd >= 0 && !f->hold && c->held > 0) {
			c->held = 0;
			fake_flush(c);
		}
		if (c->fd >= 0 && c->cancel && !f->hold_cancel)
			fake_close(c);
	}
}

static inline void fake_accept(struct fake_pg *f)
{
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return;
	for (int i = 0; i < FAKE_MAX_CLIENTS; i++)
		if (f->cl[i].fd < 0) {
			f->cl[i] = (struct fake_client){.fd = fd, .startup = true};
			return;
		}
	close(fd);
}

static inline void *fake_main(void *arg)
{
	struct fake_pg *f = arg;
	static uint8_t buf[1 << 16];
	sigset_t all;

	/* Not a thread of the code under test: none of the signals that tests look for land here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	for (;;) {
		struct pollfd pfd[FAKE_MAX_CLIENTS + 2] = {{f->lfd, POLLIN, 0}, {f->wake[0], POLLIN, 0}};

		pthread_mutex_lock(&f->lock);
		for (int i = 0; i < FAKE_MAX_CLIENTS; i++)
			pfd[i + 2] = (struct pollfd){f->deaf ? -1 : f->cl[i].fd, POLLIN, 0};
		pthread_mutex_unlock(&f->lock);
		if (poll(pfd, FAKE_MAX_CLIENTS + 2, -1) < 0)
			continue;
		pthread_mutex_lock(&f->lock);
		if (f->quit) {
			pthread_mutex_unlock(&f->lock);
			return NULL;
		}
		if (pfd[1].revents && read(f->wake[0], buf, sizeof(buf)) < 0)
			perror("fake pg: read");
		fake_release(f);
		if (pfd[0].revents)
			fake_accept(f);
		for (int i = 0; i < FAKE_MAX_CLIENTS; i++) {
			ssize_t n;

			if (pfd[i + 2].revents == 0 || f->cl[i].fd != pfd[i + 2].fd)
				continue;
			if ((n = read(f->cl[i].fd, buf, sizeof(buf))) <= 0)
				fake_close(&f->cl[i]);
			else
				fake_bytes(f, &f->cl[i], buf, (size_t)n);
		}
		pthread_mutex_unlock(&f->lock);
	}
}

/* Listen at dir/.s.PGSQL.port, as a server's unix socket, and serve from a thread. */
static inline void fake_start(struct fake_pg *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	for (int i = 0; i < FAKE_MAX_CLIENTS; i++)
		f->cl[i].fd = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fw-pgfake-XXXXXX");
	f->port = 5432;
	if (mkdtemp(f->dir) == NULL || pipe(f->wake) != 0)
		abort();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.s.PGSQL.%d", f->dir, f->port);
	if ((f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(f->lfd, 16) != 0 ||
	    pthread_create(&f->thread, NULL, fake_main, f) != 0)
		abort();
}

/* Set a knob (under the lock), and wake the server so that it acts on it. */
static inline void fake_set(struct fake_pg *f, bool *knob, bool value)
{
	pthread_mutex_lock(&f->lock);
	*knob = value;
	pthread_mutex_unlock(&f->lock);
	if (write(f->wake[1], "", 1) != 1)
		perror("fake pg: write");
}

/* A counter of the server's, read under the lock. */
static inline int fake_count(struct fake_pg *f, const int *counter)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = *counter;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static inline void fake_stop(struct fake_pg *f)
{
	char path[sizeof(f->dir) + 32];

	fake_set(f, &f->quit, true);
	pthread_join(f->thread, NULL);
	for (int i = 0; i < FAKE_MAX_CLIENTS; i++)
		if (f->cl[i].fd >= 0)
			close(f->cl[i].fd);
	close(f->lfd);
	close(f->wake[0]);
	close(f->wake[1]);
	snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", f->dir, f->port);
	unlink(path);
	rmdir(f->dir);
}

#endif
