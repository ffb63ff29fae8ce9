// Rule JSON and the idempotency key of a registry version.
#include "host/canonical_rule.hpp"

#include "formats/sha256.hpp"

namespace h5p {
using nlohmann::json;

json rule_json(const Rule& rule, const Selection& selection) {
  json r;
  if (rule.mode == RuleMode::sparsity) {
    r["mode"] = "sparsity";
    r["sparsity"] = rule.sparsity.text;
    r["scope"] = scope_name(rule.scope);
  } else {
    r["mode"] = "threshold";
    r["threshold"] = rule.threshold;
  }
  r["include"] = selection.include ? json(*selection.include) : json(nullptr);
  r["exclude"] = selection.exclude ? json(*selection.exclude) : json(nullptr);
  r["min_ndim"] = selection.min_ndim;
  r["rounding"] = "half_even";
  r["ties"] = "lower_position_first";
  return r;
}

std::string normalized_decimal(const Decimal& d) {
  std::string digits = d.digits.empty() ? "0" : d.digits;
  int scale = d.scale;
  while (scale > 0 && digits.size() > 1 && digits.back() == '0') {
    digits.pop_back();
    --scale;
  }
  if (scale > 0 && digits == "0") scale = 0;
  if (scale <= 0) return digits + std::string(static_cast<std::size_t>(-scale), '0');
  if (digits.size() <= static_cast<std::size_t>(scale))
    digits = std::string(static_cast<std::size_t>(scale) - digits.size() + 1, '0') + digits;
  return digits.substr(0, digits.size() - scale) + "." + digits.substr(digits.size() - scale);
}

std::string canonical_rule_text(const Rule& rule, const Selection& selection) {
  json r = rule_json(rule, selection);
  if (rule.mode == RuleMode::sparsity) r["sparsity"] = normalized_decimal(rule.sparsity);
  return r.dump();  // nlohmann orders object keys; compact separators
}

std::string idempotency_key(const std::string& input_sha256, const std::string& canonical_rule,
                            const std::string& tool_version) {
  const std::string material = "h5prune-registry-key/1\n" + input_sha256 + "\n" + canonical_rule + "\n" + tool_version;
  return sha256_bytes(material.data(), material.size());
}

}  // namespace h5p
