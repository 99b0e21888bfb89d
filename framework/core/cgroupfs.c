#include "core/cgroupfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Is `name` one of the comma-separated controllers of a v1 line? */
static int has_controller(const char *list, size_t n, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; p < list + n;) {
		const char *comma = memchr(p, ',', (size_t)(list + n - p));
		size_t w = comma != NULL ? (size_t)(comma - p) : (size_t)(list + n - p);

		if (w == len && strncmp(p, name, len) == 0)
			return 1;
		p += w + 1;
	}
	return 0;
}

int fw_cgroup_dir(const char *controller, char *out, size_t len)
{
	const char *dir = getenv("FW_CGROUP_DIR");
	char line[4096];
	struct stat st;
	FILE *f;
	int version = -1;

	if (dir != NULL) {
		snprintf(out, len, "%s", dir);
		return 2;
	}
	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return -1;
	/* "ID:controllers:/path": v2 is "0::/path", v1 "4:cpu,cpuacct:/path". */
	while (fgets(line, sizeof(line), f) != NULL) {
		char *c1 = strchr(line, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;

		line[strcspn(line, "\n")] = '\0';
		if (c2 == NULL)
			continue;
		if (c2 > c1 + 1 && has_controller(c1 + 1, (size_t)(c2 - c1 - 1), controller)) {
			/* v1 mounts each hierarchy under its controller list's name. */
			snprintf(out, len, "/sys/fs/cgroup/%.*s%s", (int)(c2 - c1 - 1), c1 + 1, c2 + 1);
			version = 1;
			break;
		}
		if (c2 == c1 + 1 && strncmp(line, "0:", 2) == 0 &&
		    stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
			snprintf(out, len, "/sys/fs/cgroup%s", c2 + 1);
			version = 2; /* a v1 line for the controller later wins */
		}
	}
	fclose(f);
	/*
	 * Without a cgroup namespace (older Docker, cgroup v1), the path is
	 * the host's (/docker/ID) while the container sees its own group at
	 * the mount's root.
	 */
	if (version > 0 && stat(out, &st) != 0) {
		size_t root = strlen("/sys/fs/cgroup");
		char *cut = version == 1 ? strchr(out + root + 1, '/') : out + root;

		if (cut != NULL)
			*cut = '\0';
	}
	return version;
}
