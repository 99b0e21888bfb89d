/* config/config.c and config/addr.c: ini file, environment, listen addresses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"
#include "core/cpus.h"

extern char **environ;

static char dir[64];
static char path[128];
static int nfiles;

/* Write text to a new file in the temporary folder; its name goes to path. */
static const char *ini(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/t%d.ini", dir, nfiles++);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	return path;
}

/* Remove every FW_SERVER_*, FW_APP_* and FW_PG_* variable so the tests start from a known state. */
static void clear_env(void)
{
	for (;;) {
		char name[256];
		char **e;

		for (e = environ; *e != NULL; e++) {
			if (strncmp(*e, "FW_SERVER_", 10) == 0 || strncmp(*e, "FW_APP_", 7) == 0 ||
			    strncmp(*e, "FW_PG_", 6) == 0)
				break;
		}
		if (*e == NULL)
			return;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
		unsetenv(name);
	}
}

/* What auto means is tested end to end (e2e-cgroup: quota, affinity); here, that it is used. */
static int auto_workers(void)
{
	int n = fw_cpus_available();

	return n > 512 ? 512 : n;
}

/* Load file (or NULL) and compare the whole error text (with FILE replaced by the path). */
static bool load(struct fw_config *c, const char *file, int want_rc, const char *want_errors, int line)
{
	struct fw_buf errors = FW_BUF_INIT, want = FW_BUF_INIT;
	int rc = fw_config_load(c, file, &errors);
	bool ok;

	/* Expand "FILE" in the expected text. */
	for (const char *p = want_errors; *p != '\0';) {
		if (strncmp(p, "FILE", 4) == 0) {
			fw_buf_puts(&want, file);
			p += 4;
		} else {
			fw_buf_putc(&want, *p++);
		}
	}
	ok = check_eq_int(__FILE__, line, rc, want_rc, "fw_config_load", "expected result");
	ok &= check_eq_mem(__FILE__, line, errors.data, errors.len, want.data, want.len, "errors",
			   want_errors);
	fw_buf_release(&errors);
	fw_buf_release(&want);
	return ok;
}

#define LOAD_OK(c, file) load(c, file, 0, "", __LINE__)
#define LOAD_FAILS(c, file, errors) load(c, file, -1, errors, __LINE__)

static void test_defaults(void)
{
	struct fw_config c;
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&c.listen.l[0].addr.sa;

	if (!LOAD_OK(&c, NULL))
		return;
	CHECK_EQ_STR(c.file, "");
	CHECK_EQ_INT(c.listen.n, 1);
	CHECK_EQ_INT(c.listen.l[0].proto, FW_PROTO_FASTCGI);
	CHECK_EQ_INT(c.protocol, FW_PROTO_FASTCGI);
	CHECK(!c.allowed_clients.any);
	CHECK_EQ_INT(c.allowed_clients.n, 2);
	CHECK_EQ_INT(c.max_params_kb, 64);
	CHECK_EQ_INT(c.max_params, 512);
	CHECK_EQ_INT(c.max_param_kb, 16);
	CHECK_EQ_INT(c.max_headers, 100);
	CHECK_EQ_INT(c.request_timeout, 30);
	CHECK_EQ_INT(c.listen.l[0].addr.family, AF_INET);
	CHECK_EQ_UINT(ntohs(in4->sin_port), 9000);
	CHECK_EQ_UINT(ntohl(in4->sin_addr.s_addr), 0x7f000001);
	CHECK_EQ_INT(c.workers, auto_workers());
	CHECK_EQ_INT(c.max_body_kb, 1024);
	CHECK_EQ_INT(c.socket_mode, 0660);
	CHECK_EQ_INT(c.backlog, 511);
	CHECK_EQ_INT(c.max_conns, 1024);
	CHECK_EQ_INT(c.graceful_timeout, 30);
	CHECK_EQ_INT(c.log_level, FW_LOG_INFO);
}

static void test_valid_file(void)
{
	struct fw_config c;
	const char *f = ini("; fw configuration\n"
			    "# another comment\n"
			    "\n"
			    "[server]\n"
			    "listen = unix:/tmp/fw-test.sock\n"
			    "workers = 4 ; inline comment\n"
			    "max_body_kb = 2048\n"
			    "socket_mode = 0600\n"
			    "backlog=128\n"
			    "max_conns   =   99  \n"
			    "graceful_timeout = 1\n"
			    "log_level = debug\n");

	if (!LOAD_OK(&c, f))
		return;
	CHECK_EQ_STR(c.file, f);
	CHECK_EQ_INT(c.listen.l[0].addr.family, AF_UNIX);
	CHECK_EQ_STR(c.listen.l[0].addr.path, "/tmp/fw-test.sock");
	CHECK_EQ_INT(c.workers, 4);
	CHECK_EQ_INT(c.max_body_kb, 2048);
	CHECK_EQ_INT(c.socket_mode, 0600);
	CHECK_EQ_INT(c.backlog, 128);
	CHECK_EQ_INT(c.max_conns, 99);
	CHECK_EQ_INT(c.graceful_timeout, 1);
	CHECK_EQ_INT(c.log_level, FW_LOG_DEBUG);

	/* An empty file keeps the defaults. */
	if (LOAD_OK(&c, ini("")))
		CHECK_EQ_INT(c.backlog, 511);
	/* Range edges. */
	if (LOAD_OK(&c, ini("[server]\nworkers = 1\nbacklog = 65535\nmax_body_kb = 4194304\n"
			    "max_conns = 1000000\ngraceful_timeout = 86400\nsocket_mode = 0\n"))) {
		CHECK_EQ_INT(c.workers, 1);
		CHECK_EQ_INT(c.backlog, 65535);
		CHECK_EQ_INT(c.max_body_kb, 4194304);
		CHECK_EQ_INT(c.graceful_timeout, 86400);
		CHECK_EQ_INT(c.socket_mode, 0);
	}
	if (LOAD_OK(&c, ini("[server]\nworkers = 512\nsocket_mode = 0777\nlog_level = error\n"))) {
		CHECK_EQ_INT(c.workers, 512);
		CHECK_EQ_INT(c.socket_mode, 0777);
		CHECK_EQ_INT(c.log_level, FW_LOG_ERROR);
	}
}

static void test_workers_auto_and_mode(void)
{
	struct fw_config c;

	if (LOAD_OK(&c, ini("[server]\nworkers = auto\n")))
		CHECK_EQ_INT(c.workers, auto_workers());
	/* The mode is octal, with or without the leading 0. */
	if (LOAD_OK(&c, ini("[server]\nsocket_mode = 0660\n")))
		CHECK_EQ_INT(c.socket_mode, 432);
	if (LOAD_OK(&c, ini("[server]\nsocket_mode = 660\n")))
		CHECK_EQ_INT(c.socket_mode, 0660);
	if (LOAD_OK(&c, ini("[server]\nsocket_mode = 0644\n")))
		CHECK_EQ_INT(c.socket_mode, 420);
	LOAD_FAILS(&c, ini("[server]\nsocket_mode = 0999\n"),
		   "FILE:2: socket_mode: '0999' is not an octal mode (0660)\n");
	LOAD_FAILS(&c, ini("[server]\nsocket_mode = 0o660\n"),
		   "FILE:2: socket_mode: '0o660' is not an octal mode (0660)\n");
	LOAD_FAILS(&c, ini("[server]\nsocket_mode = 01000\n"),
		   "FILE:2: socket_mode: 01000 is out of range (0 to 777)\n");
	LOAD_FAILS(&c, ini("[server]\nworkers = Auto\n"),
		   "FILE:2: workers: 'Auto' is not a number or \"auto\"\n");
}

static void test_file_errors(void)
{
	struct fw_config c;
	char missing[160];

	LOAD_FAILS(&c, ini("[server]\nworkers = 2\nwrkers = 3\n"),
		   "FILE:3: unknown key 'wrkers' in [server]\n");
	/* An unknown section is named on its own line, keys or not. */
	LOAD_FAILS(&c, ini("[server]\n\n[srv]\nworkers = 2\n"), "FILE:3: unknown section [srv]\n");
	LOAD_FAILS(&c, ini("[server]\nworkers = 2\n[empty]\n"), "FILE:3: unknown section [empty]\n");
	LOAD_FAILS(&c, ini("workers = 2\n"),
		   "FILE:1: 'workers' is outside any section (put it under [server])\n");
	/* An indented line continues the value above it (inih's multi-line values). */
	LOAD_FAILS(&c, ini("[server]\nworkers = 2\n  max_conns = 99\n"),
		   "FILE:3: indented line: it reads as more of the value of 'workers' (line 2); "
		   "remove the indentation\n");
	/* Bad values. */
	LOAD_FAILS(&c, ini("[server]\nworkers = lots\n"),
		   "FILE:2: workers: 'lots' is not a number or \"auto\"\n");
	LOAD_FAILS(&c, ini("[server]\nbacklog = 12abc\n"),
		   "FILE:2: backlog: '12abc' is not a whole number\n");
	LOAD_FAILS(&c, ini("[server]\nbacklog = 1.5\n"),
		   "FILE:2: backlog: '1.5' is not a whole number\n");
	LOAD_FAILS(&c, ini("[server]\nbacklog =\n"), "FILE:2: backlog: '' is not a whole number\n");
	LOAD_FAILS(&c, ini("[server]\nmax_body_kb = 99999999999999999999\n"),
		   "FILE:2: max_body_kb: '99999999999999999999' is not a whole number\n");
	LOAD_FAILS(&c, ini("[server]\nlog_level = verbose\n"),
		   "FILE:2: log_level: 'verbose' is not one of error, warn, info, debug\n");
	LOAD_FAILS(&c, ini("[server]\nlisten = 127.0.0.1:0\n"),
		   "FILE:2: listen: port '0' is not a number from 1 to 65535\n");
	LOAD_FAILS(&c, ini("[server]\nlisten = example.com:80\n"),
		   "FILE:2: listen: 'example.com' is not an IP address (host names are not resolved)\n");
	/* Out of range. */
	LOAD_FAILS(&c, ini("[server]\nworkers = 0\n"),
		   "FILE:2: workers: 0 is out of range (1 to 512)\n");
	LOAD_FAILS(&c, ini("[server]\nworkers = 513\n"),
		   "FILE:2: workers: 513 is out of range (1 to 512)\n");
	LOAD_FAILS(&c, ini("[server]\nworkers = -1\n"),
		   "FILE:2: workers: -1 is out of range (1 to 512)\n");
	LOAD_FAILS(&c, ini("[server]\nbacklog = 65536\n"),
		   "FILE:2: backlog: 65536 is out of range (1 to 65535)\n");
	LOAD_FAILS(&c, ini("[server]\ngraceful_timeout = -1\n"),
		   "FILE:2: graceful_timeout: -1 is out of range (1 to 86400)\n");
	/* 0 would close every in-flight request at each recycle and reload. */
	LOAD_FAILS(&c, ini("[server]\ngraceful_timeout = 0\n"),
		   "FILE:2: graceful_timeout: 0 is out of range (1 to 86400)\n");
	LOAD_FAILS(&c, ini("[server]\nmax_conns = 1000001\n"),
		   "FILE:2: max_conns: 1000001 is out of range (1 to 1000000)\n");
	/* A key set twice: both lines are named. */
	LOAD_FAILS(&c, ini("[server]\nworkers = 2\nbacklog = 5\n\nworkers = 3\n"),
		   "FILE:5: 'workers' is set twice (first on line 2)\n");
	/* A syntax error. */
	LOAD_FAILS(&c, ini("[server]\nworkers = 2\nthis is not ini\nbacklog = 5\n"),
		   "FILE:3: syntax error: expected [section] or key = value\n");
	/* inih goes on after it: the key is then in no section. */
	LOAD_FAILS(&c, ini("; ok\n[server\nworkers = 2\n"),
		   "FILE:3: 'workers' is outside any section (put it under [server])\n"
		   "FILE:2: syntax error: expected [section] or key = value\n");
	/* A file that cannot be read. */
	snprintf(missing, sizeof(missing), "%s/missing.ini", dir);
	LOAD_FAILS(&c, missing, "FILE: cannot open: No such file or directory\n");
}

static void test_long_lines(void)
{
	struct fw_config c;
	char text[1024];

	/* 250 characters on line 3, reported; the lines after keep their numbers. */
	snprintf(text, sizeof(text), "[server]\nworkers = 2\n;%0249d\nwrkers = 1\nbacklog = 7\n", 0);
	if (LOAD_FAILS(&c, ini(text),
		       "FILE:3: line longer than 198 characters\n"
		       "FILE:4: unknown key 'wrkers' in [server]\n"))
		CHECK_EQ_INT(c.backlog, 7);
	/* A long value is reported, not cut and parsed as a new line. */
	snprintf(text, sizeof(text), "[server]\nlisten = /%0300d\nbacklog = 9\n", 0);
	LOAD_FAILS(&c, ini(text), "FILE:2: line longer than 198 characters\n");
	/* 198 characters fit. */
	snprintf(text, sizeof(text), "[server]\n;%0197d\nbacklog = 8\n", 0);
	if (LOAD_OK(&c, ini(text)))
		CHECK_EQ_INT(c.backlog, 8);
	/* The last line, without a newline. */
	snprintf(text, sizeof(text), "[server]\n;%0249d", 0);
	LOAD_FAILS(&c, ini(text), "FILE:2: line longer than 198 characters\n");
}

/* Every error names its own line, in a file with many. */
static void test_many_errors(void)
{
	struct fw_config c;

	LOAD_FAILS(&c,
		   ini("[server]\n"         /* 1 */
		       "workers = 0\n"      /* 2 */
		       "; comment\n"        /* 3 */
		       "nope = 1\n"         /* 4 */
		       "backlog = x\n"      /* 5 */
		       "workers = 2\n"      /* 6 */
		       "[other]\n"          /* 7 */
		       "a = 1\n"            /* 8 */
		       "[server]\n"         /* 9 */
		       "log_level = loud\n" /* 10 */
		       "garbage\n"          /* 11 */
		       "listen = 1.2.3.4:99999\n" /* 12 */),
		   "FILE:2: workers: 0 is out of range (1 to 512)\n"
		   "FILE:4: unknown key 'nope' in [server]\n"
		   "FILE:5: backlog: 'x' is not a whole number\n"
		   "FILE:6: 'workers' is set twice (first on line 2)\n"
		   "FILE:7: unknown section [other]\n"
		   "FILE:10: log_level: 'loud' is not one of error, warn, info, debug\n"
		   "FILE:12: listen: port '99999' is not a number from 1 to 65535\n"
		   "FILE:11: syntax error: expected [section] or key = value\n");
}

static void test_env(void)
{
	struct fw_config c;
	const char *f = ini("[server]\nworkers = 2\nbacklog = 5\n");

	setenv("FW_SERVER_WORKERS", "3", 1);
	if (LOAD_OK(&c, f)) {
		CHECK_EQ_INT(c.workers, 3); /* the environment wins */
		CHECK_EQ_INT(c.backlog, 5);
	}
	setenv("FW_SERVER_WORKERS", "auto", 1);
	if (LOAD_OK(&c, f))
		CHECK_EQ_INT(c.workers, auto_workers());
	unsetenv("FW_SERVER_WORKERS");

	/* Without a file, on top of the defaults. */
	setenv("FW_SERVER_LISTEN", "[::1]:9001", 1);
	setenv("FW_SERVER_SOCKET_MODE", "0600", 1);
	setenv("FW_SERVER_LOG_LEVEL", "warn", 1);
	setenv("FW_SERVER_MAX_BODY_KB", "7", 1);
	setenv("FW_SERVER_GRACEFUL_TIMEOUT", "60", 1);
	if (LOAD_OK(&c, NULL)) {
		CHECK_EQ_INT(c.listen.l[0].addr.family, AF_INET6);
		CHECK_EQ_INT(c.socket_mode, 0600);
		CHECK_EQ_INT(c.log_level, FW_LOG_WARN);
		CHECK_EQ_INT(c.max_body_kb, 7);
		CHECK_EQ_INT(c.graceful_timeout, 60);
	}
	clear_env();

	setenv("FW_SERVER_BACKLOG", "abc", 1);
	LOAD_FAILS(&c, f, "environment FW_SERVER_BACKLOG: 'abc' is not a whole number\n");
	setenv("FW_SERVER_BACKLOG", "0", 1);
	LOAD_FAILS(&c, NULL, "environment FW_SERVER_BACKLOG: 0 is out of range (1 to 65535)\n");
	unsetenv("FW_SERVER_BACKLOG");

	setenv("FW_SERVER_FOO", "1", 1);
	LOAD_FAILS(&c, f, "environment FW_SERVER_FOO: unknown key\n");
	unsetenv("FW_SERVER_FOO");
	setenv("FW_SERVER_WORKERSX", "1", 1);
	LOAD_FAILS(&c, NULL, "environment FW_SERVER_WORKERSX: unknown key\n");
	unsetenv("FW_SERVER_WORKERSX");
	setenv("FW_SERVER_", "1", 1);
	LOAD_FAILS(&c, NULL, "environment FW_SERVER_: unknown key\n");
	unsetenv("FW_SERVER_");
	/* Names are upper case; other prefixes are not ours. */
	setenv("FW_SERVER_workers", "1", 1);
	LOAD_FAILS(&c, NULL, "environment FW_SERVER_workers: unknown key\n");
	unsetenv("FW_SERVER_workers");
	setenv("FW_SERVERX", "1", 1);
	setenv("FW_OTHER_KEY", "1", 1);
	LOAD_OK(&c, NULL);
	unsetenv("FW_SERVERX");
	unsetenv("FW_OTHER_KEY");

	/* File and environment errors together. */
	setenv("FW_SERVER_WORKERS", "many", 1);
	LOAD_FAILS(&c, ini("[server]\nbacklog = -5\n"),
		   "FILE:2: backlog: -5 is out of range (1 to 65535)\n"
		   "environment FW_SERVER_WORKERS: 'many' is not a number or \"auto\"\n");
	clear_env();
	LOAD_OK(&c, NULL);
}

/* ---- listen addresses ---- */

static bool addr_ok(const char *s, struct fw_addr *a, int line)
{
	char err[256] = "";
	int rc = fw_addr_parse(s, a, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "  %s: %s\n", s, err);
	return check_eq_int(__FILE__, line, rc, 0, s, "0") &&
	       check_eq_str(__FILE__, line, a->text, s, "text", s);
}

static bool addr_bad(const char *s, const char *why, int line)
{
	struct fw_addr a;
	char err[256] = "";

	if (!check_eq_int(__FILE__, line, fw_addr_parse(s, &a, err, sizeof(err)), -1, s, "-1"))
		return false;
	if (strstr(err, why) == NULL)
		return check_fail(__FILE__, line, "%s: message \"%s\" does not say \"%s\"", s, err, why);
	return true;
}

#define ADDR_OK(s, a) addr_ok(s, a, __LINE__)
#define ADDR_BAD(s, why) addr_bad(s, why, __LINE__)

static void check_unix(const struct fw_addr *a, const char *p, int line)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->sa;

	check_eq_int(__FILE__, line, a->family, AF_UNIX, "family", "AF_UNIX");
	check_eq_int(__FILE__, line, sun->sun_family, AF_UNIX, "sun_family", "AF_UNIX");
	check_eq_str(__FILE__, line, a->path, p, "path", p);
	check_eq_str(__FILE__, line, sun->sun_path, p, "sun_path", p);
	check_eq_uint(__FILE__, line, a->salen, offsetof(struct sockaddr_un, sun_path) + strlen(p) + 1,
		      "salen", "offset + length + 1");
}

static void check_in4(const struct fw_addr *a, uint32_t host, uint16_t port, int line)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&a->sa;

	check_eq_int(__FILE__, line, a->family, AF_INET, "family", "AF_INET");
	check_eq_int(__FILE__, line, in4->sin_family, AF_INET, "sin_family", "AF_INET");
	check_eq_uint(__FILE__, line, ntohl(in4->sin_addr.s_addr), host, "address", "expected");
	check_eq_uint(__FILE__, line, ntohs(in4->sin_port), port, "port", "expected");
	check_eq_uint(__FILE__, line, a->salen, sizeof(*in4), "salen", "sizeof(sockaddr_in)");
}

static void test_addr(void)
{
	struct fw_addr a;
	char long_path[256];

	if (ADDR_OK("/run/fw.sock", &a))
		check_unix(&a, "/run/fw.sock", __LINE__);
	if (ADDR_OK("unix:/tmp/x.sock", &a))
		check_unix(&a, "/tmp/x.sock", __LINE__);
	if (ADDR_OK("unix:relative.sock", &a))
		check_unix(&a, "relative.sock", __LINE__);
	if (ADDR_OK("./here.sock", &a))
		check_unix(&a, "./here.sock", __LINE__);
	if (ADDR_OK("127.0.0.1:9000", &a))
		check_in4(&a, 0x7f000001, 9000, __LINE__);
	if (ADDR_OK("0.0.0.0:1", &a))
		check_in4(&a, 0, 1, __LINE__);
	if (ADDR_OK("10.1.2.3:65535", &a))
		check_in4(&a, 0x0a010203, 65535, __LINE__);
	if (ADDR_OK("*:80", &a))
		check_in4(&a, 0, 80, __LINE__);
	if (ADDR_OK("localhost:8080", &a))
		check_in4(&a, 0x7f000001, 8080, __LINE__);
	if (ADDR_OK("[::1]:9000", &a)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.sa;

		CHECK_EQ_INT(a.family, AF_INET6);
		CHECK_EQ_INT(in6->sin6_family, AF_INET6);
		CHECK(memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback)) == 0);
		CHECK_EQ_UINT(ntohs(in6->sin6_port), 9000);
		CHECK_EQ_UINT(a.salen, sizeof(*in6));
	}
	if (ADDR_OK("[::]:443", &a)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.sa;

		CHECK(memcmp(&in6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0);
		CHECK_EQ_UINT(ntohs(in6->sin6_port), 443);
	}

	ADDR_BAD("127.0.0.1:0", "port '0'");
	ADDR_BAD("127.0.0.1:65536", "port '65536'");
	ADDR_BAD("127.0.0.1:abc", "port 'abc'");
	ADDR_BAD("127.0.0.1:", "port ''");
	ADDR_BAD("127.0.0.1:-1", "port '-1'");
	ADDR_BAD("127.0.0.1:+80", "port '+80'");
	ADDR_BAD("127.0.0.1:80x", "port '80x'");
	ADDR_BAD("127.0.0.1:99999999999999999999999", "port");
	ADDR_BAD("[::1]:0", "port '0'");
	ADDR_BAD("[::1]:65536", "port '65536'");
	ADDR_BAD("127.0.0.1", "expected host:port");
	ADDR_BAD("", "expected host:port");
	ADDR_BAD("[::1]", "expected [IPv6]:port");
	ADDR_BAD("[::1]9000", "expected [IPv6]:port");
	ADDR_BAD("[::1:9000", "expected [IPv6]:port");
	ADDR_BAD("[not-an-ip]:9000", "is not an IP address");
	ADDR_BAD("256.0.0.1:80", "is not an IP address");
	ADDR_BAD("example.com:80", "is not an IP address");
	ADDR_BAD("unix:", "empty unix socket path");

	/* sun_path holds 107 bytes and the NUL. */
	memset(long_path, 'p', sizeof(long_path));
	long_path[0] = '/';
	long_path[107] = '\0';
	if (ADDR_OK(long_path, &a))
		CHECK_EQ_UINT(strlen(a.path), 107);
	long_path[107] = 'p';
	long_path[108] = '\0';
	ADDR_BAD(long_path, "longer than 107 bytes");
	{
		char with_prefix[300];

		snprintf(with_prefix, sizeof(with_prefix), "unix:%s", long_path);
		ADDR_BAD(with_prefix, "longer than 107 bytes");
		long_path[107] = '\0';
		snprintf(with_prefix, sizeof(with_prefix), "unix:%s", long_path);
		if (ADDR_OK(with_prefix, &a))
			CHECK_EQ_STR(a.path, long_path);
	}
	long_path[200] = '\0';
	memset(long_path, 'q', 200);
	long_path[0] = '/';
	ADDR_BAD(long_path, "longer than 107 bytes");
}

/* The recycling keys, their defaults and their cross-checks. */
static void test_recycling_keys(void)
{
	struct fw_config c, d;
	const char *f;

	LOAD_OK(&c, NULL);
	CHECK_EQ_INT(c.max_requests, 0);
	CHECK_EQ_INT(c.max_requests_jitter, 0);
	CHECK_EQ_INT(c.rss_limit_mb, 0);
	CHECK_EQ_INT(c.rss_soft_limit_mb, 0);
	CHECK_EQ_INT(c.timeout, 60);
	CHECK_EQ_INT(c.recycle_concurrency, 1);
	CHECK_EQ_STR(c.status_path, "");
	f = ini("[server]\nmax_requests = 100\nmax_requests_jitter = 20\nrss_limit_mb = 256\n"
		"rss_soft_limit_mb = 200\ntimeout = 0\nrecycle_concurrency = 2\nstatus_path = "
		"/status\n");
	LOAD_OK(&c, f);
	CHECK_EQ_INT(c.max_requests, 100);
	CHECK_EQ_INT(c.max_requests_jitter, 20);
	CHECK_EQ_INT(c.rss_limit_mb, 256);
	CHECK_EQ_INT(c.rss_soft_limit_mb, 200);
	CHECK_EQ_INT(c.timeout, 0);
	CHECK_EQ_INT(c.recycle_concurrency, 2);
	CHECK_EQ_STR(c.status_path, "/status");
	LOAD_FAILS(&c, ini("[server]\nrss_limit_mb = 100\nrss_soft_limit_mb = 100\n"),
		   "FILE: rss_soft_limit_mb (100) must be below rss_limit_mb (100)\n");
	LOAD_FAILS(&c, ini("[server]\nstatus_path = status\n"),
		   "FILE:2: status_path: 'status' is not a path (/status), or longer than 255\n");
	LOAD_FAILS(&c, ini("[server]\nstatus_path = /st atus\n"),
		   "FILE:2: status_path: '/st atus' is not a path (/status), or longer than 255\n");
	LOAD_FAILS(&c, ini("[server]\nrecycle_concurrency = 0\n"),
		   "FILE:2: recycle_concurrency: 0 is out of range (1 to 64)\n");
	/* What a reload may change, and what needs a restart. */
	LOAD_OK(&c, ini("[server]\nlisten = /tmp/a.sock\nworkers = 2\n"));
	LOAD_OK(&d, ini("[server]\nlisten = /tmp/a.sock\nworkers = 5\nmax_requests = 9\n"));
	CHECK(fw_config_restart_needed(&c, &d) == NULL);
	LOAD_OK(&d, ini("[server]\nlisten = /tmp/b.sock\nworkers = 2\n"));
	CHECK_EQ_STR(fw_config_restart_needed(&c, &d), "listen");
	LOAD_OK(&d, ini("[server]\nlisten = /tmp/a.sock\nbacklog = 7\n"));
	CHECK_EQ_STR(fw_config_restart_needed(&c, &d), "backlog");
}

/* The derived scoreboard name: the same for the same listen list, apart for relative sockets in two directories. */
static void test_state_path(void)
{
	struct fw_config c;
	char a[256], b[256], cwd[4096];

	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		CHECK(0);
		return;
	}
	setenv("FW_SERVER_LISTEN", "/run/x.sock, scgi:127.0.0.1:9001", 1);
	if (LOAD_OK(&c, NULL)) {
		fw_config_state_path(&c, a, sizeof(a));
		CHECK(chdir(dir) == 0);
		fw_config_state_path(&c, b, sizeof(b));
		CHECK_EQ_STR(a, b);
		CHECK(strstr(a, "/fw-") != NULL && strstr(a, ".state") != NULL);
	}
	setenv("FW_SERVER_LISTEN", "./x.sock", 1);
	if (LOAD_OK(&c, NULL)) {
		fw_config_state_path(&c, a, sizeof(a));
		CHECK(chdir("/") == 0);
		fw_config_state_path(&c, b, sizeof(b));
		CHECK(strcmp(a, b) != 0);
	}
	setenv("FW_SERVER_STATE_PATH", "/run/app/app.state", 1);
	if (LOAD_OK(&c, NULL)) {
		fw_config_state_path(&c, a, sizeof(a));
		CHECK_EQ_STR(a, "/run/app/app.state");
	}
	unsetenv("FW_SERVER_STATE_PATH");
	unsetenv("FW_SERVER_LISTEN");
	CHECK(chdir(cwd) == 0);
}

/* [app]: any key, FW_APP_* over it, by value in the struct; default_type and max_form_fields. */
static void test_app_and_request_keys(void)
{
	static struct fw_config c, copy;
	struct fw_buf big = FW_BUF_INIT;

	LOAD_OK(&c,
		ini("[server]\nworkers = 1\n[app]\ndb_path = /var/lib/x.db\nSecret = s e c r e t ; no\n"
		    "feature.flag = on\nempty =\n"));
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "db_path"), "/var/lib/x.db");
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "DB_PATH"), "/var/lib/x.db");
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "secret"), "s e c r e t"); /* inih drops " ; no" */
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "feature_flag"), "on");
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "empty"), "");
	CHECK(fw_app_settings_get(&c.app, "missing") == NULL);
	CHECK_EQ_STR(c.default_type, "text/plain; charset=utf-8");
	CHECK_EQ_INT(c.max_form_fields, 1000);
	/* A copy by value holds the same and shares nothing. */
	copy = c;
	LOAD_OK(&c, ini("[app]\ndb_path = /other\n"));
	CHECK_EQ_STR(fw_app_settings_get(&copy.app, "db_path"), "/var/lib/x.db");
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "db_path"), "/other");
	CHECK(fw_app_settings_get(&c.app, "secret") == NULL);

	/* The environment wins, and may add keys. */
	setenv("FW_APP_DB_PATH", "/from/env", 1);
	setenv("FW_APP_FEATURE_FLAG", "off", 1);
	setenv("FW_APP_ONLY_HERE", "1", 1);
	LOAD_OK(&c, ini("[app]\ndb_path = /file\nfeature-flag = on\n"));
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "db_path"), "/from/env");
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "feature-flag"), "off");
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "only_here"), "1");
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "only.here"), "1");
	LOAD_OK(&c, NULL); /* no file: the environment alone */
	CHECK_EQ_STR(fw_app_settings_get(&c.app, "db_path"), "/from/env");
	clear_env();

	/* Errors name the line. */
	LOAD_FAILS(&c, ini("[app]\na = 1\nA = 2\n"), "FILE:3: [app] key 'A' is set twice\n");
	LOAD_FAILS(&c, ini("[app]\nbad key! = 1\n"),
		   "FILE:2: [app] key 'bad key!': use up to 255 letters, digits, '_', '.' and '-'\n");
	LOAD_FAILS(&c, ini("[apps]\na = 1\n"), "FILE:1: unknown section [apps]\n");
	fw_buf_puts(&big, "[app]\n");
	for (int i = 0; i < 400; i++) {
		fw_buf_printf(&big, "key%d = ", i);
		for (int k = 0; k < 100; k++)
			fw_buf_putc(&big, 'v');
		fw_buf_putc(&big, '\n');
	}
	CHECK(fw_config_load(&c, ini(big.data), &big) == -1 &&
	      strstr(big.data, "more than 32 KiB") != NULL);
	fw_buf_release(&big);

	LOAD_OK(&c, ini("[server]\ndefault_type = application/octet-stream\nmax_form_fields = 5\n"));
	CHECK_EQ_STR(c.default_type, "application/octet-stream");
	CHECK_EQ_INT(c.max_form_fields, 5);
	LOAD_OK(&c, ini("[server]\ndefault_type =\n"));
	CHECK_EQ_STR(c.default_type, "");
	LOAD_FAILS(&c, ini("[server]\ndefault_type = html\n"),
		   "FILE:2: default_type: 'html' is not a media type (text/html; charset=utf-8) of at "
		   "most 127 characters\n");
	LOAD_FAILS(&c, ini("[server]\nmax_form_fields = 0\n"),
		   "FILE:2: max_form_fields: 0 is out of range (1 to 1000000)\n");
}

/* [pg]: the PostgreSQL pool's keys, FW_PG_* over them, typos in FW_PG_* caught. */
static void test_pg_keys(void)
{
	static struct fw_config c;

	LOAD_OK(&c, NULL);
	CHECK_EQ_STR(c.pg.conninfo, "");
	CHECK_EQ_INT(c.pg.pool_size, 4);
	CHECK_EQ_INT(c.pg.connect_timeout_ms, 5000);
	CHECK_EQ_INT(c.pg.query_timeout_ms, 30000);
	CHECK_EQ_INT(c.pg.max_waiting, 1024);
	CHECK_EQ_INT(c.pg.reconnect_max_ms, 5000);
	LOAD_OK(&c, ini("[pg]\nconninfo = host=/run/postgresql dbname='my app' user=app\npool_size = 8\n"
			"connect_timeout_ms = 250\nquery_timeout_ms = 0\nmax_waiting = "
			"0\nreconnect_max_ms = 100\n"));
	CHECK_EQ_STR(c.pg.conninfo, "host=/run/postgresql dbname='my app' user=app");
	CHECK_EQ_INT(c.pg.pool_size, 8);
	CHECK_EQ_INT(c.pg.connect_timeout_ms, 250);
	CHECK_EQ_INT(c.pg.query_timeout_ms, 0);
	CHECK_EQ_INT(c.pg.max_waiting, 0);
	CHECK_EQ_INT(c.pg.reconnect_max_ms, 100);

	setenv("FW_PG_CONNINFO", "postgresql://app@db.internal/app", 1);
	setenv("FW_PG_POOL_SIZE", "2", 1);
	if (LOAD_OK(&c, ini("[pg]\nconninfo = host=/tmp\npool_size = 8\n"))) {
		CHECK_EQ_STR(c.pg.conninfo, "postgresql://app@db.internal/app");
		CHECK_EQ_INT(c.pg.pool_size, 2);
	}
	clear_env();
	setenv("FW_PG_POOL", "2", 1);
	LOAD_FAILS(&c, NULL, "environment FW_PG_POOL: unknown key\n");
	clear_env();
	/* The value is not repeated in the message: a connection string may hold a password. */
	setenv("FW_PG_CONNINFO", "password=secret\x01", 1);
	LOAD_FAILS(&c, NULL, "environment FW_PG_CONNINFO: a control character in the value\n");
	clear_env();

	LOAD_FAILS(&c, ini("[pg]\npool_size = 0\nquery_timeout_ms = -1\nconnect_timeout_ms = 99\n"),
		   "FILE:2: pool_size: 0 is out of range (1 to 1000)\n"
		   "FILE:3: query_timeout_ms: -1 is out of range (0 to 86400000)\n"
		   "FILE:4: connect_timeout_ms: 99 is out of range (100 to 600000)\n");
	LOAD_FAILS(&c, ini("[pg]\npoolsize = 2\n"), "FILE:2: unknown key 'poolsize' in [pg]\n");
	LOAD_FAILS(&c, ini("[server]\npool_size = 2\n"),
		   "FILE:2: unknown key 'pool_size' in [server]\n");
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fw-test-config-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	clear_env();
	test_defaults();
	test_valid_file();
	test_workers_auto_and_mode();
	test_file_errors();
	test_long_lines();
	test_many_errors();
	test_env();
	test_addr();
	test_recycling_keys();
	test_state_path();
	test_app_and_request_keys();
	test_pg_keys();

	for (int i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/t%d.ini", dir, i);
		unlink(path);
	}
	rmdir(dir);
	return check_done();
}
