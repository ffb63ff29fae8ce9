// The canonical form of a rule's JSON (as `prune --json` prints it) that, with the input's
// hash and the tool version, keys a registry version: equal rules give equal text.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "host/rule.hpp"

namespace h5p {

// The rule with its sparsity normalized ("0.90", ".9" and "9e-1" all become "0.9"), dumped
// compactly with sorted keys.
std::string canonical_rule_text(const nlohmann::json& rule);

// "0.9" for any spelling of 9/10; exact (no floating point).
std::string normalized_decimal(const Decimal& d);

// sha256 over (input sha256, canonical rule, tool version): the idempotency key.
std::string idempotency_key(const std::string& input_sha256, const std::string& canonical_rule,
                            const std::string& tool_version);

}  // namespace h5p
