/*
 * What the server listens on: `listen` is a list, each entry an address
 * (config/addr.h) with an optional protocol prefix:
 *     listen = /run/app.sock, scgi:127.0.0.1:4000
 * An entry without a prefix speaks `protocol` (default fastcgi).
 * allowed_clients is a list of addresses or CIDR blocks (any = no check),
 * applied to TCP listeners; unix sockets are guarded by their mode.
 */
#ifndef FW_CONFIG_LISTEN_H
#define FW_CONFIG_LISTEN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/addr.h"

#define FW_MAX_LISTENERS 8
#define FW_MAX_CIDRS 32

enum fw_proto { FW_PROTO_FASTCGI = 0, FW_PROTO_SCGI = 1 };

struct fw_listen_spec {
	struct fw_addr addr;
	enum fw_proto proto;
	bool proto_given; /* by a prefix; otherwise `protocol` decides */
};

struct fw_listen_list {
	struct fw_listen_spec l[FW_MAX_LISTENERS];
	int n;
};

struct fw_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits;
};

struct fw_cidr_list {
	struct fw_cidr c[FW_MAX_CIDRS];
	int n;
	bool any;
};

const char *fw_proto_name(enum fw_proto p);
int fw_proto_parse(const char *s, enum fw_proto *out);

/* Parse a listen list. 0, or -1 with a message in err. */
int fw_listen_list_parse(const char *s, struct fw_listen_list *out, char *err, size_t errlen);

/* Parse allowed_clients. 0, or -1 with a message in err. */
int fw_cidr_list_parse(const char *s, struct fw_cidr_list *out, char *err, size_t errlen);

/* May a peer at this address connect? (Unix sockets always may.) */
bool fw_cidr_allows(const struct fw_cidr_list *l, const struct sockaddr *sa);

#endif
