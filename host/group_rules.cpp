// Per-group rule specs and the JSON rules file (nlohmann-json: a library every Debian has,
// already used for the summaries and manifests).
#include "host/fixed_regex.hpp"
#include "host/group_rules.hpp"

#include <fstream>
#include <sstream>

#include "common/errors.hpp"
#include "host/path_regex.hpp"

namespace h5p {
using nlohmann::json;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// RE2 like --include (host/path_regex): a hostile file's long names cannot overflow the stack.
PathRegex compile(const std::string& pattern, const std::string& where) { return PathRegex(pattern, where); }

}  // namespace

GroupRule parse_group_spec(const std::string& match, const std::string& spec, const std::string& where) {
  GroupRule g;
  g.match = match;
  g.spec = spec;
  compile(match, where);
  const std::string bad = "invalid rule '" + spec + "' in " + where +
                          ": expected S, sparsity:S, threshold:T, threshold-rel:R, nm:N:M, structured:l1|l2:S or skip, then ,global ,tensor or ,axis=A";
  const std::vector<std::string> parts = split(spec, ',');
  const std::string& head = parts[0];
  if (head == "skip") {
    if (parts.size() > 1) throw UsageError(bad);
    g.skip = true;
    return g;
  }
  Rule& r = g.rule;
  const auto colon = head.find(':');
  const std::string kind = colon == std::string::npos ? "sparsity" : head.substr(0, colon);
  const std::string value = colon == std::string::npos ? head : head.substr(colon + 1);
  if (kind == "sparsity") {
    r.mode = RuleMode::sparsity;
    r.sparsity = parse_decimal(value, where);
    if (r.sparsity.above_one()) throw UsageError("invalid sparsity '" + value + "' in " + where + ": must be between 0 and 1");
  } else if (kind == "threshold") {
    r.mode = RuleMode::threshold;
    r.threshold_text = value;
    r.threshold = parse_threshold(value);
  } else if (kind == "threshold-rel") {
    r.mode = RuleMode::threshold_rel;
    r.threshold_rel = parse_relative_threshold(value, where);
  } else if (kind == "nm") {
    parse_nm(value, r);
  } else if (kind == "structured") {  // structured:l1:0.25
    const auto c = value.find(':');
    if (c == std::string::npos) throw UsageError(bad);
    r.mode = RuleMode::structured;
    r.structured_p = parse_structured_norm(value.substr(0, c), where);
    r.sparsity = parse_decimal(value.substr(c + 1), where);
    if (r.sparsity.above_one())
      throw UsageError("invalid sparsity '" + value.substr(c + 1) + "' in " + where + ": must be between 0 and 1");
  } else {
    throw UsageError(bad);
  }
  bool scoped = false;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p == "global" || p == "tensor" || p == "scope=global" || p == "scope=tensor") {
      if (r.mode != RuleMode::sparsity || scoped) throw UsageError(bad + " (a scope applies to a sparsity, once)");
      r.scope = p.find("global") != std::string::npos ? Scope::global : Scope::tensor;
      scoped = true;
    } else if (p.rfind("axis=", 0) == 0 && r.mode == RuleMode::nm) {
      r.nm_axis = parse_nm_axis(p.substr(5));  // axis=auto: nullopt, the framework's axis
    } else if (p.rfind("axis=", 0) == 0 && r.mode == RuleMode::structured) {
      r.structured_axis = parse_structured_axis(p.substr(5));
    } else if (p == "skip-unfit" && r.mode == RuleMode::nm) {
      r.nm_skip_unfit = true;
    } else {
      throw UsageError(bad);
    }
  }
  return g;
}

GroupRule parse_rule_option(const std::string& text) {
  // The regex may hold '=' and so may the spec (",axis=0"): split at the first '=' that a spec
  // head follows (a digit or '.', "sparsity:", "threshold:", "threshold-rel:", "nm:", "skip").
  static const FixedRegex head(R"(^([0-9.]|sparsity:|threshold:|threshold-rel:|nm:|structured:|skip(,|$)))");
  for (std::size_t i = text.find('='); i != std::string::npos; i = text.find('=', i + 1)) {
    if (i == 0 || !head.matches_prefix(std::string_view(text).substr(i + 1))) continue;
    return parse_group_spec(text.substr(0, i), text.substr(i + 1), "--rule '" + text + "'");
  }
  throw UsageError("invalid value '" + text + "' for --rule: expected REGEX=SPEC (e.g. 'embedding=0.3', 'output=skip')");
}

std::vector<GroupRule> read_rules_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read --rules file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  const json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw UsageError("--rules file '" + path + "' is not valid JSON");
  const json* list = &j;
  if (j.is_object()) {
    if (!j.contains("rules") || j.size() != 1)
      throw UsageError("--rules file '" + path + "': expected {\"rules\": [...]} or a list");
    list = &j["rules"];
  }
  if (!list->is_array()) throw UsageError("--rules file '" + path + "': \"rules\" is not a list");
  std::vector<GroupRule> out;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& e = (*list)[i];
    const std::string where = "--rules file '" + path + "' entry " + std::to_string(i);
    if (!e.is_object() || !e.contains("match") || !e["match"].is_string() || !e.contains("rule") ||
        !e["rule"].is_string() || e.size() != 2)
      throw UsageError(where + ": expected {\"match\": REGEX, \"rule\": SPEC}");
    out.push_back(parse_group_spec(e["match"].get<std::string>(), e["rule"].get<std::string>(), where));
  }
  return out;
}

std::optional<std::size_t> first_match(const std::vector<GroupRule>& rules, const std::string& path) {
  for (std::size_t i = 0; i < rules.size(); ++i)
    if (compile(rules[i].match, "a rule").search(path)) return i;
  return std::nullopt;
}

std::vector<std::string> idle_rule_warnings(const std::vector<GroupRule>& rules, const std::vector<std::string>& selected) {
  std::vector<bool> takes(rules.size(), false), matches(rules.size(), false);
  for (const std::string& path : selected) {
    if (const auto g = first_match(rules, path)) takes[*g] = true;
    for (std::size_t i = 0; i < rules.size(); ++i)
      if (!matches[i] && compile(rules[i].match, "a rule").search(path)) matches[i] = true;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < rules.size(); ++i)
    if (!takes[i])
      out.push_back("rule '" + rules[i].match + "=" + rules[i].spec + "' takes no tensor: " +
                    (matches[i] ? "every selected tensor it matches takes an earlier rule"
                                : "its regex matches none of the " + std::to_string(selected.size()) + " selected tensors"));
  return out;
}

json rule_fields_json(const Rule& r) {
  json j;
  if (r.mode == RuleMode::sparsity) {
    j["mode"] = "sparsity";
    j["sparsity"] = r.sparsity.text;
    j["scope"] = scope_name(r.scope);
  } else if (r.mode == RuleMode::nm) {
    j["mode"] = "nm";
    j["nm"] = std::to_string(r.nm_keep) + ":" + std::to_string(r.nm_group);
    j["axis"] = r.nm_axis ? json(*r.nm_axis) : json("auto");
    j["skip_unfit"] = r.nm_skip_unfit;
  } else if (r.mode == RuleMode::structured) {
    j["mode"] = "structured";
    j["norm"] = r.structured_p == 1 ? "l1" : "l2";
    j["sparsity"] = r.sparsity.text;
    j["axis"] = r.structured_axis ? json(*r.structured_axis) : json("auto");
  } else if (r.mode == RuleMode::threshold_rel) {
    j["mode"] = "threshold_rel";
    j["threshold_rel"] = r.threshold_rel.text;
  } else {
    j["mode"] = "threshold";
    j["threshold"] = r.threshold;
  }
  return j;
}

json group_rule_json(const GroupRule& g) {
  json j = g.skip ? json{{"mode", "skip"}} : rule_fields_json(g.rule);
  j["match"] = g.match;
  return j;
}

}  // namespace h5p
