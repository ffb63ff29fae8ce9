// --memory-limit auto against fake /proc and /sys/fs/cgroup trees (cgroup v2, v1, none).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "host/memory_budget.hpp"

namespace h5p {
namespace {

namespace fs = std::filesystem;

class FakeRoot : public ::testing::Test {
 protected:
  fs::path root;
  void SetUp() override {
    root = fs::temp_directory_path() / ("h5prune-membudget-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root / "proc/self");
  }
  void TearDown() override { fs::remove_all(root); }
  void put(const std::string& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
  void meminfo(std::uint64_t total_kib, std::uint64_t available_kib) {
    put("proc/meminfo", "MemTotal:       " + std::to_string(total_kib) + " kB\nMemFree:         1000 kB\n" +
                            "MemAvailable:   " + std::to_string(available_kib) + " kB\nBuffers: 12 kB\n");
  }
};

constexpr std::uint64_t GiB = 1ull << 30, MiB = 1ull << 20;

TEST_F(FakeRoot, NoCgroupTakesHalfOfMemAvailable) {
  meminfo(24 * 1024 * 1024, 16 * 1024 * 1024);  // 24 GiB, 16 GiB available
  const MemoryBudget b = auto_memory_budget(root.string());
  EXPECT_EQ(b.free, 16 * GiB);
  EXPECT_EQ(b.limit, 8 * GiB);
  EXPECT_EQ(b.source, "MemAvailable");
}

TEST_F(FakeRoot, CgroupV2LimitOfTheJobAboveTheStep) {
  meminfo(24 * 1024 * 1024, 16 * 1024 * 1024);
  put("proc/self/cgroup", "0::/system.slice/slurmstepd.scope/job_7/step_0/user/task_0\n");
  const std::string job = "sys/fs/cgroup/system.slice/slurmstepd.scope/job_7";
  put(job + "/memory.max", "4294967296\n");  // 4 GiB for the job
  put(job + "/memory.current", "1073741824\n");  // 1 GiB used
  put(job + "/step_0/user/task_0/memory.max", "max\n");  // the task's own level sets none
  put(job + "/step_0/user/task_0/memory.current", "5000\n");
  put("sys/fs/cgroup/memory.max", "max\n");
  const MemoryBudget b = auto_memory_budget(root.string());
  EXPECT_EQ(b.free, 3 * GiB) << b.source;
  EXPECT_EQ(b.limit, 3 * GiB / 2);
  EXPECT_EQ(b.source, "cgroup v2 /system.slice/slurmstepd.scope/job_7/step_0/user/task_0");
}

TEST_F(FakeRoot, CgroupV2SmallestRoomOverLevels) {
  meminfo(24 * 1024 * 1024, 16 * 1024 * 1024);
  put("proc/self/cgroup", "0::/a/b\n");
  put("sys/fs/cgroup/a/memory.max", "2147483648\n");  // 2 GiB, 1.5 GiB used: 0.5 GiB room
  put("sys/fs/cgroup/a/memory.current", "1610612736\n");
  put("sys/fs/cgroup/a/b/memory.max", "3221225472\n");  // 3 GiB, nothing used: 3 GiB room
  put("sys/fs/cgroup/a/b/memory.current", "0\n");
  EXPECT_EQ(auto_memory_budget(root.string()).free, GiB / 2);
}

TEST_F(FakeRoot, CgroupLimitAboveMemAvailableKeepsMemAvailable) {
  meminfo(24 * 1024 * 1024, 2 * 1024 * 1024);  // only 2 GiB available
  put("proc/self/cgroup", "0::/box\n");
  put("sys/fs/cgroup/box/memory.max", "17179869184\n");  // 16 GiB
  put("sys/fs/cgroup/box/memory.current", "0\n");
  const MemoryBudget b = auto_memory_budget(root.string());
  EXPECT_EQ(b.free, 2 * GiB);
  EXPECT_EQ(b.source, "MemAvailable");
}

TEST_F(FakeRoot, CgroupV1MemoryController) {
  meminfo(24 * 1024 * 1024, 16 * 1024 * 1024);
  put("proc/self/cgroup", "12:pids:/slurm/uid_0/job_9\n4:cpuset,cpu:/slurm\n7:memory:/slurm/uid_0/job_9\n");
  put("sys/fs/cgroup/memory/slurm/uid_0/job_9/memory.limit_in_bytes", "1073741824\n");
  put("sys/fs/cgroup/memory/slurm/uid_0/job_9/memory.usage_in_bytes", "268435456\n");
  put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");  // v1's "unlimited"
  const MemoryBudget b = auto_memory_budget(root.string());
  EXPECT_EQ(b.free, 768 * MiB);
  EXPECT_EQ(b.limit, 384 * MiB);
  EXPECT_EQ(b.source, "cgroup v1 /slurm/uid_0/job_9");
}

TEST_F(FakeRoot, UnlimitedCgroupFallsBackToMemAvailable) {
  meminfo(24 * 1024 * 1024, 10 * 1024 * 1024);
  put("proc/self/cgroup", "0::/user.slice\n");
  put("sys/fs/cgroup/user.slice/memory.max", "max\n");
  const MemoryBudget b = auto_memory_budget(root.string());
  EXPECT_EQ(b.free, 10 * GiB);
  EXPECT_EQ(b.source, "MemAvailable");
}

TEST_F(FakeRoot, FloorWhenNearlyNothingIsFree) {
  meminfo(24 * 1024 * 1024, 16 * 1024 * 1024);
  put("proc/self/cgroup", "0::/tight\n");
  put("sys/fs/cgroup/tight/memory.max", "104857600\n");  // 100 MiB, all used
  put("sys/fs/cgroup/tight/memory.current", "104857600\n");
  const MemoryBudget b = auto_memory_budget(root.string());
  EXPECT_EQ(b.free, 0u);
  EXPECT_EQ(b.limit, kAutoMemoryMin);
}

TEST_F(FakeRoot, NothingReadableStillGivesTheFloor) {
  const MemoryBudget b = auto_memory_budget(root.string());
  EXPECT_EQ(b.limit, kAutoMemoryMin);
}

TEST(MemoryLimitText, ExplicitSizesAsBefore) {
  EXPECT_EQ(memory_limit_from_text("512M", "--memory-limit"), 512 * MiB);
  EXPECT_EQ(memory_limit_from_text("64K", "--memory-limit"), 64u << 10);
  EXPECT_THROW(memory_limit_from_text("lots", "--memory-limit"), std::exception);
  EXPECT_GE(memory_limit_from_text("auto", "--memory-limit"), kAutoMemoryMin);
}

}  // namespace
}  // namespace h5p
