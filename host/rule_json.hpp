// The rule of a prune run as JSON: what `prune --json` prints, what a manifest records and
// what the registry's idempotency key is computed from (host/canonical_rule).
#pragma once
#include <nlohmann/json.hpp>

#include "host/pipeline.hpp"

namespace h5p {

nlohmann::json rule_json(const PruneOptions& o);

}  // namespace h5p
