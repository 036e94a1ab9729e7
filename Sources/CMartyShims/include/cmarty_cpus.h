// How many CPUs this process may use: the affinity mask, lowered by a cgroup CPU limit
// (a 2-CPU pod on a 64-core node uses 2). Sizes the shards of counters and histograms.

#ifndef CMARTY_CPUS_H
#define CMARTY_CPUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMARTY_MAX_SHARDS 64

// CPUs in the affinity mask, at most the cgroup limit (rounded up), at least 1.
long cmarty_usable_cpus(void);

// The CPU limit that the cgroup of this process sets (cgroup v2 cpu.max or v1
// cpu.cfs_quota_us / cpu.cfs_period_us, the lowest along the path), or 0 if there is none.
// `proc_self_cgroup` and `cgroup_root` are normally "/proc/self/cgroup" and "/sys/fs/cgroup".
double cmarty_cgroup_cpu_limit(const char *proc_self_cgroup, const char *cgroup_root);

// The shard count for this many CPUs: a power of two, two per CPU, in [2, CMARTY_MAX_SHARDS].
uint32_t cmarty_shards_for_cpus(long cpus);

#ifdef __cplusplus
}
#endif

#endif
