// Sweep array status from what the tasks leave behind: registry versions, metrics files, logs.
#include "host/fixed_regex.hpp"
#include "host/slurm_status.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/errors.hpp"
#include "host/metrics.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/layout.hpp"
#include "host/registry/versions.hpp"
#include "host/sbatch_script.hpp"
#include "host/slurm_array.hpp"

namespace h5p {

namespace {

constexpr const char* kPlanPrefix = "# h5prune-plan: ";

std::optional<std::string> opt_string(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<std::string>();
}

// "failed: ..." evidence from the point's metrics file, "" when it shows no failure.
std::string metrics_failure(const SweepPlan& plan, std::size_t index) {
  if (!plan.metrics_dir || !plan.model) return "";
  const std::string path = *plan.metrics_dir + "/" + metrics_file_name(*plan.model, std::to_string(index));
  std::ifstream in(path);
  std::string line, reason, code;
  bool failed = false;
  while (std::getline(in, line)) {
    if (line.rfind("h5prune_last_run_success{", 0) == 0) failed = line.substr(line.rfind(' ') + 1) == "0";
    if (line.rfind("h5prune_last_run_exit_code{", 0) == 0) code = line.substr(line.rfind(' ') + 1);
    if (line.rfind("h5prune_last_run_failure_info{", 0) == 0) {
      const auto at = line.find("reason=\"");
      if (at != std::string::npos) reason = line.substr(at + 8, line.find('"', at + 8) - at - 8);
    }
  }
  if (!failed) return "";
  return "exit " + code + (reason.empty() ? "" : " (" + reason + ")") + ", says " + path;
}

// The newest log of the point (h5prune-sweep_JOB_INDEX.log): its last "exited with N", or that
// it started without an exit line. {} when there is no log.
struct LogEvidence {
  bool found = false, exited = false;
  int code = 0;
  std::string path;
};

LogEvidence newest_log(const SweepPlan& plan, std::size_t index) {
  static const FixedRegex name(R"(^h5prune-sweep_([0-9]+)_([0-9]+)\.log$)");
  LogEvidence ev;
  double newest = -1;
  std::error_code ec;  // a missing log directory means no logs yet
  for (const auto& entry : std::filesystem::directory_iterator(plan.log_dir, ec)) {
    const std::string f = entry.path().filename().string();
    const auto m = name.match(f);
    if (!m || *(*m)[1] != std::to_string(index)) continue;
    const std::string path = plan.log_dir + "/" + f;
    struct stat st {};
    const double t = ::stat(path.c_str(), &st) == 0 ? static_cast<double>(st.st_mtim.tv_sec) + 1e-9 * st.st_mtim.tv_nsec : 0;
    if (t > newest) newest = t, ev.path = path;
  }
  if (ev.path.empty()) return ev;
  ev.found = true;
  std::ifstream in(ev.path);
  std::string line;
  const std::string marker = "task " + std::to_string(index) + " exited with ";
  while (std::getline(in, line)) {
    const auto at = line.find(marker);
    if (at == std::string::npos) continue;
    ev.exited = true;
    ev.code = std::atoi(line.c_str() + at + marker.size());
  }
  return ev;
}

}  // namespace

const char* point_state_name(PointState s) {
  switch (s) {
    case PointState::recorded: return "recorded";
    case PointState::failed: return "failed";
    case PointState::missing: return "missing";
  }
  return "?";
}

SweepPlan read_sweep_plan(const std::string& script) {
  std::ifstream in(script);
  if (!in) throw InputError("cannot read sbatch script '" + script + "'");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(kPlanPrefix, 0) != 0) continue;
    try {
      const auto j = nlohmann::json::parse(line.substr(std::string(kPlanPrefix).size()));
      if (j.value("plan", 0) != 1) throw InputError("sbatch script '" + script + "' has a plan of an unknown version");
      SweepPlan p;
      p.script = script;
      p.input = j.at("input").get<std::string>();
      p.list_option = j.at("list_option").get<std::string>();
      if (j.contains("per_tensor_tensors"))
        throw UsageError("'" + script + "' is a per-tensor sensitivity script: slurm status covers point sweeps; "
                         "list its recorded cells with 'h5prune log MODEL'");
      p.values = j.at("values").get<std::vector<std::string>>();
      p.log_dir = j.at("log_dir").get<std::string>();
      p.job_name = j.at("job_name").get<std::string>();
      p.scope = opt_string(j, "scope");
      p.include = opt_string(j, "include");
      p.exclude = opt_string(j, "exclude");
      p.include_optimizer = j.contains("include_optimizer") && j["include_optimizer"].is_boolean() &&
                            j["include_optimizer"].get<bool>();
      p.memory_limit = opt_string(j, "memory_limit");
      if (j.contains("min_ndim")) p.min_ndim = j["min_ndim"].get<int>();
      if (j.contains("rules")) p.rules = j["rules"].get<std::vector<std::string>>();
      p.registry = opt_string(j, "registry");
      p.model = opt_string(j, "model");
      p.metrics_dir = opt_string(j, "metrics_dir");
      if (j.contains("max_parallel") && !j["max_parallel"].is_null()) p.max_parallel = j["max_parallel"].get<int>();
      return p;
    } catch (const nlohmann::json::exception& e) {
      throw InputError("sbatch script '" + script + "': damaged h5prune-plan line (" + e.what() + ")");
    }
  }
  throw InputError("'" + script + "' has no h5prune-plan line: it was not written by 'h5prune slurm sweep'");
}

std::vector<PointStatus> sweep_status(const SweepPlan& plan, const std::vector<std::string>& keys) {
  if (!plan.registry || !plan.model)
    throw UsageError("the script '" + plan.script + "' records nothing (generated with --no-record): no status to show");
  if (keys.size() != plan.values.size()) throw UsageError("internal: one key per point expected");
  std::optional<registry::Layout> layout;
  if (std::filesystem::exists(*plan.registry)) layout = registry::Layout::open(*plan.registry);
  std::vector<PointStatus> out;
  for (std::size_t i = 0; i < plan.values.size(); ++i) {
    PointStatus p;
    p.index = i;
    p.value = plan.values[i];
    if (layout) {
      if (auto v = registry::find_by_key(*layout, *plan.model, keys[i])) {
        p.state = PointState::recorded;
        p.version = *v;
        out.push_back(p);
        continue;
      }
    }
    const LogEvidence log = newest_log(plan, i);
    if (std::string why = metrics_failure(plan, i); !why.empty()) {
      p.state = PointState::failed;
      p.detail = why;
    } else if (log.exited && log.code != 0) {
      p.state = PointState::failed;
      p.detail = "exit " + std::to_string(log.code) + ", says " + log.path;
    } else if (log.found && !log.exited) {
      p.detail = "started (" + log.path + ") with no exit line: still running, or killed";
    } else if (log.found) {
      p.detail = "exited with 0 but nothing is recorded (registry changed since?)";
    } else {
      p.detail = "no log: never started, or still pending";
    }
    out.push_back(p);
  }
  return out;
}

std::string rerun_command(const SweepPlan& plan, const std::vector<PointStatus>& points) {
  std::vector<std::size_t> todo;
  for (const auto& p : points)
    if (p.state != PointState::recorded) todo.push_back(p.index);
  if (todo.empty()) return "";
  std::string cmd = "sbatch --array=" + array_ranges(todo);
  if (plan.max_parallel) cmd += "%" + std::to_string(*plan.max_parallel);
  const std::string& script = plan.script;
  const bool plain = !script.empty() && std::all_of(script.begin(), script.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("._-/+:@").find(c) != std::string::npos;
  });
  return cmd + " " + (plain ? script : shell_word(script));
}

std::vector<std::string> retire_task_metrics(const SweepPlan& plan, const std::vector<PointStatus>& points) {
  std::vector<std::string> removed;
  if (!plan.metrics_dir || !plan.model) return removed;
  // Names are looked at and removed relative to the open directory, without following a link:
  // only regular files (what the tasks wrote) go; a link planted in their place stays.
  const int dir = ::open(plan.metrics_dir->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return removed;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{dir};
  for (const auto& p : points) {
    if (p.state != PointState::recorded) continue;
    const std::string name = metrics_file_name(*plan.model, std::to_string(p.index));
    const std::string path = *plan.metrics_dir + "/" + name;
    struct stat st {};
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::unlinkat(dir, name.c_str(), 0) != 0) {
      if (errno == ENOENT) continue;
      throw OutputError("cannot remove metrics file '" + path + "': " + std::strerror(errno));
    }
    removed.push_back(path);
  }
  return removed;
}

}  // namespace h5p
