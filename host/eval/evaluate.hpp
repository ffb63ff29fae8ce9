// Evaluation in the loop: runs the user's command on one written output (a sparse output is
// first densified into a temporary), turns the run into an evaluation record and, with a
// registry, stores it beside the version or as the model's baseline.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/evaluation.hpp"
#include "formats/sparse/layout.hpp"
#include "host/eval/eval_command.hpp"
#include "formats/manifest.hpp"
#include "host/metrics.hpp"
#include "host/registry/layout.hpp"
#include "host/rule.hpp"

namespace h5p {

struct EvalSettings {
  std::string command;                    // --eval CMD
  std::optional<double> timeout_seconds;  // --eval-timeout
  std::string tool_version;               // recorded
  std::function<void(const std::string&)> on_line;  // the command's other stdout lines
};

struct EvalTarget {
  std::string file;                               // the file to evaluate, as written
  sparse::Format format = sparse::Format::dense;  // not dense: densified first
  std::string sha256;                             // of `file`
  std::string input;                              // H5PRUNE_INPUT
  std::string model;                              // H5PRUNE_MODEL
  std::optional<int> version;                     // H5PRUNE_VERSION; nullopt: not recorded / a baseline
  bool baseline = false;                          // the unpruned input: recorded as the model's baseline
  std::vector<std::pair<std::string, std::string>> rule_env;  // H5PRUNE_SPARSITY=... etc.
};

// Runs the evaluation and returns its record; with a registry the record is written (a
// version's when target.version is set, a baseline's when target.baseline). A failed
// evaluation is returned (ok false), not thrown: callers record, export, then exit 8.
Evaluation evaluate(const EvalSettings& settings, const EvalTarget& target, const registry::Layout* registry);

// An output's evaluation as the commands that prune report it: the record and the model's
// baseline for it (the newest successful evaluation of the version's input), when recorded.
struct EvaluatedOutput {
  Evaluation record;
  std::optional<Evaluation> baseline;
  bool reused = false;  // the version already had a successful evaluation by the same command
};

// Evaluates an output; with a registry and its version's manifest, a version that already has
// a successful evaluation by the same command is not evaluated again (Slurm requeues, resumed
// searches), and the baseline is looked up.
EvaluatedOutput evaluate_output(const EvalSettings& settings, const EvalTarget& target, const registry::Layout* registry,
                                const Manifest* manifest);

// The model's baseline: the unpruned `input` evaluated and, with a registry, recorded as its
// baseline; a successful baseline recorded before by the same command is returned instead
// (reused), so reruns and resumed searches do not evaluate it again.
EvaluatedOutput evaluate_baseline(const EvalSettings& settings, const std::string& input, const std::string& model,
                                  const registry::Layout* registry);

// What the metrics file says about it (docs/METRICS.md h5prune_eval_*).
RunMetrics::Eval eval_metrics(const EvaluatedOutput& e);

// An `eval` run's metrics: it succeeded when the evaluation did (else reason `evaluation`, exit
// 8); the evaluation families (a baseline's values are its own baseline), no output families.
void record_evaluation(RunMetrics& m, const EvaluatedOutput& e, std::optional<int> version);

// The target for a recorded version: its blob, format, input and rule from its manifest.
EvalTarget version_target(const registry::Layout& l, const Manifest& m);

// H5PRUNE_SPARSITY (as written), H5PRUNE_THRESHOLD (as written) or H5PRUNE_NM ("N:M").
std::vector<std::pair<std::string, std::string>> rule_env(const Rule& rule);

// The one line a failed evaluation reports: "evaluation of WHAT failed: WHY".
std::string eval_failure_message(const Evaluation& e, const std::string& what);

}  // namespace h5p
