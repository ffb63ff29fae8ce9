// Filtering and ordering a model's versions for `log`.
#include "host/fixed_regex.hpp"
#include "host/registry/version_query.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "common/errors.hpp"
#include "host/canonical_rule.hpp"
#include "host/registry/evaluations.hpp"
#include "host/registry/versions.hpp"
#include "host/rule.hpp"

namespace h5p::registry {

std::pair<std::string, std::string> parse_rule_filter(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("invalid value '" + text + "' for --rule: expected FIELD=VALUE, e.g. sparsity=0.9 or scope=global");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

bool MetricCondition::holds(double v) const {
  if (op == ">=") return v >= value;
  if (op == "<=") return v <= value;
  if (op == ">") return v > value;
  if (op == "<") return v < value;
  if (op == "==") return v == value;
  return v != value;
}

MetricCondition parse_metric_condition(const std::string& text) {
  static const FixedRegex form(R"(^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$)");
  MetricCondition c;
  if (const auto m = form.match(text)) {
    char* end = nullptr;
    const std::string number = *(*m)[2];
    c.value = std::strtod(number.c_str(), &end);
    if (*end == '\0' && std::isfinite(c.value)) {
      c.metric = *(*m)[0];
      c.op = *(*m)[1];
      return c;
    }
  }
  throw UsageError("invalid value '" + text + "' for --where: expected METRIC OP NUMBER, e.g. 'accuracy>=0.97' "
                   "(OP: >= <= > < == !=)");
}

VersionQuery::Sort parse_sort_key(const std::string& text) {
  if (text == "version") return VersionQuery::Sort::version;
  if (text == "sparsity") return VersionQuery::Sort::sparsity;
  if (text == "time") return VersionQuery::Sort::time;
  throw UsageError("invalid value '" + text + "' for --sort: expected version, sparsity or time");
}

bool rule_matches(const nlohmann::json& rule, const std::string& field, const std::string& value) {
  if (!rule.contains(field)) return false;
  const auto& v = rule[field];
  if (v.is_null()) return value == "null" || value == "none";
  if (v.is_boolean()) return value == (v.get<bool>() ? "true" : "false");
  if (v.is_number()) {
    char* end = nullptr;
    const double d = std::strtod(value.c_str(), &end);
    return !value.empty() && *end == '\0' && d == v.get<double>();
  }
  if (v.is_string()) {
    if (field == "sparsity") {
      try {
        return normalized_decimal(parse_decimal(v.get<std::string>(), "sparsity")) ==
               normalized_decimal(parse_decimal(value, "--rule sparsity"));
      } catch (const UsageError&) {
        return false;
      }
    }
    return v.get<std::string>() == value;
  }
  return v.dump() == value;
}

std::vector<Manifest> query_versions(const Layout& l, const std::string& model, const VersionQuery& q) {
  std::vector<Manifest> out;
  std::set<std::string> fields;  // of every version's rule: a filter on none of them is a typo
  for (int v : list_versions(l, model)) {
    Manifest m = load_manifest(l, model, v);
    for (const auto& [k, value] : m.rule.items()) fields.insert(k);
    bool ok = true;
    for (const auto& [field, value] : q.rule_equals) ok = ok && rule_matches(m.rule, field, value);
    if (ok && !q.metric_where.empty()) {
      const std::optional<Evaluation> e = newest(list_evaluations(l, model, v), /*ok_only=*/false);
      for (const MetricCondition& c : q.metric_where)
        ok = ok && e && e->ok && e->metrics.count(c.metric) && c.holds(e->metrics.at(c.metric));
    }
    if (ok) out.push_back(std::move(m));
  }
  for (const auto& [field, value] : q.rule_equals)
    if (!fields.count(field)) {
      std::string list;
      for (const auto& f : fields) list += (list.empty() ? "" : ", ") + f;
      throw UsageError("--rule " + field + "=" + value + ": no version of '" + model + "' has a rule field '" + field +
                       "' (fields: " + list + ")");
    }
  const auto by = [&](const Manifest& a, const Manifest& b) {
    switch (q.sort) {
      case VersionQuery::Sort::sparsity:
        if (a.total.sparsity() != b.total.sparsity()) return a.total.sparsity() < b.total.sparsity();
        return a.version < b.version;
      case VersionQuery::Sort::time:
        if (a.created != b.created) return a.created > b.created;
        return a.version > b.version;
      case VersionQuery::Sort::version:
        break;
    }
    return a.version > b.version;
  };
  std::stable_sort(out.begin(), out.end(), by);
  if (q.reverse) std::reverse(out.begin(), out.end());
  if (q.limit && *q.limit < out.size()) out.resize(*q.limit);
  return out;
}

}  // namespace h5p::registry
