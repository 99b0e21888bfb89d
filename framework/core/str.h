/* Byte-string helpers shared by the protocol and HTTP layers. Pure. */
#ifndef FW_CORE_STR_H
#define FW_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Percent-decode s[0..len) in place ('+' becomes a space when plus is
 * true) and return the new length; the result is never longer. A '%' not
 * followed by two hex digits is kept as it is, as browsers and nginx do.
 */
size_t fw_percent_decode(char *s, size_t len, bool plus);

/*
 * Does the HTTP header name `header` ("Content-Type", any case) name the
 * CGI variable `cgi` ("CONTENT_TYPE", "HTTP_USER_AGENT")? '-' in the
 * header maps to '_'; CONTENT_TYPE and CONTENT_LENGTH carry no HTTP_ prefix.
 */
bool fw_header_is_cgi(const char *header, const char *cgi);

/* An HTTP token (RFC 9110): method names and header names. */
bool fw_is_token(const char *s);

/* Is s[0..len) a decimal number without sign or spaces, <= max? */
bool fw_parse_uint(const char *s, size_t len, unsigned long long max, unsigned long long *out);

/*
 * Has path a dot segment: "." or ".." between slashes (RFC 3986 3.3), also
 * when a dot is written %2e or %2E (the percent-encoded form of an
 * unreserved character means the character, RFC 3986 6.2.2.2)?
 */
bool fw_path_dot_segment(const char *path);

#endif
