/*
 * The error log: one line per call, "TIME [level] PID: message", written
 * with one write(2) to the log fd (stderr unless fw_log_open() says other).
 *
 * fw_log() (public, <fw/log.h>) logs a message; fw_log_errno() appends
 * ": strerror(errno)" with the errno at the time of the call, so the
 * message should name the failing call: fw_log_errno(FW_LOG_ERROR,
 * "accept") -> "accept: Too many open files".
 */
#ifndef FW_CORE_LOG_H
#define FW_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <fw/log.h>

struct fw_buf;

void fw_log_set_level(enum fw_log_level level);

/*
 * Send the log (stderr itself, so that library and sanitizer output go
 * along) to a file, or keep stderr ("stderr"). The file is opened for
 * appending and put on fd 2. 0, or -1 with errno.
 */
int fw_log_open(const char *path);

/*
 * Open a log file for appending (created 0644): without waiting on a FIFO
 * that has no reader (ENXIO instead; a planted one would hang the opener),
 * and, unless follow_links, not through a symbolic link (ELOOP). Only a
 * regular file, a FIFO or a character device is accepted (EINVAL). The
 * fd, or -1 with errno.
 */
int fw_log_file_open(const char *path, bool follow_links);

/* Open the same file again (logrotate moved it): SIGUSR1. 0, or -1 with errno. */
int fw_log_reopen(void);

/* While b is not NULL, every line logged is also appended to it ("[level] message\n"). */
void fw_log_capture(struct fw_buf *b);
enum fw_log_level fw_log_get_level(void);
int fw_log_level_parse(const char *s, enum fw_log_level *out);
void fw_log_errno(enum fw_log_level level, const char *fmt, ...) FW_PRINTF(2, 3);
void fw_logv(enum fw_log_level level, int err, const char *fmt, va_list ap);

/* Skip formatting when the level is filtered out: the hot path calls this. */
#define fw_log_enabled(level) ((level) <= fw_log_get_level())

#endif
