/*
 * upgradeapp: one source built as two versions of an application
 * (UPGRADEAPP_VERSION "a" and "b"), for tests/e2e/test_upgrade.py and
 * bench/upgrade.py, which upgrade between them live.
 *   GET  /version   the version, "a\n" or "b\n": which build answered
 *   GET  /hello     "hello\n"
 *   POST /hello     the body back
 * A broken build, on demand: the file named by $UPGRADEAPP_KNOB, when it
 * holds "<version> <what> [ms]" for this build's version, makes it
 *   exit      exit with status 7 in main(), before fw_main()
 *   fail      fail its fw_on_worker_start hook
 *   crash     crash in that hook (abort(): SIGABRT, which sanitizers leave alone)
 *   slow MS   take MS ms in that hook (an upgrade that lasts)
 * The other version, and this one without the file, behave.
 */
#include <fw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef UPGRADEAPP_VERSION
#define UPGRADEAPP_VERSION "a"
#endif

static char what[16];
static long what_ms;

/* The knob, read once at start: a worker's start-up reads what main() read. */
static void read_knob(void)
{
	const char *path = getenv("UPGRADEAPP_KNOB");
	char version[16];
	FILE *f;

	if (path == NULL || (f = fopen(path, "re")) == NULL)
		return;
	if (fscanf(f, "%15s %15s %ld", version, what, &what_ms) < 2 ||
	    strcmp(version, UPGRADEAPP_VERSION) != 0)
		what[0] = '\0';
	fclose(f);
}

static int boot(void *arg)
{
	(void)arg;
	if (strcmp(what, "fail") == 0)
		return -1;
	if (strcmp(what, "crash") == 0)
		abort();
	if (strcmp(what, "slow") == 0) {
		struct timespec ts = {what_ms / 1000, (what_ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
	return 0;
}

static int version(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "text/plain");
	fw_write(req, UPGRADEAPP_VERSION "\n", sizeof(UPGRADEAPP_VERSION));
	return 200;
}

static int hello(fw_req *req, void *arg)
{
	(void)arg;
	fw_set_header(req, "Content-Type", "text/plain");
	fw_write(req, "hello\n", 6);
	return 200;
}

static int echo(fw_req *req, void *arg)
{
	size_t len;
	const void *body = fw_body(req, &len);

	(void)arg;
	fw_set_header(req, "Content-Type", "application/octet-stream");
	return len == 0 || fw_write(req, body, len) == 0 ? 200 : 500;
}

int main(int argc, char **argv)
{
	read_knob();
	if (strcmp(what, "exit") == 0)
		return 7;
	fw_set_version("1.0-" UPGRADEAPP_VERSION);
	if (fw_route("GET", "/version", version, NULL) != 0 ||
	    fw_route("GET", "/hello", hello, NULL) != 0 || fw_route("POST", "/hello", echo, NULL) != 0 ||
	    fw_on_worker_start(boot, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
