// Sensitivity analysis (`sweep --per-tensor --eval`): each selected tensor pruned alone at each
// point, the others untouched, and evaluated. Cell (tensor, point) is exactly the output of
// `prune --include '^<tensor>$'` at that point (same bytes), so it can be recorded, resumed and
// run as one Slurm array task per pair.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "formats/evaluation.hpp"
#include "host/eval/evaluate.hpp"
#include "host/registry/record.hpp"
#include "host/sweep.hpp"

namespace h5p {

struct SensitivityRequest {
  SweepOptions sweep;  // input, rule mode and scope, points, selection (which tensors), limits
  EvalSettings eval;
  std::string registry;  // "" for none: each cell is pruned into a temporary directory
  std::string model;
  registry::ToolInfo tool;
  std::vector<std::string> command;
  std::optional<std::size_t> only_pair;  // one (tensor, point) pair by its index (Slurm array task)
};

struct SensitivityCell {
  std::size_t tensor = 0, point = 0;  // indices into the result's tensors and values
  std::optional<int> version;
  std::string sha256;   // of the pruned file
  double achieved = 0;  // achieved sparsity of that tensor
  Evaluation evaluation;
  bool reused = false;
};

struct SensitivityResult {
  std::vector<std::string> tensors;  // selected, path order
  std::vector<std::string> values;   // the points
  std::vector<SensitivityCell> cells;  // in pair order: pair i = (i / points, i % points)
};

// "^" + path with every regex metacharacter escaped + "$": selects exactly that tensor.
std::string exact_path_regex(const std::string& path);

// The selected tensors of the sweep's input, path order.
std::vector<std::string> selected_tensors(const SweepOptions& so);

// Number of (tensor, point) pairs, the array size of `slurm sweep --per-tensor`.
std::size_t sensitivity_pairs(const SweepOptions& so);

SensitivityResult run_sensitivity(const SensitivityRequest& request,
                                  const std::function<void(const SensitivityResult&, const SensitivityCell&)>& on_cell);

}  // namespace h5p
