/*
 * Media types and their parameters (RFC 9110 5.6.6, 8.3.1) as they come in
 * Content-Type and Content-Disposition: `type; name=token; name="quoted"`.
 * Pure: no allocation, no I/O.
 */
#ifndef FW_HTTP_MIME_H
#define FW_HTTP_MIME_H

#include <stdbool.h>
#include <stddef.h>

/* Is the first item of value[0..len) (up to ';', blanks trimmed) `type`, in any case? */
bool fw_mime_is(const char *value, size_t len, const char *type);

struct fw_mime_param {
	const char *name; /* not NUL-terminated */
	size_t name_len;
	const char *value; /* raw: for a quoted-string, what lies between the quotes */
	size_t value_len;
	bool quoted;
};

/*
 * The next parameter of value[0..len). *pos starts at 0: the first call
 * skips the type. FW_OK with *p, FW_AGAIN when there is none left,
 * FW_ERROR when the rest is not `;` parameters (name=token or
 * name="quoted-string", no control characters but tab).
 */
int fw_mime_param_next(const char *value, size_t len, size_t *pos, struct fw_mime_param *p);

/*
 * The content of a quoted-string in[0..len) with its backslash escapes
 * undone, into out (which may be in: the result is never longer); returns
 * its length. With msie set, a backslash escapes only one of the RFC 2045
 * tspecials: old Internet Explorer sends file paths unescaped
 * (filename="C:\dir\a.txt"), and no sender escapes a plain character.
 */
size_t fw_mime_unquote(const char *in, size_t len, char *out, bool msie);

#endif
