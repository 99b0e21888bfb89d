/*
 * The container's memory limit (cgroup v2 memory.max, v1
 * memory.limit_in_bytes) and its working set, so that the master keeps the
 * whole group under it by recycling the largest worker before the kernel's
 * OOM killer acts (on cgroup v2, one OOM kills every process of the group).
 */
#ifndef FW_MASTER_CGROUP_H
#define FW_MASTER_CGROUP_H

#include <limits.h>
#include <stdint.h>

struct fw_cgroup {
	char dir[PATH_MAX]; /* the memory controller's directory of this process */
	int version;        /* 1 or 2; 0 when none was found */
	uint64_t limit;     /* bytes; 0 = no limit */
};

/*
 * Find this process's memory cgroup and its limit. FW_CGROUP_DIR names a
 * directory to read instead (tests). 0 with a limit, -1 without one.
 */
int fw_cgroup_detect(struct fw_cgroup *cg);

/* The working set: usage minus inactive file cache (what kubelet counts). 0 if unreadable. */
uint64_t fw_cgroup_working_set(const struct fw_cgroup *cg);

#endif
