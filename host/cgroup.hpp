// This process's cgroup (v2, or a v1 controller's hierarchy) and its files: what Slurm or a
// container limits a job to, for --memory-limit auto and the default thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace h5p {

// "" in production; the test hook H5PRUNE_TEST_SYSROOT names a folder of fake /proc and /sys files.
std::string cgroup_sysroot();

// The whole file; nullopt when it cannot be read.
std::optional<std::string> read_text(const std::string& path);
// The file's first word as an unsigned number; nullopt for "max", "-1", a missing file or anything else.
std::optional<std::uint64_t> read_number(const std::string& path);

struct CgroupPath {
  int version = 0;  // 1, 2, or 0 when /proc/self/cgroup lists neither
  std::string dir;  // the hierarchy's folder: <root>/sys/fs/cgroup (v2), .../<controllers> (v1)
  std::string path;  // the process's cgroup inside it ("/slurm/uid_0/job_7")
};

// From <root>/proc/self/cgroup: the v1 hierarchy that holds `v1_controller` ("memory", "cpu"),
// else the v2 one.
CgroupPath own_cgroup(const std::string& root, const std::string& v1_controller);

// Calls f(folder) for the process's cgroup and each level above it, up to the hierarchy's root.
void for_each_cgroup_level(const CgroupPath& cg, const std::function<void(const std::string&)>& f);

}  // namespace h5p
