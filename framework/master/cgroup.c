#include "master/cgroup.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cgroupfs.h"
#include "core/log.h"

/* The first unsigned number in the file, or the value of `key` in a "key value" file. */
static int read_u64(const char *dir, const char *file, const char *key, uint64_t *out)
{
	char path[PATH_MAX + 64], line[256];
	FILE *f;
	int found = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *v = line;
		size_t n = key != NULL ? strlen(key) : 0;

		if (key != NULL) {
			if (strncmp(line, key, n) != 0 || line[n] != ' ')
				continue;
			v = line + n + 1;
		}
		if (strncmp(v, "max", 3) == 0) {
			*out = 0;
			found = 0;
		} else {
			char *end;
			unsigned long long x = strtoull(v, &end, 10);
			if (end != v) {
				*out = x;
				found = 0;
			}
		}
		break;
	}
	fclose(f);
	return found;
}

int fw_cgroup_detect(struct fw_cgroup *cg)
{
	static bool told;
	const char *test_dir = getenv("FW_CGROUP_DIR");
	uint64_t limit = 0;

	/* A test setting: said once, so that one left in a production environment is seen. */
	if (test_dir != NULL && !told) {
		fw_log(FW_LOG_WARN,
		       "FW_CGROUP_DIR=%s: the memory limit is read there, not from this "
		       "process's cgroup (a setting for tests)",
		       test_dir);
		told = true;
	}
	memset(cg, 0, sizeof(*cg));
	if (fw_cgroup_dir("memory", cg->dir, sizeof(cg->dir)) < 0)
		return -1;
	if (read_u64(cg->dir, "memory.max", NULL, &limit) == 0) {
		cg->version = 2;
	} else if (read_u64(cg->dir, "memory.limit_in_bytes", NULL, &limit) == 0) {
		cg->version = 1;
	} else {
		return -1;
	}
	/* v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages). */
	if (limit >= (1ULL << 60))
		limit = 0;
	cg->limit = limit;
	return limit > 0 ? 0 : -1;
}

uint64_t fw_cgroup_working_set(const struct fw_cgroup *cg)
{
	uint64_t usage = 0, inactive = 0;

	if (cg->version == 2) {
		if (read_u64(cg->dir, "memory.current", NULL, &usage) != 0)
			return 0;
		read_u64(cg->dir, "memory.stat", "inactive_file", &inactive);
	} else {
		if (read_u64(cg->dir, "memory.usage_in_bytes", NULL, &usage) != 0)
			return 0;
		read_u64(cg->dir, "memory.stat", "total_inactive_file", &inactive);
	}
	return usage > inactive ? usage - inactive : 0;
}
