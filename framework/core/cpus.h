/* How many CPUs this process may use: what workers = auto starts. */
#ifndef FW_CORE_CPUS_H
#define FW_CORE_CPUS_H

/*
 * The CPUs of this process's affinity mask (taskset, systemd's
 * CPUAffinity=), capped by its cgroup's CPU quota rounded up (Kubernetes'
 * CPU limit, systemd's CPUQuota=): on a 64-CPU node a container limited to
 * 2 CPUs gets 2 workers, not 64 that the quota would throttle. At least 1.
 */
int fw_cpus_available(void);

#endif
