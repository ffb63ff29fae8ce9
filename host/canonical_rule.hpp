// The rule as JSON (what `prune --json` prints and manifests record) and the canonical form
// of it that, with the input's hash and the tool version, keys a registry version.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "host/plan.hpp"
#include "host/rule.hpp"

namespace h5p {

// {"mode", "sparsity"|"threshold", "scope", "include", "exclude", "min_ndim", "rounding", "ties"};
// the sparsity is the decimal exactly as written.
nlohmann::json rule_json(const Rule& rule, const Selection& selection);

// The same rule with the sparsity normalized ("0.90", ".9" and "9e-1" all become "0.9"),
// dumped compactly with sorted keys: equal rules give equal text.
std::string canonical_rule_text(const Rule& rule, const Selection& selection);

// "0.9" for any spelling of 9/10; exact (no floating point).
std::string normalized_decimal(const Decimal& d);

// sha256 over (input sha256, canonical rule, tool version): the idempotency key.
std::string idempotency_key(const std::string& input_sha256, const std::string& canonical_rule,
                            const std::string& tool_version);

}  // namespace h5p
