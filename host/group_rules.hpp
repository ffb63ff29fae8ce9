// Per-group rules: `--rule REGEX=SPEC` (repeatable) and `--rules FILE` (JSON). Each selected
// tensor takes the first rule whose regex matches its path; the command line's own rule, if
// any, takes the tensors no rule matches. SPEC grammar: docs/RULES.md.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "host/rule.hpp"

namespace h5p {

struct GroupRule {
  std::string match;  // RE2 regex, searched in the full path
  std::string spec;   // as written
  bool skip = false;  // `skip`: the group's tensors are copied unchanged
  Rule rule;          // the rule otherwise
};

// "0.3", "sparsity:0.3,global", "threshold:1e-3", "nm:2:4,axis=0", "structured:l2:0.25,axis=0",
// "skip"; `where` names the
// option or file in the UsageError.
GroupRule parse_group_spec(const std::string& match, const std::string& spec, const std::string& where);

// --rule REGEX=SPEC (split at the first '=' that a spec follows, so a regex may contain '=').
GroupRule parse_rule_option(const std::string& text);

// --rules FILE: {"rules": [{"match": REGEX, "rule": SPEC}, ...]} (or the bare list).
std::vector<GroupRule> read_rules_file(const std::string& path);

// The index of the first rule matching path, or nullopt.
std::optional<std::size_t> first_match(const std::vector<GroupRule>& rules, const std::string& path);

// One line per rule that takes none of the selected tensors (paths): a misspelt regex, or one
// whose every match an earlier rule takes, would otherwise change nothing without a word.
std::vector<std::string> idle_rule_warnings(const std::vector<GroupRule>& rules, const std::vector<std::string>& selected);

// The rule's recorded form (part of the canonical rule): match, spec normalised to its fields.
nlohmann::json group_rule_json(const GroupRule& g);

// The recorded form of one rule's mode fields (mode, sparsity/threshold/nm/norm, scope, axis).
nlohmann::json rule_fields_json(const Rule& r);

}  // namespace h5p
