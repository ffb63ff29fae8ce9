// Canonical rule text and the idempotency key of a registry version.
#include "host/canonical_rule.hpp"

#include "formats/json_names.hpp"
#include "formats/sha256.hpp"

namespace h5p {
using nlohmann::json;

std::string normalized_decimal(const Decimal& d) {
  std::string digits = d.digits.empty() ? "0" : d.digits;
  int scale = d.scale;
  while (scale > 0 && digits.size() > 1 && digits.back() == '0') {
    digits.pop_back();
    --scale;
  }
  if (digits == "0") return "0";
  if (scale <= 0) return digits + std::string(static_cast<std::size_t>(-scale), '0');
  const std::size_t s = static_cast<std::size_t>(scale);
  if (digits.size() <= s) digits = std::string(s - digits.size() + 1, '0') + digits;
  return digits.substr(0, digits.size() - s) + "." + digits.substr(digits.size() - s);
}

std::string canonical_rule_text(const json& rule) {
  json r = rule;
  auto normalize = [](json& rule) {
    if (rule.contains("sparsity") && rule["sparsity"].is_string())
      rule["sparsity"] = normalized_decimal(parse_decimal(rule["sparsity"].get<std::string>(), "sparsity"));
    if (rule.contains("threshold_rel") && rule["threshold_rel"].is_string())
      rule["threshold_rel"] = normalized_decimal(parse_decimal(rule["threshold_rel"].get<std::string>(), "threshold_rel"));
  };
  normalize(r);
  if (r.contains("rules") && r["rules"].is_array())
    for (json& g : r["rules"]) normalize(g);  // the order stays: the first match wins
  return json_safe(r).dump();  // nlohmann orders object keys; compact separators
}

std::string idempotency_key(const std::string& input_sha256, const std::string& canonical_rule,
                            const std::string& tool_version) {
  const std::string material = "h5prune-registry-key/1\n" + input_sha256 + "\n" + canonical_rule + "\n" + tool_version;
  return sha256_bytes(material.data(), material.size());
}

}  // namespace h5p
