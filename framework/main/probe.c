#include "main/probe.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "ipc/scoreboard.h"

/* The master writes its heartbeat every second; this much silence is a hung loop. */
#define HEARTBEAT_STALE_MS 5000

static int live(const struct fw_scoreboard *sb, uint64_t now, char *why, size_t len)
{
	pid_t pid = (pid_t)fw_slot_load(sb->master_pid);
	uint64_t hb = fw_slot_load(sb->master_heartbeat_ms);

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) {
		snprintf(why, len, "master %ld is not running", (long)pid);
		return 0;
	}
	if (now > hb && now - hb > HEARTBEAT_STALE_MS) {
		snprintf(why, len, "master %ld has not run its loop for %.1f s", (long)pid,
			 (double)(now - hb) / 1000);
		return 0;
	}
	snprintf(why, len, "master %ld, heartbeat %.1f s ago", (long)pid,
		 now > hb ? (double)(now - hb) / 1000 : 0.0);
	return 1;
}

static int ready(const struct fw_scoreboard *sb, char *why, size_t len)
{
	size_t accepting = 0;

	if (fw_slot_load(sb->stopping)) {
		snprintf(why, len, "the server is stopping");
		return 0;
	}
	for (size_t i = 0; i < sb->nslots; i++)
		accepting += fw_slot_load(sb->slots[i].state) == FW_WORKER_SERVING;
	if (accepting == 0) {
		snprintf(why, len, "no worker is accepting");
		return 0;
	}
	snprintf(why, len, "%zu worker(s) accepting", accepting);
	return 1;
}

int fw_probe(const struct fw_config *cfg, const char *what)
{
	const struct fw_scoreboard *sb;
	char path[256], why[200];
	uid_t owner;
	int ok;

	if (strcmp(what, "live") != 0 && strcmp(what, "ready") != 0) {
		fprintf(stderr, "--probe takes live or ready, not '%s'\n", what);
		return 2;
	}
	fw_config_state_path(cfg, path, sizeof(path));
	if ((sb = fw_scoreboard_open(path, &owner)) == NULL) {
		printf("not %s: no running server (%s: %s)\n", what, path,
		       errno == EPROTO ? "not a scoreboard of this version" : strerror(errno));
		return 1;
	}
	/*
	 * The default path is in /dev/shm, where any local user can put a
	 * file first: believe only one of root, of this user, or of `user`.
	 */
	if (!fw_config_state_owner_ok(cfg, owner)) {
		printf("not %s: %s belongs to uid %ld, not to the server's user\n", what, path,
		       (long)owner);
		fw_scoreboard_destroy(sb, NULL);
		return 1;
	}
	ok = live(sb, fw_now_ms(), why, sizeof(why));
	if (ok && strcmp(what, "ready") == 0)
		ok = ready(sb, why, sizeof(why));
	fw_scoreboard_destroy(sb, NULL);
	if (ok)
		printf("%s: %s\n", what, why);
	else
		printf("not %s: %s\n", what, why);
	return ok ? 0 : 1;
}
