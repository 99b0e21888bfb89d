/* fw_main(): the command line, the configuration, then the master. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "main/exec_worker.h"
#include "main/probe.h"
#include "http/registry.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/log.h"
#include "master/master.h"
#include "worker/worker.h"

#ifndef FW_ALLOCATOR
#define FW_ALLOCATOR "unknown"
#endif

/* How the master starts a worker: the one place that links both (ipc/boot.h). */
static struct fw_worker_entry worker_entry = {
	.main = fw_worker_main,
	.preboot = fw_worker_preboot,
};

/*
 * The path a live upgrade executes later, once the file there has been
 * replaced: the one the program was started by (argv[0], made absolute)
 * when it names this very file, so that a deploy that moves a symbolic
 * link (current -> releases/42) is followed; else the file itself, read
 * now, before anything could replace it (the kernel would then add
 * " (deleted)" to /proc/self/exe).
 */
static const char *program_path(const char *argv0)
{
	static char path[4096];
	const char *deleted = " (deleted)";
	size_t dl = strlen(deleted);
	struct stat self, named;
	char cwd[4096];
	ssize_t n;

	if (argv0 != NULL && strchr(argv0, '/') != NULL && stat("/proc/self/exe", &self) == 0 &&
	    stat(argv0, &named) == 0 && self.st_dev == named.st_dev && self.st_ino == named.st_ino) {
		if (argv0[0] == '/' && snprintf(path, sizeof(path), "%s", argv0) < (int)sizeof(path))
			return path;
		if (argv0[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL &&
		    snprintf(path, sizeof(path), "%s/%s", cwd, argv0) < (int)sizeof(path))
			return path;
	}
	if ((n = readlink("/proc/self/exe", path, sizeof(path) - 1)) <= 0)
		return NULL;
	path[n] = '\0';
	if ((size_t)n > dl && strcmp(path + n - dl, deleted) == 0)
		path[n - dl] = '\0';
	return path;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [-c FILE] [-t] [--probe live|ready] [-h|--help] [-V|--version]\n"
		"  -c FILE  configuration file (ini); without it, built-in defaults\n"
		"  -t       check the configuration and exit (0: valid, 1: errors on stderr)\n"
		"  --probe live    exit 0 while the master of this configuration runs its loop\n"
		"  --probe ready   exit 0 while it is live, not stopping, and a worker accepts\n"
		"  -h, --help      this help\n"
		"  -V, --version   version\n"
		"Every key can be set in the environment as FW_<SECTION>_<KEY> (FW_SERVER_WORKERS=4);\n"
		"the environment wins over the file. The application's own settings go in the\n"
		"[app] section (any key) or FW_APP_<KEY>. See man 7 fw.\n",
		prog);
}

/*
 * What getopt refused, named as the user typed it (getopt's optopt is a
 * letter, or the internal code of a long option).
 */
static void bad_option(const char *prog, const char *arg)
{
	if (strcmp(arg, "--probe") == 0 || strcmp(arg, "-c") == 0)
		fprintf(stderr, "%s: %s needs an argument%s\n", prog, arg,
			arg[1] == '-' ? ": live or ready" : ": a configuration file");
	else
		fprintf(stderr,
			"%s: unknown option '%s' (an application's own flags must be taken out "
			"of argv before fw_main())\n",
			prog, arg);
}

static int check_only(const char *file)
{
	fprintf(stderr, "%s: configuration ok\n", file != NULL ? file : "(built-in defaults)");
	return 0;
}

FW_API int fw_main(int argc, char **argv)
{
	const char *file = NULL, *prog = argc > 0 ? argv[0] : "fw";
	static struct fw_config cfg;
	struct fw_buf errors = FW_BUF_INIT;
	const char *probe = NULL;
	static const struct option longopts[] = {
		{"probe", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	bool test = false;
	int opt;

	fw_registry_seal();
	worker_entry.exe = program_path(argc > 0 ? argv[0] : NULL);
	worker_entry.argv = argv;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'P':
			probe = optarg;
			break;
		case 'c':
			file = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'h':
			usage(stdout, prog);
			return 0;
		case 'V':
			printf("fw %s (libevent %s, allocator %s)\n", FW_VERSION_STRING,
			       event_get_version(), FW_ALLOCATOR);
			return 0;
		default:
			bad_option(prog, argv[optind - 1]);
			usage(stderr, prog);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		usage(stderr, prog);
		return 2;
	}
	if (fw_config_load(&cfg, file, &errors) != 0) {
		fputs(errors.data != NULL ? errors.data : "configuration error\n", stderr);
		fw_buf_release(&errors);
		return 1;
	}
	fw_buf_release(&errors);
	/*
	 * Not dumpable, whatever the user: no core file, and no other process
	 * of this user may read this one's memory or environment (ptrace,
	 * /proc/PID/mem). The master keeps it so; workers may opt in (dumpable).
	 */
	if (prctl(PR_SET_DUMPABLE, 0) != 0)
		fprintf(stderr, "%s: prctl(PR_SET_DUMPABLE): %s\n", prog, strerror(errno));
	if (test)
		return check_only(file);
	if (probe != NULL)
		return fw_probe(&cfg, probe);
	fw_log_set_level(cfg.log_level);
	if (fw_log_open(cfg.error_log) != 0) {
		fprintf(stderr, "%s: error_log %s: %s\n", prog, cfg.error_log, strerror(errno));
		return 1;
	}
	if (fw_registry_router()->routes == 0)
		fw_log(FW_LOG_WARN, "no routes: every request will be answered 404");
	/*
	 * libevent 2.1 reads EVENT_SHOW_METHOD despite EVENT_BASE_FLAG_IGNORE_ENV
	 * (each worker's base would print "libevent using: epoll"): fw's
	 * processes take no libevent setting from the environment.
	 */
	unsetenv("EVENT_SHOW_METHOD");
	if (getenv(FW_BOOT_ENV) != NULL)
		return fw_exec_worker_main(&cfg, &worker_entry, getenv(FW_BOOT_ENV));
	return fw_master_run(&cfg, &worker_entry);
}
