// --memory-limit auto from cgroup v2/v1 limits and MemAvailable (docs/CLI.md "Memory").
#include "host/memory_budget.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "host/rule.hpp"

namespace h5p {

namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A file holding one unsigned number; nullopt for "max", a missing file or anything else.
std::optional<std::uint64_t> read_number(const std::string& path) {
  const auto text = read_text(path);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string word;
  in >> word;
  if (word.empty() || word.find_first_not_of("0123456789") != std::string::npos || word.size() > 19) return std::nullopt;
  return std::strtoull(word.c_str(), nullptr, 10);
}

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

// The cgroup path of this process for v2 ("0::/path") or the v1 memory controller
// ("N:...memory...:/path"); version 0 when neither is listed.
struct CgroupPath {
  int version = 0;
  std::string path;
};

CgroupPath own_cgroup(const std::string& root) {
  std::ifstream f(root + "/proc/self/cgroup");
  std::string line;
  CgroupPath v2;
  while (std::getline(f, line)) {
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    std::stringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');)
      if (c == "memory") return {1, path};
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2 = {2, path};
  }
  return v2;
}

// Smallest (limit - usage) over the levels from `path` up to the hierarchy's root that set a
// limit; nullopt when none does. v1's "no limit" is a number near 2^63: any limit above the
// machine's memory is taken as none.
std::optional<std::uint64_t> cgroup_headroom(const std::string& dir, std::string path, int version,
                                             std::uint64_t machine) {
  const char* limit_file = version == 2 ? "/memory.max" : "/memory.limit_in_bytes";
  const char* usage_file = version == 2 ? "/memory.current" : "/memory.usage_in_bytes";
  std::optional<std::uint64_t> best;
  while (true) {
    const std::string level = dir + (path == "/" ? "" : path);
    if (const auto limit = read_number(level + limit_file); limit && *limit < machine) {
      const std::uint64_t used = read_number(level + usage_file).value_or(0);
      const std::uint64_t room = *limit > used ? *limit - used : 0;
      best = best ? std::min(*best, room) : room;
    }
    if (path.empty() || path == "/") break;
    const auto cut = path.find_last_of('/');
    path = cut == 0 || cut == std::string::npos ? "/" : path.substr(0, cut);
  }
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
  const CgroupPath cg = own_cgroup(root);
  if (cg.version != 0) {
    const std::string dir = root + (cg.version == 2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory");
    if (const auto room = cgroup_headroom(dir, cg.path, cg.version, mem_total(root))) {
      if (!available || *room < *available) {
        b.free = *room;
        b.source = "cgroup v" + std::to_string(cg.version) + " " + cg.path;
      }
    }
  }
  b.limit = std::max(kAutoMemoryMin, b.free / kAutoMemoryDivisor);
  return b;
}

MemoryBudget auto_memory_budget() {
  const char* root = std::getenv("H5PRUNE_TEST_SYSROOT");  // test hook: fake /proc and /sys files
  return auto_memory_budget(root ? root : "");
}

std::uint64_t memory_limit_from_text(const std::string& text, const std::string& option) {
  if (text == "auto") return auto_memory_budget().limit;
  return parse_size(text, option);
}

}  // namespace h5p
