/*
 * application/x-www-form-urlencoded: query strings and form bodies. Pure:
 * no I/O, no allocation; the caller owns the bytes and the pair array.
 */
#ifndef FW_HTTP_URLENCODED_H
#define FW_HTTP_URLENCODED_H

#include <stddef.h>

/* A decoded name and value, both NUL-terminated. */
struct fw_pair {
	const char *name;
	const char *value;
};

/* An upper bound of the pairs in s[0..len): one more than its '&' bytes. */
size_t fw_urlencoded_count(const char *s, size_t len);

/*
 * Split s[0..len) at '&' into name=value pairs, each cut at its first '='
 * and percent-decoded in place ('+' is a space), names and values
 * NUL-terminated where they lie; s[len] must be writable (it becomes NUL).
 * Empty parts ("a&&b") are skipped; "a" and "a=" give the value "". A
 * decoded NUL byte ends its C string early. Fills out[0..max) in order and
 * returns the number of pairs, which is more than max when some did not fit.
 */
size_t fw_urlencoded_split(char *s, size_t len, struct fw_pair *out, size_t max);

#endif
