// Threads without --threads: OMP_NUM_THREADS, else the affinity mask capped by the cgroup's CPU quota.
#include "host/cpu_budget.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "host/cgroup.hpp"
#include "kernels/backend.hpp"

namespace h5p {

namespace {

// One level's quota in CPUs (rounded up); nullopt for none ("max", -1, or unreadable).
std::optional<int> level_quota(const CgroupPath& cg, const std::string& level) {
  std::optional<std::uint64_t> quota, period;
  if (cg.version == 2) {
    const auto text = read_text(level + "/cpu.max");
    if (!text) return std::nullopt;
    std::istringstream in(*text);
    std::string q, p;
    in >> q >> p;
    if (q.empty() || q.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;  // "max"
    quota = std::strtoull(q.c_str(), nullptr, 10);
    period = p.empty() ? 100000 : std::strtoull(p.c_str(), nullptr, 10);
  } else {
    quota = read_number(level + "/cpu.cfs_quota_us");  // -1: none
    period = read_number(level + "/cpu.cfs_period_us");
  }
  if (!quota || !period || *quota == 0 || *period == 0) return std::nullopt;
  const std::uint64_t cpus = (*quota + *period - 1) / *period;
  return static_cast<int>(std::min<std::uint64_t>(cpus, 1u << 20));
}

}  // namespace

std::optional<int> cgroup_cpu_quota(const std::string& root) {
  const CgroupPath cg = own_cgroup(root, "cpu");
  if (cg.version == 0) return std::nullopt;
  std::optional<int> best;
  for_each_cgroup_level(cg, [&](const std::string& level) {
    if (const auto q = level_quota(cg, level)) best = best ? std::min(*best, *q) : *q;
  });
  return best;
}

int job_threads() {
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp && *omp) return default_threads();
  int n = available_cpus();
  if (const auto quota = cgroup_cpu_quota(cgroup_sysroot())) n = std::min(n, *quota);
  return std::max(1, n);
}

}  // namespace h5p
