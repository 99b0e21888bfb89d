/* Listen addresses: "unix:/run/app.sock", "/run/app.sock", "127.0.0.1:9000", "[::1]:9000". */
#ifndef FW_CONFIG_ADDR_H
#define FW_CONFIG_ADDR_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

struct fw_addr {
	int family; /* AF_UNIX, AF_INET or AF_INET6 */
	struct sockaddr_storage sa;
	socklen_t salen;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* AF_UNIX */
	char text[128];                                         /* as written, for messages */
};

/* Parse s. 0, or -1 with a message in err. Host names are not resolved. */
int fw_addr_parse(const char *s, struct fw_addr *a, char *err, size_t errlen);

#endif
