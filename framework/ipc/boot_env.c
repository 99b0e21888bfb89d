/*
 * FW_BOOT_ENV's value (ipc/boot.h): the version, then name=value fields,
 * the listeners last as fd:proto:inet:status, comma-separated:
 *   1 chan=5 peer=-1 slot=3 sb=9 master=1234 image=1 listen=3:0:0:0,4:1:1:0
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/boot.h"

int fw_boot_env_format(const struct fw_boot_env *e, char *out, size_t len)
{
	size_t n;
	int w = snprintf(out, len, "%d chan=%d peer=%d slot=%d sb=%d master=%ld image=%d listen=",
			 FW_BOOT_ENV_VERSION, e->chan_fd, e->peer_in, e->slot_index, e->sb_fd,
			 (long)e->master_pid, e->image_version);

	if (w < 0 || (size_t)w >= len)
		return -1;
	n = (size_t)w;
	for (int i = 0; i < e->nlisten; i++) {
		const struct fw_boot_socket *l = &e->listen[i];

		w = snprintf(out + n, len - n, "%s%d:%d:%d:%d", i ? "," : "", l->fd, (int)l->proto,
			     l->inet, l->status);
		if (w < 0 || (size_t)w >= len - n)
			return -1;
		n += (size_t)w;
	}
	return 0;
}

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", FW_BOOT_ENV, what);
	return -1;
}

/* A decimal number at s, within [min, max]; *end past it. */
static int number(const char *s, const char **end, long min, long max, long *v)
{
	char *e;

	if (!((*s >= '0' && *s <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9')))
		return -1;
	errno = 0;
	*v = strtol(s, &e, 10);
	*end = e;
	return errno != 0 || *v < min || *v > max ? -1 : 0;
}

static int listeners(const char *s, struct fw_boot_env *e)
{
	for (e->nlisten = 0; *s != '\0'; e->nlisten++) {
		struct fw_boot_socket *l = &e->listen[e->nlisten];
		long v[4];

		if (e->nlisten == FW_MAX_LISTENERS)
			return -1;
		for (int k = 0; k < 4; k++) {
			if (number(s, &s, 0, k == 0 ? 1 << 30 : 1, &v[k]) != 0 ||
			    *s != (k < 3 ? ':' : (s[0] == ',' ? ',' : '\0')))
				return -1;
			if (*s != '\0')
				s++;
		}
		*l = (struct fw_boot_socket){.fd = (int)v[0],
					     .proto = (enum fw_proto)v[1],
					     .inet = v[2] != 0,
					     .status = v[3] != 0};
	}
	return e->nlisten > 0 ? 0 : -1;
}

int fw_boot_env_parse(const char *s, struct fw_boot_env *e, char *err, size_t errlen)
{
	/* In the order fw_boot_env_format() writes them. */
	static const struct {
		const char *name;
		long min;
	} fields[] = {
		{" chan=", 0}, {" peer=", -1},  {" slot=", 0},
		{" sb=", 0},   {" master=", 1}, {" image=", 0},
	};
	long v[sizeof(fields) / sizeof(fields[0])], version;

	memset(e, 0, sizeof(*e));
	if (number(s, &s, 0, 1 << 30, &version) != 0)
		return fail(err, errlen, "no version");
	if (version != FW_BOOT_ENV_VERSION)
		return fail(err, errlen, "another version of the boot protocol");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t n = strlen(fields[i].name);

		if (strncmp(s, fields[i].name, n) != 0 ||
		    number(s + n, &s, fields[i].min, 1 << 30, &v[i]) != 0)
			return fail(err, errlen, fields[i].name + 1);
	}
	if (strncmp(s, " listen=", 8) != 0 || listeners(s + 8, e) != 0)
		return fail(err, errlen, "listen=");
	if (v[2] >= FW_MAX_SLOTS)
		return fail(err, errlen, "slot= out of range");
	e->chan_fd = (int)v[0];
	e->peer_in = (int)v[1];
	e->slot_index = (int)v[2];
	e->sb_fd = (int)v[3];
	e->master_pid = (pid_t)v[4];
	e->image_version = (int)v[5];
	return 0;
}
