/*
 * Where this process's cgroup is, for one controller: the memory budget of
 * the master (master/cgroup.c) and the CPU count of workers = auto
 * (core/cpus.c) read their limits there.
 */
#ifndef FW_CORE_CGROUPFS_H
#define FW_CORE_CGROUPFS_H

#include <stddef.h>

/*
 * The directory of this process's cgroup that holds `controller`'s files
 * ("memory", "cpu"), from /proc/self/cgroup: on cgroup v1 the hierarchy
 * that has the controller (a v1 memory hierarchy wins over v2: that is the
 * one in use), else the v2 unified one. FW_CGROUP_DIR names a directory to
 * use instead, as v2 (tests). Returns the version, 1 or 2, or -1 if none.
 */
int fw_cgroup_dir(const char *controller, char *out, size_t len);

#endif
