#include "http/mime.h"

#include <string.h>
#include <strings.h>

#include "core/result.h"

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

bool fw_mime_is(const char *value, size_t len, const char *type)
{
	const char *end = memchr(value, ';', len);
	size_t n = end != NULL ? (size_t)(end - value) : len, tlen = strlen(type);

	while (n > 0 && is_ows(value[0])) {
		value++;
		n--;
	}
	while (n > 0 && is_ows(value[n - 1]))
		n--;
	return n == tlen && strncasecmp(value, type, tlen) == 0;
}

/* A quoted-string at s[i] == '"': its content's length, or FW_ERROR. */
static long quoted_len(const char *s, size_t len, size_t i)
{
	size_t start = ++i;

	while (i < len && s[i] != '"') {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' && i + 1 < len)
			c = (unsigned char)s[++i]; /* the escaped byte is checked too */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return FW_ERROR;
		i++;
	}
	return i < len ? (long)(i - start) : FW_ERROR;
}

int fw_mime_param_next(const char *s, size_t len, size_t *pos, struct fw_mime_param *p)
{
	size_t i = *pos;

	if (i == 0) { /* the type */
		const char *semi = memchr(s, ';', len);
		i = semi != NULL ? (size_t)(semi - s) : len;
	}
	for (;;) { /* OWS ";" OWS, empty parameters allowed */
		while (i < len && is_ows(s[i]))
			i++;
		if (i == len) {
			*pos = i;
			return FW_AGAIN;
		}
		if (s[i] != ';')
			return FW_ERROR;
		i++;
		while (i < len && is_ows(s[i]))
			i++;
		if (i < len && s[i] != ';')
			break;
	}
	p->name = s + i;
	while (i < len && is_tchar((unsigned char)s[i]))
		i++;
	p->name_len = (size_t)(s + i - p->name);
	if (p->name_len == 0 || i == len || s[i] != '=')
		return FW_ERROR;
	i++;
	if (i < len && s[i] == '"') {
		long n = quoted_len(s, len, i);

		if (n < 0)
			return FW_ERROR;
		p->quoted = true;
		p->value = s + i + 1;
		p->value_len = (size_t)n;
		i += (size_t)n + 2;
	} else {
		p->quoted = false;
		p->value = s + i;
		while (i < len && is_tchar((unsigned char)s[i]))
			i++;
		p->value_len = (size_t)(s + i - p->value);
		if (p->value_len == 0)
			return FW_ERROR;
	}
	*pos = i;
	return FW_OK;
}

size_t fw_mime_unquote(const char *in, size_t len, char *out, bool msie)
{
	static const char tspecials[] = "()<>@,;:\\\"/[]?=";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\\' && i + 1 < len && (!msie || strchr(tspecials, in[i + 1]) != NULL))
			i++;
		out[o++] = in[i];
	}
	return o;
}
