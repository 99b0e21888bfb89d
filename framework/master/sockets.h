/* The listening sockets (struct fw_socket), opened once by the master and inherited by every worker. */
#ifndef FW_MASTER_SOCKETS_H
#define FW_MASTER_SOCKETS_H

#include <stdbool.h>
#include <sys/types.h>

#include "config/addr.h"
#include "config/listen.h"

struct fw_socket {
	int fd;
	struct fw_addr addr;
	enum fw_proto proto;
	bool status; /* status_listen: only the status page is answered here */
	dev_t dev;   /* identity of the unix socket file we created */
	ino_t ino;
};

/* How unix socket files are made. */
struct fw_socket_perms {
	int mode;
	uid_t uid; /* (uid_t)-1: leave as is */
	gid_t gid; /* (gid_t)-1: leave as is */
};

/*
 * Bind and listen. A unix socket file left by a dead server is replaced;
 * one that a live server answers on is an error, never stolen. The file
 * gets the mode, and the owner and group when given (the master runs as
 * root then). 0, or -1 after logging why.
 */
int fw_socket_open(struct fw_socket *l, const struct fw_listen_spec *spec, int backlog,
		   const struct fw_socket_perms *perms);

/* Close, and remove the unix socket file if it is still the one we made. */
void fw_socket_close(struct fw_socket *l);

#endif
