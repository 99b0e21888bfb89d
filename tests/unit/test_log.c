/* core/log.c: what a client puts in a logged string cannot forge a line. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "core/buf.h"
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
	fw_log(FW_LOG_WARN, "GET %s: no answer", "/x\n2026-11-25T20:00:00.000Z [error] 1: forged\r\x1b[2J");
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
	CHECK(strstr(text, "\n  2026-11-25T20:00:00.000Z [error] 1: forged\\x0D\\x1B[2J: no answer\n") != NULL);
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
		CHECK(fgets(text, sizeof(text), f) != NULL && strstr(text, "through our own link") != NULL);
		CHECK(fgets(text, sizeof(text), f) == NULL);
		fclose(f);
	}
	unlink(link);
	unlink(target);
	rmdir(dir);
}

int main(void)
{
	test_forged_line();
	test_planted_link();
	return check_done();
}
