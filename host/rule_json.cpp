// The recorded rule: every field that decides the output, in one fixed shape.
#include "host/rule_json.hpp"

namespace h5p {
using nlohmann::json;

json rule_json(const PruneOptions& o) {
  // The command line's rule (mode "rules" when only group rules were given), then the groups.
  json r = o.has_base_rule ? rule_fields_json(o.rule) : json{{"mode", "rules"}};
  if (!o.rules.empty()) {
    r["rules"] = json::array();
    for (const GroupRule& g : o.rules) r["rules"].push_back(group_rule_json(g));
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
