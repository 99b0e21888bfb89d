/* core/log.c: what a client puts in a logged string cannot forge a line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	test_forged_line();
	return check_done();
}
