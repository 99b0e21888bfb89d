#include "config/listen.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

static const char *const proto_names[] = {"fastcgi", "scgi"};

const char *fw_proto_name(enum fw_proto p)
{
	return (unsigned)p < 2 ? proto_names[p] : "?";
}

int fw_proto_parse(const char *s, enum fw_proto *out)
{
	for (int i = 0; i < 2; i++) {
		if (strcmp(s, proto_names[i]) == 0) {
			*out = (enum fw_proto)i;
			return 0;
		}
	}
	return -1;
}

/* Next comma- or blank-separated item of s into item; false at the end. */
static bool next_item(const char **s, char *item, size_t cap, bool *too_long)
{
	const char *p = *s;
	size_t n;

	while (*p == ',' || *p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return false;
	n = strcspn(p, ", \t");
	*too_long = n >= cap;
	if (!*too_long) {
		memcpy(item, p, n);
		item[n] = '\0';
	}
	*s = p + n;
	return true;
}

static int listen_item(const char *item, struct fw_listen_spec *l, char *err, size_t errlen)
{
	const char *colon = strchr(item, ':');

	memset(l, 0, sizeof(*l));
	if (colon != NULL) {
		char scheme[16];
		size_t n = (size_t)(colon - item);

		if (n < sizeof(scheme)) {
			memcpy(scheme, item, n);
			scheme[n] = '\0';
			if (fw_proto_parse(scheme, &l->proto) == 0) {
				l->proto_given = true;
				item = colon + 1;
			}
		}
	}
	if (fw_addr_parse(item, &l->addr, err, errlen) != 0)
		return -1;
	return 0;
}

int fw_listen_list_parse(const char *s, struct fw_listen_list *out, char *err, size_t errlen)
{
	char item[160];
	bool too_long;

	memset(out, 0, sizeof(*out));
	while (next_item(&s, item, sizeof(item), &too_long)) {
		if (too_long) {
			snprintf(err, errlen, "an address is longer than %zu characters",
				 sizeof(item) - 1);
			return -1;
		}
		if (out->n == FW_MAX_LISTENERS) {
			snprintf(err, errlen, "more than %d addresses", FW_MAX_LISTENERS);
			return -1;
		}
		if (listen_item(item, &out->l[out->n], err, errlen) != 0)
			return -1;
		for (int i = 0; i < out->n; i++) {
			if (out->l[i].addr.salen == out->l[out->n].addr.salen &&
			    memcmp(&out->l[i].addr.sa, &out->l[out->n].addr.sa, out->l[i].addr.salen) ==
				    0) {
				snprintf(err, errlen, "'%s' is listed twice", out->l[i].addr.text);
				return -1;
			}
		}
		out->n++;
	}
	if (out->n == 0) {
		snprintf(err, errlen, "no address");
		return -1;
	}
	return 0;
}

static int cidr_item(const char *item, struct fw_cidr *c, char *err, size_t errlen)
{
	char host[64];
	const char *slash = strchr(item, '/');
	size_t n = slash != NULL ? (size_t)(slash - item) : strlen(item);
	unsigned long long bits;
	int max;

	if (n >= sizeof(host)) {
		snprintf(err, errlen, "'%s' is not an address", item);
		return -1;
	}
	memcpy(host, item, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errlen, "'%s' is not an IP address (names are not resolved)", host);
		return -1;
	}
	c->bits = max;
	if (slash != NULL) {
		if (!fw_parse_uint(slash + 1, strlen(slash + 1), (unsigned long long)max, &bits)) {
			snprintf(err, errlen, "'%s': the prefix length must be 0 to %d", item, max);
			return -1;
		}
		c->bits = (int)bits;
	}
	return 0;
}

int fw_cidr_list_parse(const char *s, struct fw_cidr_list *out, char *err, size_t errlen)
{
	char item[80];
	bool too_long;

	memset(out, 0, sizeof(*out));
	while (next_item(&s, item, sizeof(item), &too_long)) {
		if (too_long) {
			snprintf(err, errlen, "an entry is longer than %zu characters",
				 sizeof(item) - 1);
			return -1;
		}
		if (strcmp(item, "any") == 0) {
			out->any = true;
			continue;
		}
		if (out->n == FW_MAX_CIDRS) {
			snprintf(err, errlen, "more than %d entries", FW_MAX_CIDRS);
			return -1;
		}
		if (cidr_item(item, &out->c[out->n], err, errlen) != 0)
			return -1;
		out->n++;
	}
	if (!out->any && out->n == 0) {
		snprintf(err, errlen, "empty: list addresses, or say any");
		return -1;
	}
	return 0;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	return rest == 0 || ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest))) == 0;
}

bool fw_cidr_allows(const struct fw_cidr_list *l, const struct sockaddr *sa)
{
	const unsigned char *addr;
	unsigned char mapped[4];
	int family = sa->sa_family;

	if (l->any || family == AF_UNIX)
		return true;
	if (family == AF_INET) {
		addr = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		/* An IPv4 client on a dual-stack socket: match it as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr)) {
			memcpy(mapped, addr + 12, 4);
			addr = mapped;
			family = AF_INET;
		}
	} else {
		return false;
	}
	for (int i = 0; i < l->n; i++) {
		if (l->c[i].family == family && prefix_match(l->c[i].addr, addr, l->c[i].bits))
			return true;
	}
	return false;
}
