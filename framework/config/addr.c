#include "config/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"

static int parse_unix(const char *path, struct fw_addr *a, char *err, size_t errlen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->sa;
	size_t n = strlen(path);

	if (n == 0) {
		snprintf(err, errlen, "empty unix socket path");
		return -1;
	}
	if (n >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "unix socket path longer than %zu bytes",
			 sizeof(sun->sun_path) - 1);
		return -1;
	}
	a->family = AF_UNIX;
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n + 1);
	memcpy(a->path, path, n + 1);
	a->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

static int parse_port(const char *s, unsigned short *port, char *err, size_t errlen)
{
	unsigned long long v;

	if (!fw_parse_uint(s, strlen(s), 65535, &v) || v == 0) {
		snprintf(err, errlen, "port '%s' is not a number from 1 to 65535", s);
		return -1;
	}
	*port = (unsigned short)v;
	return 0;
}

static int parse_inet(const char *s, struct fw_addr *a, char *err, size_t errlen)
{
	char host[64];
	const char *colon, *port;
	unsigned short p;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host)) {
			snprintf(err, errlen, "expected [IPv6]:port");
			return -1;
		}
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
			snprintf(err, errlen,
				 "expected host:port (127.0.0.1:9000), [IPv6]:port or a unix socket "
				 "path");
			return -1;
		}
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	if (parse_port(port, &p, err, errlen) != 0)
		return -1;
	if (strcmp(host, "*") == 0 || strcmp(host, "localhost") == 0)
		strcpy(host, host[0] == '*' ? "0.0.0.0" : "127.0.0.1");
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		a->family = in4->sin_family = AF_INET;
		in4->sin_port = htons(p);
		a->salen = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		a->family = in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p);
		a->salen = sizeof(*in6);
		return 0;
	}
	snprintf(err, errlen, "'%s' is not an IP address (host names are not resolved)", host);
	return -1;
}

int fw_addr_parse(const char *s, struct fw_addr *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->text, sizeof(a->text), "%s", s);
	if (strncmp(s, "unix:", 5) == 0)
		return parse_unix(s + 5, a, err, errlen);
	if (s[0] == '/' || s[0] == '.')
		return parse_unix(s, a, err, errlen);
	return parse_inet(s, a, err, errlen);
}
