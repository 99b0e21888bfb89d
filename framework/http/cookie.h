/*
 * The Cookie header (RFC 6265 5.4, read as browsers send it) and the
 * Set-Cookie line (RFC 6265 4.1). Pure: no allocation, no I/O.
 */
#ifndef FW_HTTP_COOKIE_H
#define FW_HTTP_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <fw/cookie.h>

#include "core/buf.h"

/* A cookie of a Cookie header: slices of it, not NUL-terminated. */
struct fw_cookie_pair {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/*
 * The next cookie of the header s[0..len) from *pos (0 at first): pairs
 * split at ';', blanks (space, tab) around them dropped, empty ones
 * skipped; a pair without '=' is a cookie with an empty name; a value in
 * double quotes loses them. Returns false when there is none left.
 */
bool fw_cookie_next(const char *s, size_t len, size_t *pos, struct fw_cookie_pair *c);

/* An RFC 6265 cookie-value: cookie-octets, perhaps in double quotes. */
bool fw_cookie_value_ok(const char *v);

/*
 * Append the Set-Cookie value for name, value and opts (NULL: defaults;
 * https decides the default of Secure) to out. 0, or -1 with *error
 * (invalid name, value or attribute; out of memory), out unchanged.
 */
int fw_cookie_format(struct fw_buf *out, const char *name, const char *value, const fw_cookie_opts *opts,
		     bool https, const char **error);

#endif
