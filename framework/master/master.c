/*
 * The master loop: ppoll() over the workers' channels with the signals
 * unblocked only while waiting, a tick for the periodic work, and a table
 * of processes to keep at `workers`.
 */
#include "master/master.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "ipc/chan.h"
#include "master/signals.h"

#define TICK_MS 1000
#define QUIT_GRACE_MS 2000

static void stop(struct fw_master *m, enum fw_master_mode mode, const char *why)
{
	uint64_t now = fw_now_ms();

	if (m->mode == FW_QUITTING || m->mode == mode)
		return;
	fw_log(FW_LOG_INFO, "%s: %s", why, mode == FW_STOPPING ? "stopping gracefully" : "stopping now");
	m->mode = mode;
	if (mode == FW_STOPPING) {
		/* Workers close themselves at graceful_timeout; this is the backstop. */
		m->stop_deadline_ms = now + (uint64_t)m->cfg->graceful_timeout * 1000 + QUIT_GRACE_MS;
		fw_proc_send_all(m, FW_MSG_STOP);
	} else {
		m->stop_deadline_ms = now + QUIT_GRACE_MS;
		fw_proc_send_all(m, FW_MSG_QUIT);
	}
}

static void on_signals(struct fw_master *m, unsigned sigs)
{
	/*
	 * Stop before reaping: systemd and a terminal signal the whole group,
	 * so workers may exit before the master has read its own signal, and
	 * they must not be mistaken for crashes and replaced.
	 */
	if (sigs & (FW_SIG_INT | FW_SIG_QUIT))
		stop(m, FW_QUITTING, sigs & FW_SIG_INT ? "SIGINT" : "SIGQUIT");
	else if (sigs & FW_SIG_TERM)
		stop(m, FW_STOPPING, "SIGTERM");
	if (sigs & FW_SIG_CHLD)
		fw_proc_reap(m);
	if (sigs & (FW_SIG_HUP | FW_SIG_TTIN | FW_SIG_TTOU))
		fw_log(FW_LOG_WARN, "SIGHUP, SIGTTIN and SIGTTOU are not handled yet; ignored");
}

static void on_message(struct fw_master *m, struct fw_proc *p, const struct fw_msg *msg)
{
	switch (msg->type) {
	case FW_MSG_READY:
		if (p->state == FW_PROC_BOOTING)
			p->state = FW_PROC_READY;
		m->boot_failures = 0;
		fw_log(FW_LOG_DEBUG, "worker %ld ready", (long)p->pid);
		break;
	default:
		fw_log(FW_LOG_WARN, "worker %ld sent unknown message %u", (long)p->pid, msg->type);
	}
}

static void read_channel(struct fw_master *m, struct fw_proc *p)
{
	struct fw_msg msg;
	int r;

	while ((r = fw_chan_recv(p->chan, &msg, NULL)) == 1)
		on_message(m, p, &msg);
	if (r == 0) {
		/* The worker is exiting; SIGCHLD tells the rest. */
		close(p->chan);
		p->chan = -1;
	} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
		fw_log_errno(FW_LOG_WARN, "recvmsg(worker %ld)", (long)p->pid);
	}
}

static size_t count_state(const struct fw_master *m, enum fw_proc_state st)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nprocs_max; i++)
		n += m->procs[i].state == st;
	return n;
}

static void maintain(struct fw_master *m, uint64_t now)
{
	size_t running = count_state(m, FW_PROC_BOOTING) + count_state(m, FW_PROC_READY);

	if (m->mode != FW_RUNNING)
		return;
	while (running < (size_t)m->workers_wanted && now >= m->spawn_after_ms) {
		if (fw_proc_spawn(m) != 0) {
			m->spawn_after_ms = now + TICK_MS; /* fork failed: try again soon */
			break;
		}
		running++;
		/* After a boot failure, one worker at a time until one boots. */
		if (m->boot_failures > 0)
			break;
	}
	if (!m->announced && count_state(m, FW_PROC_READY) == (size_t)m->workers_wanted) {
		m->announced = true;
		fw_log(FW_LOG_INFO, "ready: %d worker(s) serving on %s", m->workers_wanted,
		       m->listener.addr.text);
	}
}

static int poll_timeout(const struct fw_master *m, uint64_t now)
{
	uint64_t wake = now + TICK_MS;

	if (m->mode == FW_RUNNING && m->spawn_after_ms > now && m->spawn_after_ms < wake)
		wake = m->spawn_after_ms;
	if (m->mode != FW_RUNNING && m->stop_deadline_ms < wake)
		wake = m->stop_deadline_ms > now ? m->stop_deadline_ms : now;
	return (int)(wake - now);
}

static void wait_events(struct fw_master *m, int timeout_ms)
{
	struct pollfd fds[FW_MAX_SLOTS];
	struct fw_proc *owner[FW_MAX_SLOTS];
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
	nfds_t n = 0;
	int r;

	for (size_t i = 0; i < m->nprocs_max; i++) {
		if (m->procs[i].state != FW_PROC_FREE && m->procs[i].chan >= 0) {
			fds[n] = (struct pollfd){.fd = m->procs[i].chan, .events = POLLIN};
			owner[n++] = &m->procs[i];
		}
	}
	r = ppoll(fds, n, &ts, fw_signals_waitmask());
	if (r < 0) {
		if (errno != EINTR)
			fw_log_errno(FW_LOG_ERROR, "ppoll");
		return;
	}
	for (nfds_t i = 0; i < n && r > 0; i++) {
		if (fds[i].revents != 0 && owner[i]->chan == fds[i].fd)
			read_channel(m, owner[i]);
	}
}

static void deadline(struct fw_master *m, uint64_t now)
{
	if (m->mode == FW_RUNNING || m->killed || now < m->stop_deadline_ms)
		return;
	fw_log(FW_LOG_WARN, "%zu worker(s) still running at the stop deadline; killing them",
	       fw_proc_live(m));
	fw_proc_signal_all(m, SIGKILL);
	m->killed = true;
}

int fw_master_run(const struct fw_config *cfg)
{
	static struct fw_master m;

	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	m.pid = getpid();
	m.workers_wanted = cfg->workers;
	m.listener.fd = -1;
	for (size_t i = 0; i < FW_MAX_SLOTS; i++)
		m.procs[i].chan = -1;
	if (fw_signals_init() != 0)
		return 1;
	if (fw_listen_open(&m.listener, &cfg->listen, cfg->backlog, cfg->socket_mode) != 0)
		return 1;
	if ((m.sb = fw_scoreboard_create(FW_MAX_SLOTS)) == NULL) {
		fw_log_errno(FW_LOG_ERROR, "mmap(scoreboard)");
		fw_listen_close(&m.listener);
		return 1;
	}
	fw_log(FW_LOG_INFO, "master %ld starting %d worker(s) on %s", (long)m.pid, m.workers_wanted,
	       cfg->listen.text);
	for (;;) {
		uint64_t now = fw_now_ms();

		on_signals(&m, fw_signals_take());
		if (m.mode != FW_RUNNING && fw_proc_live(&m) == 0)
			break;
		deadline(&m, now);
		maintain(&m, now);
		wait_events(&m, poll_timeout(&m, now));
	}
	fw_listen_close(&m.listener);
	fw_scoreboard_destroy(m.sb);
	fw_log(FW_LOG_INFO, "master %ld stopped", (long)m.pid);
	return m.exit_status;
}
