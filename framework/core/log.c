#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"

#define LOG_MIN(a, b) ((a) < (b) ? (a) : (b))

static enum fw_log_level log_level = FW_LOG_INFO;
static char log_path[256];   /* "" for stderr as it came */
static int orig_stderr = -1; /* that stderr, kept while the log is a file */
static struct fw_buf *capture;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void fw_log_set_level(enum fw_log_level level)
{
	log_level = level;
}

void fw_log_capture(struct fw_buf *b)
{
	capture = b;
}

int fw_log_file_open(const char *path, bool follow_links)
{
	int fd = open(path,
		      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK |
			      (follow_links ? 0 : O_NOFOLLOW),
		      0644);
	struct stat st;

	if (fd < 0)
		return -1;
	/* Writes block again as they should (a full pipe): only the open had to not wait. */
	if (fstat(fd, &st) != 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

int fw_log_open(const char *path)
{
	int fd;

	if (strcmp(path, "stderr") == 0) {
		/* Back from a file (a reload): the stderr the process was given. */
		if (log_path[0] != '\0' && orig_stderr >= 0 && dup2(orig_stderr, STDERR_FILENO) < 0)
			return -1;
		log_path[0] = '\0';
		return 0;
	}
	/*
	 * The master opens it as root, in a directory that may belong to the
	 * user it drops to: a symbolic link planted there must not make root
	 * append to /etc/passwd or the like. A link root owns (/dev/stderr) is
	 * followed.
	 */
	if ((fd = fw_log_file_open(path, false)) < 0) {
		struct stat st;
		int err = errno;

		if (err != ELOOP || lstat(path, &st) != 0 || !S_ISLNK(st.st_mode) || st.st_uid != 0) {
			errno = err;
			return -1;
		}
		if ((fd = fw_log_file_open(path, true)) < 0)
			return -1;
	}
	/* Keep the stderr we were given, for a reload back to "stderr". */
	if (orig_stderr < 0 && (orig_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	/* dup2 replaces fd 2 in one step: no moment without a log. */
	if (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	if (path != log_path) /* a reopen passes log_path itself: no overlapping copy */
		snprintf(log_path, sizeof(log_path), "%s", path);
	return 0;
}

int fw_log_reopen(void)
{
	return log_path[0] != '\0' ? fw_log_open(log_path) : 0;
}

enum fw_log_level fw_log_get_level(void)
{
	return log_level;
}

int fw_log_level_parse(const char *s, enum fw_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum fw_log_level)i;
			return 0;
		}
	}
	return -1;
}

/*
 * The message part of a line (after `prefix`) with what a client may have
 * put in it made harmless: a request path or header logged as it came
 * must not start a line of its own that looks like the server's (a forged
 * "TIME [error] PID: ..."), nor carry terminal escapes. A newline inside
 * the message is kept for multi-line messages but the next line is
 * indented (a continuation, never a new entry); CR and other control bytes
 * become \xHH. Writes at most cap bytes to out; returns the length.
 */
static size_t log_sanitize(const char *in, size_t n, size_t prefix, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o < cap; i++) {
		unsigned char c = (unsigned char)in[i];

		if (i < prefix || c == '\t' || (c >= 0x20 && c != 0x7f)) {
			out[o++] = (char)c;
		} else if (c == '\n') {
			if (o + 3 > cap)
				break;
			memcpy(out + o, "\n  ", 3);
			o += 3;
		} else {
			if (o + 4 > cap)
				break;
			snprintf(out + o, 5, "\\x%02X", c);
			o += 4;
		}
	}
	return o;
}

/*
 * Formats into a stack buffer and writes once: lines from several
 * processes sharing stderr stay whole (a pipe write up to PIPE_BUF is
 * atomic), and logging allocates nothing, so it is safe on any path.
 */
void fw_logv(enum fw_log_level level, int err, const char *fmt, va_list ap)
{
	char line[2048], safe[2048];
	struct timespec ts;
	struct tm tm;
	size_t n, prefix, cap = sizeof(line) - 1; /* room for the newline */
	int r;

	if (!fw_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(&tm, 0, sizeof(tm));
	fw_utc(ts.tv_sec, &tm);
	n = strftime(line, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, cap - n, ".%03ldZ [%s] %ld: ", ts.tv_nsec / 1000000L, level_names[level],
		     (long)getpid());
	n += r > 0 ? (size_t)r : 0;
	prefix = n;
	r = vsnprintf(line + n, cap - n, fmt, ap);
	n = r < 0 ? n : LOG_MIN(n + (size_t)r, cap - 1);
	if (err != 0 && n < cap - 1) {
		r = snprintf(line + n, cap - n, ": %s", strerror(err));
		n = r < 0 ? n : LOG_MIN(n + (size_t)r, cap - 1);
	}
	while (n > 0 && line[n - 1] == '\n')
		n--;
	n = log_sanitize(line, n, prefix, safe, sizeof(safe) - 1);
	safe[n++] = '\n';
	if (capture != NULL) {
		/* The message after "TIME [level] PID: ", with its level. */
		const char *msg = memchr(safe, '[', n);
		if (msg != NULL)
			fw_buf_append(capture, msg, (size_t)(safe + n - msg));
	}
	/* Nothing sensible to do if the log itself fails. */
	ssize_t w = write(STDERR_FILENO, safe, n);
	(void)w;
}

void fw_log(enum fw_log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	fw_logv(level, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void fw_log_errno(enum fw_log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	fw_logv(level, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}
