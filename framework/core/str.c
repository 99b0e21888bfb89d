#include "core/str.h"

#include <string.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

size_t fw_percent_decode(char *s, size_t len, bool plus)
{
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%' && len - i >= 3) {
			int hi = hexval((unsigned char)s[i + 1]);
			int lo = hexval((unsigned char)s[i + 2]);

			if (hi >= 0 && lo >= 0) {
				s[o++] = (char)(hi << 4 | lo);
				i += 3;
				continue;
			}
		}
		s[o++] = plus && c == '+' ? ' ' : (char)c;
		i++;
	}
	return o;
}

static unsigned char cgi_char(unsigned char c)
{
	if (c == '-')
		return '_';
	if (c >= 'a' && c <= 'z')
		return (unsigned char)(c - 'a' + 'A');
	return c;
}

static bool same_as_cgi(const char *header, const char *cgi)
{
	for (; *header != '\0'; header++, cgi++) {
		if (cgi_char((unsigned char)*header) != (unsigned char)*cgi)
			return false;
	}
	return *cgi == '\0';
}

bool fw_header_is_cgi(const char *header, const char *cgi)
{
	if (strncmp(cgi, "HTTP_", 5) == 0) {
		/* nginx never sends HTTP_CONTENT_TYPE; a client-made one is not it. */
		if (strcmp(cgi, "HTTP_CONTENT_TYPE") == 0 || strcmp(cgi, "HTTP_CONTENT_LENGTH") == 0)
			return false;
		return same_as_cgi(header, cgi + 5);
	}
	if (strcmp(cgi, "CONTENT_TYPE") == 0 || strcmp(cgi, "CONTENT_LENGTH") == 0)
		return same_as_cgi(header, cgi);
	return false;
}

bool fw_is_token(const char *s)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      strchr(extra, c) != NULL))
			return false;
	}
	return true;
}

bool fw_parse_uint(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > max / 10)
			return false;
		v *= 10;
		if (d > max - v)
			return false;
		v += d;
	}
	*out = v;
	return true;
}

/* How many dots s[0..len) is made of, reading %2e/%2E as one; -1 for anything else. */
static int dots(const char *s, size_t len)
{
	int n = 0;

	for (size_t i = 0; i < len; n++) {
		if (s[i] == '.')
			i++;
		else if (len - i >= 3 && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] | 0x20) == 'e')
			i += 3;
		else
			return -1;
	}
	return n;
}

bool fw_path_dot_segment(const char *path)
{
	const char *p = path;

	for (;;) {
		size_t len = strcspn(p, "/");
		int n = dots(p, len);

		if (n == 1 || n == 2)
			return true;
		if (p[len] == '\0')
			return false;
		p += len + 1;
	}
}
