/*
 * Cookies: reading the request's Cookie header, and Set-Cookie.
 *
 * fw_cookie() returns a string that lives until the end of the request,
 * like every string of <fw/req.h>. fw_set_cookie() copies what it is given.
 */
#ifndef FW_COOKIE_H
#define FW_COOKIE_H

#include <fw/api.h>
#include <fw/app.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The value of the request cookie `name`, or NULL. The first one wins when
 * a name repeats (browsers send the cookie with the longest Path first).
 * The Cookie header is read the way browsers write it ("a=1; b=2"), and
 * tolerantly: blanks around pairs are dropped, a value in double quotes
 * loses them, a pair without '=' is a cookie with an empty name. Values
 * are not decoded (RFC 6265 has no escaping): a value you set encoded
 * (base64url, percent) comes back as you set it.
 */
FW_API const char *fw_cookie(fw_req *req, const char *name);

enum fw_cookie_flag {
	FW_COOKIE_DEFAULT = 0, /* the default of the attribute (see fw_cookie_opts) */
	FW_COOKIE_ON,
	FW_COOKIE_OFF,
};

enum fw_same_site {
	FW_SAME_SITE_DEFAULT = 0, /* Lax */
	FW_SAME_SITE_LAX,
	FW_SAME_SITE_STRICT,
	FW_SAME_SITE_NONE, /* sent on cross-site requests too; forces Secure */
	FW_SAME_SITE_OMIT, /* no SameSite attribute: the browser's default */
};

/* Attributes of a Set-Cookie. A zeroed struct gives the defaults. */
typedef struct fw_cookie_opts {
	long long max_age;             /* > 0: Max-Age; < 0: Max-Age=0 (deletes the cookie); 0: none */
	long long expires;             /* > 0: Expires at this time (seconds since 1970, UTC); 0: none */
	const char *domain;            /* NULL: none (this host only); else letters, digits, '-', '.' */
	const char *path;              /* NULL: "/"; "": no Path; else no control character or ';' */
	enum fw_cookie_flag secure;    /* default: on when the request came over HTTPS */
	enum fw_cookie_flag http_only; /* default: on (scripts cannot read the cookie) */
	enum fw_same_site same_site;   /* default: Lax */
} fw_cookie_opts;

/*
 * Add a Set-Cookie header: name=value and the attributes of opts (NULL:
 * all defaults, "Path=/; HttpOnly; SameSite=Lax" and Secure over HTTPS).
 * The name must be an RFC 6265 token; the value 0 or more cookie-octets
 * (printable ASCII but space, '"', ',', ';' and '\'), perhaps in double
 * quotes; name and value at most 4096 bytes together. A "__Secure-" name
 * gets Secure; a "__Host-" one also needs no Domain and Path "/".
 * Returns 0, or -1 (logged, nothing is sent) for a name, value or
 * attribute that breaks these rules, no memory, a finished response.
 */
FW_API int fw_set_cookie(fw_req *req, const char *name, const char *value, const fw_cookie_opts *opts);

#ifdef __cplusplus
}
#endif

#endif
