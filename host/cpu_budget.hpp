// The thread count of a command run without --threads: what the job may really use.
#pragma once
#include <optional>
#include <string>

namespace h5p {

// The cgroup's CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us over cpu.cfs_period_us), as whole
// CPUs rounded up, the smallest from the process's cgroup up to the root (root as for
// auto_memory_budget); nullopt when no level sets one. A container's --cpus and a Kubernetes
// CPU limit are such quotas; OpenMP does not read them.
std::optional<int> cgroup_cpu_quota(const std::string& root);

// OMP_NUM_THREADS when set (OpenMP's reading of it), else the CPUs in the affinity mask
// (available_cpus()), at most the cgroup's quota: a 4-CPU quota on a 64-core node under 64
// threads is throttled most of each period.
int job_threads();

}  // namespace h5p
