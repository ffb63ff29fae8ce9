// `h5prune slurm status`: which points of a generated sweep array are recorded in the registry,
// which failed (their metrics file or log says so) and which are missing, and the --array list
// that reruns exactly the points not recorded (task i runs point i).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace h5p {

// What `slurm sweep` wrote into the script's "# h5prune-plan:" line.
struct SweepPlan {
  std::string script;  // the script's path, for the rerun line
  std::string input, list_option, log_dir, job_name;
  std::vector<std::string> values;
  std::optional<std::string> scope, include, exclude, memory_limit, registry, model, metrics_dir;
  bool include_optimizer = false;
  std::optional<int> min_ndim;
  std::vector<std::string> rules;  // REGEX=SPEC, as the tasks get them
  std::optional<int> max_parallel;
};

// Reads the plan line of a generated script; InputError when the file is unreadable or was not
// written by `h5prune slurm sweep`.
SweepPlan read_sweep_plan(const std::string& script);

enum class PointState { recorded, failed, missing };
const char* point_state_name(PointState s);

struct PointStatus {
  std::size_t index = 0;
  std::string value;
  PointState state = PointState::missing;
  int version = 0;      // when recorded
  std::string detail;   // why failed or what is known of a missing point
};

// keys[i]: the idempotency key the task of point i records under (what it looks up to skip a
// point already recorded). A point is recorded when its key is in the registry; otherwise failed
// when its metrics file (success 0, with the reason) or its newest log ("exited with N", N != 0)
// says so; otherwise missing (never started, still pending or running, or killed before it could
// say anything).
std::vector<PointStatus> sweep_status(const SweepPlan& plan, const std::vector<std::string>& keys);

// "sbatch --array=LIST[%N] SCRIPT" for the points not recorded; "" when every point is.
std::string rerun_command(const SweepPlan& plan, const std::vector<PointStatus>& points);

// `slurm collect`: removes the per-task metrics files (h5prune_<model>_<task>.prom) of the
// recorded points, so that one-off tasks stop showing in monitoring once their work is in the
// registry; a failed or missing point keeps its file (its failure stays visible). Only regular
// files with exactly those names are removed. Returns their paths.
std::vector<std::string> retire_task_metrics(const SweepPlan& plan, const std::vector<PointStatus>& points);

}  // namespace h5p
