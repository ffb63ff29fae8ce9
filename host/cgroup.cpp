// Reading /proc/self/cgroup and the cgroup files above the process (docs/CLI.md "Memory", --threads).
#include "host/cgroup.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace h5p {

std::string cgroup_sysroot() {
  const char* root = std::getenv("H5PRUNE_TEST_SYSROOT");  // test hook: fake /proc and /sys files
  return root ? root : "";
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<std::uint64_t> read_number(const std::string& path) {
  const auto text = read_text(path);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string word;
  in >> word;
  if (word.empty() || word.find_first_not_of("0123456789") != std::string::npos || word.size() > 19) return std::nullopt;
  return std::strtoull(word.c_str(), nullptr, 10);
}

CgroupPath own_cgroup(const std::string& root, const std::string& v1_controller) {
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
      if (c == v1_controller) return {1, root + "/sys/fs/cgroup/" + controllers, path};
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2 = {2, root + "/sys/fs/cgroup", path};
  }
  return v2;
}

void for_each_cgroup_level(const CgroupPath& cg, const std::function<void(const std::string&)>& f) {
  std::string path = cg.path;
  while (true) {
    f(cg.dir + (path == "/" ? "" : path));
    if (path.empty() || path == "/") break;
    const auto cut = path.find_last_of('/');
    path = cut == 0 || cut == std::string::npos ? "/" : path.substr(0, cut);
  }
}

}  // namespace h5p
