/*
 * A tiny test helper: checks print "file:line: message" on stderr and count
 * failures; main() ends with `return check_done();`, which is non-zero when
 * any check failed. Each CHECK* is an expression that yields whether it
 * passed, so a test can stop before using a value that is not there:
 *     if (!CHECK(p != NULL)) return;
 * One test executable per module: the counters are per translation unit.
 */
#ifndef FW_TEST_CHECK_H
#define FW_TEST_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int check_count;
static int check_failures;

static inline bool check_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline bool check_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	check_failures++;
	return false;
}

static inline bool check_true(const char *file, int line, bool ok, const char *expr)
{
	check_count++;
	return ok || check_fail(file, line, "CHECK(%s) failed", expr);
}

static inline bool check_eq_int(const char *file, int line, intmax_t a, intmax_t b, const char *ea,
				const char *eb)
{
	check_count++;
	return a == b || check_fail(file, line, "%s == %s failed: %jd != %jd", ea, eb, a, b);
}

static inline bool check_eq_uint(const char *file, int line, uintmax_t a, uintmax_t b, const char *ea,
				 const char *eb)
{
	check_count++;
	return a == b ||
	       check_fail(file, line, "%s == %s failed: %ju (0x%jx) != %ju (0x%jx)", ea, eb, a, a, b, b);
}

/* Print up to 60 bytes of p[0..n) escaped, for messages. */
static inline void check_print_mem(const void *p, size_t n)
{
	const unsigned char *s = p;

	fputc('"', stderr);
	for (size_t i = 0; i < n && i < 60; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
			fputc(s[i], stderr);
		else
			fprintf(stderr, "\\x%02x", s[i]);
	}
	fputs(n > 60 ? "\"..." : "\"", stderr);
}

static inline bool check_eq_mem(const char *file, int line, const void *a, size_t alen, const void *b,
				size_t blen, const char *ea, const char *eb)
{
	size_t i = 0;

	check_count++;
	if (alen == 0 && blen == 0)
		return true; /* whatever the pointers */
	if (a == NULL || b == NULL)
		return check_fail(file, line, "%s == %s failed: %s is NULL", ea, eb, a ? eb : ea);
	if (alen == blen && memcmp(a, b, alen) == 0)
		return true;
	while (i < alen && i < blen && ((const char *)a)[i] == ((const char *)b)[i])
		i++;
	fprintf(stderr, "%s:%d: %s == %s failed: lengths %zu and %zu, first difference at %zu\n  ", file,
		line, ea, eb, alen, blen, i);
	check_print_mem(a, alen);
	fputs("\n  ", stderr);
	check_print_mem(b, blen);
	fputc('\n', stderr);
	check_failures++;
	return false;
}

static inline bool check_eq_str(const char *file, int line, const char *a, const char *b, const char *ea,
				const char *eb)
{
	check_count++;
	if (a != NULL && b != NULL && strcmp(a, b) == 0)
		return true;
	if (a == NULL && b == NULL)
		return true;
	fprintf(stderr, "%s:%d: %s == %s failed:\n  ", file, line, ea, eb);
	if (a != NULL)
		check_print_mem(a, strlen(a));
	else
		fputs("NULL", stderr);
	fputs("\n  ", stderr);
	if (b != NULL)
		check_print_mem(b, strlen(b));
	else
		fputs("NULL", stderr);
	fputc('\n', stderr);
	check_failures++;
	return false;
}

/*
 * Run fn() in a child process, for code that may crash: the failure is
 * reported here and the rest of the tests still run. The child's own check
 * failures come back as its exit status.
 */
static inline bool check_in_child(const char *file, int line, void (*fn)(void), const char *name)
{
	int status;
	pid_t pid;

	check_count++;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0)
		return check_fail(file, line, "%s: fork failed", name);
	if (pid == 0) {
		check_failures = 0;
		fn();
		_exit(check_failures > 100 ? 100 : check_failures);
	}
	if (waitpid(pid, &status, 0) != pid)
		return check_fail(file, line, "%s: waitpid failed", name);
	if (WIFSIGNALED(status))
		return check_fail(file, line, "%s crashed (signal %d)", name, WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		return check_fail(file, line, "%s failed (child exit status %d)", name,
				  WEXITSTATUS(status));
	return true;
}

#define CHECK(cond) check_true(__FILE__, __LINE__, (cond) ? true : false, #cond)
#define CHECK_EQ_INT(a, b) check_eq_int(__FILE__, __LINE__, (intmax_t)(a), (intmax_t)(b), #a, #b)
#define CHECK_EQ_UINT(a, b) check_eq_uint(__FILE__, __LINE__, (uintmax_t)(a), (uintmax_t)(b), #a, #b)
#define CHECK_EQ_STR(a, b) check_eq_str(__FILE__, __LINE__, (a), (b), #a, #b)
#define CHECK_EQ_MEM(a, alen, b, blen) check_eq_mem(__FILE__, __LINE__, (a), (alen), (b), (blen), #a, #b)
#define CHECK_IN_CHILD(fn) check_in_child(__FILE__, __LINE__, (fn), #fn)

static inline int check_done(void)
{
	printf("%d checks, %d failed\n", check_count, check_failures);
	return check_failures > 0 ? 1 : 0;
}

#endif
