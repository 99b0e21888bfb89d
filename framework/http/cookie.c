#include "http/cookie.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/str.h"

#define COOKIE_MAX 4096 /* name + value: what browsers keep at most (RFC 6265bis) */

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

bool fw_cookie_next(const char *s, size_t len, size_t *pos, struct fw_cookie_pair *c)
{
	size_t i = *pos;

	while (i < len) {
		const char *semi = memchr(s + i, ';', len - i);
		size_t end = semi != NULL ? (size_t)(semi - s) : len, b = i, e = end;
		const char *eq;

		*pos = i = semi != NULL ? end + 1 : len;
		while (b < e && blank(s[b]))
			b++;
		while (e > b && blank(s[e - 1]))
			e--;
		if (b == e)
			continue;
		if ((eq = memchr(s + b, '=', e - b)) == NULL) {
			c->name = s + b; /* empty name: the text is the value (RFC 6265bis 5.7) */
			c->name_len = 0;
			c->value = s + b;
			c->value_len = e - b;
		} else {
			size_t ne = (size_t)(eq - s), vb = ne + 1;

			while (ne > b && blank(s[ne - 1]))
				ne--;
			while (vb < e && blank(s[vb]))
				vb++;
			c->name = s + b;
			c->name_len = ne - b;
			c->value = s + vb;
			c->value_len = e - vb;
		}
		if (c->value_len >= 2 && c->value[0] == '"' && c->value[c->value_len - 1] == '"') {
			c->value++;
			c->value_len -= 2;
		}
		return true;
	}
	return false;
}

static bool cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
	       (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

bool fw_cookie_value_ok(const char *v)
{
	size_t n = strlen(v), i = 0;

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		i = 1;
		n--;
	}
	for (; i < n; i++) {
		if (!cookie_octet((unsigned char)v[i]))
			return false;
	}
	return true;
}

static bool domain_ok(const char *d)
{
	if (d[0] == '.')
		d++;
	if (d[0] == '\0' || strlen(d) > 253)
		return false;
	for (; *d != '\0'; d++) {
		unsigned char c = (unsigned char)*d;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

static bool path_ok(const char *p)
{
	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f || c == ';')
			return false;
	}
	return true;
}

/* IMF-fixdate (RFC 9110 5.6.7) with English names whatever the locale. */
static int put_date(struct fw_buf *out, long long t)
{
	static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		return -1;
	return fw_buf_printf(out, "; Expires=%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
			     tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			     tm.tm_sec);
}

/* The checks that need no output; NULL when everything is valid. */
static const char *check(const char *name, const char *value, const fw_cookie_opts *o, bool *secure)
{
	bool host = strncmp(name, "__Host-", 7) == 0;

	if (!fw_is_token(name))
		return "the name is not a token (RFC 6265)";
	if (!fw_cookie_value_ok(value))
		return "the value holds a character a cookie may not (space, '\"', ',', ';', '\\', "
		       "control, non-ASCII): encode it";
	if (strlen(name) + strlen(value) > COOKIE_MAX)
		return "name and value are longer than 4096 bytes";
	if (o->domain != NULL && !domain_ok(o->domain))
		return "the Domain is not a domain name";
	if (o->path != NULL && !path_ok(o->path))
		return "the Path holds a control character or ';'";
	if (o->expires > 253402300799LL) /* 9999-12-31T23:59:59Z: IMF-fixdate has 4 digits */
		return "Expires is beyond the year 9999";
	if (o->same_site == FW_SAME_SITE_NONE || host || strncmp(name, "__Secure-", 9) == 0) {
		if (o->secure == FW_COOKIE_OFF)
			return "SameSite=None, __Secure- and __Host- cookies must be Secure";
		*secure = true;
	}
	if (host && (o->domain != NULL || (o->path != NULL && strcmp(o->path, "/") != 0)))
		return "a __Host- cookie must have no Domain and Path /";
	return NULL;
}

int fw_cookie_format(struct fw_buf *out, const char *name, const char *value, const fw_cookie_opts *opts,
		     bool https, const char **error)
{
	static const fw_cookie_opts defaults;
	static const char *const same_site[] = {"Lax", "Lax", "Strict", "None", NULL};
	const fw_cookie_opts *o = opts != NULL ? opts : &defaults;
	bool secure = o->secure == FW_COOKIE_ON || (o->secure == FW_COOKIE_DEFAULT && https);
	size_t start = out->len;
	const char *path = o->path != NULL ? o->path : "/";
	int r = 0;

	if ((unsigned)o->same_site > FW_SAME_SITE_OMIT || (unsigned)o->secure > FW_COOKIE_OFF ||
	    (unsigned)o->http_only > FW_COOKIE_OFF) {
		*error = "an option holds a value outside its enum";
		return -1;
	}
	if ((*error = check(name, value, o, &secure)) != NULL)
		return -1;
	r |= fw_buf_printf(out, "%s=%s", name, value);
	if (path[0] != '\0')
		r |= fw_buf_printf(out, "; Path=%s", path);
	if (o->domain != NULL)
		r |= fw_buf_printf(out, "; Domain=%s", o->domain);
	if (o->max_age != 0)
		r |= fw_buf_printf(out, "; Max-Age=%lld", o->max_age > 0 ? o->max_age : 0);
	if (o->expires > 0)
		r |= put_date(out, o->expires);
	if (secure)
		r |= fw_buf_puts(out, "; Secure");
	if (o->http_only != FW_COOKIE_OFF)
		r |= fw_buf_puts(out, "; HttpOnly");
	if (same_site[o->same_site] != NULL)
		r |= fw_buf_printf(out, "; SameSite=%s", same_site[o->same_site]);
	if (r != 0) {
		fw_buf_truncate(out, start);
		*error = "out of memory";
		return -1;
	}
	return 0;
}
