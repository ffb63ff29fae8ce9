// The recorded rule: every field that decides the output, in one fixed shape.
#include "host/rule_json.hpp"

namespace h5p {
using nlohmann::json;

json rule_json(const PruneOptions& o) {
  json r;
  if (o.rule.mode == RuleMode::sparsity) {
    r["mode"] = "sparsity";
    r["sparsity"] = o.rule.sparsity.text;
    r["scope"] = scope_name(o.rule.scope);
  } else if (o.rule.mode == RuleMode::nm) {
    r["mode"] = "nm";
    r["nm"] = std::to_string(o.rule.nm_keep) + ":" + std::to_string(o.rule.nm_group);
    r["axis"] = o.rule.nm_axis ? json(*o.rule.nm_axis) : json("auto");
    r["skip_unfit"] = o.rule.nm_skip_unfit;
  } else {
    r["mode"] = "threshold";
    r["threshold"] = o.rule.threshold;
  }
  r["format"] = sparse::format_name(o.format);
  r["compress"] = o.compress;
  r["include"] = o.selection.include ? json(*o.selection.include) : json(nullptr);
  r["exclude"] = o.selection.exclude ? json(*o.selection.exclude) : json(nullptr);
  r["min_ndim"] = o.selection.min_ndim;
  r["include_optimizer"] = o.selection.include_optimizer;
  r["rounding"] = "half_even";
  r["ties"] = "lower_position_first";
  return r;
}

}  // namespace h5p
