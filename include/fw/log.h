/*
 * Logging for application code, into the same error log as fw's own lines:
 * "2026-11-25T17:53:29.123Z [error] 1234: message" (UTC time, level, pid).
 * One line per call, written with a single write(2) so lines of different
 * workers never interleave. A trailing newline in fmt is not needed.
 */
#ifndef FW_LOG_H
#define FW_LOG_H

#include <fw/api.h>

#ifdef __cplusplus
extern "C" {
#endif

enum fw_log_level {
	FW_LOG_ERROR = 0,
	FW_LOG_WARN = 1,
	FW_LOG_INFO = 2,
	FW_LOG_DEBUG = 3,
};

FW_API void fw_log(enum fw_log_level level, const char *fmt, ...) FW_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif

#endif
