/* JSON output helpers: enough to write status pages and echo params. */
#ifndef FW_CORE_JSON_H
#define FW_CORE_JSON_H

#include <stddef.h>
#include "core/buf.h"

/*
 * Append s[0..len) as a quoted JSON string. Control characters, quotes and
 * backslashes are escaped; bytes that are not valid UTF-8 become U+FFFD, so
 * the output is always valid JSON whatever the input.
 */
int fw_json_string(struct fw_buf *b, const char *s, size_t len);

#endif
