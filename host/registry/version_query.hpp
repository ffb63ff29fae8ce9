// `h5prune log`'s selection and order of versions, one implementation for every filter and sort
// key: rule fields (--rule sparsity=0.9), evaluated metrics (--where 'accuracy>=0.97'), and sort
// by version, achieved sparsity or time.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/manifest.hpp"
#include "host/registry/layout.hpp"

namespace h5p::registry {

// One --where condition on a version's newest evaluation: METRIC OP NUMBER, OP one of
// >= <= > < == != (docs/EVAL.md).
struct MetricCondition {
  std::string metric;
  std::string op;
  double value = 0;
  bool holds(double v) const;
};

struct VersionQuery {
  // Each "field=value" must hold for the version's rule (sparsity compares as an exact decimal,
  // 0.90 == 0.9; numbers as numbers; null as "null" or "none").
  std::vector<std::pair<std::string, std::string>> rule_equals;
  // Each must hold for the metrics of the version's newest evaluation; a version without one, or
  // whose newest evaluation failed or lacks the metric, does not match.
  std::vector<MetricCondition> metric_where;
  enum class Sort { version, sparsity, time } sort = Sort::version;
  bool reverse = false;          // default order: version and time newest first, sparsity ascending
  std::optional<std::size_t> limit;
};

// Parses "field=value" for --rule; UsageError otherwise.
std::pair<std::string, std::string> parse_rule_filter(const std::string& text);
VersionQuery::Sort parse_sort_key(const std::string& text);
// Parses "accuracy>=0.97" for --where; UsageError otherwise.
MetricCondition parse_metric_condition(const std::string& text);

// The live versions of a model that match, in the query's order, at most `limit`.
std::vector<Manifest> query_versions(const Layout& l, const std::string& model, const VersionQuery& q);

// True when the rule JSON has `field` and it equals `value` (the comparison above). A filter on a
// field that no version's rule has is a UsageError from query_versions.
bool rule_matches(const nlohmann::json& rule, const std::string& field, const std::string& value);

}  // namespace h5p::registry
