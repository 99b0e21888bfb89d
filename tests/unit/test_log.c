/* core/log.c: what a client puts in a logged string cannot forge a line. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"

/* Lines starting as the server's own do: "YYYY-MM-DDTHH:MM:SS". */
static int entries(const char *text)
{
	int n = 0;

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += strlen(p) >= 20 && p[4] == '-' && p[10] == 'T' && p[19] == '.';
	return n;
}

static void test_forged_line(void)
{
	char path[] = "/tmp/fw-test-log-XXXXXX", text[8192];
	struct fw_buf cap = FW_BUF_INIT;
	int fd = mkstemp(path), saved = dup(2);
	FILE *f;
	size_t n;

	if (!CHECK(fd >= 0 && saved >= 0))
		return;
	close(fd);
	CHECK(fw_log_open(path) == 0);
	fw_log_capture(&cap);
	fw_log(FW_LOG_WARN, "GET %s: no answer",
	       "/x\n2026-11-25T20:00:00.000Z [error] 1: forged\r\x1b[2J");
	fw_log(FW_LOG_INFO, "two lines:\nsecond\tline");
	fw_log_capture(NULL);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	if (!CHECK(f != NULL))
		return;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(path);
	CHECK_EQ_INT(entries(text), 2);
	CHECK(strstr(text, "\n  2026-11-25T20:00:00.000Z [error] 1: forged\\x0D\\x1B[2J: no answer\n") !=
	      NULL);
	CHECK(strstr(text, "two lines:\n  second\tline\n") != NULL);
	CHECK(cap.len > 0 && strstr(cap.data, "[warn]") == cap.data);
	CHECK(cap.len > 0 && memmem(cap.data, cap.len, "\n  2026", 7) != NULL);
	fw_buf_release(&cap);
}

/* error_log through a symbolic link another user planted: not followed (root opens it). */
static void test_planted_link(void)
{
	char dir[] = "/tmp/fw-test-logdir-XXXXXX", target[64], link[64], text[64] = "";
	int saved = dup(2);
	FILE *f;

	if (!CHECK(mkdtemp(dir) != NULL && saved >= 0))
		return;
	snprintf(target, sizeof(target), "%s/passwd", dir);
	snprintf(link, sizeof(link), "%s/error.log", dir);
	f = fopen(target, "w");
	if (!CHECK(f != NULL))
		return;
	fputs("root:x:0:0\n", f);
	fclose(f);
	CHECK(symlink(target, link) == 0);
	if (geteuid() == 0 && lchown(link, 65534, 65534) == 0) {
		errno = 0;
		CHECK(fw_log_open(link) != 0);
		CHECK_EQ_INT(errno, ELOOP);
		fw_log(FW_LOG_ERROR, "must not land in %s", target);
	}
	/* One of our own (root's /dev/stderr, say) is followed. */
	CHECK(lchown(link, geteuid(), getegid()) == 0);
	CHECK(fw_log_open(link) == 0);
	fw_log(FW_LOG_INFO, "through our own link");
	CHECK(fw_log_open("stderr") == 0);
	dup2(saved, 2);
	close(saved);
	f = fopen(target, "r");
	if (CHECK(f != NULL)) {
		CHECK(fgets(text, sizeof(text), f) != NULL);
		CHECK_EQ_STR(text, "root:x:0:0\n");
		CHECK(fgets(text, sizeof(text), f) != NULL &&
		      strstr(text, "through our own link") != NULL);
		CHECK(fgets(text, sizeof(text), f) == NULL);
		fclose(f);
	}
	unlink(link);
	unlink(target);
	rmdir(dir);
}

/* Does fw_utc() disagree with gmtime_r() at t? */
static int utc_differs(time_t t)
{
	struct tm want, got;

	memset(&got, 0, sizeof(got));
	gmtime_r(&t, &want);
	fw_utc(t, &got);
	return got.tm_year != want.tm_year || got.tm_mon != want.tm_mon || got.tm_mday != want.tm_mday ||
	       got.tm_hour != want.tm_hour || got.tm_min != want.tm_min || got.tm_sec != want.tm_sec;
}

/* fw_utc() against gmtime_r(): edges, leap days, centuries, and a sweep. */
static void test_utc(void)
{
	static const long long edges[] = {
		0,
		-1,
		59,
		86399,
		86400,
		951782400 /* 2000-02-29 */,
		951868800,
		4107542400LL /* 2100-02-28 */,
		4107628800LL,
		1709164800 /* 2024-02-29 */,
		253402300799LL /* 9999-12-31T23:59:59 */,
		-2208988800LL /* 1900-01-01 */,
		-62135596800LL /* 0001-01-01 */,
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		for (long long d = -2; d <= 2; d++)
			bad += utc_differs((time_t)(edges[i] + d));
	/* Every 768,143 s (7919 x 97: all times of day, every month) over 1970..2106. */
	for (long long t = 0; t < 4294967296LL; t += 7919 * 97)
		bad += utc_differs((time_t)t);
	CHECK(bad == 0);
}

int main(void)
{
	test_utc();
	test_forged_line();
	test_planted_link();
	return check_done();
}
