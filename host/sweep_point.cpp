// A sweep point -> the prune options of that point.
#include "host/sweep_point.hpp"

namespace h5p {

PruneOptions sweep_point_prune_options(const SweepOptions& so, const std::string& value) {
  PruneOptions po;
  po.input = so.input;
  po.rule.mode = so.mode;
  if (so.mode == RuleMode::sparsity) {
    po.rule.sparsity = parse_decimal(value, "--sparsity");
    po.rule.scope = so.scope;
  } else {
    po.rule.threshold_text = value;
    po.rule.threshold = parse_threshold(value);
  }
  po.selection = so.selection;
  po.memory_limit = so.memory_limit;
  po.threads = so.threads;
  return po;
}

}  // namespace h5p
