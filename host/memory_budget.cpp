// --memory-limit auto from cgroup v2/v1 limits and MemAvailable (docs/CLI.md "Memory").
#include "host/memory_budget.hpp"

#include <algorithm>
#include <fstream>
#include <optional>

#include "host/cgroup.hpp"
#include "host/rule.hpp"

namespace h5p {

namespace {

std::optional<std::uint64_t> mem_available(const std::string& root) {
  std::ifstream f(root + "/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (f >> key >> kib) {
    std::getline(f, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

// Smallest (limit - usage) over the levels from the process's cgroup up to the hierarchy's root
// that set a limit; nullopt when none does. v1's "no limit" is a number near 2^63: any limit above the
// machine's memory is taken as none.
std::optional<std::uint64_t> cgroup_headroom(const CgroupPath& cg, std::uint64_t machine) {
  const char* limit_file = cg.version == 2 ? "/memory.max" : "/memory.limit_in_bytes";
  const char* usage_file = cg.version == 2 ? "/memory.current" : "/memory.usage_in_bytes";
  std::optional<std::uint64_t> best;
  for_each_cgroup_level(cg, [&](const std::string& level) {
    if (const auto limit = read_number(level + limit_file); limit && *limit < machine) {
      const std::uint64_t used = read_number(level + usage_file).value_or(0);
      const std::uint64_t room = *limit > used ? *limit - used : 0;
      best = best ? std::min(*best, room) : room;
    }
  });
  return best;
}

std::uint64_t mem_total(const std::string& root) {
  std::ifstream f(root + "/proc/meminfo");
  std::string key, unit;
  std::uint64_t kib = 0;
  while (f >> key >> kib) {
    std::getline(f, unit);
    if (key == "MemTotal:") return kib * 1024;
  }
  return ~std::uint64_t{0};
}

}  // namespace

MemoryBudget auto_memory_budget(const std::string& root) {
  MemoryBudget b;
  const std::optional<std::uint64_t> available = mem_available(root);
  b.free = available.value_or(0);
  b.source = available ? "MemAvailable" : "no MemAvailable in /proc/meminfo";
  const CgroupPath cg = own_cgroup(root, "memory");
  if (cg.version != 0) {
    if (const auto room = cgroup_headroom(cg, mem_total(root))) {
      if (!available || *room < *available) {
        b.free = *room;
        b.source = "cgroup v" + std::to_string(cg.version) + " " + cg.path;
      }
    }
  }
  b.limit = std::max(kAutoMemoryMin, b.free / kAutoMemoryDivisor);
  return b;
}

MemoryBudget auto_memory_budget() { return auto_memory_budget(cgroup_sysroot()); }

std::uint64_t memory_limit_from_text(const std::string& text, const std::string& option) {
  if (text == "auto") return auto_memory_budget().limit;
  return parse_size(text, option);
}

}  // namespace h5p
