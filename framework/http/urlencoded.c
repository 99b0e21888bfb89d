#include "http/urlencoded.h"

#include <string.h>

#include "core/str.h"

size_t fw_urlencoded_count(const char *s, size_t len)
{
	size_t n = 1;

	for (const char *p = s, *end = s + len; (p = memchr(p, '&', (size_t)(end - p))) != NULL; p++)
		n++;
	return n;
}

/* Decode p[0..len) in place and end it with a NUL (which fits: decoding never grows). */
static char *decode_cut(char *p, size_t len)
{
	p[fw_percent_decode(p, len, true)] = '\0';
	return p;
}

size_t fw_urlencoded_split(char *s, size_t len, struct fw_pair *out, size_t max)
{
	char *p = s, *end = s + len;
	size_t n = 0;

	while (p < end) {
		char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp != NULL ? amp : end;
		char *eq = memchr(p, '=', (size_t)(stop - p));

		if (stop > p) {
			if (n < max) {
				char *value = eq != NULL ? eq + 1 : stop;

				/* The value first: decoding the name writes a NUL at '='. */
				out[n].value = decode_cut(value, (size_t)(stop - value));
				out[n].name = decode_cut(p, (size_t)((eq != NULL ? eq : stop) - p));
			}
			n++;
		}
		p = stop + 1;
	}
	*end = '\0';
	return n;
}
