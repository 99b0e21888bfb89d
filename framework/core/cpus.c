#include "core/cpus.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "core/cgroupfs.h"

/* The quota in CPUs, rounded up; 0 when there is none or it is unreadable. */
static long quota_cpus(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], max[32];
	long long quota = 0, period = 0;
	int version = fw_cgroup_dir("cpu", dir, sizeof(dir));
	FILE *f;

	if (version == 2) {
		/* cpu.max: "QUOTA PERIOD", or "max PERIOD" without a limit. */
		snprintf(path, sizeof(path), "%s/cpu.max", dir);
		if ((f = fopen(path, "re")) == NULL)
			return 0;
		if (fscanf(f, "%31s %lld", max, &period) != 2 || sscanf(max, "%lld", &quota) != 1)
			quota = 0;
		fclose(f);
	} else if (version == 1) {
		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
		if ((f = fopen(path, "re")) == NULL)
			return 0;
		if (fscanf(f, "%lld", &quota) != 1)
			quota = 0; /* -1 is no limit */
		fclose(f);
		snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
		if ((f = fopen(path, "re")) == NULL)
			return 0;
		if (fscanf(f, "%lld", &period) != 1)
			period = 0;
		fclose(f);
	}
	if (quota <= 0 || period <= 0)
		return 0;
	return (long)((quota + period - 1) / period);
}

int fw_cpus_available(void)
{
	cpu_set_t set;
	long n = 0, q;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if ((q = quota_cpus()) > 0 && q < n)
		n = q;
	return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}
