// --memory-limit auto: a fraction of the memory this process may really use, from the
// cgroup (v2 or v1) that Slurm or a container puts it in, else the kernel's MemAvailable.
#pragma once
#include <cstdint>
#include <string>

namespace h5p {

// auto takes this share of what is free: the rest is left for the output's page cache,
// HDF5's caches, the second slab of a stream and the process itself.
constexpr std::uint64_t kAutoMemoryDivisor = 2;
// Floors and ceilings of auto (an explicit --memory-limit is taken as given).
constexpr std::uint64_t kAutoMemoryMin = 64ull << 20;

struct MemoryBudget {
  std::uint64_t limit = 0;    // bytes of weights to hold at once
  std::uint64_t free = 0;     // what the fraction was taken of
  std::string source;         // "cgroup v2 /slurm/uid_0/job_7", "cgroup v1 ...", "MemAvailable"
};

// Reads <root>/proc/self/cgroup, the cgroup files under <root>/sys/fs/cgroup and
// <root>/proc/meminfo (root "" in production; tests pass a directory of fake files). With a
// cgroup limit at any level from the process's cgroup up to the root, free is the smallest
// (limit - usage) over those levels, and also no more than MemAvailable; without one, free is
// MemAvailable. limit = max(kAutoMemoryMin, free / kAutoMemoryDivisor).
MemoryBudget auto_memory_budget(const std::string& root);

// The budget for this process: root "" unless the test hook H5PRUNE_TEST_SYSROOT names one.
MemoryBudget auto_memory_budget();

// "auto" -> auto_memory_budget().limit; anything else parse_size (K, M, G, T suffixes).
std::uint64_t memory_limit_from_text(const std::string& text, const std::string& option);

}  // namespace h5p
