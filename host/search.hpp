// `search`: the highest sparsity whose evaluated metric stays within a drop of the baseline,
// by bisection on a decimal grid. With a registry every probe is a version with its evaluation,
// so a killed or requeued search repeats the same probes for free (docs/EVAL.md).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "formats/evaluation.hpp"
#include "host/eval/evaluate.hpp"
#include "host/metrics.hpp"
#include "host/registry/record.hpp"
#include "host/sweep.hpp"

namespace h5p {

struct SearchRequest {
  SweepOptions base;  // input, scope, selection, memory limit, threads (values unused)
  EvalSettings eval;
  std::string metric;
  double max_drop = 0;
  bool maximize = true;  // higher is better (accuracy); false: lower is better (loss)
  std::string low = "0", high = "1", resolution = "0.01";  // exact decimals
  std::string registry;  // "" for none: probes go to a temporary directory and nothing resumes
  std::string model;
  registry::ToolInfo tool;
  std::vector<std::string> command;
};

struct SearchProbe {
  std::string sparsity;        // the probe as an exact decimal
  std::optional<int> version;  // with a registry
  double achieved = 0;         // achieved sparsity of the output
  Evaluation evaluation;
  bool reused = false;    // the version and its evaluation were recorded before: nothing ran
  bool feasible = false;  // evaluated, has the metric, and within max_drop of the baseline
};

struct SearchResult {
  Evaluation baseline;
  bool baseline_reused = false;
  std::vector<SearchProbe> probes;  // in the order they were made
  std::optional<std::size_t> best;  // the feasible probe with the highest sparsity
};

struct SearchCallbacks {
  std::function<void(const SearchProbe&)> on_probe;
};

// The grid low, low + r, ..., high (high included when on the grid). UsageError for values
// outside [0, 1], low > high, or r <= 0.
std::vector<std::string> search_grid(const std::string& low, const std::string& high, const std::string& resolution);

// The drop of `value` from `baseline` in the direction that is worse: baseline - value when
// higher is better, value - baseline otherwise.
double metric_drop(double baseline, double value, bool maximize);

// Evaluates the baseline (exit 8 when that fails), probes the top of the range (feasible: the
// answer), then the bottom (infeasible: no answer), then bisects between the highest feasible
// and the lowest infeasible grid point until they are neighbours. Bisection assumes the metric
// worsens as sparsity rises. When it does not, the answer is still the highest feasible probe
// made, with the next grid point above it infeasible: a local boundary, and a higher feasible
// sparsity may exist beyond an infeasible stretch (sweep the range to see the whole curve).
// A failed evaluation of a probe counts as infeasible (it is recorded).
SearchResult run_search(const SearchRequest& request, const SearchCallbacks& callbacks);

// A finished search's metrics: a successful run (a failed probe is beyond the drop, not a
// failure) with h5prune_search_*; the evaluation families are the answer's (its version and
// metrics; the baseline's alone when there is no answer), and h5prune_eval_success is 0 when
// any evaluation of the search failed.
void record_search(RunMetrics& m, const SearchResult& result);

}  // namespace h5p
