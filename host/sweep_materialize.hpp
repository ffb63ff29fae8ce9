// `sweep --materialize`: every point of a sweep pruned through the registry (a point already
// recorded is found, not pruned again), with the metrics file following the run.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "host/eval/evaluate.hpp"
#include "host/metrics.hpp"
#include "host/registry/record.hpp"
#include "host/sweep.hpp"

namespace h5p {

struct MaterializeRequest {
  SweepOptions sweep;  // input, rule mode and scope, the points' values, selection, limits
  std::string registry;
  std::string model;
  registry::ToolInfo tool;
  std::vector<std::string> command;  // recorded in each manifest
  std::string metrics_dir;           // "" for none
  RunMetrics metrics;                // identity and start time, when metrics_dir is set
  std::optional<EvalSettings> eval;  // --eval: each point's output evaluated and recorded
};

struct MaterializedPoint {
  std::string value;  // the point as written in the sweep list
  registry::RecordOutcome outcome;
  std::optional<EvaluatedOutput> evaluation;
};

struct MaterializeCallbacks {
  std::function<void(const MaterializedPoint&)> on_point;  // after each point is recorded
  std::function<void(const std::string&)> on_warning;      // e.g. failure metrics not written
};

// The prune options of point `value` (a decimal text of the sweep's list) of sweep `so`.
PruneOptions sweep_point_options(const SweepOptions& so, const std::string& value);

// Prunes one point with `po` through the registry (or finds it recorded), its rule recorded as
// `prune --json` prints it: what materialize, search and sensitivity record for each point.
registry::RecordOutcome record_point(const std::string& registry, const std::string& model, const PruneOptions& po,
                                     const registry::ToolInfo& tool, const std::vector<std::string>& command);

// The idempotency key each point records under (registry/record.cpp) with this tool version:
// what `slurm status` looks up to see whether a point is recorded. Hashes the input.
std::vector<std::string> sweep_point_keys(const SweepOptions& so, const std::string& tool_version);

// The points in order. With a metrics directory the file is rewritten after each point (that
// point's result) and, when a point fails, holds the failure before the error is rethrown.
// A failed evaluation does not stop the sweep: every point is evaluated and recorded, and the
// metrics file ends as an evaluation failure (the caller exits 8).
std::vector<MaterializedPoint> materialize_sweep(const MaterializeRequest& request, const MaterializeCallbacks& callbacks);

}  // namespace h5p
